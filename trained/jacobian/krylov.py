"""Matrix-free top-``k`` singular triplets from matrix products only: restarted block Krylov with
Rayleigh-Ritz (:func:`krylov_svd`), and scipy's ARPACK / LOBPCG on a ``LinearOperator``.
"""
from __future__ import annotations

import numpy as np

from rmt.validation import positive_int

__all__ = ["krylov_svd", "scipy_svds"]


def krylov_svd(matmat, rmatmat, d, k, *, block=None, depth=3, tol=1e-9, maxiter=50, seed=0):
    """Top-``k`` singular triplets of ``A`` (``d_out x d``) from products only: restarted block Krylov.

    Each restart builds ``[V, (A^T A) V, ..., (A^T A)^depth V]`` (``V``: ``block`` columns), orthonormalises
    it, and does Rayleigh-Ritz with one product ``A Q``; it stops when every residual
    ``|A^T u_i - sigma_i v_i| <= tol * sigma_1``.

    Returns
    -------
    (U (d_out, k), S (k,) descending, V (d, k), info dict with iterations, products and residual)
    """
    k = positive_int("k", k)
    block = block or min(d, k + max(10, k // 2))
    rng = np.random.default_rng(seed)
    V = np.linalg.qr(rng.standard_normal((d, block)))[0]
    products = 0
    for it in range(1, maxiter + 1):
        blocks = [V]
        for _ in range(depth):
            W = rmatmat(matmat(blocks[-1]))
            products += 2 * blocks[-1].shape[1]
            W = W / max(np.linalg.norm(W), 1e-300)
            blocks.append(W)
        Q = np.linalg.qr(np.hstack(blocks))[0]
        if Q.shape[1] > d:
            Q = Q[:, :d]
        AQ = matmat(Q)
        products += Q.shape[1]
        Uq, S, Wt = np.linalg.svd(AQ, full_matrices=False)
        Vr = Q @ Wt.T
        U, S, Vk = Uq[:, :k], S[:k], Vr[:, :k]
        R = rmatmat(U) - Vk * S
        products += k
        res = float(np.max(np.linalg.norm(R, axis=0)) / max(S[0], 1e-300))
        if res <= tol or Q.shape[1] >= d:
            break
        V = Vr[:, :block]
    return U, S, Vk, {"iterations": it, "products": products, "residual": res, "block": block, "depth": depth}


def scipy_svds(matmat, rmatmat, d, d_out, k, solver, tol, seed):
    """Top-``k`` singular triplets of the (d_out, d) operator given by ``matmat``/``rmatmat`` with
    ``scipy.sparse.linalg.svds`` (``solver`` 'arpack' or 'lobpcg', tolerance ``tol``, start vector from ``seed``).

    Returns ``(U (d_out, k), S (k,), V (d, k), {"products": n})``, singular values descending.
    """
    from scipy.sparse.linalg import LinearOperator, svds
    counter = {"products": 0}

    def mv(v):
        counter["products"] += 1
        return matmat(v.reshape(d, -1)).reshape(-1)

    def rmv(u):
        counter["products"] += 1
        return rmatmat(u.reshape(d_out, -1)).reshape(-1)

    def mm(V):
        counter["products"] += V.shape[1]
        return matmat(V)

    def rmm(U):
        counter["products"] += U.shape[1]
        return rmatmat(U)
    op = LinearOperator((d_out, d), matvec=mv, rmatvec=rmv, matmat=mm, rmatmat=rmm, dtype=float)
    rng = np.random.default_rng(seed)
    v0 = rng.standard_normal(min(d, d_out))
    kw = {"maxiter": 2000} if solver == "lobpcg" else {}
    U, S, Vt = svds(op, k=k, tol=tol, solver=solver, v0=v0 if solver == "arpack" else None,
                    random_state=seed, **kw)
    o = np.argsort(-S)
    return U[:, o], S[o], Vt[o].T, {"products": counter["products"]}


