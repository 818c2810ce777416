"""Spectra of trained score networks over times, their readouts, and gap-opening times (one definition each).

Pipeline (docs/theory.md sections 4, 5, 9):

- points: training points noised to ``x_t = a x0 + s eps`` (:func:`noised_points`, fresh ``eps`` per time), or
  the states of reverse-time trajectories driven by the network score (:func:`reverse_trajectories`, the
  samplers of :mod:`simulate.samplers` through the numpy adapter :class:`NetworkScore`);
- spectra: singular values of ``Jn = s(t)^2 J`` from the one Jacobian engine
  (:func:`trained.jacobian.jacobian_spectrum`) at each point and time, in the shared
  :class:`rmt.spectrum.Spectrum` (``(points, times, d)``, ascending) - :func:`network_spectra`;
- readouts per time (:func:`time_readouts`): phase, largest-gap dimension, codimension, ``D_eff`` of
  :mod:`rmt.readouts`, per point (mean and standard error) and of the point-averaged sorted spectrum;
- subspaces and gap-opening times (:func:`subspaces`, :func:`gap_opening_times`).

**Gap opening (the definition used for networks, exact scores and theory alike).** Sort the spectrum
ascending and average it over points (the paper's averaged curves). A subspace made of the ``k`` directions
of largest variance is separated when the gap ``w(t) = v_(k+1) - v_(k)`` above the ``k`` smallest values
is at least the resolution ``Delta`` (default 0.1, the phase resolution of docs/theory.md 5). Its *opening time*
is the first time, scanning from large to small ``t`` (the direction of generation), at which
``w(t) >= Delta``; between the two grid times that bracket the crossing, ``w`` is interpolated linearly in
``log t``. For the limiting theory the same condition on the bulk edges is solved exactly: the window of
the intermediate gap, ``tau_open`` of :meth:`rmt.gaps.IntermediateGap.window`, for a boundary between
detached bulks, and ``W_M(tau) = l_min / (l_min + tau) = Delta``, ``tau_open = l_min (1 - Delta)/Delta``
(:func:`rmt.gaps.timescales`), for the boundary to the spike at ``k = m``; ``tau`` is converted to ``t``
with the schedule. The measurement is also applied to the classical eigenvalue locations of the theory
(:func:`rmt.theory_spectrum`, ``d`` values) and to the exact score of the dataset's own ``F``.
"""
from __future__ import annotations

import sys

import numpy as np

from rmt import readouts
from rmt.validation import finite_array, positive, positive_int, resolution
from rmt.gaps import timescales
from rmt.manifold import LinearManifold
from rmt.profiles import VarianceProfile
from rmt.schedules import get_schedule
from rmt.spectrum import Spectrum
from simulate.agreement import bulk_counts, mean_sem
from simulate.samplers import sample_reverse

from .jacobian import jacobian_spectrum

__all__ = ["NetworkScore", "sample_network", "training_points", "noised_points", "reverse_trajectories",
           "network_spectra", "time_readouts", "subspaces", "gap_widths", "gap_boundaries", "gap_opening_times",
           "separation_order", "tangent_ks", "plateau_time", "NOISE_STREAM"]


