"""The score-Jacobian dimension estimators' computation, free of scikit-learn (docs/theory.md sections 4-6, 9, 11, 12).

:mod:`trained.estimators` puts these on :class:`sklearn.base.BaseEstimator` (``get_params``, ``clone``,
``validate_data``); this module holds everything they compute, so that a caller that only needs the answer (the
``specgap dimension`` command on a point cloud) does not pay scikit-learn's import (1.5 s of a 2.3 s command):

- the readouts: the manifold dimension ``#{eta < 1 - floor}`` at the window scale (the recommended one), the
  largest gap, ``D_eff = #{eta < 1/2}``, FLIPD ``sum_i (1 - eta_i) + s^2 |score|^2``;
- the window rule (:func:`window_grid`), the held-out empirical spectra (closed form,
  ``trained._cloud.posterior_spectra``), the bootstrap interval (:func:`bootstrap_interval`);
- :func:`estimate_dimension`, one estimator fitted by its command-line name.
"""
from __future__ import annotations

import warnings

import numpy as np

from rmt import readouts
from rmt.validation import finite_array, positive, positive_int, resolution
from rmt.schedules import get_schedule

from ._cloud import check_points, default_tau_grid, posterior_spectra, span_basis
from .jacobian import as_backend, jacobian, jacobian_spectrum

__all__ = ["bootstrap_interval", "window_grid", "SparseSampleWarning", "estimate_dimension", "ESTIMATOR_NAMES",
           "RECOMMENDED"]

class SparseSampleWarning(UserWarning):
    """The sample is too small or too sparse for the dimension found (the scale window closes)."""


def bootstrap_interval(values, n_boot: int = 1000, seed=0, level: float = 0.9):
    """Percentile bootstrap interval of the median of ``values`` (1-d): ``n_boot`` resamples with replacement,
    index matrix ``default_rng(seed).integers(0, n, size=(n_boot, n))``, the ``(1 - level)/2`` and
    ``(1 + level)/2`` quantiles of the resampled medians. Returns ``(low, high)``."""
    v = finite_array("values", values).ravel()
    if v.size == 0:
        raise ValueError("values must not be empty")
    B = positive_int("n_boot", n_boot)
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    rng = np.random.default_rng(seed)
    meds = np.median(v[rng.integers(0, v.size, size=(B, v.size))], axis=1)
    lo, hi = round((1 - level) / 2, 12), round((1 + level) / 2, 12)
    return (float(np.quantile(meds, lo)), float(np.quantile(meds, hi)))


def _n_eff(d2, tau):
    """Effective number of training points in the posterior, ``1 / sum_i gamma_i^2``, from squared distances
    ``d2`` (B, n) at noise ``tau``: shape (B,) (``gamma = softmax(-d2 / (2 tau))``)."""
    z = -(d2 - d2.min(axis=1, keepdims=True)) / (2.0 * tau)
    w = np.exp(z)
    w /= w.sum(axis=1, keepdims=True)
    return 1.0 / np.sum(w * w, axis=1)


def _sqdist(Q, T):
    return np.maximum(np.sum(Q * Q, 1)[:, None] - 2.0 * Q @ T.T + np.sum(T * T, 1)[None], 0.0)


def window_grid(d2, top_var, delta, n_taus):
    """Geometric ``tau`` grid from the memorisation scale (median ``N_eff = 1.5``) to the trivial scale
    ``lambda_max / delta`` (every direction below the noise floor), shape (n_taus,). ``d2``: squared
    distances of (a subsample of) the query points to their training points."""
    gaps = np.diff(np.sort(d2, axis=1)[:, :2], axis=1)[:, 0]
    pos = gaps[gaps > 0]
    lo0 = 0.01 * float(np.median(pos)) if pos.size else 1e-6 * top_var
    hi = top_var / delta
    lo0 = min(max(lo0, 1e-12 * hi), hi / 10)
    cand = np.geomspace(lo0, hi, 64)
    # the first candidate with median N_eff >= 1.5 (the last one if none): N_eff = exp(Renyi-2 entropy) of a Gibbs
    # distribution grows with the temperature tau, so its median does too and a bisection finds the same index as
    # a scan of all 64 (6 evaluations instead of 64)
    lo, hi_k = 0, cand.size
    while lo < hi_k:
        mid = (lo + hi_k) // 2
        if np.median(_n_eff(d2, cand[mid])) >= 1.5:
            hi_k = mid
        else:
            lo = mid + 1
    k = lo if lo < cand.size else 0
    return np.geomspace(cand[k], hi, n_taus)


