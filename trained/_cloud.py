"""Checks, grids and the closed-form spectra shared by the dimension estimators (:mod:`trained.score_dimension`,
:mod:`trained.estimators`, :mod:`trained.normal_bundle`); scikit-learn is imported only by :func:`_check_X`."""
from __future__ import annotations

import numpy as np

from rmt.validation import finite_array

#: fewer points than this and no answer is meaningful: one query point and two points for a covariance
MIN_SAMPLES = 3


def default_tau_grid(X, n=13):
    """Geometric ``tau`` grid from ``var_min / (2 ln n)`` (condensation of the empirical score) to the largest
    variance of ``X`` (docs/theory.md section 6), shape (n,). Used with a given score."""
    X = np.asarray(X, dtype=float)
    lam = np.linalg.eigvalsh(np.cov(X.T).reshape(X.shape[1], X.shape[1]))
    top = max(float(lam[-1]), 1e-12)
    nz = lam[lam > 1e-8 * top]
    lo = float(nz.min()) / (2 * np.log(max(X.shape[0], 3))) if nz.size else top * 1e-3
    return np.geomspace(max(lo, top * 1e-6), top, n)


def _check_X(estimator, X, minimum=MIN_SAMPLES, min_features=1):
    """``X`` as a float64 (n, d) array through scikit-learn's ``validate_data`` (sets ``n_features_in_``; refuses
    complex, object, non-finite, empty and non-2-d input with scikit-learn's messages); at least ``minimum``
    points and ``min_features`` features."""
    from sklearn.utils.validation import validate_data
    try:
        return validate_data(estimator, X, reset=True, dtype=np.float64, ensure_min_samples=minimum,
                             ensure_min_features=min_features)
    except ValueError as e:
        if minimum == MIN_SAMPLES and f"minimum of {minimum} is required" in str(e) and "sample(s)" in str(e):
            raise ValueError(f"{str(e).rstrip('.')}: at least {minimum} points (one query point and two to "
                             "form a posterior covariance)") from None
        raise


def check_points(X, minimum=MIN_SAMPLES, min_features=1):
    """``X`` as a float64 (n, d) array without scikit-learn (the command line's boundary): real, finite, 2-d, at
    least ``minimum`` points and ``min_features`` features; the messages name ``X``."""
    a = np.asarray(X)
    if a.dtype == object or np.iscomplexobj(a):
        raise ValueError(f"X must hold real numbers, got dtype {a.dtype}")
    a = finite_array("X", a, ndim=2)
    if a.shape[0] < minimum:
        raise ValueError(f"X has {a.shape[0]} point(s): at least {minimum} are needed (one query point and two to "
                         "form a posterior covariance)")
    if a.shape[1] < min_features:
        raise ValueError(f"X has {a.shape[1]} feature(s): at least {min_features} are needed")
    return a


def span_basis(X, rtol=1e-10):
    """Orthonormal basis (d, r) of the span of the centred points (columns), ``r`` the rank: the posterior
    covariance of any subset lies in it, so outside it every ``eta`` is exactly 1 (c = 0)."""
    Xc = X - X.mean(axis=0)
    n, d = Xc.shape
    if d > 2 * n:                                                   # rank <= n: from the (n, n) Gram matrix
        ev, U = np.linalg.eigh(Xc @ Xc.T)
        keep = ev > rtol * max(float(ev[-1]), 1e-300)
        B = Xc.T @ (U[:, keep] / np.sqrt(ev[keep]))
    else:
        ev, V = np.linalg.eigh(Xc.T @ Xc)
        keep = ev > rtol * max(float(ev[-1]), 1e-300)
        B = V[:, keep]
    return B[:, ::-1]


def posterior_spectra(Q, T, d2, tau, d, cutoff=40.0):
    """Closed form of the held-out empirical score's spectrum (docs/theory.md section 12), VE/VP alike: for each
    query ``Q[b]`` the weights ``gamma_i = softmax(-d2[b, i] / (2 tau))`` over the training points ``T`` (both in
    the coordinates of the data's span, ``r`` columns), the posterior covariance ``Sigma = sum_i gamma_i (x_i -
    mu)(x_i - mu)^T`` and ``eta = 1 - eig(Sigma) / tau``, padded with ``d - r`` ones (no spread outside the span),
    ascending, shape (B, d). Also ``|mu - q|^2 / tau`` (B,) (FLIPD's score term ``s^2 |score|^2``) and
    ``N_eff = 1 / sum gamma^2`` (B,). Training points whose weight is below ``e^-cutoff/2`` of the nearest one's
    do not enter (``eta`` exact to ~1e-8 at the default); the covariance's eigenvalues come from the smaller of
    the (k, k) Gram matrix of the k kept points and the (r, r) covariance."""
    B, r = Q.shape[0], T.shape[1]
    eta = np.ones((B, d))
    snorm = np.empty(B)
    neff = np.empty(B)
    z = d2 - d2.min(axis=1, keepdims=True)
    for b in range(B):
        keep = np.flatnonzero(z[b] <= cutoff * tau)
        w = np.exp(-z[b, keep] / (2.0 * tau))
        w /= w.sum()
        neff[b] = 1.0 / np.sum(w * w)
        P = T[keep]
        mu = w @ P
        snorm[b] = float(np.sum((mu - Q[b]) ** 2)) / tau
        W = np.sqrt(w)[:, None] * (P - mu)
        ev = np.linalg.eigvalsh(W @ W.T if keep.size < r else W.T @ W)[-min(r, keep.size):]
        eta[b, :ev.size] = 1.0 - ev / tau
    eta.sort(axis=1)
    return eta, snorm, neff
