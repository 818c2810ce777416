"""Exact-score Jacobian spectra of the linear-Gaussian model, many draws x many times (docs/theory.md 2).

The normalised Jacobian ``Jn = s^2 J_t = -s^2 (a^2 C + s^2 I)^{-1}`` has the eigenvalues ``-eta`` with

    eta = tau / (lambda + tau),      tau = s(t)^2 / a(t)^2   (VE: tau = t; VP: tau = e^{2t} - 1),

``lambda`` the eigenvalues of ``C = F F^T``: the ``min(d, m)`` eigenvalues of the small Gram matrix
plus ``d - min(d, m)`` exact zeros (``eta = 1``, the spike). One eigendecomposition per draw serves
every time; no ``d x d`` matrix is formed or diagonalised per time.
"""
from __future__ import annotations

import functools

import numpy as np

from rmt.validation import finite_array, positive_int
from rmt.manifold import LinearManifold
from rmt.mp import eta_of_lambda
from rmt.schedules import get_schedule
from rmt.spectrum import Spectrum

from .jax_x64 import x64
from .fmatrix import (
    check_backend,
    column_variances,
    covariance_eigenvalues,
    gram_eigenvalues,
)

__all__ = ["eta_from_eigenvalues", "spectra_from_eigenvalues", "spectra_from_F", "simulate_spectra"]

@functools.cache
def _numba_eta():
    """The numba kernel of :func:`eta_from_eigenvalues`, compiled on first use (numba's disk cache keeps it)."""
    import numba
    eta = numba.njit(eta_of_lambda)                   # the one eta map, compiled for scalars

    @numba.njit(cache=True)
    def kernel(lam_desc, tau, out):
        R, k = lam_desc.shape
        T, d = out.shape[1], out.shape[2]
        for r in range(R):
            for i in range(T):
                ti = tau[i]
                for j in range(k):
                    out[r, i, j] = eta(lam_desc[r, j], ti)
                for j in range(k, d):
                    out[r, i, j] = 1.0
    return kernel


@functools.cache
def _jax_eta_kernel():
    """The jitted JAX eta map over (draws, times, values) and ``jax.numpy``, built on first use."""
    import jax
    import jax.numpy as jnp

    @jax.jit
    def f(lam, tau):
        return eta_of_lambda(lam[:, None, :], tau[None, :, None])
    return f, jnp


def _jax_eta(lam_desc, tau, d):
    f, jnp = _jax_eta_kernel()
    with x64():                                     # float64 for this computation only
        eta = np.asarray(f(jnp.asarray(lam_desc), jnp.asarray(tau)))
    if d > lam_desc.shape[1]:
        eta = np.concatenate([eta, np.ones(eta.shape[:2] + (d - lam_desc.shape[1],))], axis=-1)
    return eta


def eta_from_eigenvalues(lam, tau, d: int, backend: str = "numpy") -> np.ndarray:
    """``eta = tau / (lambda + tau)`` (:func:`rmt.mp.eta_of_lambda`) for every draw and time, with ``d - k``
    values 1 for the zeros.

    Parameters
    ----------
    lam : array, shape (R, k) (or (k,)), ``k <= d``: eigenvalues of ``C`` (covariance units, >= 0),
        any order; the other ``d - k`` eigenvalues are 0.
    tau : array, shape (T,): effective noise (``tau`` units, not ``t``).
    d : ambient dimension.

    Returns
    -------
    ndarray, shape (R, T, d), sorted ascending along the last axis.
    """
    backend = check_backend(backend)
    lam = finite_array("lam", lam)
    lam = lam[None] if lam.ndim == 1 else lam
    if lam.ndim != 2:
        raise ValueError(f"lam must have shape (R, k), got {lam.shape}")
    if np.any(lam < 0):
        raise ValueError("lam must be >= 0 (eigenvalues of C)")
    tau = np.atleast_1d(finite_array("tau", tau))
    if tau.ndim != 1 or np.any(tau <= 0):
        raise ValueError(f"tau must be a 1-d array of values > 0, got {tau!r}")
    d = positive_int("d", d)
    if lam.shape[1] > d:
        raise ValueError(f"lam has {lam.shape[1]} eigenvalues per draw, more than d={d}")
    lam_desc = np.ascontiguousarray(-np.sort(-lam, axis=1))      # descending lambda -> ascending eta
    if backend == "jax":
        return _jax_eta(lam_desc, tau, d)
    out = np.empty((lam.shape[0], tau.size, d))
    if backend == "numba":
        _numba_eta()(lam_desc, np.ascontiguousarray(tau), out)
        return out
    k = lam.shape[1]
    out[:, :, :k] = eta_of_lambda(lam_desc[:, None, :], tau[None, :, None])
    out[:, :, k:] = 1.0
    return out