class _ScoreEstimator:
    """Spectra of ``-Jn`` at query points over a ``tau`` grid, the window rule and the common outputs.

    Parameters
    ----------
    tau : None (window rule), a value, or a grid to choose from (effective noise ``tau = s^2/a^2``)
    n_points : query points for ``fit`` (``fit_pw`` queries every point)
    delta : spectral resolution: gaps narrower than ``delta`` are not structure (sub-structure, phases)
    floor : noise floor: a direction counts when its posterior spread exceeds ``floor`` times the noise,
        ``eta < 1 - floor`` (docs/theory.md section 12)
    kappa : effective training points in the posterior needed per resolved direction (``N_eff >= kappa (D+1)``)
    n_taus : grid size of the window rule
    n_folds : query points are held out of the empirical model in this many folds
    method, backend, k : Jacobian engine options for a given score
    schedule : a schedule name or object of :mod:`rmt.schedules` (the spectra depend on ``tau`` only)
    n_boot : bootstrap resamples of the query points for ``interval_`` (90%)
    full_profile : compute the profile over the whole grid (default: stop two grid points after every query
        point is resolved; the estimate is the same)
    min_points : adaptive query points: ``fit`` starts with this many and doubles them up to ``n_points`` until
        both ends of the 90% bootstrap interval round to the same dimension and 3/4 of the points agree with
        the median (``n_points_used_``)
    random_state : seed of the query draw, the folds and the bootstrap
    """
    #: features the readout needs (the largest gap needs two eigenvalues)
    _min_features = 1
    #: the count of directions above the floor is checked against the window's extent (ManifoldGapDimension)
    _checks_extent = False

    def __init__(self, tau=None, n_points=64, delta=0.1, floor=0.05, kappa=3.0, n_taus=16, n_folds=2, method="exact",
                 backend=None, k=None, schedule="ve", n_boot=200, full_profile=False,
                 min_points=16, random_state=0):
        self.tau = tau
        self.n_points = n_points
        self.delta = delta
        self.floor = floor
        self.kappa = kappa
        self.n_taus = n_taus
        self.n_folds = n_folds
        self.method = method
        self.backend = backend
        self.k = k
        self.schedule = schedule
        self.n_boot = n_boot
        self.full_profile = full_profile
        self.min_points = min_points
        self.random_state = random_state

    # -- per-point values at one spectrum (P, d) -> (P,) ------------------------------------------------------
    def _readout(self, eta):
        raise NotImplementedError

    # -- spectra -------------------------------------------------------------------------------------------
    def _taus(self, given_grid):
        if self.tau is None:
            return None
        return np.atleast_1d(finite_array("tau", self.tau, positive_values=True)).astype(float)

    def _validate(self, X):
        """``X`` as float64 (n, d), checked once at the boundary (:func:`trained._cloud.check_points`); the
        scikit-learn estimators override this with ``validate_data`` (which also sets ``n_features_in_``)."""
        X = check_points(X, min_features=self._min_features)
        self.n_features_in_ = X.shape[1]
        return X

    def _prepare(self, X):
        """What an empirical fit computes once, whatever its query points: the points in the coordinates of their
        span ``Y`` (n, r) (distances and spreads kept) and the ``tau`` grid (the given one, or the window rule's
        from up to 200 points of a fixed draw against all the others)."""
        n = X.shape[0]
        Y = (X - X.mean(axis=0)) @ span_basis(X)
        r = Y.shape[1]
        taus = self._taus(None)
        if taus is None:
            sub = np.random.default_rng(self.random_state).permutation(n)[:200]
            d2 = _sqdist(Y[sub], Y)
            d2[np.arange(sub.size), sub] = np.inf
            d2 = np.sort(d2, axis=1)[:, :-1]
            top = float(np.linalg.eigvalsh(np.cov(Y.T).reshape(r, r))[-1]) if r else 0.0
            taus = window_grid(d2, max(top, 1e-300), self._floor(), positive_int("n_taus", self.n_taus, minimum=2))
        return Y, taus

    def _empirical(self, X, query_idx, n_folds, prepared):
        """Spectra (P, T, d) and ``N_eff`` (P, T) of the held-out empirical score at ``X[query_idx]``: the closed
        form ``trained._cloud.posterior_spectra`` in the coordinates of the data's span (``prepared``:
        :meth:`_prepare`)."""
        n, d = X.shape
        rng = np.random.default_rng(self.random_state)
        P = query_idx.size
        nf = max(1, min(positive_int("n_folds", n_folds), P))
        folds = np.array_split(rng.permutation(P), nf)
        if any(n - f.size < 2 for f in folds):
            folds = np.array_split(rng.permutation(P), P)
        Y, taus = prepared
        T = taus.size
        vals = np.full((P, T, d), np.nan)
        neff = np.full((P, T), np.nan)
        snorm = np.full((P, T), np.nan)
        kappa, floor = positive("kappa", self.kappa), self._floor()
        models = []
        for f in folds:
            mask = np.ones(n, bool)
            mask[query_idx[f]] = False
            models.append((f, Y[query_idx[f]], Y[mask], _sqdist(Y[query_idx[f]], Y[mask])))
        done_at = None
        for j, tau in enumerate(taus):
            for f, Q, train, d2 in models:
                vals[f, j], snorm[f, j], neff[f, j] = posterior_spectra(Q, train, d2, float(tau), d)
            if not self.full_profile and self.tau is None:
                D = readouts.tangent_count(vals[:, :j + 1], threshold=floor)
                ok = np.any((neff[:, :j + 1] >= kappa * (D + 1)) & (D >= 1), axis=1)
                if done_at is None and np.all(ok):
                    done_at = j
                if done_at is not None and j >= done_at + 2:
                    vals, neff, taus, snorm = vals[:, :j + 1], neff[:, :j + 1], taus[:j + 1], snorm[:, :j + 1]
                    break
        self._snorm = snorm
        return vals, neff, taus

    def _given(self, X, score, query):
        sch = get_schedule(getattr(score, "schedule", None) or self.schedule)
        taus = self._taus(None)
        if taus is None:
            taus = default_tau_grid(X)
        kw = {"k": self.k} if self.method == "lanczos" else {}
        res = jacobian_spectrum(score, query, method=self.method, t=sch.t_of_tau(taus), backend=self.backend,
                                schedule=None if hasattr(score, "schedule") else self.schedule, **kw)
        # the taus the model was evaluated at (a tabulated schedule has the nearest training timesteps only)
        return res.spectrum, np.asarray(res.spectrum.tau, dtype=float)

    # -- fit -----------------------------------------------------------------------------------------------
    def fit(self, X, y=None, score=None):
        """Estimate from the point cloud ``X`` (n, d): its exact empirical score, or a given ``score``."""
        resolution(self.delta)
        X = self._validate(X)
        n = X.shape[0]
        rng = np.random.default_rng(self.random_state)
        nq = min(positive_int("n_points", self.n_points), n if score is not None else n - 2)
        order = rng.permutation(n)[:nq]
        P = nq if score is not None else min(nq, positive_int("min_points", self.min_points))
        prepared = self._prepare(X) if score is None else None
        while True:
            self._fit_on(X, np.sort(order[:P]), score, None, prepared=prepared)
            lo, hi = self._boot_interval
            if P >= nq or (self._round(lo) == self._round(hi) and self.agreement_ >= 0.75):
                break
            P = min(2 * P, nq)
        self.n_points_used_ = P
        self._emit()
        return self

    def fit_pw(self, X, y=None, n_neighbors=None, score=None):
        """Per-point estimates at every row of ``X``: ``dimension_pw_`` (n,).

        ``n_neighbors``: None (window rule per point) or a fixed neighbourhood: each point is read at the
        smallest ``tau`` whose posterior holds ``N_eff >= n_neighbors`` training points (the analogue of a
        k-nearest-neighbour neighbourhood). Folds: ``max(n_folds, 10)`` so each model keeps 90% of the points.
        """
        resolution(self.delta)
        X = self._validate(X)
        if n_neighbors is not None:
            n_neighbors = positive_int("n_neighbors", n_neighbors, minimum=2)
        idx = np.arange(X.shape[0])
        self._fit_on(X, idx, score, n_neighbors, n_folds=max(positive_int("n_folds", self.n_folds), 10),
                     prepared=None if score is not None else self._prepare(X))
        self._emit()
        return self

    def _fit_on(self, X, idx, score, n_neighbors, n_folds=None, prepared=None):
        """Spectra at the query rows ``idx`` of ``X``, the scale per point and every readout; ``n_folds`` overrides
        the parameter (``fit_pw`` holds out in at least 10 folds) without touching it."""
        n, d = X.shape
        self._n_fit = n
        self.warnings_ = []
        kappa = positive("kappa", self.kappa)
        from rmt.spectrum import Spectrum
        if score is None:
            vals, neff, taus = self._empirical(X, idx, self.n_folds if n_folds is None else n_folds, prepared)
            sch = get_schedule(self.schedule)
            self.spectrum_ = Spectrum(vals, sch.t_of_tau(taus), schedule=sch, source="simulation",
                                      meta={"model": "EmpiricalModel (held out)"})
        else:
            spec, taus = self._given(X, score, X[idx])
            self.spectrum_ = spec
            vals, neff = spec.values, None
        self.taus_ = taus
        self.n_eff_ = neff
        manifold = readouts.tangent_count(vals, threshold=self._floor())     # (P, T)
        self.dimensions_ = self._readout(vals)                              # (P, T)
        P, T = manifold.shape
        if neff is not None:
            need = kappa * (manifold + 1) if n_neighbors is None else np.full(manifold.shape, float(n_neighbors))
            ok = (neff >= need) & ((manifold >= 1) | (n_neighbors is not None))
            self.resolved_ = ok
            has = ok.any(axis=1)
            # the least under-resolved scale where none is resolved
            fallback = np.argmax(np.where(manifold >= 1, neff / need, -np.inf), axis=1)
            j = np.where(has, np.argmax(ok, axis=1), fallback)
            frac_unresolved = float(np.mean(~has))
        else:
            j = np.full(P, self._given_tau_index(vals, manifold))
            self.resolved_ = None
            frac_unresolved = 0.0
        self.tau_index_pw_ = j
        rows = np.arange(P)
        self.tau_pw_ = taus[j]
        self.dimension_pw_ = self.dimensions_[rows, j]
        self.manifold_pw_ = manifold[rows, j]
        med = float(np.median(self.dimension_pw_))
        self.dimension_ = self._round(med)
        self.tau_ = float(np.exp(np.median(np.log(self.tau_pw_))))
        self.tau_index_ = int(np.argmin(np.abs(np.log(taus) - np.log(self.tau_))))
        self.interval_ = self._boot_interval = self._bootstrap(self.dimension_pw_)
        self.agreement_ = float(np.mean(np.abs(self.dimension_pw_ - med) <= 0.5))
        prof_dim = np.median(manifold, axis=0)
        self.profile_ = {"tau": taus, "manifold_dimension": prof_dim,
                         "dimension": np.median(self.dimensions_, axis=0),
                         "n_eff": None if neff is None else np.median(neff, axis=0),
                         "resolved_fraction": None if neff is None else np.mean(self.resolved_, axis=0)}
        self._plateau_and_substructure(vals, taus, prof_dim, d)
        self.min_samples_ = int(np.ceil(kappa * (max(int(np.max(self.manifold_pw_)), 1) + 1))) + 1
        if frac_unresolved > 0.5:
            self._warn(f"sample too sparse: at {100 * frac_unresolved:.0f}% of the query points no scale holds "
                       f"kappa (D+1) = {kappa:g} (D+1) effective points in the posterior (the window between "
                       f"memorisation and curvature closes); the answer {self.dimension_} is a lower bound at "
                       f"best (n={n}, d={d})")
        elif n < self.min_samples_:
            self._warn(f"n={n} points is below the {self.min_samples_} this estimator needs for dimension "
                       f"{int(np.max(self.manifold_pw_))}")
        self.growth_dimension_ = None
        if neff is not None and n_neighbors is None:
            self._check_seen_whole(vals, j, manifold)
        return self

    def _plateau_and_substructure(self, vals, taus, prof_dim, d):
        """``plateau_`` (the tau range around ``tau_`` where the median manifold dimension keeps its value) and
        ``substructure_`` / ``substructure_tau_`` (gaps of the point-averaged spectrum wider than ``delta``)."""
        T = len(taus)
        # plateau: the run of grid points around tau_ where the median manifold dimension stays at its value
        m0 = prof_dim[self.tau_index_]
        lo = hi = self.tau_index_
        while lo > 0 and prof_dim[lo - 1] == m0:
            lo -= 1
        while hi < T - 1 and prof_dim[hi + 1] == m0:
            hi += 1
        self.plateau_ = (float(taus[lo]), float(taus[hi]))
        # sub-structure: gaps wider than the resolution in the spectrum averaged over points, at the largest scale
        # of the plateau where the manifold gap (at index dimension_) is still at least delta wide: the most
        # points in the posterior (the least sampling spread) with the manifold resolved
        k = int(round(m0))
        pick = None
        for jj in range(hi, lo - 1, -1):
            avg = np.mean(np.sort(vals[:, jj], axis=-1), axis=0)
            if 0 < k < d and avg[k] - avg[k - 1] >= self.delta:
                pick = jj
                break
        if pick is None:
            pick = self.tau_index_
        self.substructure_tau_ = float(taus[pick])
        avg = np.mean(np.sort(vals[:, pick], axis=-1), axis=0)
        self.substructure_ = sorted(({"dimension": g.index, "width": float(g.width), "lower": float(g.lower),
                                      "upper": float(g.upper)} for g in readouts.spectral_gaps(avg, self.delta)),
                                    key=lambda g: g["dimension"])

    def _check_seen_whole(self, vals, j, manifold):
        """Curvature against extent (docs/theory.md section 12): in the flat window a tangent direction has
        ``c = 1 - eta`` near 1 (the window is narrower than the manifold along it) and a normal one ``c`` below
        the floor. When the mean counted ``c`` (the trace per direction: sampling spreads the values but keeps
        their mean) is below 1/2 at the chosen scales the window holds the
        counted directions whole: a bounded flat spread and the normal spread of a curved manifold of lower
        dimension look alike there, and the count is an upper bound. The growth of the posterior mass with
        ``tau`` (``2 dlog Z / dlog tau = sum c + |mu - x|^2 / tau``, FLIPD's readout, at the same scales) is then
        a lower one (biased low in high dimension); when it lies more than one below the count the answer carries
        a warning and ``interval_`` reaches down to it."""
        P = j.size
        rows = np.arange(P)
        v = vals[rows, j]                                                   # (P, d) ascending eta
        k = manifold[rows, j]
        c = 1.0 - v                                                         # descending
        c_mean = np.array([c[i, :k[i]].mean() if k[i] >= 1 else 1.0 for i in range(P)])
        growth = np.sum(1.0 - v, axis=-1) + self._snorm[rows, j]
        self.growth_dimension_ = float(np.median(growth))
        self.seen_whole_ = float(np.median(c_mean))
        count = float(np.median(k))
        if self._checks_extent and self.seen_whole_ < 0.5 and self.growth_dimension_ < count - 1.0:
            lo = float(np.floor(self.growth_dimension_))
            self.interval_ = (min(self.interval_[0], lo), max(self.interval_[1], count))
            self._warn(f"the window holds the {count:g} counted directions whole (median mean counted c = "
                       f"{self.seen_whole_:.2f} < 1/2): at n={self._n_fit} points a bounded "
                       f"{count:g}-dimensional spread and a curved manifold of lower dimension look alike; the "
                       f"growth of the posterior mass with tau reads {self.growth_dimension_:.1f}; the dimension "
                       f"lies in {self.interval_[0]:g}-{self.interval_[1]:g} ({count:g} is an upper bound)")

    def _floor(self):
        """The noise floor, the tangent count's threshold (:func:`rmt.readouts.tangent_count`), in (0, 1/2)."""
        return resolution(self.floor, "floor")

    def _given_tau_index(self, vals, manifold):
        """With a given score (no ``N_eff``): the widest median largest gap among valid spectra."""
        _, width, _, _ = readouts.largest_gap(vals)
        return _choose_tau(vals, width, self.delta)

    @staticmethod
    def _round(x):
        return int(np.floor(x + 0.5))

    def _bootstrap(self, pw):
        return bootstrap_interval(pw, self.n_boot, None if self.random_state is None else self.random_state + 1)

    def _warn(self, msg):
        self.warnings_.append(msg)

    def _emit(self):
        for msg in self.warnings_:
            warnings.warn(msg, SparseSampleWarning, stacklevel=3)

    # back-compatibility: per-point estimates at the chosen scales
    @property
    def phase_(self):
        p = readouts.phases(self.spectrum_.values[np.arange(len(self.tau_index_pw_)), self.tau_index_pw_],
                            self.delta)
        vals, counts = np.unique(p, return_counts=True)
        return str(vals[np.argmax(counts)])

    @property
    def phases_(self):
        return readouts.phases(self.spectrum_.values, self.delta)


