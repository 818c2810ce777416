"""Dimension estimators on top of the Jacobian engine (docs/theory.md sections 4-5, 9), scikit-learn style.

- :class:`GapDimension`: the index of the largest gap of the spectrum of ``-Jn`` (readout 4b) and the phase
  (section 5), via :mod:`rmt.readouts`;
- :class:`EffectiveDimension`: ``D_eff = #{eta < 1/2}`` (readout 4c);
- :class:`NormalBundle`: Stanczuk et al.'s estimator: stack the scores of ``K`` noised copies of a data point
  at small ``t``, SVD, the largest drop of the singular values separates the normal directions; the
  dimension is the number of singular values below the drop.

``fit(X)`` uses the exact finite-sample score of the point cloud ``X`` (closed-form diffusion,
:class:`simulate.models.EmpiricalModel`, no training): query points are held out from the model. ``fit(X,
score=...)`` uses a given score (an exact model, a torch module/callable ``f(x, t)``, a JAX callable).
For the spectral estimators the noise level is chosen from a grid of ``tau`` as the one with the widest
largest gap (the most confident readout), unless ``tau`` is given.
"""
from __future__ import annotations

import numpy as np

from rmt import readouts
from rmt._validate import finite_array, positive, positive_int, resolution
from rmt.schedules import get_schedule

from .jacobian import as_backend, jacobian_spectrum

__all__ = ["GapDimension", "ManifoldGapDimension", "EffectiveDimension", "NormalBundle", "ESTIMATORS", "default_tau_grid"]


def default_tau_grid(X, n=13):
    """Geometric ``tau`` grid from ``var_min / (2 ln n)`` (condensation of the empirical score) to the largest
    variance of ``X`` (docs/theory.md section 6), shape (n,)."""
    X = np.asarray(X, dtype=float)
    lam = np.linalg.eigvalsh(np.cov(X.T).reshape(X.shape[1], X.shape[1]))
    top = max(float(lam[-1]), 1e-12)
    nz = lam[lam > 1e-8 * top]
    lo = float(nz.min()) / (2 * np.log(max(X.shape[0], 3))) if nz.size else top * 1e-3
    return np.geomspace(max(lo, top * 1e-6), top, n)


class _SpectralEstimator:
    """Common ``fit``: spectra of ``-Jn`` at query points over a tau grid through :func:`jacobian_spectrum`."""

    def __init__(self, tau=None, n_points=16, method="exact", schedule="ve", delta=0.1, backend=None, k=None,
                 seed=0):
        self.tau = tau
        self.n_points = n_points
        self.method = method
        self.schedule = schedule
        self.delta = delta
        self.backend = backend
        self.k = k
        self.seed = seed

    def get_params(self, deep=True):
        return {k: getattr(self, k) for k in ("tau", "n_points", "method", "schedule", "delta", "backend", "k",
                                              "seed")}

    def set_params(self, **params):
        for k, v in params.items():
            if k not in self.get_params():
                raise ValueError(f"unknown parameter {k!r}")
            setattr(self, k, v)
        return self

    def _query(self, X, score):
        from simulate.models import EmpiricalModel
        X = finite_array("X", X)
        if X.ndim != 2 or X.shape[0] < 2:
            raise ValueError(f"X must have shape (n, d) with n >= 2, got {X.shape}")
        nq = min(positive_int("n_points", self.n_points), X.shape[0])
        rng = np.random.default_rng(self.seed)
        idx = rng.permutation(X.shape[0])
        if score is None:
            if X.shape[0] < 2 * nq:
                nq = X.shape[0] // 2
            query, train = X[idx[:nq]], X[idx[nq:]]
            score = EmpiricalModel(train, self.schedule)
        else:
            query = X[idx[:nq]]
        return query, score

    def _values(self, query, score, X):
        sch = getattr(score, "schedule", None) or get_schedule(self.schedule)
        sch = get_schedule(sch)
        taus = default_tau_grid(X) if self.tau is None else np.atleast_1d(finite_array("tau", self.tau,
                                                                                          positive_values=True))
        times = sch.t_of_tau(taus)
        kw = {"k": self.k} if self.method == "lanczos" else {}
        res = jacobian_spectrum(score, query, method=self.method, t=times, backend=self.backend,
                                schedule=None if hasattr(score, "schedule") else self.schedule, **kw)
        return res.spectrum, taus

    def fit(self, X, score=None):
        """Estimate from the point cloud ``X`` (n, d), with its exact finite-sample score or a given ``score``."""
        resolution(self.delta)
        query, score = self._query(X, score)
        self.spectrum_, self.taus_ = self._values(query, score, np.asarray(X, dtype=float))
        self._finish()
        return self


