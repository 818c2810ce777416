"""Checks and grids shared by the dimension estimators (:mod:`trained.estimators`, :mod:`trained.normal_bundle`)."""
from __future__ import annotations

import numpy as np

from sklearn.utils.validation import validate_data

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
    try:
        return validate_data(estimator, X, reset=True, dtype=np.float64, ensure_min_samples=minimum,
                             ensure_min_features=min_features)
    except ValueError as e:
        if minimum == MIN_SAMPLES and f"minimum of {minimum} is required" in str(e) and "sample(s)" in str(e):
            raise ValueError(f"{str(e).rstrip('.')}: at least {minimum} points (one query point and two to "
                             "form a posterior covariance)") from None
        raise