# ------------------------------------------------------------------------------------------------
# the numpy adapter for the samplers of simulate
# ------------------------------------------------------------------------------------------------
class NetworkScore:
    """A torch :class:`~trained.protocol.DiffusionModel` (a :class:`~trained.nets.ScoreModel`, an adapter of
    :mod:`trained.adapters`) as a numpy score for :mod:`simulate.samplers`.

    Provides ``score(x, t)`` ((n, d) float64 -> (n, d) float64, evaluated under ``torch.no_grad`` in
    batches of ``batch``), ``d`` (flattened point size), ``schedule``, ``mean()`` (zero: the networks are
    trained on centred data), ``max_variance`` (``sigma_data^2``, 1 when the model has none) and
    ``describe()``; the denoiser follows from the score in the sampler. Spectra of networks go through
    :mod:`trained.jacobian`, not through here.
    """

    def __init__(self, model, batch: int = 4096):
        import torch

        from .protocol import is_diffusion_model
        if not is_diffusion_model(model):
            raise ValueError(f"model must provide score(x, t), schedule and data_shape, got {type(model).__name__}")
        self.model = model
        self.schedule = get_schedule(model.schedule)
        self.shape = tuple(model.data_shape)
        self.d = int(np.prod(self.shape))
        self.data_shape = (self.d,)                   # flat points: itself a simulate.protocol.DiffusionModel
        self.batch = positive_int("batch", batch)
        module = model if isinstance(model, torch.nn.Module) else getattr(model, "module", None)
        p = next(iter(module.parameters()), None) if module is not None else None
        self._torch = torch
        self._dtype = p.dtype if p is not None and p.is_floating_point() else torch.float64
        self._device = p.device if p is not None else torch.device("cpu")

    def score(self, x, t):
        """The model's score on flat float64 points ``x`` (n, d) or (d,) at process time ``t``, evaluated under
        ``torch.no_grad`` in batches; same shape as ``x``.
        """
        X = finite_array("x", x)
        single = X.ndim == 1
        X = X.reshape(-1, self.d)
        torch, out = self._torch, []
        with torch.no_grad():
            for i in range(0, X.shape[0], self.batch):
                xb = torch.as_tensor(X[i:i + self.batch], dtype=self._dtype, device=self._device)
                s = self.model.score(xb.reshape((xb.shape[0],) + self.shape), float(t))
                out.append(s.reshape(xb.shape[0], -1).double().cpu().numpy())
        out = np.concatenate(out)
        return out[0] if single else out

    def denoiser(self, x, t):
        """Tweedie denoiser ``D(x) = (x + s^2 score(x, t)) / a`` on flat float64 points."""
        X = finite_array("x", x)
        return self.schedule.denoise(X, t, self.score(X, t))

    def log_density(self, x, t):
        """Refused: a network score has no log-density (``ValueError``)."""
        raise ValueError("a network score has no log-density; use the score or trained.jacobian")

    def mean(self):
        """Zero: the networks are trained on centred data, shape (d,)."""
        return np.zeros(self.d)

    @property
    def max_variance(self) -> float:
        """``sigma_data^2`` of the model (1 when it has none)."""
        return float(getattr(self.model, "sigma_data", None) or 1.0) ** 2

    def describe(self) -> dict:
        """``{"model": "NetworkScore", "d", "schedule", "network": <the model's description or config>}``."""
        inner = self.model.describe() if hasattr(self.model, "describe") else getattr(self.model, "config", None)
        return {"model": "NetworkScore", "d": self.d, "schedule": self.schedule.name, "network": inner}


def _default_t_start(model, t_max=0.0):
    """Start of the reverse process: ``tau = max(100, 100 sigma_data^2)`` (the top of the default training
    range ``sigma_max = 10``; the prior ``N(0, s^2 I)`` then swamps the data), or ``t_max`` if later."""
    sch = get_schedule(model.schedule)
    tau0 = max(100.0, 100.0 * float(getattr(model, "sigma_data", 1.0)) ** 2)
    return max(float(sch.t_of_tau(tau0)), float(t_max))


def sample_network(model, n: int, *, steps: int = 200, t_end: float = 1e-3, t_start=None, method: str = "sde",
                   seed: int = 0, record_times=None, progress: bool = False):
    """Samples from a trained score network with the reverse-time samplers of :mod:`simulate.samplers`.

    Parameters
    ----------
    model : a torch DiffusionModel (ScoreModel, an adapter on a continuous schedule);  n : number of samples;
    steps : base time steps (log-spaced)
    t_end : final time;  t_start : start (default ``tau = max(100, 100 sigma_data^2)``);  method : 'sde' | 'ode'
    record_times : times at which to keep the states (``SampleResult.trajectory``)

    Returns
    -------
    simulate.samplers.SampleResult (``x`` of shape (n, d), flattened)
    """
    f = NetworkScore(model)
    t_start = _default_t_start(model) if t_start is None else positive("t_start", t_start)
    return sample_reverse(f, positive_int("n", n), method=method, steps=steps, t_start=t_start, t_end=t_end,
                          rng=np.random.default_rng(seed), record_times=record_times, progress=progress)


