"""Agreement between spectra: theory density vs samples, samples vs samples (docs/theory.md 3-4).

Distances between distribution functions on the real line:

- Kolmogorov-Smirnov ``KS = sup_x |F(x) - G(x)|``;
- Wasserstein-1 ``W1 = int |F(x) - G(x)| dx`` (same units as the values: ``eta`` or ``lambda``).

Two samples: ``scipy.stats.ks_2samp`` and ``scipy.stats.wasserstein_distance`` (the same computations).
Theory against samples has its own code because the theory has an *atom* (the spike of mass
``1 - alpha`` at ``eta = 1``, or the zero eigenvalues): ``scipy.stats.kstest`` assumes a continuous CDF
and evaluates only ``F(x)``, which overstates KS by up to the atom's mass at the atom; the one-sample
statistic here uses ``max(i/n - F(y_i), F(y_i^-) - (i-1)/n)`` with the left limit ``F(y^-)``. scipy has no
theory-vs-sample W1, so it is a trapezoid rule on the samples plus a grid per bulk.

A *theory* is an :class:`rmt.JacobianLaw` (``eta`` units, atom of mass ``1 - alpha`` at 1) or an
:class:`rmt.MPSolver` / :class:`rmt.LinearManifold` (covariance units, atom ``max(0, 1 - alpha)`` at 0).
Samples are 1-d arrays; values within ``1e-9`` (relative to the scale) of an atom are taken to be on it.

Edge and gap errors split a sorted simulated spectrum into bulks by their theoretical eigenvalue
counts (exact column counts when the bulks are detached), and compare its edges and the gaps between
them with the theory edges. Means and standard errors are over draws.
"""
from __future__ import annotations

import numpy as np

from rmt.validation import finite_array, positive_int
from rmt.manifold import LinearManifold
from rmt.mp import JacobianLaw, MPSolver
from rmt.profiles import ContinuousProfile
from rmt.spectrum import Spectrum

__all__ = ["ks_distance", "ks_distances", "wasserstein1", "bulk_counts", "empirical_edges", "theory_edges",
           "agreement", "finite_size_study", "mean_sem"]

_ATOL = 1e-9
_GRID = 2000          # theory grid points per bulk for W1


class _Theory:
    """CDF, atoms and bulks of a theory spectrum in its own units."""

    def __init__(self, theory):
        if isinstance(theory, LinearManifold):
            theory = theory.solver
        if isinstance(theory, JacobianLaw):
            self.cdf = theory.cdf
            self.atoms = [(1.0, theory.spike_mass)] if theory.spike_mass > 0 else []
            self.bulks = [(b.lower, b.upper) for b in theory.support()]
            self.scale = 1.0
        elif isinstance(theory, MPSolver):
            self.cdf = theory.cdf
            self.atoms = [(0.0, theory.manifold.zero_mass)] if theory.manifold.zero_mass > 0 else []
            self.bulks = [(b.lower, b.upper) for b in theory.support()]
            self.scale = max(u for _, u in self.bulks)
        else:
            raise ValueError("theory must be an rmt.JacobianLaw, rmt.MPSolver or rmt.LinearManifold, "
                             f"got {type(theory).__name__}")

    def snap(self, x):
        x = x.copy()
        for pos, _ in self.atoms:
            x[np.abs(x - pos) <= _ATOL * self.scale] = pos
        return x

    def cdf_left(self, x):
        """``F(x^-)``: the CDF minus the atoms sitting exactly at ``x``."""
        F = self.cdf(x)
        for pos, mass in self.atoms:
            F = F - np.where(x == pos, mass, 0.0)
        return F

    def grid(self):
        pts = [np.array([p for p, _ in self.atoms])]
        for lo, hi in self.bulks:
            th = np.linspace(0.0, np.pi, _GRID)
            pts.append(lo + (hi - lo) * 0.5 * (1 - np.cos(th)))
        return np.unique(np.concatenate(pts))


def _samples(name, x):
    x = finite_array(name, x)
    x = np.ravel(x)
    if x.size == 0:
        raise ValueError(f"{name} must contain at least one value")
    return np.sort(x)


