"""Exact score models: score, Jacobian, log-density and sampling, batched over points.

All models describe data ``x0`` and the noised marginal of ``x_t = a(t) x0 + s(t) eps`` under a
schedule from :mod:`rmt.schedules` (VE default: ``a = 1``, ``s^2 = t``). Every method takes the
*process time* ``t`` (> 0), not ``tau``; points ``x`` have shape ``(B, d)`` (a single ``(d,)`` point is
accepted and the batch axis is dropped again on output).

Models (docs/theory.md sections 2 and 6):

- :class:`LinearGaussianModel`: ``x0 = F z``, ``C = F F^T``; score ``-(a^2 C + s^2 I)^{-1} x``.
- :class:`SubspaceUnionModel`: mixture of degenerate Gaussians ``N(mu_k, B_k B_k^T)`` (unions of linear
  or affine subspaces of different dimensions).
- :class:`GaussianMixtureModel`: isotropic components ``N(mu_k, v_k I)`` with weights ``pi_k``.
- :class:`EmpiricalModel`: the ``n`` training points (``v_k = 0``, ``pi_k = 1/n``), section 6.

For a mixture with responsibilities ``r_k(x)`` and component scores ``g_k(x)`` the exact Jacobian is
``J = -sum_k r_k P_k + sum_k r_k (g_k - score)(g_k - score)^T`` with ``P_k`` the component precision
(for the empirical model: ``Sigma_gamma / s^4 - I / s^2``). Log-sum-exp everywhere.
"""
from __future__ import annotations

import numpy as np

from rmt.mp import eta_of_lambda
from rmt.validation import as_rng, finite_array, positive, positive_int
from rmt.schedules import get_schedule
from rmt.spectrum import Spectrum

__all__ = ["ExactModel", "LinearGaussianModel", "SubspaceUnionModel", "GaussianMixtureModel",
           "EmpiricalModel", "as_rng"]

_LOG2PI = np.log(2.0 * np.pi)


def _logsumexp(z, axis=-1):
    m = np.max(z, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(z - m), axis=axis))


def _softmax(z, axis=-1):
    m = np.max(z, axis=axis, keepdims=True)
    e = np.exp(z - m)
    return e / e.sum(axis=axis, keepdims=True)