# ------------------------------------------------------------------------------------------------
# points at which the spectra are measured
# ------------------------------------------------------------------------------------------------
def training_points(data, points: int, seed: int = 0) -> np.ndarray:
    """``points`` distinct training points of ``data`` (a :class:`~trained.data.TensorData`), flattened float64."""
    points = positive_int("points", points)
    if points > data.n:
        raise ValueError(f"points must be <= the number of training points {data.n}, got {points}")
    idx = np.random.default_rng([seed, 2]).choice(data.n, size=points, replace=False)
    return data.x[idx].reshape(points, -1).double().numpy()


#: stream of ``numpy.random.default_rng([seed, NOISE_STREAM])`` that draws the noise of :func:`noised_points`
NOISE_STREAM = 3


def noised_points(x0, t, schedule="ve", seed: int = 0, shared_noise: bool = False) -> np.ndarray:
    """``x_t = a(t) x0 + s(t) eps`` at every time: array (P, T, d).

    ``x0``: (P, d) points or (P, ...) images (flattened). ``shared_noise=False``: an independent ``eps``
    per point and time; ``True``: one ``eps`` per point shared by all times (the same noise direction
    scaled up, as for one image followed over time). Noise from ``default_rng([seed, NOISE_STREAM])``.
    """
    X0 = finite_array("x0", x0)
    if X0.ndim < 2:
        raise ValueError(f"x0 must have shape (P, d) or (P, ...), got {X0.shape}")
    X0 = X0.reshape(X0.shape[0], -1)
    sch = get_schedule(schedule)
    t = sch.check_times(t)
    rng = np.random.default_rng([seed, NOISE_STREAM])
    if shared_noise:
        eps = np.broadcast_to(rng.standard_normal((X0.shape[0], 1, X0.shape[1])), (X0.shape[0], t.size, X0.shape[1]))
    else:
        eps = rng.standard_normal((X0.shape[0], t.size, X0.shape[1]))
    return sch.noise(X0[:, None, :], t[None, :, None], eps)


def reverse_trajectories(model, t, points: int, *, steps: int = 200, seed: int = 0, method: str = "sde",
                         t_start=None, progress: bool = False):
    """States of ``points`` reverse-time trajectories of the network at the times ``t``.

    The trajectories start from the prior at ``t_start`` (default ``tau = 100``) and are integrated by
    :func:`sample_network` down to ``min(t)`` with the times ``t`` inserted into the grid.

    Returns
    -------
    (X, result): X of shape (P, T, d) in the order of ``t``; the :class:`SampleResult`.
    """
    t = np.atleast_1d(finite_array("t", t, positive_values=True))
    t_start = _default_t_start(model, t.max()) if t_start is None else positive("t_start", t_start)
    res = sample_network(model, points, steps=steps, t_end=float(t.min()), t_start=t_start, method=method,
                         seed=seed, record_times=t, progress=progress)
    rec = res.record_times                                         # descending, unique
    pos = [int(np.argmin(np.abs(rec - tt))) for tt in t]
    return np.transpose(res.trajectory[pos], (1, 0, 2)), res


# ------------------------------------------------------------------------------------------------
# spectra through the engine, and readouts
# ------------------------------------------------------------------------------------------------
def network_spectra(model, x, t, *, method: str = "exact", meta: dict | None = None, progress: bool = False,
                    desc: str = "network spectra", **engine) -> Spectrum:
    """Singular values of ``Jn = s(t)^2 J`` of a score network at points and times, via the engine.

    Parameters
    ----------
    model : ScoreModel (or any score the engine takes)
    x : (P, d) points used at every time, or (P, T, d) one set of points per time
    t : (T,) process times
    method : engine method. 'exact' and 'finite-difference' give all ``d`` values; 'lanczos' (``k=...``)
        gives the top-``k`` singular values ``sigma_i`` of the denoiser Jacobian ``D' = (I + Jn)/a``
        (default ``operator='denoiser'``, ``tol=1e-6``, ``maxiter=60``), stored as ``1 - a sigma_i``
        (``= eta`` for a symmetric Jacobian): the ``k`` smallest values of the spectrum.
    engine : further keywords of :func:`trained.jacobian.jacobian_spectrum` (``k``, ``seed``, ``dtype``, ...)

    Returns
    -------
    Spectrum, values (P, T, n) ascending, ``source='network'``, ``kind='singular values'``; ``meta`` has
    ``method``, ``points``, ``d``, ``k``, ``values`` (what is stored) and ``seconds`` (engine time).
    """
    t = np.atleast_1d(finite_array("t", t, positive_values=True))
    X = finite_array("x", x)
    if X.ndim == 2:
        X = np.broadcast_to(X[:, None, :], (X.shape[0], t.size, X.shape[1]))
    if X.ndim != 3 or X.shape[1] != t.size:
        raise ValueError(f"x must have shape (P, d) or (P, T={t.size}, d), got {np.shape(x)}")
    if method == "lanczos":
        engine = {"operator": "denoiser", "tol": 1e-6, "maxiter": 60, **engine}
    sch = get_schedule(getattr(model, "schedule", "ve"))
    it = range(t.size)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc=desc, file=sys.stderr, leave=False)
    vals, seconds = [], 0.0
    for j in it:
        res = jacobian_spectrum(model, np.ascontiguousarray(X[:, j]), t=float(t[j]), method=method, **engine)
        vals.append(res.spectrum.values[:, 0, :])
        seconds += float(res.info.get("seconds", 0.0))
    denoiser = engine.get("operator") == "denoiser"
    m = {"method": method, "points": int(X.shape[0]), "d": int(X.shape[2]), "k": engine.get("k"),
         "values": "1 - a sigma(D') (top k of D')" if denoiser else "sigma(Jn)", "seconds": round(seconds, 3),
         **(meta or {})}
    return Spectrum(np.stack(vals, axis=1), t, schedule=sch, source="network", kind="singular values", meta=m)


