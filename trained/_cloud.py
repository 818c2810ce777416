"""Checks and grids shared by the dimension estimators (:mod:`trained.estimators`, :mod:`trained.normal_bundle`)."""
from __future__ import annotations

import numpy as np

from rmt._validate import finite_array

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


def _check_X(X, minimum=MIN_SAMPLES):
    X = finite_array("X", X)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n, d), got {X.shape}")
    if X.shape[0] < minimum:
        raise ValueError(f"X must have at least {minimum} points (one query point and two to form a posterior "
                         f"covariance), got {X.shape[0]}")
    return X