def _choose_tau(values, width, delta):
    """Index of the ``tau`` with the widest median largest gap among *valid* spectra (median largest value
    ``<= 1 + delta``); used with a given score."""
    med_width = np.median(width, axis=0)
    valid = np.median(values.max(axis=-1), axis=0) <= 1.0 + delta
    if np.any(valid):
        med_width = np.where(valid, med_width, -np.inf)
    return int(np.argmax(med_width))


class _ManifoldGapDimension(_ScoreEstimator):
    """The computation of :class:`trained.estimators.ManifoldGapDimension` (documented there)."""

    _checks_extent = True

    def _readout(self, eta):
        return readouts.tangent_count(eta, threshold=self._floor())

    def _given_tau_index(self, vals, manifold):
        v = np.sort(vals, axis=-1)
        d = v.shape[-1]
        below = np.take_along_axis(v, np.clip(manifold - 1, 0, d - 1)[..., None], -1)[..., 0]
        above = np.take_along_axis(v, np.clip(manifold, 0, d - 1)[..., None], -1)[..., 0]
        width = np.where((manifold > 0) & (manifold < d), above - below, 0.0)
        return _choose_tau(v, width, self.delta)


class _GapDimension(_ScoreEstimator):
    """The computation of :class:`trained.estimators.GapDimension` (documented there)."""

    _min_features = 2

    def _readout(self, eta):
        return readouts.largest_gap(eta)[0]