def _phase_counts(labels) -> dict:
    return {p: int(np.sum(labels == p)) for p in readouts.PHASES if np.any(labels == p)}


def _largest_gap_dict(v) -> dict:
    i, w, lo, up = readouts.largest_gap(v)
    return {"index": int(i), "width": float(w), "lower": float(lo), "upper": float(up)}


def time_readouts(spec: Spectrum, delta: float = 0.1, min_gap: float = 0.02) -> list[dict]:
    """Readouts of :mod:`rmt.readouts` per time, for spectra at several points (draws) and times.

    Per time: ``phase`` (of the point-averaged sorted spectrum), ``phase_counts`` (per point) and
    ``phase_majority``; ``largest_gap_dimension``, ``codimension``, ``effective_dimension`` as mean and
    s.e.m. over points, per point, and of the averaged spectrum; ``largest_gap_width`` (mean, s.e.m.);
    ``largest_gap_of_mean_spectrum``; ``gaps`` of the averaged spectrum wider than ``min_gap`` (widest
    first, ``index`` = values below the gap); the averaged sorted spectrum and its s.e.m.

    (``min_gap = 0.02`` is ~15x the mean spacing ``1.2/d`` of a network spectrum at ``d = 784``.)
    """
    delta = resolution(delta)
    min_gap = positive("min_gap", min_gap)
    v = spec.values                                                 # (P, T, n)
    ms = spec.mean_sorted()
    lg, width, _, _ = readouts.largest_gap(v)
    cd, de = readouts.codimension(v, delta), readouts.effective_dimension(v)
    ph = readouts.phases(v, delta)
    _, sem_sorted = mean_sem(v)
    out = []
    for j in range(spec.n_times):
        counts = _phase_counts(ph[:, j])
        row = {"t": float(spec.t[j]), "tau": float(spec.tau[j]),
               "phase": readouts.phase(ms[j], delta), "phase_counts": counts,
               "phase_majority": max(counts, key=counts.get)}
        for name, arr, fn in (("largest_gap_dimension", lg, readouts.largest_gap_dimension),
                              ("codimension", cd, lambda e: readouts.codimension(e, delta)),
                              ("effective_dimension", de, readouts.effective_dimension)):
            m, s = mean_sem(arr[:, j])
            row[name] = {"mean": float(m), "sem": float(s), "of_mean_spectrum": int(fn(ms[j])),
                         "per_point": arr[:, j].tolist()}
        m, s = mean_sem(width[:, j])
        row["largest_gap_width"] = {"mean": float(m), "sem": float(s)}
        row["largest_gap_of_mean_spectrum"] = _largest_gap_dict(ms[j])
        row["gaps"] = [g.as_dict() for g in readouts.spectral_gaps(ms[j], min_width=min_gap)]
        row["mean_sorted"] = ms[j].tolist()
        row["sem_sorted"] = sem_sorted[j].tolist()
        out.append(row)
    return out