class ExactModel:
    """Common interface. Subclasses implement ``_eval`` (log-density, score, Jacobian of a batch).

    Attributes
    ----------
    d : int, ambient dimension
    schedule : rmt.schedules.Schedule
    data_shape : ``(d,)`` (with ``score(x, t)`` and ``schedule``, the diffusion-model protocol
        :class:`simulate.protocol.DiffusionModel`, on numpy arrays)
    """

    d: int
    schedule = None

    @property
    def data_shape(self) -> tuple:
        """Shape of one data point, ``(d,)``."""
        return (int(self.d),)
    #: number of float64 elements per internal chunk when forming (B, d, d) Jacobians or (B, K, d) arrays
    chunk_elements = 2 ** 24

    # -- helpers --------------------------------------------------------------------------------
    def coefficients(self, t):
        """``(a(t), s(t)^2)`` as floats for one process time ``t > 0`` (the one meaning of ``coefficients``
        in the package: the exact models, :class:`simulate.ridge_dynamics.PerturbedScore`)."""
        tt = self._time(t)
        return float(self.schedule.a(tt)), float(self.schedule.s2(tt))

    @staticmethod
    def _time(t) -> float:
        """One process time ``t > 0`` as a float (``ValueError`` naming ``t``)."""
        if np.ndim(t) != 0:
            raise ValueError(f"t must be a scalar process time, got shape {np.shape(t)}")
        return positive("t", t)

    def tau(self, t) -> float:
        """Effective noise ``tau(t) = s^2/a^2``."""
        return float(self.schedule.tau(positive("t", t)))

    def _points(self, x):
        a = finite_array("x", x)
        if a.ndim == 1:
            a2, single = a[None], True
        elif a.ndim == 2:
            a2, single = a, False
        else:
            raise ValueError(f"x must have shape (B, d) or (d,), got {a.shape}")
        if a2.shape[1] != self.d:
            raise ValueError(f"x must have last dimension d={self.d}, got {a2.shape[1]}")
        return a2, single

    def _chunks(self, B, per_row):
        step = max(1, int(self.chunk_elements // max(1, per_row)))
        return [slice(i, min(B, i + step)) for i in range(0, B, step)]

    def _eval(self, x, a, s2, want_jac):  # pragma: no cover - abstract
        raise NotImplementedError

    def _run(self, x, t, what):
        X, single = self._points(x)
        a, s2 = self.coefficients(t)
        outs = []
        per_row = self.d * self.d if what == "jac" else self.d * self._rows_factor()
        for sl in self._chunks(X.shape[0], per_row):
            lp, sc, jac = self._eval(X[sl], a, s2, what == "jac")
            outs.append({"logp": lp, "score": sc, "jac": jac}[what])
        out = np.concatenate(outs, axis=0)
        return out[0] if single else out

    def _rows_factor(self):
        return 1

    # -- public interface ------------------------------------------------------------------------
    def log_density(self, x, t):
        """``log p_t(x)`` of the noised marginal, shape (B,) (natural log, density w.r.t. Lebesgue)."""
        return self._run(x, t, "logp")

    def score(self, x, t):
        """``grad_x log p_t(x)``, shape (B, d)."""
        return self._run(x, t, "score")

    def jacobian(self, x, t):
        """Score Jacobian ``J_t(x) = grad^2_x log p_t(x)`` (symmetric), shape (B, d, d)."""
        return self._run(x, t, "jac")

    def denoiser(self, x, t):
        """Tweedie denoiser ``E[x0 | x_t = x] = (x + s^2 score(x, t)) / a``, shape (B, d)."""
        X, single = self._points(x)
        t = self._time(t)
        out = self.schedule.denoise(X, t, self.score(X, t))
        return out[0] if single else out

    def normalized_jacobian(self, x, t):
        """``Jn = s(t)^2 J_t(x)``, shape (B, d, d)."""
        return self.coefficients(t)[1] * self.jacobian(x, t)

    def eta(self, x, t):
        """Eigenvalues of ``-Jn`` (``numpy.linalg.eigvalsh``), sorted ascending, shape (B, d)."""
        X, single = self._points(x)
        out = np.linalg.eigvalsh(-self.normalized_jacobian(X, t))
        return out[0] if single else out

    def spectrum(self, x, times) -> Spectrum:
        """Exact spectrum of ``-Jn`` at points ``x`` (B, d) for each time: Spectrum with values (B, T, d)."""
        X, _ = self._points(x)
        times = np.atleast_1d(finite_array("times", times))
        vals = np.stack([self.eta(X, float(t)) for t in times], axis=1)
        return Spectrum(vals, times, schedule=self.schedule, source="simulation",
                        meta={"model": self.describe()})

    def sample(self, n, rng=None):
        """``n`` data points ``x0`` (t = 0), shape (n, d)."""
        raise NotImplementedError

    def sample_t(self, n, t, rng=None):
        """``n`` samples of the noised marginal ``x_t = a x0 + s eps``, shape (n, d)."""
        rng = as_rng(rng)
        t = self._time(t)
        x0 = self.sample(n, rng)
        return self.schedule.noise(x0, t, rng.standard_normal(x0.shape))

    def mean(self):
        """Mean of the data ``E[x0]``, shape (d,)."""
        raise NotImplementedError

    def data_covariance(self):
        """Covariance of the data ``Cov[x0]``, shape (d, d)."""
        raise NotImplementedError

    def covariance(self, t=None):
        """Covariance of ``x_t``: ``a^2 Cov[x0] + s^2 I`` (of ``x0`` when ``t`` is None), shape (d, d)."""
        C = self.data_covariance()
        if t is None:
            return C
        a, s2 = self.coefficients(t)
        return a * a * C + s2 * np.eye(self.d)

    @property
    def max_variance(self) -> float:
        """Largest eigenvalue of the data covariance (sets the default start time of samplers)."""
        return float(np.linalg.eigvalsh(self.data_covariance())[-1])

    def describe(self) -> dict:
        """``{"model": class name, "d", "schedule"}`` (subclasses add their sizes), JSON-ready."""
        return {"model": type(self).__name__, "d": self.d, "schedule": self.schedule.name}

    def parameters(self) -> dict:
        """The closed-form parameters shared by the numpy, JAX and torch versions of the score.

        ``{"kind": "subspace", "log_weights", "means", "U": [..], "lam": [..]}`` (low-rank components) or
        ``{"kind": "isotropic", "log_weights", "means", "variances"}``.
        """
        raise ValueError(f"{type(self).__name__} has no closed-form parameters for JAX/torch")

    def to_jax(self, dtype: str = "float64"):
        """The same model as pure JAX functions (:class:`simulate.models_jax.JaxModel`)."""
        from .models_jax import JaxModel
        return JaxModel(self, dtype=dtype)

    def to_torch(self, t, dtype=None):
        """The score at process time ``t`` as a torch module (:func:`simulate.models_torch.score_module`)."""
        from .models_torch import score_module
        return score_module(self, t, dtype=dtype)


# -- Low-rank Gaussian components: N(mu_k, U_k diag(lam_k) U_k^T) with U_k orthonormal (d, r_k) ------------------
def _factor(name, B, d):
    """``B B^T = U diag(lam) U^T`` with orthonormal ``U`` (d, r) and ``lam > 0``, via a thin SVD."""
    B = finite_array(name, B)
    if B.ndim == 1:
        B = B[:, None]
    if B.ndim != 2 or B.shape[0] != d:
        raise ValueError(f"{name} must have shape (d={d}, m), got {B.shape}")
    if B.shape[1] == 0:
        return np.zeros((d, 0)), np.zeros(0)
    U, S, _ = np.linalg.svd(B, full_matrices=False)
    keep = S > S.max() * max(B.shape) * np.finfo(float).eps if S.size else S > 0
    return U[:, keep], S[keep] ** 2


class SubspaceUnionModel(ExactModel):
    """Union of (affine) linear subspaces: ``x0 ~ sum_k pi_k N(mu_k, B_k B_k^T)``, exact scores.

    Component ``k`` noised: ``N(a mu_k, a^2 B_k B_k^T + s^2 I)``. Uses the thin eigendecomposition
    ``B_k B_k^T = U_k diag(lam_k) U_k^T``, so each evaluation costs O(B d r_k) (O(B d^2) for Jacobians).

    Parameters
    ----------
    factors : list of arrays, each (d, m_k); component covariance ``B_k B_k^T`` (rank <= m_k)
    weights : (K,) mixture weights (normalised), default equal
    means : (K, d) component means, default 0 (linear subspaces through the origin)
    schedule : ``'ve'`` (default), ``'vp'``, ``'ddpm'``, ``'edm'``, ``'geometric'`` or a
        :class:`~rmt.schedules.Schedule`
    """

    def __init__(self, factors, weights=None, means=None, schedule="ve"):
        if isinstance(factors, np.ndarray) and factors.ndim == 2:
            factors = [factors]
        factors = list(factors)
        if not factors:
            raise ValueError("factors must contain at least one (d, m) matrix")
        first = np.asarray(factors[0], dtype=float)
        if first.ndim not in (1, 2):
            raise ValueError(f"factors[0] must have shape (d, m), got {first.shape}")
        self.d = int(first.shape[0])
        if self.d < 1:
            raise ValueError("factors must have d >= 1 rows")
        self.schedule = get_schedule(schedule)
        K = len(factors)
        self.factors = [finite_array(f"factors[{k}]", B) for k, B in enumerate(factors)]
        self.U, self.lam = zip(*[_factor(f"factors[{k}]", B, self.d) for k, B in enumerate(factors)])
        self.weights = _weights(weights, K)
        self.log_weights = np.log(self.weights)
        if means is None:
            self.means = np.zeros((K, self.d))
        else:
            self.means = finite_array("means", means)
            if self.means.shape != (K, self.d):
                raise ValueError(f"means must have shape (K={K}, d={self.d}), got {self.means.shape}")

    @classmethod
    def random(cls, d, dims, variances=1.0, weights=None, offset_scale=0.0, seed=0, schedule="ve"):
        """Random subspaces: component ``k`` spans ``dims[k]`` orthonormal directions with variance ``variances[k]``.

        ``offset_scale > 0`` draws affine offsets ``mu_k ~ N(0, offset_scale^2 I)``.
        """
        d = positive_int("d", d)
        dims = [positive_int("dims", m, minimum=0) for m in np.atleast_1d(dims)]
        if max(dims) > d:
            raise ValueError(f"dims must be <= d={d}, got {dims}")
        var = np.broadcast_to(finite_array("variances", variances, positive_values=True), (len(dims),))
        rng = as_rng(seed)
        factors = []
        for m, v in zip(dims, var):
            Q, _ = np.linalg.qr(rng.standard_normal((d, max(m, 1))))
            factors.append(np.sqrt(v) * Q[:, :m])
        means = None
        if offset_scale:
            means = positive("offset_scale", offset_scale) * rng.standard_normal((len(dims), d))
        return cls(factors, weights, means, schedule)

    @property
    def dims(self):
        """Dimension (rank) of each component's subspace."""
        return [int(lam.size) for lam in self.lam]

    def parameters(self) -> dict:
        """``{"kind": "subspace", "log_weights", "means", "U": [(d, r_k)], "lam": [(r_k,)]}`` (see
        :meth:`ExactModel.parameters`).
        """
        return {"kind": "subspace", "log_weights": self.log_weights, "means": self.means,
                "U": list(self.U), "lam": list(self.lam)}

    def _eval(self, x, a, s2, want_jac):
        B, d = x.shape
        K = len(self.U)
        logN = np.empty((B, K))
        g = np.empty((K, B, d))
        P = [] if want_jac else None
        for k in range(K):
            U, lam = self.U[k], self.lam[k]
            lt = a * a * lam
            y = x - a * self.means[k]
            p = y @ U                                   # (B, r)
            resid = y - p @ U.T                         # component orthogonal to span U
            q = p / (lt + s2)
            quad = np.sum(resid ** 2, axis=1) / s2 + np.sum(p * q, axis=1)
            logdet = np.sum(np.log(lt + s2)) + (d - lam.size) * np.log(s2)
            logN[:, k] = -0.5 * (quad + logdet + d * _LOG2PI)
            g[k] = -(resid / s2 + q @ U.T)
            if want_jac:
                P.append((np.eye(d) - (U * (lt / (lt + s2))) @ U.T) / s2)
        z = logN + self.log_weights
        logp = _logsumexp(z, axis=1)
        r = _softmax(z, axis=1)                         # (B, K)
        score = np.einsum("bk,kbi->bi", r, g)
        jac = None
        if want_jac:
            dev = g - score[None]                       # (K, B, d)
            jac = -np.einsum("bk,kij->bij", r, np.stack(P)) + np.einsum("bk,kbi,kbj->bij", r, dev, dev)
        return logp, score, jac

    def sample(self, n, rng=None):
        """``n`` data points ``x0``, shape (n, d): a component by weight, then ``mu_k + U_k diag(sqrt lam_k) z``."""
        n = positive_int("n", n)
        rng = as_rng(rng)
        k = rng.choice(len(self.U), size=n, p=self.weights)
        out = self.means[k].copy()
        for j, (U, lam) in enumerate(zip(self.U, self.lam)):
            idx = np.nonzero(k == j)[0]
            if idx.size and lam.size:
                out[idx] += (rng.standard_normal((idx.size, lam.size)) * np.sqrt(lam)) @ U.T
        return out

    def component_covariances(self):
        """``B_k B_k^T = U_k diag(lam_k) U_k^T`` of each component, list of (d, d)."""
        return [(U * lam) @ U.T for U, lam in zip(self.U, self.lam)]

    def mean(self):
        """Mixture mean ``sum_k pi_k mu_k``, shape (d,)."""
        return self.weights @ self.means

    def data_covariance(self):
        """Mixture covariance ``sum_k pi_k (B_k B_k^T + (mu_k - mu)(mu_k - mu)^T)``, shape (d, d)."""
        mu = self.mean()
        C = sum(w * (Ck + np.outer(m - mu, m - mu))
                for w, Ck, m in zip(self.weights, self.component_covariances(), self.means))
        return C

    def describe(self):
        """Adds the component ``dims`` and ``weights`` to :meth:`ExactModel.describe`."""
        return {**super().describe(), "dims": self.dims, "weights": self.weights.tolist()}


class LinearGaussianModel(SubspaceUnionModel):
    """Gaussian data on a linear manifold: ``x0 = F z``, ``z ~ N(0, I_m)``, ``C = F F^T`` (docs/theory.md 1-2).

    Score ``s(x, t) = -(a^2 C + s^2 I)^{-1} x``; Jacobian ``J_t = -(a^2 C + s^2 I)^{-1}`` (independent of
    ``x``); ``-Jn = s^2 (a^2 C + s^2 I)^{-1}`` has eigenvalues ``eta = tau / (lambda + tau)``.

    Parameters
    ----------
    F : array (d, m)
    schedule : ``'ve'`` (default), ``'vp'``, ``'ddpm'``, ``'edm'``, ``'geometric'`` or a
        :class:`~rmt.schedules.Schedule`

    Examples
    --------
    >>> m = LinearGaussianModel(np.diag([2.0, 1.0, 0.0])[:, :2])   # C = diag(4, 1, 0); VE: tau = t
    >>> m.eta(np.zeros(3), 1.0).round(4).tolist(), m.score(np.ones(3), 1.0).round(4).tolist()  # 1/(lam+1), -1/(lam+1)
    ([0.2, 0.5, 1.0], [-0.2, -0.5, -1.0])
    """

    def __init__(self, F, schedule="ve"):
        F = finite_array("F", F)
        if F.ndim != 2:
            raise ValueError(f"F must have shape (d, m), got {F.shape}")
        super().__init__([F], schedule=schedule)
        self.F = F

    @classmethod
    def from_manifold(cls, d, manifold, seed=0, schedule="ve", draw=0):
        """``F`` (d, m) with ``F_ij = sigma_j g_ij / sqrt(d)`` for a :class:`rmt.LinearManifold`.

        Uses :func:`simulate.fmatrix.sample_F` (numpy backend): the model of ``(seed, draw)`` has the same
        ``F`` as draw ``draw`` of the spectrum simulator with that seed.
        """
        from .fmatrix import sample_F
        F = sample_F(manifold, d, draws=1, seed=seed, start=positive_int("draw", draw, minimum=0))[0]
        return cls(F, schedule)

    @property
    def eigenvalues(self):
        """Eigenvalues of ``C`` (all ``d``, zeros included), sorted ascending."""
        lam = np.sort(self.lam[0])
        return np.concatenate([np.zeros(self.d - lam.size), lam])

    def exact_eta(self, t):
        """Closed-form spectrum of ``-Jn``: ``tau / (lambda + tau)`` (:func:`rmt.mp.eta_of_lambda`) sorted
        ascending, shape (d,)."""
        return np.sort(eta_of_lambda(self.eigenvalues, self.tau(t)))

    def jacobian_matrix(self, t):
        """``-(a^2 C + s^2 I)^{-1}`` (d, d) by direct inversion (the reference route)."""
        a, s2 = self.coefficients(t)
        return -np.linalg.inv(a * a * (self.F @ self.F.T) + s2 * np.eye(self.d))

    def describe(self):
        """``{"model", "d", "m", "rank", "schedule"}``, JSON-ready."""
        return {"model": "LinearGaussianModel", "d": self.d, "m": int(self.F.shape[1]),
                "rank": int(self.lam[0].size), "schedule": self.schedule.name}


# -- Isotropic mixtures and the empirical distribution -----------------------------------------------------------
class GaussianMixtureModel(ExactModel):
    """Isotropic Gaussian mixture ``x0 ~ sum_k pi_k N(mu_k, v_k I)`` (``v_k >= 0``), noised exactly.

    Component ``k`` at time ``t``: ``N(a mu_k, c_k I)`` with ``c_k = a^2 v_k + s^2``. With responsibilities
    ``r_k(x) = softmax_k(log pi_k - |x - a mu_k|^2 / (2 c_k) - (d/2) log c_k)`` and
    ``g_k = (a mu_k - x) / c_k``: score ``sum_k r_k g_k``, Jacobian
    ``-(sum_k r_k / c_k) I + sum_k r_k (g_k - score)(g_k - score)^T``.

    Parameters
    ----------
    means : (K, d);  variances : scalar or (K,), ``v_k >= 0``;  weights : (K,), default equal
    schedule : ``'ve'`` (default), ``'vp'``, ``'ddpm'``, ``'edm'``, ``'geometric'`` or a
        :class:`~rmt.schedules.Schedule`
    """

    def __init__(self, means, variances=0.0, weights=None, schedule="ve"):
        self.means = finite_array("means", means)
        if self.means.ndim != 2 or self.means.shape[0] < 1 or self.means.shape[1] < 1:
            raise ValueError(f"means must have shape (K, d), got {self.means.shape}")
        K, self.d = self.means.shape
        v = finite_array("variances", variances)
        if v.ndim > 1 or (v.ndim == 1 and v.size != K) or np.any(v < 0):
            raise ValueError(f"variances must be a scalar or (K={K},) array of values >= 0, got {variances!r}")
        self.variances = np.broadcast_to(v, (K,)).astype(float).copy()
        self.weights = _weights(weights, K)
        self.log_weights = np.log(self.weights)
        self.schedule = get_schedule(schedule)
        self._sqnorm = np.sum(self.means ** 2, axis=1)

    @classmethod
    def random(cls, d, K, spread=1.0, variance=0.1, seed=0, schedule="ve"):
        """``K`` equal-weight components with means ``N(0, spread^2 I)`` and variance ``variance``."""
        d, K = positive_int("d", d), positive_int("K", K)
        spread = positive("spread", spread)
        variance = positive("variance", variance, allow_zero=True)
        mu = spread * as_rng(seed).standard_normal((K, d))
        return cls(mu, variance, None, schedule)

    @property
    def K(self):
        """Number of components."""
        return int(self.means.shape[0])

    def parameters(self) -> dict:
        """``{"kind": "isotropic", "log_weights", "means", "variances"}`` (see :meth:`ExactModel.parameters`)."""
        return {"kind": "isotropic", "log_weights": self.log_weights, "means": self.means,
                "variances": self.variances}

    def _rows_factor(self):
        return self.K

    def _chunks(self, B, per_row):
        return super()._chunks(B, per_row + self.K * self.d)

    def _eval(self, x, a, s2, want_jac):
        d = self.d
        c = a * a * self.variances + s2                             # (K,)
        # |x - a mu_k|^2 = |x|^2 - 2 a x.mu_k + a^2 |mu_k|^2 ; the |x|^2 term is common only if c_k is
        xm = x @ self.means.T                                       # (B, K)
        x2 = np.sum(x * x, axis=1, keepdims=True)
        dist2 = np.maximum(x2 - 2 * a * xm + a * a * self._sqnorm, 0.0)
        z = self.log_weights - 0.5 * dist2 / c - 0.5 * d * np.log(c)
        logp = _logsumexp(z, axis=1) - 0.5 * d * _LOG2PI
        r = _softmax(z, axis=1)                                     # (B, K)
        rc = r / c                                                  # (B, K)
        # score = sum_k r_k (a mu_k - x) / c_k
        score = a * (rc @ self.means) - np.sum(rc, axis=1, keepdims=True) * x
        jac = None
        if want_jac:
            g = (a * self.means[None] - x[:, None, :]) / c[None, :, None]   # (B, K, d)
            dev = g - score[:, None, :]
            jac = np.matmul(np.swapaxes(dev * r[:, :, None], 1, 2), dev)   # sum_k r_k dev dev^T (BLAS)
            idx = np.arange(d)
            jac[:, idx, idx] -= np.sum(rc, axis=1)[:, None]
        return logp, score, jac

    def posterior(self, x, t):
        """Responsibilities ``r_k(x)`` (posterior over components given ``x_t = x``), shape (B, K)."""
        X, single = self._points(x)
        a, s2 = self.coefficients(t)
        c = a * a * self.variances + s2
        dist2 = np.maximum(np.sum(X * X, 1, keepdims=True) - 2 * a * X @ self.means.T
                           + a * a * self._sqnorm, 0.0)
        r = _softmax(self.log_weights - 0.5 * dist2 / c - 0.5 * self.d * np.log(c), axis=1)
        return r[0] if single else r

    def sample(self, n, rng=None):
        """``n`` data points ``x0``, shape (n, d): a component by weight, then ``mu_k + sqrt(v_k) z``."""
        n = positive_int("n", n)
        rng = as_rng(rng)
        k = rng.choice(self.K, size=n, p=self.weights)
        return self.means[k] + np.sqrt(self.variances[k])[:, None] * rng.standard_normal((n, self.d))

    def mean(self):
        """Mixture mean ``sum_k pi_k mu_k``, shape (d,)."""
        return self.weights @ self.means

    def data_covariance(self):
        """Mixture covariance ``sum_k pi_k ((mu_k - mu)(mu_k - mu)^T + v_k I)``, shape (d, d)."""
        mu = self.mean()
        dm = self.means - mu
        return (dm.T * self.weights) @ dm + np.dot(self.weights, self.variances) * np.eye(self.d)

    def describe(self):
        """Adds the number of components ``K`` to :meth:`ExactModel.describe`."""
        return {**super().describe(), "K": self.K}


class EmpiricalModel(GaussianMixtureModel):
    """Empirical distribution of ``n`` training points (docs/theory.md section 6), noised exactly.

    ``p_t = (1/n) sum_i N(a x_i, s^2 I)``; posterior weights
    ``gamma_i(x) = softmax_i(-|x - a x_i|^2 / (2 s^2))``; ``mu(x) = sum_i gamma_i a x_i``;
    score ``(mu - x) / s^2``; Jacobian ``Sigma_gamma / s^4 - I / s^2`` with ``Sigma_gamma`` the posterior
    covariance of the points ``a x_i``.

    Parameters
    ----------
    points : (n, d) training set
    schedule : ``'ve'`` (default), ``'vp'``, ``'ddpm'``, ``'edm'``, ``'geometric'`` or a
        :class:`~rmt.schedules.Schedule`
    """

    def __init__(self, points, schedule="ve"):
        super().__init__(points, 0.0, None, schedule)

    @property
    def points(self):
        """The training points, shape (n, d)."""
        return self.means

    @property
    def n(self):
        """Number of training points."""
        return self.K

    def posterior_mean(self, x, t):
        """``mu(x) = sum_i gamma_i(x) a x_i``, shape (B, d)."""
        a, _ = self.coefficients(t)
        return a * (self.posterior(x, t) @ self.means)

    def posterior_covariance(self, x, t):
        """``Sigma_gamma(x)``: covariance of the points ``a x_i`` under ``gamma(x)``, shape (B, d, d)."""
        X, single = self._points(x)
        a, _ = self.coefficients(t)
        G = self.posterior(X, t)
        mu = a * (G @ self.means)
        dev = a * self.means[None] - mu[:, None, :]
        S = np.einsum("bn,bni,bnj->bij", G, dev, dev)
        return S[0] if single else S

    def nearest(self, x):
        """Index of and distance to the nearest training point for each row of ``x``: ((B,), (B,))."""
        X, single = self._points(x)
        d2 = np.maximum(np.sum(X * X, 1)[:, None] - 2 * X @ self.means.T + self._sqnorm, 0.0)
        i = np.argmin(d2, axis=1)
        dist = np.sqrt(d2[np.arange(X.shape[0]), i])
        return (i[0], dist[0]) if single else (i, dist)

    def sample(self, n, rng=None):
        """``n`` training points drawn with replacement, shape (n, d)."""
        n = positive_int("n", n)
        return self.means[as_rng(rng).integers(0, self.K, size=n)].copy()

    def describe(self):
        """``{"model": "EmpiricalModel", "d", "n", "schedule"}``, JSON-ready."""
        return {"model": "EmpiricalModel", "d": self.d, "n": self.n, "schedule": self.schedule.name}


def _weights(weights, K):
    if weights is None:
        return np.full(K, 1.0 / K)
    w = finite_array("weights", weights)
    if w.shape != (K,) or np.any(w <= 0):
        raise ValueError(f"weights must be a ({K},) array of positive values, got {weights!r}")
    return w / w.sum()