class _EffectiveDimension(_ScoreEstimator):
    """The computation of :class:`trained.estimators.EffectiveDimension` (documented there)."""

    def _readout(self, eta):
        return readouts.effective_dimension(eta)

    @property
    def curve_(self):
        """Median ``D_eff`` over the query points at each ``tau`` of the grid, shape (T,)."""
        return np.median(self.dimensions_, axis=0)


class _FLIPD(_ScoreEstimator):
    """The computation of :class:`trained.estimators.FLIPD` (documented there)."""

    def _readout(self, eta):
        return np.sum(1.0 - eta, axis=-1) + self._snorm

    def _given(self, X, score, query):
        sch = get_schedule(getattr(score, "schedule", None) or self.schedule)
        taus = self._taus(None)
        if taus is None:
            taus = default_tau_grid(X)[:1]
        d = query.shape[1]
        vals = np.empty((query.shape[0], taus.size, d))
        self._snorm = np.empty((query.shape[0], taus.size))
        sch_kw = {"schedule": None if hasattr(score, "schedule") else self.schedule}
        for j, tau in enumerate(taus):
            t = float(sch.t_of_tau(tau))
            a, s2 = float(sch.a(t)), float(sch.s2(t))
            J = jacobian(score, a * query, t=t, backend=self.backend, **sch_kw)
            tr = np.trace(J, axis1=1, axis2=2) * s2                              # tr Jn = -sum eta
            # the readout needs only the trace: each row holds -tr(Jn)/d in every slot
            vals[:, j, :] = (-tr / d)[:, None]
            be = as_backend(score, t=t, backend=self.backend)
            self._snorm[:, j] = s2 * np.sum(be.eval(a * query) ** 2, axis=1)
        from rmt.spectrum import Spectrum
        return Spectrum(vals, sch.t_of_tau(taus), schedule=sch, source="network",
                        meta={"note": "FLIPD: each row holds -tr(Jn)/d"}), taus

    def _given_tau_index(self, vals, manifold):
        return 0