def plateau_time(spec: Spectrum, delta: float = 0.1) -> dict:
    """The time at which to read a network's dimension: the plateau of the tangent count over the time grid.

    The tangent count of a spectrum is the number of values below ``1 - delta``
    (:func:`rmt.readouts.tangent_count` with ``threshold=delta``), its median over points ``D(t)``. At the
    smallest times the count follows the noise into pixel-scale detail and the regime the network was barely
    trained on; at large times the noise averages over the curvature of the image manifold and ``D`` falls.
    The reading time is the interior grid time where ``D`` changes least per decade,
    ``|log D(t_{j+1}) - log D(t_{j-1})| / |log t_{j+1} - log t_{j-1}|`` (central difference; ties: the smaller
    time), among the times with ``D >= 1`` at both neighbours (docs/theory.md section 9).

    Returns ``{"index", "t", "tau", "rule", "profile": {"t", "tangent_count", "slope"}}`` (``slope`` None at
    the grid ends and where undefined).
    """
    delta = resolution(delta)
    if spec.n_times < 3:
        raise ValueError(f"plateau_time needs at least 3 times, got {spec.n_times}")
    order = np.argsort(spec.t)
    t = spec.t[order]
    D = np.median(readouts.tangent_count(spec.values, threshold=delta), axis=0)[order]   # (T,)
    slope = [None] * t.size
    for j in range(1, t.size - 1):
        if D[j - 1] >= 1 and D[j + 1] >= 1:
            slope[j] = float(abs(np.log(D[j + 1]) - np.log(D[j - 1])) / (np.log(t[j + 1]) - np.log(t[j - 1])))
    cand = [j for j in range(t.size) if slope[j] is not None]
    if not cand:
        raise ValueError("plateau_time: no interior time with a tangent count >= 1 at both neighbours")
    j = min(cand, key=lambda i: (slope[i], t[i]))
    k = int(order[j])
    return {"index": k, "t": float(spec.t[k]), "tau": float(spec.tau[k]),
            "rule": f"flattest median tangent count n - codimension(delta={delta:g}) over interior grid times",
            "profile": {"t": t.tolist(), "tangent_count": D.tolist(), "slope": slope}}


# ------------------------------------------------------------------------------------------------
# subspaces and gap-opening times
# ------------------------------------------------------------------------------------------------
def subspaces(manifold: LinearManifold, d: int, delta: float = 0.1, schedule="ve") -> list[dict]:
    """The subspaces the theory separates: one per detached bulk of the covariance spectrum, high variance first.

    Returns a list of dicts: ``k`` (bulk number, 1 = highest variance), ``dimension`` (its eigenvalue count
    at ``d``, :func:`simulate.agreement.bulk_counts`), ``boundary`` (number of values below the gap that
    separates it: the cumulative count), ``levels`` (the variance levels of its columns, discrete profiles),
    ``gap`` ('intermediate' to the next bulk, or 'manifold' to the spike at 1; None when ``alpha >= 1``
    and the last bulk has nothing above it), ``tau_open``/``t_open`` of that gap in theory (None if it never
    reaches ``delta``), and ``tau_max``/``t_max`` for intermediate gaps.
    """
    d = positive_int("d", d)
    delta = resolution(delta)
    counts = bulk_counts(manifold, d)
    ts = timescales(manifold, delta, schedule)
    cum = np.cumsum(counts)
    levels = None
    if isinstance(manifold.profile, VarianceProfile):
        cols = manifold.profile.column_variances(manifold.latent_dim(d))      # high variance first
        levels = [sorted(set(np.round(cols[a:b], 12).tolist()), reverse=True)
                  for a, b in zip(np.concatenate([[0], cum[:-1]]), cum)]
    out = []
    for k, c in enumerate(counts, start=1):
        row = {"k": k, "dimension": int(c), "boundary": int(cum[k - 1]),
               "levels": None if levels is None else levels[k - 1]}
        if k < len(counts):
            g = ts["gaps"][k - 1]
            row.update(gap="intermediate", tau_open=g["tau_open"], t_open=g["t_open"], tau_max=g["tau_max"],
                       t_max=g["t_max"])
        elif manifold.zero_mass > 0:
            row.update(gap="manifold", tau_open=ts["manifold_gap"]["tau_open"], t_open=ts["manifold_gap"]["t_open"])
        else:
            row.update(gap=None, tau_open=None, t_open=None)
        out.append(row)
    return out