def _choose_tau(values, width, delta):
    """Index of the ``tau`` with the widest median largest gap among *valid* spectra.

    A smoothed density's ``-Jn`` has its spectrum in ``[0, 1]``; values beyond ``1 + delta`` (singular
    values of ``I - Sigma_gamma/s^2`` when the posterior spreads over distant points) mark a ``tau`` at which
    the finite-sample score is dominated by a few points, and such a ``tau`` is skipped when any other is valid.
    """
    med_width = np.median(width, axis=0)
    valid = np.median(values.max(axis=-1), axis=0) <= 1.0 + delta
    if np.any(valid):
        med_width = np.where(valid, med_width, -np.inf)
    return int(np.argmax(med_width))


class GapDimension(_SpectralEstimator):
    """Largest-gap dimension (docs/theory.md 4b) and phase (section 5) of the spectrum of ``-Jn``.

    After ``fit``: ``dimension_`` (int, median over query points at the chosen ``tau_``), ``dimensions_``
    (points x taus), ``gap_width_`` (points x taus), ``tau_``, ``phase_`` (at ``tau_``), ``phases_``,
    ``spectrum_`` (the :class:`rmt.spectrum.Spectrum`).
    """

    def _finish(self):
        v = self.spectrum_.values
        idx, width, _, _ = readouts.largest_gap(v)
        self.dimensions_, self.gap_width_ = idx, width
        j = _choose_tau(v, width, self.delta)
        self.tau_index_ = j
        self.tau_ = float(self.taus_[j])
        self.dimension_ = int(np.round(np.median(idx[:, j])))
        self.phases_ = readouts.phases(v, self.delta)
        vals, counts = np.unique(self.phases_[:, j], return_counts=True)
        self.phase_ = str(vals[np.argmax(counts)])


class EffectiveDimension(_SpectralEstimator):
    """``D_eff(tau) = #{eta_i < 1/2}`` (docs/theory.md 4c), median over query points.

    After ``fit``: ``dimension_`` at ``tau_`` (the grid point with the widest largest gap, as for
    :class:`GapDimension`), ``curve_`` (median ``D_eff`` per tau), ``dimensions_`` (points x taus).
    """

    def _finish(self):
        self.dimensions_ = readouts.effective_dimension(self.spectrum_.values)
        self.curve_ = np.median(self.dimensions_, axis=0)
        _, width, _, _ = readouts.largest_gap(self.spectrum_.values)
        j = _choose_tau(self.spectrum_.values, width, self.delta)
        self.tau_index_ = j
        self.tau_ = float(self.taus_[j])
        self.dimension_ = int(np.round(self.curve_[j]))


class ManifoldGapDimension(_SpectralEstimator):
    """``d - codimension`` (docs/theory.md 4a): the number of values below the spike cluster ``eta > 1 - delta``.

    The readout is taken at the ``tau`` where the *manifold gap* (from the largest value below
    ``1 - delta`` to the smallest value in the cluster) is widest among valid spectra, so intermediate
    gaps between variance levels (which :class:`GapDimension` reports at moderate ``tau``) do not count.

    After ``fit``: ``dimension_``, ``tau_``, ``dimensions_`` (points x taus), ``gap_width_`` (points x taus).
    """

    def _finish(self):
        v = np.sort(self.spectrum_.values, axis=-1)
        thr = 1.0 - self.delta
        n_below = np.sum(v < thr, axis=-1)                      # (P, T)
        d = v.shape[-1]
        below = np.take_along_axis(v, np.clip(n_below - 1, 0, d - 1)[..., None], -1)[..., 0]
        above = np.take_along_axis(v, np.clip(n_below, 0, d - 1)[..., None], -1)[..., 0]
        width = np.where((n_below > 0) & (n_below < d), above - below, 0.0)
        self.dimensions_, self.gap_width_ = n_below, width
        j = _choose_tau(v, width, self.delta)
        self.tau_index_ = j
        self.tau_ = float(self.taus_[j])
        self.dimension_ = int(np.round(np.median(n_below[:, j])))


