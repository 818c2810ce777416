"""Sample diversity: the Vendi score (Friedman and Dieng, 2023).

For ``n`` samples with a positive semi-definite similarity ``K`` (``K_ii = 1``), the Vendi score is the
exponential of the Shannon entropy of the eigenvalues ``lambda_i`` of ``K / n``:

    VS = exp(-sum_i lambda_i log lambda_i)

the effective number of distinct samples: ``n`` identical samples give 1, ``n`` mutually orthogonal ones ``n``.
The default similarity is the cosine kernel ``K_ij = <x_i, x_j> / (|x_i| |x_j|)``, whose nonzero eigenvalues
are those of the ``D x D`` Gram matrix of the normalised rows (used when ``D < n``).
"""
from __future__ import annotations

import numpy as np

from rmt.validation import finite_array

__all__ = ["vendi_score"]


def vendi_score(X=None, *, K=None) -> float:
    """Vendi score of samples ``X`` (n, D) under the cosine kernel, or of a given similarity matrix ``K`` (n, n)
    with unit diagonal."""
    if (X is None) == (K is None):
        raise ValueError("give exactly one of X (samples) or K (similarity matrix)")
    if K is not None:
        K = finite_array("K", K)
        if K.ndim != 2 or K.shape[0] != K.shape[1] or not np.allclose(np.diag(K), 1.0, atol=1e-8):
            raise ValueError(f"K must be a square similarity matrix with unit diagonal, got shape {K.shape}")
        lam = np.linalg.eigvalsh(K / K.shape[0])
    else:
        X = finite_array("X", X)
        if X.ndim != 2 or X.shape[0] < 1:
            raise ValueError(f"X must have shape (n, D) with n >= 1, got {X.shape}")
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise ValueError("X has a zero row: the cosine similarity is undefined")
        Y = X / norms / np.sqrt(X.shape[0])
        lam = np.linalg.eigvalsh(Y.T @ Y if Y.shape[1] < Y.shape[0] else Y @ Y.T)
    lam = lam[lam > 1e-12]
    return float(np.exp(-np.sum(lam * np.log(lam))))
