"""Hypothesis strategies for the inputs of :mod:`rmt`: profiles, manifolds, times, schedules, spectra.

Every strategy checks its keyword arguments when it is built (``ValueError`` naming the argument) and draws
only inputs the solver answers for; the ranges are stated in each docstring.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..manifold import LinearManifold
from ..mp import MIN_LEVEL_RATIO
from ..profiles import ContinuousProfile, VarianceProfile
from ..schedules import DDPM, EDM, VE, VP, GeometricVE
from ..validation import positive

__all__ = ["profiles", "manifolds", "times", "schedules", "spectra", "log_uniform",
           "CONTINUOUS_MIN_RATIO", "TAU_RANGE"]

#: smallest ``low / high`` of a drawn continuous profile. Below it the solver's discretisation needs thousands of
#: nodes (ratio 0.01, density ``s**2``: 4096 nodes, about a minute per profile), too slow for a property test.
CONTINUOUS_MIN_RATIO = 0.2
#: default ``(low, high)`` of :func:`times`: the effective noise over which the package's formulas are tested.
TAU_RANGE = (1e-12, 1e12)


def _pair(name, value, *, lo=0.0, hi=np.inf, strict_lo=True):
    """``(a, b)`` with ``lo < a <= b <= hi`` (``lo <= a`` when not strict), or ValueError naming ``name``."""
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) of numbers, got {value!r}") from None
    if not (np.isfinite(a) and np.isfinite(b) and a <= b and (a > lo if strict_lo else a >= lo) and b <= hi):
        raise ValueError(f"{name} must satisfy {lo} {'<' if strict_lo else '<='} low <= high <= {hi}, got {value!r}")
    return a, b


def _int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def log_uniform(low: float, high: float):
    """Floats ``10**u`` with ``u`` uniform in ``[log10 low, log10 high]`` (``0 < low <= high``, finite)."""
    low, high = _pair("(low, high)", (low, high))
    if low == high:
        return st.just(low)
    a, b = np.log10(low), np.log10(high)
    return st.floats(a, b).map(lambda u: float(min(max(10.0 ** u, low), high)))


def _fractions(draw, K, min_fraction):
    """``K`` fractions summing to 1, each >= ``min_fraction``."""
    raw = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=K, max_size=K)))
    raw = raw / raw.sum() if raw.sum() > 0 else np.full(K, 1.0 / K)
    return min_fraction + (1.0 - K * min_fraction) * raw


def profiles(*, kind: str = "discrete", min_levels: int = 1, max_levels: int = 4, top=(1.0, 1.0),
             min_ratio: float = MIN_LEVEL_RATIO, max_ratio: float = 1.0, min_separation: float = 0.0, min_fraction: float = 0.01,
             continuous_min_ratio: float = CONTINUOUS_MIN_RATIO):
    """Variance profiles the solver answers for.

    Parameters
    ----------
    kind : ``"discrete"`` (:class:`~rmt.profiles.VarianceProfile`), ``"continuous"``
        (:class:`~rmt.profiles.ContinuousProfile`) or ``"any"``.
    min_levels, max_levels : discrete profiles have ``min_levels <= K <= max_levels`` distinct levels
        (``1 <= min_levels <= max_levels <= 12``, the range of the polynomial oracles).
    top : ``(low, high)``: the largest level is log-uniform in this range (default exactly 1).
    min_ratio : the other levels are ``top * 10**(-u)``, ``u`` uniform in ``[0, log10(1/min_ratio)]``, so every
        ratio ``s_min / s_max`` in ``[min_ratio, 1]`` occurs; ``rmt.mp.MIN_LEVEL_RATIO <= min_ratio <= 1``.
    max_ratio : the levels below the top are at most ``max_ratio`` times it (``min_ratio <= max_ratio <= 1``;
        e.g. ``1e-10`` for well separated levels).
    min_separation : any two levels differ by at least this many decades (default 0: levels may nearly coincide,
        which they do in the solver's weakest cases).
    min_fraction : every fraction is at least this; ``0 < min_fraction`` and ``max_levels * min_fraction < 1``.
    continuous_min_ratio : continuous profiles have density ``s**p`` (``-2 <= p <= 2``: uniform ``p = 0``,
        log-uniform ``p = -1``) on ``[high r, high]``, ``high`` in ``top``, ``r`` log-uniform in
        ``[continuous_min_ratio, 0.5]`` (``CONTINUOUS_MIN_RATIO <= continuous_min_ratio <= 0.5``).

    Examples
    --------
    The simplest two-level profile the strategy draws (hypothesis shrinks towards it):

    >>> from hypothesis import find
    >>> from rmt.testing import profiles
    >>> find(profiles(max_levels=2, min_ratio=1e-3), lambda p: p.levels.size == 2)
    VarianceProfile(levels=array([1. , 0.1]), fractions=array([0.5, 0.5]))
    """
    if kind not in ("discrete", "continuous", "any"):
        raise ValueError(f"kind must be 'discrete', 'continuous' or 'any', got {kind!r}")
    min_levels = _int("min_levels", min_levels, 1)
    max_levels = _int("max_levels", max_levels, 1)
    if not min_levels <= max_levels <= 12:
        raise ValueError(f"max_levels must satisfy min_levels <= max_levels <= 12, got {min_levels}, {max_levels}")
    top = _pair("top", top)
    (min_ratio, _) = _pair("min_ratio", (min_ratio, 1.0))
    if min_ratio < MIN_LEVEL_RATIO:
        raise ValueError(f"min_ratio must be >= rmt.mp.MIN_LEVEL_RATIO = {MIN_LEVEL_RATIO:g}, got {min_ratio!r}")
    (_, max_ratio) = _pair("max_ratio", (min_ratio, max_ratio), hi=1.0)
    (min_separation, _) = _pair("min_separation", (min_separation, 1.0), strict_lo=False)
    (min_fraction, _) = _pair("min_fraction", (min_fraction, 1.0))
    if not max_levels * min_fraction < 1:
        raise ValueError(f"min_fraction must be < 1 / max_levels = {1 / max_levels:g}, got {min_fraction!r}")
    (cmin, _) = _pair("continuous_min_ratio", (continuous_min_ratio, 0.5))
    if cmin < CONTINUOUS_MIN_RATIO:
        raise ValueError(f"continuous_min_ratio must be >= {CONTINUOUS_MIN_RATIO}, got {continuous_min_ratio!r}")
    decades = (float(np.log10(1.0 / max_ratio)), float(np.log10(1.0 / min_ratio)))

    @st.composite
    def discrete(draw):
        K = draw(st.integers(min_levels, max_levels))
        s_top = draw(log_uniform(*top))
        u = draw(st.lists(st.floats(*decades), min_size=K - 1, max_size=K - 1, unique=True).filter(
            lambda v: np.all(np.diff(np.sort([0.0] + v)) >= min_separation)))
        levels = np.concatenate([[s_top], s_top * 10.0 ** -np.array(u, dtype=float)])
        levels = np.clip(levels, s_top * min_ratio * (1 + 1e-12), s_top * (max_ratio if K > 1 else 1.0))
        levels[0] = s_top
        return VarianceProfile(levels, _fractions(draw, K, min_fraction))

    @st.composite
    def continuous(draw):
        high = draw(log_uniform(*top))
        r = draw(log_uniform(cmin, 0.5))
        p = draw(st.floats(-2.0, 2.0))
        return ContinuousProfile(lambda s, p=p: np.asarray(s, dtype=float) ** p, high * r, high, name=f"s**{p:.6g}")

    d = discrete().filter(lambda prof: prof.K >= min_levels)      # levels within 1e-9 of each other merge
    if kind == "discrete":
        return d
    return continuous() if kind == "continuous" else st.one_of(d, continuous())


def manifolds(*, alpha=(0.05, 20.0), avoid_one: float = 0.0, profile=None, **profile_kwargs):
    """:class:`~rmt.manifold.LinearManifold` with ``alpha`` log-uniform in ``alpha = (low, high)`` (below and
    above 1 by default: ``0.05`` to ``20``) and a profile from ``profile`` (a strategy; default
    ``profiles(**profile_kwargs)``). ``avoid_one > 0`` leaves out ``|alpha - 1| <= avoid_one``: at ``alpha = 1``
    exactly (the hard edge at 0) the solver miscounts or refuses some profiles with levels decades apart.

    Examples
    --------
    >>> from rmt.testing import manifolds
    >>> s = manifolds(alpha=(0.1, 0.9), max_levels=2)             # alpha < 1: a spike at eta = 1
    """
    alpha = _pair("alpha", alpha)
    (avoid_one, _) = _pair("avoid_one", (avoid_one, 0.5), strict_lo=False)
    if profile is None:
        profile = profiles(**profile_kwargs)
    elif profile_kwargs:
        raise ValueError(f"profile: pass either a profile strategy or profile keywords, not both "
                         f"({sorted(profile_kwargs)})")
    elif not isinstance(profile, st.SearchStrategy):
        raise ValueError(f"profile must be a hypothesis strategy of profiles, got {profile!r}")
    a = log_uniform(*alpha)
    return st.builds(LinearManifold, a.filter(lambda v: abs(v - 1.0) > avoid_one) if avoid_one > 0 else a, profile)


def times(low: float = TAU_RANGE[0], high: float = TAU_RANGE[1]):
    """Effective noise ``tau`` (or any positive time), log-uniform in ``[low, high]``; ``0 < low <= high``.

    The default ``1e-12 .. 1e12`` is the range over which the ``eta`` law is tested (docs/theory.md section 3).
    """
    return log_uniform(*_pair("low", (low, high)))


def _schedule_table():
    """name -> strategy of that schedule with valid parameters (:func:`schedules`)."""
    return {
        "ve": st.just(VE()), "vp": st.just(VP()), "edm": st.just(EDM()),
        "ddpm": st.tuples(log_uniform(1e-3, 1.0), log_uniform(1.0, 50.0)).map(lambda b: DDPM(b[0], b[1])),
        "geometric": st.tuples(log_uniform(1e-3, 0.1), log_uniform(1.0, 100.0)).map(
            lambda s: GeometricVE(s[0], s[1])),
    }


def schedules(names=("ve", "vp", "ddpm", "edm", "geometric")):
    """Schedules of :mod:`rmt.schedules` named in ``names``, with valid parameters: DDPM ``beta_min`` in
    ``[1e-3, 1]``, ``beta_max`` in ``[1, 50]``; geometric VE ``sigma_min`` in ``[1e-3, 0.1]``, ``sigma_max``
    in ``[1, 100]`` (log-uniform); VE, VP, EDM have no parameters."""
    table = _schedule_table()
    names = [names] if isinstance(names, str) else list(names)
    bad = [n for n in names if n not in table]
    if not names or bad:
        raise ValueError(f"names must be a non-empty subset of {tuple(table)}, got {names!r}")
    return st.one_of(*(table[n] for n in names))


def spectra(*, min_size: int = 1, max_size: int = 64, low: float = 0.0, high: float = 1.0, grid=None,
            batch: int | None = None):
    """Sorted float arrays of values for the empirical readouts of :mod:`rmt.readouts`.

    Parameters
    ----------
    min_size, max_size : number of values ``n``, ``1 <= min_size <= max_size``.
    low, high : every value lies in ``[low, high]`` (default ``eta`` in ``[0, 1]``; singular values of a
        network may exceed 1: pass ``high=1.5``).
    grid : ``None``, or a step: values are multiples of it (ties and values exactly at thresholds occur).
    batch : ``None`` for shape ``(n,)``; an integer ``B >= 1`` for shape ``(B, n)``, each row sorted.
    """
    min_size = _int("min_size", min_size, 1)
    max_size = _int("max_size", max_size, 1)
    if max_size < min_size:
        raise ValueError(f"max_size must be >= min_size, got {max_size} < {min_size}")
    low, high = _pair("low", (low, high), lo=-np.inf)
    if grid is not None:
        grid = positive("grid", grid)
        k_lo, k_hi = int(np.ceil(low / grid)), int(np.floor(high / grid))
        if k_lo > k_hi:
            raise ValueError(f"grid: no multiple of {grid} lies in [{low}, {high}]")
        value = st.integers(k_lo, k_hi).map(lambda k: float(min(max(k * grid, low), high)))
    else:
        value = st.floats(low, high)
    rows = 1 if batch is None else _int("batch", batch, 1)
    return st.integers(min_size, max_size).flatmap(
        lambda n: st.lists(st.lists(value, min_size=n, max_size=n), min_size=rows, max_size=rows)).map(
        lambda v: np.sort(np.array(v, dtype=float), axis=-1)[0 if batch is None else slice(None)])
