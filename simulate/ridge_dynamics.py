"""Reach-align-slide: reverse trajectories measured against the ridge of the smoothed empirical density
(docs/theory.md section 8).

A score (an exact model, a :class:`PerturbedScore` with a known error, or any object with ``score(x, t)``,
``d`` and ``schedule``: a trained network through ``trained.network_spectra.NetworkScore``, the random-feature
model of ``trained.random_features``) drives the existing reverse samplers
(:func:`simulate.samplers.sample_reverse`); at each recorded time ``t`` every state ``x`` is projected onto the
ridge ``R_t`` of the training points (:func:`simulate.ridge.project_to_ridge`), giving the foot point ``y``,
the distance ``|x - y|`` and the score error ``e = score_hat(y, t) - grad log p_t(y)`` at the foot, split into
``e_normal = V V^T e`` and ``e_tangent``.

Settled distance. Across the ridge the exact score restores like ``H_nn delta`` with ``H_nn ~ -1/s^2``
(the posterior covariance is nearly flat in normal directions), so a normal error moves the balance point to
``delta_eq = s^2 |e_normal|`` (*derived*; exact for two modes, where ``H_nn = -1/s^2``).

Phase rule (*definition*), per recorded time and trajectory:

- **reach** while ``|x - y| > radius + reach_factor * delta_eq`` (``reach_factor`` 2; ``radius`` a fixed
  neighbourhood of the ridge, by default 5% of the median nearest-neighbour spacing of the training points):
  the sample has not yet entered the ridge's neighbourhood widened by the offset its normal error sets;
- otherwise **align** when the distance changed more than the foot point moved since the previous recorded
  time (``| |x-y|_r - |x-y|_{r-1} | >= |y_r - y_{r-1}|``), else **slide** (motion along the ridge dominates).
  The first recorded time inside the neighbourhood counts as align; when neither moved by more than
  ``1e-3 radius`` the previous phase is kept (a settled sample).

``slope`` fits the settled distance (at the last recorded time) against ``delta_eq`` there: least squares
through the origin and, where ``delta_eq`` varies, the log-log slope (both 1 when the distance tracks the
normal error).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rmt.validation import positive, positive_int

from .models import EmpiricalModel, as_rng
from .ridge import empirical_model, project_to_ridge
from .samplers import sample_reverse

__all__ = ["PerturbedScore", "RidgeDynamics", "reach_align_slide", "fit_slope", "constant_error", "PHASES"]

#: the three phases of a reverse trajectory measured against the ridge (module docstring; docs/theory.md section 8)
PHASES = ("reach", "align", "slide")


class PerturbedScore:
    """``score_hat(x, t) = model.score(x, t) + error(x, t)`` (duck-typed score for the samplers).

    ``error(x, t)`` takes ``x`` (B, D) and a float ``t`` and returns (B, D).
    """

    def __init__(self, model, error):
        if not callable(error):
            raise ValueError("error must be a callable error(x, t) -> (B, D)")
        self.model, self.error = model, error
        self.d, self.schedule = model.d, model.schedule
        self.data_shape = (int(model.d),)             # a simulate.protocol.DiffusionModel

    def coefficients(self, t):
        """``(a(t), s(t)^2)`` of the underlying model (:meth:`simulate.models.ExactModel.coefficients`)."""
        return self.model.coefficients(t)

    def mean(self):
        """Data mean of the underlying model."""
        return self.model.mean()

    @property
    def max_variance(self):
        """Largest data variance of the underlying model (sets the samplers' start time)."""
        return self.model.max_variance

    def score(self, x, t):
        """``model.score(x, t) + error(x, t)``, shape of ``x`` ((B, D) or (D,))."""
        x2 = np.atleast_2d(x)
        out = self.model.score(x2, t) + self.error(x2, t)
        return out[0] if np.ndim(x) == 1 else out

    def describe(self):
        """``{"model": "PerturbedScore", "base": <the model's describe()>}``."""
        return {"model": "PerturbedScore", "base": self.model.describe()}


@dataclass
class RidgeDynamics:
    """Per recorded time (R) and trajectory (n): ``distance``, ``foot`` (R, n, D), ``error_normal`` and
    ``error_tangent`` (norms of the score error's parts at the foot), ``delta_eq = s^2 |e_normal|``, ``phase``
    (R, n) codes into :data:`PHASES`, ``converged`` (R, n) of the projections, and the fitted ``slope``; for the
    linearised dynamics (:mod:`simulate.ridge_align`), at the feet: ``error`` (R, n, D) the error vectors,
    ``exact_score`` (R, n, D) ``grad log p_t``,
    ``eigenvalues`` (R, n, k+1) ``l_1..l_{k+1}`` of ``grad^2 log p_t``, ``tangent`` (R, n, D, k) the tangent
    frames and, when asked for, ``jacobian`` (R, n, D, D) the score model's own Jacobian."""

    times: np.ndarray
    distance: np.ndarray
    foot: np.ndarray
    error_normal: np.ndarray
    error_tangent: np.ndarray
    delta_eq: np.ndarray
    phase: np.ndarray
    converged: np.ndarray
    states: np.ndarray
    slope: dict
    error: np.ndarray | None = None
    exact_score: np.ndarray | None = None
    eigenvalues: np.ndarray | None = None
    tangent: np.ndarray | None = None
    jacobian: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def phase_fractions(self) -> dict:
        """Fraction of trajectories in each phase per recorded time: name -> (R,)."""
        return {name: np.mean(self.phase == i, axis=1) for i, name in enumerate(PHASES)}

    def summary(self) -> dict:
        """JSON-ready summary: medians over trajectories per recorded time (distance, normal and tangent error),
        the phase fractions, the fraction of converged projections, the settled-distance ``slope`` and ``info``.
        """
        fr = self.phase_fractions()
        return {"times": self.times.tolist(), "distance_median": np.median(self.distance, 1).tolist(),
                "error_normal_median": np.median(self.error_normal, 1).tolist(),
                "error_tangent_median": np.median(self.error_tangent, 1).tolist(),
                "phase_fractions": {k: v.tolist() for k, v in fr.items()},
                "projections_converged": float(self.converged.mean()), "slope": self.slope, **self.info}


def fit_slope(distance, delta_eq) -> dict:
    """``distance ~ c delta_eq``: ``c`` by least squares through the origin; log-log slope on positive pairs."""
    d, q = np.ravel(distance), np.ravel(delta_eq)
    out = {"through_origin": float(np.sum(d * q) / np.sum(q * q)) if np.sum(q * q) > 0 else float("nan"),
           "settled_median": float(np.median(d)) if d.size else float("nan"),
           "loglog": float("nan"), "points": int(d.size)}
    pos = (d > 0) & (q > 0)
    if pos.sum() >= 3 and np.ptp(np.log(q[pos])) > 1e-3:
        out["loglog"] = float(np.polyfit(np.log(q[pos]), np.log(d[pos]), 1)[0])
    return out


def reach_align_slide(X, score_model, k, *, n=64, record_times=None, method="ode", steps=200, t_start=None,
                      t_end=1e-3, rng=None, x_init=None, reach_factor=2.0, radius=None, tol=1e-10,
                      max_iter=500, jacobian=False, progress=False) -> RidgeDynamics:
    """Run the reverse sampler with ``score_model`` and measure the trajectories against the ridge of ``X``.

    Parameters
    ----------
    X : (n_train, D) training points (or an EmpiricalModel; its schedule must be the score model's)
    score_model : ExactModel, PerturbedScore, or any object with ``score(x, t)``, ``d`` and ``schedule``
    k : ridge dimension;  n : trajectories;  record_times : process times (default 12 log-spaced in
        ``[t_end, t_start]``);  method, steps, t_start, t_end, rng, x_init : as :func:`sample_reverse`
    reach_factor, radius : of the phase rule (module docstring);  tol, max_iter : of the projections
    jacobian : also record the score model's Jacobian at each foot (central differences, ``2 D`` score
        evaluations per record), for :func:`simulate.ridge_align.linearised_offset`
    """
    model = empirical_model(X, getattr(score_model, "schedule", "ve"))
    if model.schedule != score_model.schedule:
        raise ValueError(f"score_model's schedule {score_model.schedule.name!r} differs from X's "
                         f"{model.schedule.name!r}")
    k = positive_int("k", k)
    reach_factor = positive("reach_factor", reach_factor)
    if radius is None:
        radius = 0.05 * median_spacing(model.points)
    radius = positive("radius", radius)
    rng = as_rng(rng)
    if t_start is None:
        t_start = float(model.schedule.t_of_tau(100.0 * max(1.0, model.max_variance)))
    if record_times is None:
        tau = np.geomspace(model.schedule.tau(t_end), model.schedule.tau(t_start), 12)[:-1]
        record_times = model.schedule.t_of_tau(tau)
    rec = np.sort(np.asarray(record_times, dtype=float))[::-1]
    res = sample_reverse(score_model, n, method=method, steps=steps, t_start=t_start, t_end=t_end, rng=rng,
                         x_init=x_init, record_times=rec, progress=progress)
    R = rec.size
    dist = np.empty((R, n))
    foot = np.empty((R, n, model.d))
    en, et, deq = (np.empty((R, n)) for _ in range(3))
    evec, exact = np.empty((R, n, model.d)), np.empty((R, n, model.d))
    eig = np.empty((R, n, k + 1))
    tan = np.empty((R, n, model.d, k))
    conv = np.empty((R, n), dtype=bool)
    jac = np.empty((R, n, model.d, model.d)) if jacobian else None
    for r, t in enumerate(res.record_times):
        p = project_to_ridge(model, res.trajectory[r], float(t), k, tol=tol, max_iter=max_iter)
        foot[r], dist[r], conv[r] = p.points, p.distance, p.converged
        exact[r] = p.frame.score
        e = evec[r] = score_model.score(p.points, float(t)) - p.frame.score
        nrm = p.frame.normal_component(e)
        eig[r], tan[r] = p.frame.eigenvalues, p.frame.tangent
        en[r] = np.linalg.norm(nrm, axis=1)
        if jacobian:
            jac[r] = _jacobian(score_model, p.points, float(t), 1e-4 * np.sqrt(p.frame.s2))
        et[r] = np.linalg.norm(e - nrm, axis=1)
        deq[r] = p.frame.s2 * en[r]
    reach = dist > radius + reach_factor * deq
    phase = np.where(reach, 0, 1)
    for r in range(1, R):
        moved = np.linalg.norm(foot[r] - foot[r - 1], axis=1)
        dchange = np.abs(dist[r] - dist[r - 1])
        inside = ~reach[r] & ~reach[r - 1]
        phase[r, inside & (moved > dchange)] = 2
        still = inside & (np.maximum(moved, dchange) < 1e-3 * radius)
        phase[r, still] = phase[r - 1, still]
    slope = fit_slope(dist[-1], deq[-1])
    return RidgeDynamics(times=res.record_times, distance=dist, foot=foot, error_normal=en, error_tangent=et,
                         delta_eq=deq, phase=phase, converged=conv, states=res.trajectory, slope=slope,
                         error=evec, exact_score=exact, eigenvalues=eig, tangent=tan, jacobian=jac,
                         info={"k": k, "n": n, "method": method, "steps": steps, "t_start": float(t_start),
                               "t_end": float(t_end), "reach_factor": reach_factor, "radius": radius,
                               "schedule": model.schedule.name})


def _jacobian(score_model, y, t, h) -> np.ndarray:
    """``J[i, j] = d score_i / d x_j`` (m, D, D) of ``score_model`` at the points ``y`` (m, D) by central
    differences of step ``h``."""
    eye = np.eye(y.shape[1])
    cols = [(score_model.score(y + h * e, t) - score_model.score(y - h * e, t)) / (2 * h) for e in eye]
    return np.stack(cols, axis=2)


def median_spacing(X) -> float:
    """Median distance from a training point to its nearest neighbour (at most 2000 points are used)."""
    X = np.asarray(X, dtype=float)[:2000]
    if X.shape[0] < 2:
        return 1.0
    d2 = np.sum(X * X, 1)[:, None] - 2 * X @ X.T + np.sum(X * X, 1)[None]
    np.fill_diagonal(d2, np.inf)
    return float(np.median(np.sqrt(np.maximum(d2.min(1), 0.0)))) or 1.0


def constant_error(model: EmpiricalModel, vector):
    """An error field ``vector / s(t)^2`` (B, D): a fixed displacement in units of length (for tests and toys:
    its settled offset is ``|V V^T vector|``)."""
    v = np.asarray(vector, dtype=float)

    def error(x, t):
        return np.broadcast_to(v / model.coefficients(t)[1], np.shape(x)).copy()
    return error