def ks_distance(theory_or_samples, samples) -> float:
    """Kolmogorov-Smirnov distance ``sup |F - G_n|``.

    Parameters
    ----------
    theory_or_samples : JacobianLaw | MPSolver | LinearManifold (theory CDF, atoms included),
        or an array of samples (two-sample statistic).
    samples : array, any shape (flattened), shape (n,).

    Examples
    --------
    >>> from rmt import JacobianLaw, LinearManifold, VarianceProfile
    >>> from simulate import simulate_spectra
    >>> M = LinearManifold(0.25, VarianceProfile.single(2.0))
    >>> v = simulate_spectra(M, d=400, t=[0.5], draws=2, seed=0).values[:, 0]
    >>> bool(ks_distance(JacobianLaw(M, 0.5), v) < 0.01)      # the law, its spike of mass 0.75 included
    True
    >>> round(ks_distance([0.1, 0.2, 0.3], [0.25, 0.35, 0.45]), 6)      # two samples: sup |F - G| = 2/3
    0.666667
    """
    y = _samples("samples", samples)
    if isinstance(theory_or_samples, (JacobianLaw, MPSolver, LinearManifold)):
        return float(ks_distances(theory_or_samples, y[None])[0])
    import warnings

    from scipy import stats
    x = _samples("theory_or_samples", theory_or_samples)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)         # only the statistic is used, not the p-value
        return float(stats.ks_2samp(x, y, method="asymp").statistic)


def ks_distances(theory, samples) -> np.ndarray:
    """Kolmogorov-Smirnov distance of each row of ``samples`` (R, n) to ``theory`` (as in :func:`ks_distance`),
    with one evaluation of the theory CDF for all rows: ``D_r = max_i max(i/n - F(y_(i)), F(y_(i)^-) - (i-1)/n)``.

    Returns (R,)."""
    Y = finite_array("samples", samples)
    if Y.ndim != 2 or Y.shape[1] == 0:
        raise ValueError(f"samples must have shape (R, n) with n >= 1, got {Y.shape}")
    th = _Theory(theory)
    Y = np.sort(th.snap(Y), axis=1)
    n = Y.shape[1]
    F = th.cdf(Y)
    Fl = F.copy()
    for pos, mass in th.atoms:                       # F(y^-): the atoms sitting exactly at y
        Fl = Fl - np.where(Y == pos, mass, 0.0)
    i = np.arange(1, n + 1)
    return np.maximum(np.maximum(np.max(i / n - F, axis=1), np.max(Fl - (i - 1) / n, axis=1)), 0.0)


def wasserstein1(theory_or_samples, samples) -> float:
    """Wasserstein-1 distance ``int |F(x) - G_n(x)| dx`` (units of the values).

    Theory vs samples: trapezoid rule on the union of the samples and a cos-spaced grid of ``2000``
    points per bulk (``G_n`` is constant between consecutive nodes); samples vs samples: exact.

    Examples
    --------
    >>> round(wasserstein1([0.0, 1.0], [0.5, 1.5]), 12)       # a shift by 0.5 moves every value by 0.5
    0.5
    >>> from rmt import JacobianLaw, LinearManifold, VarianceProfile
    >>> from simulate import simulate_spectra
    >>> M = LinearManifold(0.25, VarianceProfile.single(2.0))
    >>> v = simulate_spectra(M, d=400, t=[0.5], draws=2, seed=0).values[:, 0]
    >>> bool(wasserstein1(JacobianLaw(M, 0.5), v) < 1e-3)     # the values lie in [0.1, 0.5] and at 1
    True
    """
    y = _samples("samples", samples)
    if isinstance(theory_or_samples, (JacobianLaw, MPSolver, LinearManifold)):
        th = _Theory(theory_or_samples)
        y = th.snap(y)
        x = np.unique(np.concatenate([th.grid(), y]))
        G = np.searchsorted(y, x[:-1], side="right") / y.size       # G on [x_j, x_{j+1})
        F = th.cdf(x)
        a = np.abs(F[:-1] - G)
        b = np.abs(th.cdf_left(x[1:]) - G)
        return float(np.sum(0.5 * (a + b) * np.diff(x)))
    from scipy import stats
    x = _samples("theory_or_samples", theory_or_samples)
    return float(stats.wasserstein_distance(x, y))


# -- edges and gaps ---------------------------------------------------------------------------------
def bulk_counts(manifold: LinearManifold, d: int) -> np.ndarray:
    """Number of eigenvalues in each bulk at dimension ``d``, high variance first (= ascending ``eta``).

    When the cumulative bulk masses equal cumulative level fractions (detached or grouped levels) the
    exact column counts of :meth:`rmt.profiles.VarianceProfile.column_variances` are used; otherwise
    ``round(cumulative mass * d)``.

    Returns
    -------
    ndarray of int, shape (B,); ``d - sum`` is the number of zero eigenvalues (the spike).
    """
    d = positive_int("d", d)
    bulks = sorted(manifold.support(), key=lambda b: -b.upper)
    cum_mass = np.cumsum([b.mass for b in bulks])
    m = manifold.latent_dim(d)
    prof = manifold.profile
    if isinstance(prof, ContinuousProfile) or manifold.alpha > 1:
        cum = np.round(cum_mass * d).astype(int)
    else:
        cum_frac = manifold.alpha * np.cumsum(prof.fractions)
        cv = prof.column_variances(m)                    # per level, in the profile's order
        per = [int(np.sum(np.isclose(cv, lev, rtol=1e-12, atol=0))) for lev in prof.levels]
        if min(per) == 0:
            raise ValueError(f"d={d} is too small for this profile: m = round(alpha d) = {m} columns leave a variance "
                             f"level without a column (columns per level {per}); increase d")
        cols = np.cumsum(per)
        k = np.argmin(np.abs(cum_frac[None, :] - cum_mass[:, None]), axis=1)
        ok = np.abs(cum_frac[k] - cum_mass) < 1e-4
        cum = np.where(ok, cols[k], np.round(cum_mass * d).astype(int))
    cum = np.minimum(np.maximum.accumulate(cum), min(d, m))
    cum[-1] = min(d, m)
    return np.diff(np.concatenate([[0], cum]))