#: command-line names of the estimators; ``manifold`` (the manifold dimension at the window scale) is the
#: recommended one. ``normal-bundle`` is :class:`trained.normal_bundle.NormalBundle` (a scikit-learn estimator).
ESTIMATOR_NAMES = ("manifold", "gap", "deff", "flipd", "normal-bundle")
#: the estimator to use when unsure (the default of `specgap dimension --estimator`)
RECOMMENDED = "manifold"
_CORES = {"manifold": _ManifoldGapDimension, "gap": _GapDimension, "deff": _EffectiveDimension, "flipd": _FLIPD}


def estimate_dimension(name: str, X, *, score=None, **params):
    """Fit the estimator called ``name`` (one of :data:`ESTIMATOR_NAMES`) on the points ``X`` (n, d).

    Parameters
    ----------
    name : command-line name: ``manifold`` (:class:`trained.estimators.ManifoldGapDimension`), ``gap``
        (``GapDimension``), ``deff`` (``EffectiveDimension``), ``flipd`` (``FLIPD``) or ``normal-bundle``
        (``NormalBundle``).
    X : (n, d) points; ``score``: None (the exact empirical score of ``X``) or a score model.
    **params : the estimator's parameters (``n_points``, ``tau``, ``random_state``, ...).

    Returns
    -------
    The fitted estimator: the same computation and attributes (``dimension_``, ``interval_``, ...) as the
    scikit-learn class of that name, without scikit-learn's machinery for all but ``normal-bundle``.
    """
    if name == "normal-bundle":
        from .normal_bundle import NormalBundle
        return NormalBundle(**params).fit(X, score=score)
    if name not in _CORES:
        raise ValueError(f"name must be one of {', '.join(ESTIMATOR_NAMES)}, got {name!r}")
    return _CORES[name](**params).fit(X, score=score)