def spectra_from_eigenvalues(lam, t, d: int, schedule="ve", backend: str = "numpy",
                             meta: dict | None = None) -> Spectrum:
    """Spectrum container from covariance eigenvalues: ``values`` (R, T, d) of ``eta`` at process times ``t``.

    Parameters
    ----------
    lam : (R, k) covariance eigenvalues;  t : (T,) process times (converted with ``schedule``)
    """
    sch = get_schedule(schedule)
    t = np.atleast_1d(np.asarray(t, dtype=float))
    eta = eta_from_eigenvalues(lam, sch.tau(t), d, backend)
    return Spectrum(eta, t, schedule=sch, source="simulation", meta=dict(meta or {}))


def spectra_from_F(F, t, schedule="ve", backend: str = "numpy") -> Spectrum:
    """Exact-score spectra for given ``F`` matrices, shape (R, d, m) or (d, m): values (R, T, d)."""
    F = np.asarray(F, dtype=float)
    if F.ndim == 2:
        F = F[None]
    if F.ndim != 3:
        raise ValueError(f"F must have shape (R, d, m) or (d, m), got {F.shape}")
    lam = gram_eigenvalues(F, backend)
    return spectra_from_eigenvalues(lam, t, F.shape[1], schedule, backend,
                                    meta={"d": F.shape[1], "m": F.shape[2], "backend": backend})


def simulate_spectra(manifold: LinearManifold, d: int, t, draws: int = 1, seed: int = 0,
                     backend: str = "numpy", schedule="ve", progress: bool = False,
                     return_eigenvalues: bool = False):
    """Sample ``R`` matrices ``F`` and return the exact-score spectra of ``-Jn`` at every time.

    Parameters
    ----------
    manifold : rmt.LinearManifold;  d : ambient dimension;  t : (T,) process times
    draws : ``R``;  seed : int >= 0;  backend : 'numpy' | 'numba' | 'jax'
    schedule : ``'ve'`` (default), ``'vp'``, ``'ddpm'``, ``'edm'``, ``'geometric'`` or a
        :class:`~rmt.schedules.Schedule`
    progress : tqdm bar on stderr over draws
    return_eigenvalues : also return the covariance eigenvalues (R, min(d, m)), descending

    Returns
    -------
    rmt.Spectrum with ``values`` (= ``eta``) of shape (R, T, d) [, eigenvalues].

    Examples
    --------
    >>> from rmt import LinearManifold, VarianceProfile
    >>> M = LinearManifold(0.25, VarianceProfile.single(2.0))   # lambda in [0.5, 4.5], atom 3/4 at 0
    >>> sp = simulate_spectra(M, d=400, t=[0.5, 5.0], draws=2, seed=0)
    >>> sp.values.shape
    (2, 2, 400)
    >>> v = sp.values[:, 0]                                      # tau = 0.5: bulk [tau/(4.5+tau), tau/(0.5+tau)]
    >>> float(np.mean(v == 1.0)), bool(abs(v[:, 0].mean() - 0.1) < 0.01 and abs(v[:, 99].mean() - 0.5) < 0.02)
    (0.75, True)
    """
    backend = check_backend(backend)
    sch = get_schedule(schedule)
    t = np.atleast_1d(np.asarray(t, dtype=float))
    sch.tau(t)                                        # validates t before the expensive part
    d = positive_int("d", d)
    seed = positive_int("seed", seed, minimum=0)
    m = column_variances(manifold, d).size
    lam = covariance_eigenvalues(manifold, d, draws, seed, backend, progress)
    meta = {"alpha": manifold.alpha, "profile": manifold.profile.as_dict(), "d": d, "m": m,
            "draws": int(draws), "seed": int(seed), "backend": backend}
    spec = spectra_from_eigenvalues(lam, t, d, sch, backend, meta)
    return (spec, lam) if return_eigenvalues else spec
