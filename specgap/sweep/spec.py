"""What a sweep computes: the grid, the task and every setting (:class:`SweepSpec`), and its cells.

The model of a cell is the two-level linear manifold of docs/theory.md section 1: ``alpha = m/d``, levels
``sigma_1^2 = 1`` and ``sigma_2^2 = ratio`` with fractions ``fraction`` and ``1 - fraction`` (``ratio = 1``
is the single level). The *outer* dimensions (one cell per combination, C order) are

- ``theory``:   (alpha, ratio, fraction)
- ``simulate``: (alpha, ratio, fraction, d)
- ``finite-n``: (alpha, ratio, fraction, d, n)

and every cell computes all times ``t`` at once (one eigendecomposition serves every ``t``). Cell ``i``
draws its randomness from ``numpy.random.SeedSequence(seed, spawn_key=(i,))`` (= the ``i``-th child of
``SeedSequence(seed).spawn``), so its result depends only on ``(spec, i)``, never on where or when it ran.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, fields

import numpy as np

from rmt.validation import finite_array, positive_int, probability, resolution
from rmt.schedules import SCHEDULES

__all__ = ["TASKS", "SweepSpec", "parse_times", "load_spec", "spec_fields"]

#: what a sweep cell computes: theory, simulation, finite-``n`` model, or a trained network
TASKS = ("theory", "simulate", "finite-n", "network")
_OUTER = {"theory": ("alpha", "ratio", "fraction"), "simulate": ("alpha", "ratio", "fraction", "d"),
          "finite-n": ("alpha", "ratio", "fraction", "d", "n"), "network": ("alpha", "ratio", "fraction", "d", "n")}


def parse_times(text) -> list[float]:
    """``'1e-3:10:40'`` -> 40 values log-spaced from 1e-3 to 10; ``'0.1,1,2'`` -> those values; a list stays."""
    if isinstance(text, (list, tuple, np.ndarray)):
        return [float(x) for x in text]
    s = str(text).strip()
    try:
        if ":" in s:
            parts = s.split(":")
            if len(parts) != 3:
                raise ValueError
            lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
            if not (0 < lo < hi and np.isfinite(hi) and n >= 2):
                raise ValueError
            return np.geomspace(lo, hi, n).tolist()
        return [float(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"t must be LOW:HIGH:N (0 < LOW < HIGH, N >= 2, log-spaced) or a comma list, got "
                         f"{text!r}") from None


@dataclass(frozen=True)
class SweepSpec:
    """A sweep: ``task`` on the grid ``alpha x ratio x fraction [x d [x n]]``, every cell at the times ``t``.

    Parameters
    ----------
    task : 'theory' | 'simulate' | 'finite-n' | 'network'
    alpha, ratio, fraction : grid values (``alpha > 0``; ``ratio = sigma_2^2/sigma_1^2 > 0``; ``fraction`` of the
        first level in (0, 1])
    t : process times (> 0), converted to ``tau`` by ``schedule`` (ve, vp, ddpm, edm, geometric)
    d : ambient dimensions (simulate, finite-n, network);  n : training-set sizes (finite-n, network)
    draws : random ``F`` draws per cell (network: one trained network each);  points : query points per draw
        (finite-n, network)
    steps, width : training steps and hidden width of the network's MLP (network)
    delta : resolution of the phase readouts;  seed : root seed (>= 0)

    Examples
    --------
    >>> spec = SweepSpec(task="simulate", alpha=[0.3, 0.5], ratio=[0.01], t="1e-2:1:3", d=[100, 200], draws=2)
    >>> spec.t                                                  # 'low:high:count': log-spaced times
    (0.01, 0.1, 1.0)
    >>> spec.alpha, spec.d, spec.fraction
    ((0.3, 0.5), (100, 200), (0.75,))
    """

    task: str = "theory"
    alpha: tuple = (0.5,)
    ratio: tuple = (0.01,)
    fraction: tuple = (0.75,)
    t: tuple = tuple(np.geomspace(1e-3, 10.0, 40).tolist())
    d: tuple = (200,)
    n: tuple = (100,)
    draws: int = 8
    points: int = 4
    steps: int = 2000
    width: int = 128
    schedule: str = "ve"
    delta: float = 0.1
    seed: int = 0

    def __post_init__(self):
        def fix(name, value):
            object.__setattr__(self, name, value)
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        for name in ("alpha", "ratio", "fraction", "t"):
            raw = parse_times(getattr(self, name)) if name == "t" else np.atleast_1d(getattr(self, name)).tolist()
            a = finite_array(name, raw, positive_values=True, ndim=1)
            if a.size == 0:
                raise ValueError(f"{name} must hold at least one value")
            if np.unique(a).size != a.size:
                raise ValueError(f"{name} must not repeat a value, got {a.tolist()}")
            fix(name, tuple(float(x) for x in a))
        for f in self.fraction:
            probability("fraction", f, open_interval=False)
        for name in ("d", "n"):
            vals = tuple(positive_int(name, x) for x in np.atleast_1d(getattr(self, name)).tolist())
            if len(set(vals)) != len(vals) or not vals:
                raise ValueError(f"{name} must hold distinct values, got {list(vals)}")
            fix(name, vals)
        if self.task in ("finite-n", "network") and min(self.n) < 2:
            raise ValueError(f"n must be >= 2 training points, got {list(self.n)}")
        fix("draws", positive_int("draws", self.draws))
        fix("points", positive_int("points", self.points))
        fix("steps", positive_int("steps", self.steps))
        fix("width", positive_int("width", self.width))
        if self.task == "network" and self.points > min(self.n):
            raise ValueError(f"points must be <= the smallest n ({min(self.n)}) for the network task (noised "
                             f"training points), got {self.points}")
        fix("seed", positive_int("seed", self.seed, minimum=0))
        fix("delta", resolution(self.delta))
        if str(self.schedule).lower() not in SCHEDULES:
            raise ValueError(f"schedule must be one of {tuple(SCHEDULES)}, got {self.schedule!r}")
        fix("schedule", str(self.schedule).lower())
        if self.task != "theory":
            for a in self.alpha:
                for d in self.d:
                    if int(round(a * d)) < 1:
                        raise ValueError(f"alpha * d must round to at least 1 latent direction, got alpha={a}, d={d}")

    # -- the grid ------------------------------------------------------------------------------------
    @property
    def outer_dims(self) -> tuple:
        """Names of the dimensions with one cell per combination, in C order."""
        return _OUTER[self.task]

    @property
    def shape(self) -> tuple:
        """Number of values along each outer dimension (:attr:`outer_dims`): the shape of the grid of cells."""
        return tuple(len(getattr(self, k)) for k in self.outer_dims)

    @property
    def n_cells(self) -> int:
        """Number of cells: the product of :attr:`shape`."""
        return int(np.prod(self.shape))

    def cell_index(self, flat: int) -> tuple:
        """Flat cell number -> index along each outer dimension."""
        return tuple(int(i) for i in np.unravel_index(int(flat), self.shape))

    def cell(self, flat: int) -> dict:
        """Coordinates of cell ``flat``: ``{'alpha': .., 'ratio': .., ...}``."""
        return {k: getattr(self, k)[i] for k, i in zip(self.outer_dims, self.cell_index(flat))}

    def cells(self):
        """Every cell's coordinates in flat order."""
        for combo in itertools.product(*(getattr(self, k) for k in self.outer_dims)):
            yield dict(zip(self.outer_dims, combo))

    def cell_seed(self, flat: int) -> int:
        """32-bit seed of cell ``flat``: ``SeedSequence(seed, spawn_key=(flat,)).generate_state(1)[0]``."""
        ss = np.random.SeedSequence(self.seed, spawn_key=(int(flat),))
        return int(ss.generate_state(1)[0])

    @property
    def tau(self) -> np.ndarray:
        """Effective noise ``tau`` of each time ``t`` under ``schedule`` (VE: ``tau = t``), shape ``(len(t),)``."""
        from rmt.schedules import get_schedule
        return get_schedule(self.schedule).tau(np.asarray(self.t))

    # -- (de)serialisation ---------------------------------------------------------------------------
    def as_dict(self) -> dict:
        """Every field of the spec as plain JSON types (tuples as lists); :meth:`from_dict` reads it back."""
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    def to_json(self) -> str:
        """:meth:`as_dict` as a JSON string with sorted keys (stored in a sweep store's attributes)."""
        return json.dumps(self.as_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "SweepSpec":
        """The spec of the fields in ``d`` (any subset; the rest take their defaults), validated by the
        constructor; ``ValueError`` naming any key that is not a field."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown sweep field(s) {unknown}; known: {sorted(names)}")
        return cls(**d)


def spec_fields(path, name: str = "spec") -> dict:
    """The fields of a TOML sweep file (those of :class:`SweepSpec`; ``t`` as a list or ``'LOW:HIGH:N'``), e.g.
    ``task = "simulate"``, ``alpha = [0.3, 0.5]``, ``d = [200]``; errors name ``name``."""
    import tomllib
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as e:
        raise ValueError(f"{name}: cannot read {str(path)!r} ({e.strerror or type(e).__name__})") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{name}: {str(path)!r} is not valid TOML ({e})") from None


def load_spec(path) -> SweepSpec:
    """A :class:`SweepSpec` from a TOML file (see :func:`spec_fields`)."""
    return SweepSpec.from_dict(spec_fields(path))
