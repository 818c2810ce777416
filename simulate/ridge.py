"""Ridge manifold of the smoothed empirical density (docs/theory.md section 8).

For training points ``x_i`` (``X``, shape (n, D)) and a schedule, ``p_t = (1/n) sum_i N(a x_i, s^2 I)``
(:class:`simulate.models.EmpiricalModel`). With posterior weights ``gamma_i(x)``, the centred weighted
matrix ``A`` (rows ``sqrt(gamma_i) (a x_i - mu(x))``, shape (n, D)) and ``Sigma_gamma = A^T A``:

    H(x) = grad^2 log p_t(x) = Sigma_gamma / s^4 - I / s^2,

so the eigenvalues of ``H`` are ``l_j = sigma_j^2 / s^4 - 1/s^2`` (``sigma_j`` the singular values of ``A``;
``-1/s^2`` for every direction outside its row space) and its eigenvectors are the right singular vectors
of ``A``. A ridge of dimension ``k`` is ``R_t = {x : V^T grad log p_t(x) = 0, l_{k+1}(x) < 0}`` with ``V``
the normal frame ``[v_{k+1}, ..., v_D]``; only the tangent frame ``[v_1..v_k]`` and ``l_1..l_{k+1}`` are
ever needed, and the normal projector is ``I - T T^T``.

The low-rank route (default, ``method='lowrank'``) never forms a ``D x D`` matrix: the posterior is
screened in chunks of training points (streaming maximum, memory budget of :mod:`rmt.budget`), the
points with weight above ``cutoff`` times the largest (default ``1e-20``; the dropped mass is at most
``n * cutoff``) form the support ``S`` (``r`` points), the weights and the centring are recomputed there
from direct differences and relative to the heaviest point (no cancellation when one point dominates),
and the top ``k+1`` eigenpairs come from the ``r x r`` Gram matrix ``A A^T`` when ``r <= D`` (right
singular vectors ``A^T u / sigma``) or from ``A^T A`` when ``r > D``. Cost per point:
``O(n D + r^2 D + r^3)``; up to ``D = 16`` the same centred rows are used batched over the query points
through the ``D x D`` posterior covariance. ``method='dense'`` is the reference route: the closed-form Jacobian of
:meth:`EmpiricalModel.jacobian` and a full ``eigh``. Everything is float64.

Times are process times ``t`` (VE default: ``a = 1``, ``s^2 = t``; VP: ``a = e^{-t}``, ``s^2 = 1 - e^{-2t}``).

>>> import numpy as np
>>> X = np.array([[0.0, 0.0], [1.0, 0.0]])
>>> p = project_to_ridge(X, [[0.3, 0.2]], t=0.05, k=1)
>>> np.round(p.points, 12).tolist()
[[0.3, 0.0]]
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rmt.budget import check_memory, memory_budget
from rmt.validation import finite_array, positive, positive_int

from .models import EmpiricalModel

__all__ = ["RidgeFrame", "RidgeProjection", "ridge_frame", "ridge_residual", "project_to_ridge",
           "posterior_factor", "empirical_model", "METHODS"]

#: the two routes to a ridge frame: ``lowrank`` (default, never forms a ``D x D`` matrix) and ``dense`` (the
#: closed-form reference through the ``D x D`` posterior covariance)
METHODS = ("lowrank", "dense")
#: relative weight below which a training point leaves the posterior support (dropped mass <= n * cutoff)
DEFAULT_CUTOFF = 1e-20
#: a frame is flagged when the eigengap is below this fraction of l_1 + 1/s^2 = sigma_1^2 / s^4
DEFAULT_GAP_RTOL = 1e-8
#: up to this dimension the low-rank route runs batched through the D x D posterior covariance
SMALL_D = 16


def empirical_model(X, schedule="ve") -> EmpiricalModel:
    """``X`` as an :class:`EmpiricalModel` (an ``EmpiricalModel`` is returned as it is, with its schedule)."""
    if isinstance(X, EmpiricalModel):
        return X
    X = finite_array("X", X)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must have shape (n, D) with n, D >= 1, got {X.shape}")
    return EmpiricalModel(X, schedule)


@dataclass
class RidgeFrame:
    """The Hessian's top eigenpairs at query points and the ridge quantities derived from them.

    Shapes: ``m`` query points, dimension ``D``, ridge dimension ``k``.

    Attributes
    ----------
    eigenvalues : (m, k+1) ``l_1 >= ... >= l_{k+1}`` of ``H = grad^2 log p_t`` (units 1/length^2)
    tangent : (m, D, k) orthonormal ``[v_1..v_k]``
    normal_first : (m, D) ``v_{k+1}``, the first normal direction
    score : (m, D) ``grad log p_t(x) = (mu - x) / s^2``
    mean : (m, D) posterior mean ``mu(x) = sum_i gamma_i a x_i``
    support : (m,) number of training points in the posterior support (``n`` for ``method='dense'``)
    gap_closed : (m,) ``l_k - l_{k+1} <= gap_rtol (l_1 + 1/s^2)``: the tangent frame is ill-defined
    variances : (m, k+1) top eigenvalues ``sigma_j^2`` of the posterior covariance ``Sigma_gamma`` (units
        length^2; ``l_j = sigma_j^2 / s^4 - 1/s^2``, kept separately because the sum cancels when the
        posterior condenses)
    """

    eigenvalues: np.ndarray
    tangent: np.ndarray
    normal_first: np.ndarray
    score: np.ndarray
    mean: np.ndarray
    support: np.ndarray
    gap_closed: np.ndarray
    t: float
    k: int
    a: float
    s2: float
    method: str = "lowrank"
    variances: np.ndarray | None = None

    @property
    def eigengap(self) -> np.ndarray:
        """``l_k - l_{k+1}`` (m,)."""
        return self.eigenvalues[:, self.k - 1] - self.eigenvalues[:, self.k]

    @property
    def curvature_ok(self) -> np.ndarray:
        """``l_{k+1} < 0`` (m,): the density is concave across the ridge."""
        return self.eigenvalues[:, self.k] < 0

    def tangent_component(self, v) -> np.ndarray:
        """``T T^T v`` for ``v`` of shape (m, D)."""
        return np.einsum("mdk,mk->md", self.tangent, np.einsum("mdk,md->mk", self.tangent, v))

    def normal_component(self, v) -> np.ndarray:
        """``V V^T v = v - T T^T v`` for ``v`` of shape (m, D)."""
        return v - self.tangent_component(v)

    @property
    def residual(self) -> np.ndarray:
        """Ridge residual ``|V V^T grad log p_t(x)|`` (m,), units 1/length (``s^2`` times it is the length of
        the mean-shift step)."""
        return np.linalg.norm(self.normal_component(self.score), axis=1)

    def normal_frame(self, i: int) -> np.ndarray:
        """The full normal frame ``V = [v_{k+1}..v_D]`` (D, D-k) of point ``i``: the orthonormal complement of
        the tangent frame with ``v_{k+1}`` first (the others are any orthonormal basis, ``l = -1/s^2`` there
        in the low-rank route unless ``r`` is large)."""
        T = self.tangent[i]
        D = T.shape[0]
        B = np.concatenate([T, self.normal_first[i][:, None], np.eye(D)], axis=1)
        Q, _ = np.linalg.qr(B)
        Q = Q[:, :D]
        Q[:, self.k] *= np.sign(Q[:, self.k] @ self.normal_first[i]) or 1.0
        return Q[:, self.k:]


@dataclass
class RidgeProjection:
    """Result of :func:`project_to_ridge` with the convergence report per point.

    Attributes
    ----------
    points : (m, D) the projections
    start : (m, D) the query points
    iterations : (m,) mean-shift steps taken
    final_step : (m,) length of the last step (units of ``x``)
    converged : (m,) last step below ``tol``
    stalled : (m,) ``max_iter`` reached (or a non-finite step) without converging
    gap_closed : (m,) the eigengap closed (relative ``gap_rtol``) at some iterate
    min_relative_gap : (m,) smallest ``(l_k - l_{k+1}) / (l_1 + 1/s^2)`` met along the way
    frame : :class:`RidgeFrame` at the projections (eigengap, curvature condition, residual)
    """

    points: np.ndarray
    start: np.ndarray
    iterations: np.ndarray
    final_step: np.ndarray
    converged: np.ndarray
    stalled: np.ndarray
    gap_closed: np.ndarray
    min_relative_gap: np.ndarray
    frame: RidgeFrame
    info: dict = field(default_factory=dict)

    @property
    def distance(self) -> np.ndarray:
        """``|projection - start|`` (m,)."""
        return np.linalg.norm(self.points - self.start, axis=1)

    @property
    def residual(self) -> np.ndarray:
        """Ridge residual at the projections (:attr:`RidgeFrame.residual`), (m,)."""
        return self.frame.residual

    @property
    def eigengap(self) -> np.ndarray:
        """Eigengap of the frame at the projections (:attr:`RidgeFrame.eigengap`), (m,)."""
        return self.frame.eigengap

    def report(self) -> dict:
        """JSON-ready summary of the convergence report."""
        return {"points": int(self.points.shape[0]), "converged": int(self.converged.sum()),
                "stalled": int(self.stalled.sum()), "gap_closed": int(self.gap_closed.sum()),
                "curvature_violated": int((~self.frame.curvature_ok).sum()),
                "iterations_max": int(self.iterations.max(initial=0)),
                "iterations_median": float(np.median(self.iterations)) if self.iterations.size else 0.0,
                "residual_max": float(self.residual.max(initial=0.0)),
                "distance_median": float(np.median(self.distance)) if self.iterations.size else 0.0,
                **self.info}


# ------------------------------------------------------------------------------------------------
# posterior support, streamed over chunks of training points
# ------------------------------------------------------------------------------------------------
def _support(Y, y2, x, s2, cutoff):
    """Per query row of ``x``: indices of the training points ``Y`` (already scaled by ``a``) whose weight is
    at least ``cutoff`` times the largest, screened with ``|x|^2 - 2 x.y + |y|^2`` (one nat of slack) over
    chunks of ``Y`` sized to the memory budget."""
    m, n = x.shape[0], Y.shape[0]
    budget = memory_budget()
    per = 8 * 3                                            # bytes per (query, training point) pair
    check_memory("X", per * n, "screening one query point against all training points",
                 "use fewer training points")
    nc = int(max(1, min(n, budget // (8 * per * max(1, m)))))
    log_cut = np.log(cutoff) - 1.0
    x2 = np.sum(x * x, axis=1)
    zmax = np.full(m, -np.inf)
    cand = [[] for _ in range(m)]
    for lo in range(0, n, nc):
        Yc = Y[lo:lo + nc]
        z = -(x2[:, None] - 2.0 * x @ Yc.T + y2[lo:lo + nc][None]) / (2.0 * s2)
        zmax = np.maximum(zmax, z.max(axis=1))
        rows, cols = np.nonzero(z >= (zmax + log_cut)[:, None])
        for q in np.unique(rows):
            sel = cols[rows == q]
            cand[q].append((sel + lo, z[q, sel]))
    out = []
    for q in range(m):
        idx = np.concatenate([c[0] for c in cand[q]])
        zz = np.concatenate([c[1] for c in cand[q]])
        out.append(idx[zz >= zmax[q] + log_cut])
    return out


def _posterior_rows(Y, xq, idx, s2, cutoff):
    """Weights, posterior mean and the centred rows ``sqrt(gamma_i)(y_i - mu)`` on the support of one point."""
    diff = Y[idx] - xq                                     # direct differences: exact distances
    z = -np.einsum("ij,ij->i", diff, diff) / (2.0 * s2)
    j = int(np.argmax(z))
    keep = z >= z[j] + np.log(cutoff)
    idx, z, diff = idx[keep], z[keep], diff[keep]
    j = int(np.argmax(z))
    w = np.exp(z - z[j])
    gamma = w / w.sum()
    dev = diff - diff[j]                                   # y_i - c with c = y_j the heaviest point
    mvec = gamma @ dev
    mean_minus_x = diff[j] + mvec                          # mu - x
    A = np.sqrt(gamma)[:, None] * (dev - mvec)
    return A, mean_minus_x, idx.size


def _top_symmetric(M, p):
    """Top ``p`` eigenpairs of the symmetric PSD matrix ``M``, descending: a full ``eigh`` for small ``M``,
    otherwise Lanczos (ARPACK ``eigsh``, ``tol=0``: machine precision, fixed start vector) with LAPACK's
    ``evr`` as the fallback."""
    from scipy.linalg import eigh
    N = M.shape[0]
    if N > 4 * p + 32:
        from scipy.sparse.linalg import ArpackError, eigsh
        try:
            v0 = np.random.default_rng(0).standard_normal(N)
            w, U = eigsh(M, k=p, which="LA", tol=0, v0=v0)
            o = np.argsort(w)[::-1]
            return w[o], U[:, o]
        except ArpackError:                                # pragma: no cover - no convergence
            w, U = eigh(M, subset_by_index=[N - p, N - 1], driver="evr")
            return w[::-1], U[:, ::-1]
    w, U = eigh(M)
    return w[::-1][:p], U[:, ::-1][:, :p]


def _top_eigenpairs(A, p):
    """Top ``p`` eigenpairs ``(w, V)`` of ``A^T A`` (``w`` descending, ``V`` (D, <= p) orthonormal): through the
    ``r x r`` Gram matrix when ``A`` has fewer rows than columns (right singular vectors ``A^T u / sigma``),
    else through ``A^T A``; eigenvalues that are zero to round-off are left out (see :func:`_complete`)."""
    r, D = A.shape
    if r <= D:
        w, U = _top_symmetric(A @ A.T, min(p, r))
        wmax = max(float(w[0]), 0.0) if w.size else 0.0
        good = w > max(wmax * r * np.finfo(float).eps * 16, np.finfo(float).tiny)
        V = (A.T @ U[:, good]) / np.sqrt(w[good])
        w = w[good]
        if V.shape[1]:
            V, _ = np.linalg.qr(V)                         # re-orthonormalise (round-off only)
    else:
        w, V = _top_symmetric(A.T @ A, p)
        w = np.maximum(w, 0.0)
        good = w > w[0] * r * np.finfo(float).eps * 16
        w, V = w[good], V[:, good]
    return w, V


def _complete(Y, xq, s2, V, w, p, cutoff, seed=0):
    """Fill the frame ``V`` (D, nv) up to ``p`` vectors where the posterior is too condensed to resolve them.

    The weights beyond the support underflow, but their ratios do not: as the weights separate, the next
    eigenvectors of ``Sigma_gamma`` tend to those of the rows ``exp((z_i - z_ref)/2) (I - V V^T)(y_i - c)`` of
    the next level of points (``z_ref`` the heaviest not yet used, ``c`` the heaviest point overall). Levels
    are taken in turn (eigenvalue 0 is reported for them); random directions only when the points run out."""
    D = Y.shape[0 if Y.ndim == 1 else 1]
    diff = Y - xq
    z = -np.einsum("ij,ij->i", diff, diff) / (2.0 * s2)
    order = np.argsort(-z)
    c = Y[order[0]]
    used = 1
    log_cut = np.log(cutoff)
    while V.shape[1] < p and used < order.size:
        zref = z[order[used]]
        stop = used + int(np.searchsorted(-z[order[used:]], -(zref + log_cut), side="right"))
        idx = order[used:stop]
        used = stop
        R = (Y[idx] - c) * np.exp(0.5 * (z[idx] - zref))[:, None]
        floor = (1e-10 * np.abs(R).max()) ** 2 * R.shape[0]    # what survives projection by round-off only
        R -= (R @ V) @ V.T
        w2, V2 = _top_eigenpairs(R, p - V.shape[1])
        V2 = V2[:, w2 > floor]
        if V2.shape[1]:
            V2 -= V @ (V.T @ V2)
            V = np.linalg.qr(np.concatenate([V, V2], axis=1))[0] if V.shape[1] else np.linalg.qr(V2)[0]
    nv = V.shape[1]
    if nv < p:
        extra = np.random.default_rng(seed).standard_normal((D, p - nv))
        extra -= V @ (V.T @ extra)
        Q, _ = np.linalg.qr(np.concatenate([V, extra], axis=1))
        V = np.concatenate([V, Q[:, nv:]], axis=1)
    return np.concatenate([w[:min(nv, w.size)], np.zeros(p - min(nv, w.size))])[:p], V[:, :p]


def posterior_factor(X, x, t, *, schedule="ve", cutoff=DEFAULT_CUTOFF):
    """The low-rank factor of the Hessian at each query point: ``H = A^T A / s^4 - I / s^2``.

    Returns a list of ``(A, mu)`` per row of ``x``: ``A`` (r, D) the rows ``sqrt(gamma_i)(a x_i - mu)`` on
    the posterior support, ``mu`` (D,) the posterior mean (so ``score = (mu - x) / s^2``).
    """
    model = empirical_model(X, schedule)
    pts = finite_array("x", x).reshape(-1, model.d) if np.ndim(x) <= 2 else None
    if pts is None or np.shape(x)[-1] != model.d:
        raise ValueError(f"x must have shape (m, D={model.d}) or (D,), got {np.shape(x)}")
    a, s2 = model.coefficients(t)
    Y = a * model.points
    out = []
    for q, idx in enumerate(_support(Y, (a * a) * model._sqnorm, pts, s2, cutoff)):
        A, mmx, _ = _posterior_rows(Y, pts[q], idx, s2, cutoff)
        out.append((A, pts[q] + mmx))
    return out


def _frame_lowrank(model, x, t, k, cutoff, gap_rtol):
    a, s2 = model.coefficients(t)
    Y = a * model.points
    y2 = (a * a) * model._sqnorm
    m, D = x.shape
    p = k + 1
    if D <= SMALL_D and 8.0 * 3 * m * Y.shape[0] * D <= memory_budget() / 8:
        return _frame_small(Y, x, t, k, a, s2, cutoff, gap_rtol)
    supports = _support(Y, y2, x, s2, cutoff)
    eig = np.empty((m, p))
    T = np.empty((m, D, k))
    nf = np.empty((m, D))
    mmx = np.empty((m, D))
    sup = np.empty(m, dtype=int)
    rel = np.empty(m)
    var = np.empty((m, p))
    for q in range(m):
        A, mmx[q], sup[q] = _posterior_rows(Y, x[q], supports[q], s2, cutoff)
        check_memory("X", 8.0 * (A.size + min(A.shape) ** 2), "the posterior rows of one query point")
        w, V = _top_eigenpairs(A, p)
        if V.shape[1] < p:
            w, V = _complete(Y, x[q], s2, V, w[:V.shape[1]], p, cutoff)
        eig[q], var[q] = w / (s2 * s2) - 1.0 / s2, w
        T[q], nf[q] = V[:, :k], V[:, k]
        rel[q] = (w[k - 1] - w[k]) / w[0] if w[0] > 0 else 0.0
    return RidgeFrame(eig, T, nf, mmx / s2, x + mmx, sup, rel <= gap_rtol, float(t), k, a, s2, "lowrank",
                      var), rel


def _frame_small(Y, x, t, k, a, s2, cutoff, gap_rtol):
    """Low dimension: the same quantities batched over the query points through the ``D x D`` posterior
    covariance ``Sigma_gamma = A^T A`` (support and centring as in :func:`_posterior_rows`)."""
    m, D = x.shape
    p = k + 1
    diff = Y[None] - x[:, None]                            # (m, n, D)
    z = -np.sum(diff * diff, axis=2) / (2.0 * s2)
    j = np.argmax(z, axis=1)
    zmax = z[np.arange(m), j]
    w = np.where(z >= zmax[:, None] + np.log(cutoff), np.exp(z - zmax[:, None]), 0.0)   # the support only
    gamma = w / w.sum(1, keepdims=True)
    dev = diff - diff[np.arange(m), j][:, None]
    mvec = np.einsum("mn,mnd->md", gamma, dev)
    A = np.sqrt(gamma)[:, :, None] * (dev - mvec[:, None])
    lam, vec = np.linalg.eigh(np.matmul(A.transpose(0, 2, 1), A))
    lam, vec = np.maximum(lam[:, ::-1][:, :p], 0.0), vec[:, :, ::-1][:, :, :p]
    for q in np.flatnonzero(lam[:, p - 1] <= lam[:, 0] * D * np.finfo(float).eps * 16):
        good = lam[q] > lam[q, 0] * D * np.finfo(float).eps * 16
        lam[q], vec[q] = _complete(Y, x[q], s2, vec[q][:, good], lam[q][good], p, cutoff)
    rel = np.where(lam[:, 0] > 0, (lam[:, k - 1] - lam[:, k]) / np.where(lam[:, 0] > 0, lam[:, 0], 1.0), 0.0)
    mmx = diff[np.arange(m), j] + mvec
    sup = np.sum(z >= zmax[:, None] + np.log(cutoff), axis=1)
    return RidgeFrame(lam / (s2 * s2) - 1.0 / s2, vec[:, :, :k].copy(), vec[:, :, k].copy(), mmx / s2, x + mmx,
                      sup, rel <= gap_rtol, float(t), k, a, s2, "lowrank", lam), rel


def _frame_dense(model, x, t, k, gap_rtol):
    a, s2 = model.coefficients(t)
    m, D = x.shape
    check_memory("x", 8.0 * 2 * D * D * min(m, 64), "dense D x D Hessians", "use method='lowrank'")
    eig = np.empty((m, k + 1))
    T = np.empty((m, D, k))
    nf = np.empty((m, D))
    rel = np.empty(m)
    for lo in range(0, m, 64):
        H = model.jacobian(x[lo:lo + 64], t)               # the closed form Sigma_gamma/s^4 - I/s^2
        lam, vec = np.linalg.eigh(H)
        lam, vec = lam[:, ::-1], vec[:, :, ::-1]
        eig[lo:lo + 64] = lam[:, :k + 1]
        T[lo:lo + 64], nf[lo:lo + 64] = vec[:, :, :k], vec[:, :, k]
        top = lam[:, 0] + 1.0 / s2
        rel[lo:lo + 64] = np.where(top > 0, (lam[:, k - 1] - lam[:, k]) / np.where(top > 0, top, 1.0), 0.0)
    score = model.score(x, t)
    return RidgeFrame(eig, T, nf, score, x + s2 * score, np.full(m, model.n), rel <= gap_rtol, float(t), k,
                      a, s2, "dense", s2 * (s2 * eig + 1.0)), rel


def _inputs(X, x, t, k, schedule, method, cutoff, gap_rtol):
    model = empirical_model(X, schedule)
    pts = finite_array("x", x)
    if pts.ndim == 1:
        pts = pts[None]
    if pts.ndim != 2 or pts.shape[1] != model.d:
        raise ValueError(f"x must have shape (m, D={model.d}) or (D,), got {np.shape(x)}")
    if np.ndim(t) != 0:
        raise ValueError(f"t must be a scalar process time, got shape {np.shape(t)}")
    positive("t", t)
    k = positive_int("k", k)
    if k >= model.d:
        raise ValueError(f"k must be < D={model.d}, got {k}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    cutoff = positive("cutoff", cutoff)
    if not cutoff < 1:
        raise ValueError(f"cutoff must lie in (0, 1), got {cutoff!r}")
    positive("gap_rtol", gap_rtol, allow_zero=True)
    return model, pts, float(t), k


def _frame(model, x, t, k, method, cutoff, gap_rtol):
    if method == "dense":
        return _frame_dense(model, x, t, k, gap_rtol)
    return _frame_lowrank(model, x, t, k, cutoff, gap_rtol)


def ridge_frame(X, x, t, k, *, schedule="ve", method="lowrank", cutoff=DEFAULT_CUTOFF,
                gap_rtol=DEFAULT_GAP_RTOL) -> RidgeFrame:
    """Top ``k+1`` eigenpairs of ``H = grad^2 log p_t`` at ``x`` and the tangent/normal frames.

    Parameters
    ----------
    X : (n, D) training points, or an :class:`EmpiricalModel` (its schedule is used)
    x : (m, D) or (D,) query points
    t : process time (> 0);  k : ridge dimension, ``1 <= k < D``
    schedule : ``'ve'`` (default), ``'vp'``, ``'ddpm'``, ``'edm'``, ``'geometric'`` or a
        :class:`~rmt.schedules.Schedule`
    method : 'lowrank' (SVD of the weighted posterior rows, default) or 'dense' (``D x D`` Jacobian + eigh)
    cutoff : relative posterior weight below which a training point is dropped (low-rank route)
    gap_rtol : the frame is flagged ``gap_closed`` when ``l_k - l_{k+1} <= gap_rtol (l_1 + 1/s^2)``

    Examples
    --------
    Two training points: the ridge (``k = 1``) is the line through them, the normal eigenvalue is exactly
    ``-1/s^2``, and the tangent one is ``sigma^2/s^4 - 1/s^2`` with ``sigma^2 = gamma (1 - gamma) |x_2 - x_1|^2``
    the posterior variance along the line:

    >>> X, x, t = np.array([[0.0, 0.0], [2.0, 1.0]]), np.array([1.0, 0.3]), 0.05     # VE: s^2 = t
    >>> F = ridge_frame(X, x, t, k=1)
    >>> np.abs(F.tangent[0, :, 0]).round(6).tolist(), np.round(np.array([2, 1]) / np.sqrt(5), 6).tolist()
    ([0.894427, 0.447214], [0.894427, 0.447214])
    >>> g = 1 / (1 + np.exp((np.sum((x - X[1]) ** 2) - np.sum(x ** 2)) / (2 * t)))   # posterior weight of x_2
    >>> F.eigenvalues.round(6).tolist(), round(float(g * (1 - g) * 5 / t ** 2 - 1 / t), 6)
    ([[15.325412, -20.0]], 15.325412)
    >>> bool(F.curvature_ok[0])                                                    # l_2 < 0: x is near the ridge
    True
    """
    model, pts, t, k = _inputs(X, x, t, k, schedule, method, cutoff, gap_rtol)
    return _frame(model, pts, t, k, method, cutoff, gap_rtol)[0]


def ridge_residual(X, x, t, k, **kw) -> np.ndarray:
    """``|V V^T grad log p_t(x)|`` (m,) (or a float for one point ``x`` of shape (D,)); options as
    :func:`ridge_frame`. Zero exactly on the ridge (where also ``l_{k+1} < 0`` is required)."""
    r = ridge_frame(X, x, t, k, **kw).residual
    return float(r[0]) if np.ndim(x) == 1 else r


def project_to_ridge(X, x, t, k, tol=1e-10, max_iter=1000, *, schedule="ve", method="lowrank",
                     cutoff=DEFAULT_CUTOFF, gap_rtol=DEFAULT_GAP_RTOL, progress=False) -> RidgeProjection:
    """Subspace-constrained mean shift onto the ridge ``R_t``: ``x <- x + V V^T (mu(x) - x)``, batched.

    Each point iterates until its step is shorter than ``tol`` (absolute, units of ``x``) or ``max_iter``
    steps; converged points leave the batch. Near the ridge the normal error contracts by
    ``1 + s^2 l_j = sigma_j^2 / s^2 < 1`` per step in the normal direction ``j``.

    Parameters
    ----------
    X, x, t, k, schedule, method, cutoff, gap_rtol : as :func:`ridge_frame`
    tol : step length at which a point counts as converged (default 1e-10)
    max_iter : most steps per point; a point that reaches it is flagged ``stalled``
    progress : tqdm bar on stderr

    Returns
    -------
    RidgeProjection (points, convergence report per point, frame at the projections)

    Examples
    --------
    Two training points: the ridge is their line, and points project orthogonally onto it (``x.u u`` with
    ``u = (2, 1)/sqrt(5)``):

    >>> p = project_to_ridge([[0.0, 0.0], [2.0, 1.0]], [[1.0, 1.0], [0.5, -0.5]], t=0.05, k=1)
    >>> p.points.round(9).tolist()                  # (3/5)(2, 1) and (1/10)(2, 1)
    [[1.2, 0.6], [0.2, 0.1]]
    >>> bool(p.converged.all() and p.residual.max() < 1e-10)
    True
    """
    model, pts, t, k = _inputs(X, x, t, k, schedule, method, cutoff, gap_rtol)
    tol = positive("tol", tol)
    max_iter = positive_int("max_iter", max_iter)
    m = pts.shape[0]
    cur = pts.copy()
    iters = np.zeros(m, dtype=int)
    step_len = np.full(m, np.inf)
    min_rel = np.full(m, np.inf)
    done = np.zeros(m, dtype=bool)
    bad = np.zeros(m, dtype=bool)
    it = range(max_iter)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc="ridge projection", leave=False)
    for _ in it:
        act = np.flatnonzero(~done & ~bad)
        if act.size == 0:
            break
        F, rel = _frame(model, cur[act], t, k, method, cutoff, gap_rtol)
        min_rel[act] = np.minimum(min_rel[act], rel)
        step = F.normal_component(F.mean - cur[act])
        ln = np.linalg.norm(step, axis=1)
        fin = np.isfinite(ln)
        bad[act[~fin]] = True
        ok = act[fin]
        cur[ok] += step[fin]
        iters[ok] += 1
        step_len[ok] = ln[fin]
        done[ok[ln[fin] < tol]] = True
    frame, rel = _frame(model, cur, t, k, method, cutoff, gap_rtol)
    min_rel = np.minimum(min_rel, rel)
    return RidgeProjection(points=cur, start=pts, iterations=iters, final_step=step_len, converged=done,
                           stalled=~done, gap_closed=min_rel <= gap_rtol, min_relative_gap=min_rel, frame=frame,
                           info={"t": t, "k": k, "tol": tol, "max_iter": max_iter, "method": method,
                                 "schedule": model.schedule.name, "n": model.n, "D": model.d})