class NormalBundle:
    """Stanczuk et al.: dimension from the singular values of stacked scores near the data.

    For each query point ``x0``: ``K`` copies ``x0 + s(t) eps_i`` (``t`` small), scores stacked into a
    (K, d) matrix, singular values ``s_1 >= ... >= s_d``; the largest drop ``s_i - s_{i+1}`` (on values scaled
    by ``s_1``) separates the normal space (large: the score points back to the manifold); the dimension is
    ``d`` minus the number of values above the drop.

    Parameters
    ----------
    tau : effective noise (default: from :func:`default_tau_grid`, the one with the widest drop)
    probes : K (default ``4 d``);  n_points : query points;  schedule : 've'/'vp'
    """

    def __init__(self, tau=None, probes=None, n_points=16, schedule="ve", seed=0):
        self.tau, self.probes, self.n_points, self.schedule, self.seed = tau, probes, n_points, schedule, seed

    def get_params(self, deep=True):
        return {"tau": self.tau, "probes": self.probes, "n_points": self.n_points, "schedule": self.schedule,
                "seed": self.seed}

    def fit(self, X, score=None):
        from simulate.models import EmpiricalModel
        X = finite_array("X", X)
        if X.ndim != 2 or X.shape[0] < 2:
            raise ValueError(f"X must have shape (n, d) with n >= 2, got {X.shape}")
        n, d = X.shape
        rng = np.random.default_rng(self.seed)
        nq = min(positive_int("n_points", self.n_points), n)
        idx = rng.permutation(n)
        if score is None:
            nq = min(nq, n // 2)
            query, score = X[idx[:nq]], EmpiricalModel(X[idx[nq:]], self.schedule)
        else:
            query = X[idx[:nq]]
        sch = get_schedule(getattr(score, "schedule", None) or self.schedule)
        taus = default_tau_grid(X) if self.tau is None else [positive("tau", self.tau)]
        K = 4 * d if self.probes is None else positive_int("probes", self.probes)
        from simulate.models import ExactModel
        best = None
        for tau in taus:
            t = float(sch.t_of_tau(tau))
            a, s2 = float(sch.a(t)), float(sch.s2(t))
            be = as_backend(score, t=t, backend="numpy" if isinstance(score, ExactModel) else None)
            noise = np.random.default_rng(self.seed + 1).standard_normal((nq, K, d))
            S = be.eval((a * query[:, None, :] + np.sqrt(s2) * noise).reshape(nq * K, d)).reshape(nq, K, -1)
            sv = np.linalg.svd(S, compute_uv=False)                          # (nq, min(K, d)) descending
            if sv.shape[1] < d:
                sv = np.pad(sv, ((0, 0), (0, d - sv.shape[1])))
            scaled = sv / np.maximum(sv[:, :1], 1e-300)
            idx, width, _, _ = readouts.largest_gap(scaled)                 # values below the largest drop
            score_w = float(np.median(width))
            if best is None or score_w > best[0]:
                best = (score_w, tau, sv, idx)
        _, self.tau_, self.singular_values_, self.dimensions_ = best
        self.drop_ = best[0]
        self.dimension_ = int(np.round(np.median(self.dimensions_)))
        return self


ESTIMATORS = {"gap": GapDimension, "codim": ManifoldGapDimension, "deff": EffectiveDimension,
              "normal-bundle": NormalBundle}