def empirical_edges(values, counts) -> np.ndarray:
    """Edges of each bulk of sorted spectra split by counts.

    Parameters
    ----------
    values : array (..., n), sorted ascending (e.g. ``Spectrum.values``)
    counts : (B,) values per bulk from the bottom (``bulk_counts``)

    Returns
    -------
    ndarray (..., B, 2): ``[lowest, highest]`` value of each bulk.
    """
    v = np.asarray(values, dtype=float)
    counts = np.asarray(counts, dtype=int)
    if np.any(counts < 1) or counts.sum() > v.shape[-1]:
        raise ValueError(f"counts must be >= 1 and sum to at most {v.shape[-1]}, got {counts.tolist()}")
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    stop = np.cumsum(counts) - 1
    return np.stack([v[..., start], v[..., stop]], axis=-1)


def theory_edges(manifold: LinearManifold, tau: float) -> np.ndarray:
    """Theory ``eta`` edges of each bulk at ``tau``, ascending: shape (B, 2).

    Examples
    --------
    >>> from rmt import LinearManifold, VarianceProfile
    >>> M = LinearManifold(0.25, VarianceProfile.single(2.0))               # lambda in [0.5, 4.5]
    >>> theory_edges(M, 0.5).round(10).tolist()                              # tau/(4.5+tau), tau/(0.5+tau)
    [[0.1, 0.5]]
    """
    return np.array([[b.lower, b.upper] for b in JacobianLaw(manifold, tau).support()])


def _gap_widths(edges, spike: bool):
    """Gaps between consecutive bulks (and to the spike at 1): (..., B - 1 [+ 1])."""
    w = edges[..., 1:, 0] - edges[..., :-1, 1]
    if spike:
        w = np.concatenate([w, 1.0 - edges[..., -1:, 1]], axis=-1)
    return w


def mean_sem(x, axis=0, skip_nan: bool = False):
    """Mean and standard error of the mean (``std(ddof=1)/sqrt(R)``, 0 for ``R = 1``) over ``axis``.

    ``skip_nan``: ignore ``nan`` entries (undefined readouts); ``R`` is then the number of finite entries and
    the result is ``nan`` where there is none."""
    x = np.asarray(x, dtype=float)
    if not skip_nan:
        n = x.shape[axis]
        mean = x.mean(axis=axis)
        sem = x.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(mean)
        return mean, sem
    n = np.sum(np.isfinite(x), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(x, axis=axis) / np.maximum(n, 1), np.nan)
        dev = np.nansum((x - np.expand_dims(mean, axis)) ** 2, axis=axis)
        sem = np.where(n > 1, np.sqrt(dev / np.maximum(n - 1, 1) / np.maximum(n, 1)), np.where(n == 1, 0.0, np.nan))
    return mean, sem