def gap_widths(spec: Spectrum, boundary: int):
    """Width of the gap above the ``boundary`` smallest values, per time: of the point-averaged sorted
    spectrum, and its s.e.m. over points (per-point widths). Returns ``(width (T,), sem (T,))``."""
    b = positive_int("boundary", boundary)
    if b >= spec.n:
        raise ValueError(f"boundary must be < n={spec.n}, got {b}")
    ms = spec.mean_sorted()
    _, sem = mean_sem(spec.values[:, :, b] - spec.values[:, :, b - 1])
    return ms[:, b] - ms[:, b - 1], sem


def gap_boundaries(spec: Spectrum, delta: float = 0.1) -> list[int]:
    """Every index ``b`` at which the point-averaged sorted spectrum has a gap of width ``>= delta`` at some
    time of the grid (ascending): the boundaries to follow when the subspaces are not known in advance."""
    delta = resolution(delta)
    w = np.diff(spec.mean_sorted(), axis=-1)                       # (T, n-1)
    return sorted({int(i) + 1 for i in np.nonzero((w >= delta).any(axis=0))[0]})


def gap_opening_times(spec: Spectrum, boundaries=None, delta: float = 0.1) -> list[dict]:
    """Opening time of the gap above each boundary index (module docstring): first time, from large to small
    ``t``, at which the gap of the point-averaged sorted spectrum reaches ``delta``, interpolated in ``log t``.

    ``boundaries``: indices (number of values below the gap); default :func:`gap_boundaries`, every gap
    that reaches ``delta`` somewhere on the grid. Returns per boundary ``{"boundary", "t_open",
    "open_at_start", "max_width", "t_at_max_width"}``, in the order the gaps open; ``t_open`` is None if
    the gap never reaches ``delta`` on the grid; ``open_at_start`` marks a gap already open at the largest
    grid time (``t_open`` is then only a lower bound).
    """
    delta = resolution(delta)
    if boundaries is None:
        boundaries = gap_boundaries(spec, delta)
    order = np.argsort(-spec.t)
    t = spec.t[order]
    out = []
    for b in np.atleast_1d(np.asarray(boundaries, dtype=int)):
        w = gap_widths(spec, int(b))[0][order]
        hit = np.nonzero(w >= delta)[0]
        row = {"boundary": int(b), "t_open": None, "open_at_start": False,
               "max_width": float(w.max()), "t_at_max_width": float(t[int(np.argmax(w))])}
        if hit.size:
            j = int(hit[0])
            if j == 0:
                row.update(t_open=float(t[0]), open_at_start=True)
            else:
                x0, x1 = np.log(t[j - 1]), np.log(t[j])
                row["t_open"] = float(np.exp(x0 + (delta - w[j - 1]) / (w[j] - w[j - 1]) * (x1 - x0)))
        out.append(row)
    return out


def separation_order(t_open: dict) -> list:
    """Keys of ``{label: t_open}`` in the order the subspaces separate (largest ``t_open`` first; never: last)."""
    return sorted(t_open, key=lambda k: (t_open[k] is None, -(t_open[k] or 0.0)))


def tangent_ks(manifold: LinearManifold, tau: float, values) -> float:
    """KS distance between ``values`` (e.g. the ``m`` smallest normalised singular values) and the theory's
    tangent distribution: the ``eta`` law of :class:`rmt.JacobianLaw` conditional on the bulk (spike
    excluded), ``F(eta) = P(eta_i <= eta) / min(alpha, 1)`` for ``eta < 1``."""
    from scipy import stats

    from rmt.mp import JacobianLaw
    v = finite_array("values", values).ravel()
    if v.size == 0:
        raise ValueError("values must not be empty")
    js = JacobianLaw(manifold, positive("tau", tau))
    mass = min(manifold.alpha, 1.0)

    def cdf(x):
        x = np.asarray(x, dtype=float)
        return np.where(x >= 1.0, 1.0, np.clip(js.cdf(np.minimum(x, 1.0 - 1e-15)) / mass, 0.0, 1.0))
    return float(stats.kstest(v, cdf).statistic)