def agreement(manifold: LinearManifold, spectrum: Spectrum, progress: bool = False) -> dict:
    """Theory vs simulation at every time of ``spectrum`` (values ``eta``, shape (R, T, d)).

    Returns
    -------
    dict of per-time lists (length T): ``t``, ``tau``; ``ks`` and ``w1`` with ``mean``/``sem`` over draws
    and ``pooled`` (all draws together); ``edges`` with ``theory`` (T, B, 2), ``simulated_mean``/``_sem``
    and ``error`` (simulated mean - theory); ``gaps`` likewise (widths, bulk-to-bulk then bulk-to-spike);
    ``spike_mass`` simulated (fraction of values equal to 1) and theory; ``counts`` per bulk.

    Examples
    --------
    >>> from rmt import LinearManifold, VarianceProfile
    >>> from simulate import simulate_spectra
    >>> M = LinearManifold(0.25, VarianceProfile.single(2.0))
    >>> a = agreement(M, simulate_spectra(M, d=400, t=[0.5], draws=2, seed=0))
    >>> np.round(a["edges"]["theory"][0], 10).tolist(), a["spike_mass"]   # eta edges 0.5/(4.5+0.5), 0.5/(0.5+0.5)
    ([[0.1, 0.5]], {'simulated': 0.75, 'theory': 0.75})
    >>> bool(np.max(np.abs(a["edges"]["error"])) < 0.02 and a["ks"]["pooled"][0] < 0.01)   # d = 400 edge errors
    True
    """
    if not isinstance(spectrum, Spectrum):
        raise ValueError(f"spectrum must be an rmt.Spectrum, got {type(spectrum).__name__}")
    R, T, d = spectrum.values.shape
    counts = bulk_counts(manifold, d)
    spike = manifold.zero_mass > 0 and counts.sum() < d
    ks = np.empty((R, T))
    w1 = np.empty((R, T))
    ks_pool, w1_pool, e_th = [], [], []
    it = range(T)
    if progress:
        import sys

        from tqdm import tqdm
        it = tqdm(it, desc="agreement", file=sys.stderr, leave=False)
    for i in it:
        js = JacobianLaw(manifold, float(spectrum.tau[i]))
        ks[:, i] = ks_distances(js, spectrum.values[:, i].reshape(R, -1))
        for r in range(R):
            w1[r, i] = wasserstein1(js, spectrum.values[r, i])
        ks_pool.append(ks_distance(js, spectrum.values[:, i]))
        w1_pool.append(wasserstein1(js, spectrum.values[:, i]))
        e_th.append(theory_edges(manifold, float(spectrum.tau[i])))
    e_th = np.array(e_th)                                       # (T, B, 2)
    e_sim = empirical_edges(spectrum.values, counts)            # (R, T, B, 2)
    g_th, g_sim = _gap_widths(e_th, spike), _gap_widths(e_sim, spike)
    out = {"t": spectrum.t.tolist(), "tau": spectrum.tau.tolist(), "d": d, "draws": R,
           "counts": counts.tolist(),
           "spike_mass": {"simulated": float(np.mean(spectrum.values == 1.0)), "theory": manifold.zero_mass}}
    for name, x, pooled in (("ks", ks, ks_pool), ("w1", w1, w1_pool)):
        m, s = mean_sem(x)
        out[name] = {"mean": m.tolist(), "sem": s.tolist(), "pooled": list(map(float, pooled))}
    for name, th, sim in (("edges", e_th, e_sim), ("gaps", g_th, g_sim)):
        m, s = mean_sem(sim)
        out[name] = {"theory": th.tolist(), "simulated_mean": m.tolist(), "simulated_sem": s.tolist(),
                     "error": (m - th).tolist()}
    return out


def finite_size_study(manifold: LinearManifold, ds=(50, 100, 200, 400, 800), t=(0.01, 0.1, 1.0),
                      draws: int = 20, seed: int = 0, backend: str = "numpy", schedule="ve",
                      progress: bool = False) -> dict:
    """Agreement as ``d`` grows: mean over times of the per-draw KS, W1 and the largest edge error.

    Returns
    -------
    dict with ``d`` (list), ``ks``/``w1``/``edge_error`` each ``{"mean": [..], "sem": [..]}`` per ``d``
    (sem over draws of the time-averaged value), and ``slope`` of ``log(mean)`` against ``log d`` for
    each measure (negative: the error shrinks).
    """
    from .spectra import simulate_spectra
    ds = [positive_int("d", x) for x in np.atleast_1d(ds)]
    if len(ds) < 2:
        raise ValueError(f"ds must hold at least two dimensions, got {ds}")
    res = {"d": ds, "t": np.atleast_1d(np.asarray(t, dtype=float)).tolist(), "draws": int(draws),
           "ks": {"mean": [], "sem": []}, "w1": {"mean": [], "sem": []}, "edge_error": {"mean": [], "sem": []}}
    for d in ds:
        spec = simulate_spectra(manifold, d, t, draws, seed, backend, schedule, progress)
        counts = bulk_counts(manifold, d)
        ks = np.empty((draws, spec.n_times))
        w1 = np.empty_like(ks)
        ee = np.empty_like(ks)
        for i in range(spec.n_times):
            js = JacobianLaw(manifold, float(spec.tau[i]))
            th = theory_edges(manifold, float(spec.tau[i]))
            e = empirical_edges(spec.values[:, i], counts)
            ee[:, i] = np.max(np.abs(e - th), axis=(-2, -1))
            ks[:, i] = ks_distances(js, spec.values[:, i].reshape(draws, -1))
            for r in range(draws):
                w1[r, i] = wasserstein1(js, spec.values[r, i])
        for name, x in (("ks", ks), ("w1", w1), ("edge_error", ee)):
            m, s = mean_sem(x.mean(axis=1))
            res[name]["mean"].append(float(m))
            res[name]["sem"].append(float(s))
    logd = np.log(ds)
    res["slope"] = {k: float(np.polyfit(logd, np.log(res[k]["mean"]), 1)[0]) for k in ("ks", "w1", "edge_error")}
    return res
