"""Random ``F`` matrices of the linear-manifold model and the eigenvalues of ``C = F F^T`` (docs/theory.md 1).

``F`` is ``d x m`` with ``F_ij = sigma_j g_ij / sqrt(d)``, ``g_ij ~ N(0, 1)``, ``m = round(alpha d)``,
column variances ``sigma_j^2`` from :meth:`rmt.VarianceProfile.column_variances` (high variance first).

Three interchangeable backends:

- ``"numpy"`` (reference): draw ``r`` uses ``numpy.random.RandomState(seed_r)`` (MT19937, polar
  Box-Muller), ``seed_r = SeedSequence([seed, r]).generate_state(1)[0]``.
- ``"numba"``: the same generator inside ``njit`` code, so it draws **bit-for-bit the same** ``g`` as
  the numpy reference for the same ``seed``.
- ``"jax"``: ``jax.random.normal(fold_in(PRNGKey(seed), r))`` (threefry), vmapped over draws and
  jit-compiled (GPU when present). A different stream: reproducible, equal in distribution, not
  equal in value. Pass an explicit ``F`` to compare backends on identical matrices.

Draw ``r`` depends only on ``(seed, r)``, never on the number of draws or the chunking.
The JAX backend computes in float64 inside :func:`simulate.jax_x64.x64` (no global JAX setting changes).
"""
from __future__ import annotations

import functools

import sys

import numpy as np

from rmt.budget import check_memory, check_time, memory_budget, time_budget
from rmt.validation import positive_int
from rmt.manifold import LinearManifold
from rmt.profiles import ContinuousProfile

from .jax_x64 import x64

__all__ = ["BACKENDS", "column_variances", "draw_seeds", "chunk_size", "sample_F", "gram_eigenvalues",
           "covariance_eigenvalues", "check_backend"]

#: the array backends that draw ``F`` and its Gram eigenvalues
BACKENDS = ("numpy", "numba", "jax")
_CHUNK_BYTES = 256 * 2 ** 20          # memory budget for a chunk of F matrices


def check_backend(backend: str) -> str:
    """The backend name, lower-cased, if it is one of :data:`BACKENDS` (``ValueError`` naming ``backend``)."""
    b = str(backend).lower()
    if b not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return b


def column_variances(manifold: LinearManifold, d: int) -> np.ndarray:
    """``sigma_j^2`` of the ``m = round(alpha d)`` columns, shape (m,), high variance first.

    A continuous profile is discretised with ``max(8, min(m, 256))`` Gauss-Legendre levels first.
    """
    if not isinstance(manifold, LinearManifold):
        raise ValueError(f"manifold must be an rmt.LinearManifold, got {manifold!r}")
    d = positive_int("d", d)
    m = manifold.latent_dim(d)
    if m < 1:
        raise ValueError(f"alpha * d must round to at least 1 latent direction, got alpha={manifold.alpha}, d={d}")
    prof = manifold.profile
    if isinstance(prof, ContinuousProfile):
        prof = prof.discretize(max(8, min(m, 256)))
    return prof.column_variances(m)


def draw_seeds(seed: int, draws: int, start: int = 0) -> np.ndarray:
    """32-bit seeds of draws ``start`` to ``start + draws - 1``: ``SeedSequence([seed, r]).generate_state(1)``."""
    seed = positive_int("seed", seed, minimum=0)
    draws = positive_int("draws", draws)
    return np.array([np.random.SeedSequence([seed, r]).generate_state(1)[0]
                     for r in range(start, start + draws)], dtype=np.uint32)


def chunk_size(d: int, m: int, draws: int) -> int:
    """Draws per chunk: balanced chunks of at most ``256 MB`` of ``F`` (JAX compiles one shape per size)."""
    cap = max(1, min(draws, _CHUNK_BYTES // (8 * d * m)))
    n_chunks = -(-draws // cap)
    return -(-draws // n_chunks)


# -- numpy reference -------------------------------------------------------------------------------
def _numpy_F(seeds, d, sig):
    out = np.empty((len(seeds), d, sig.size))
    for i, s in enumerate(seeds):
        out[i] = np.random.RandomState(int(s)).standard_normal((d, sig.size))
    out *= sig / np.sqrt(d)
    return out


def _numpy_gram_eigs(F):
    """Eigenvalues of the smaller Gram matrix, batched: (B, d, m) -> (B, min(d, m)), descending, >= 0."""
    d, m = F.shape[-2:]
    G = np.swapaxes(F, -1, -2) @ F if m <= d else F @ np.swapaxes(F, -1, -2)
    lam = np.linalg.eigvalsh(G)[..., ::-1]
    return np.maximum(lam, 0.0)


# -- numba ----------------------------------------------------------------------------------------
@functools.cache
def _numba_kernels():
    """The numba kernels (``fill_F``, ``gram_eigs``, ``draw_eigs``), compiled on first use."""
    import numba

    @numba.njit(cache=True)
    def fill_F(seed, d, scale):
        np.random.seed(seed)
        m = scale.size
        F = np.empty((d, m))
        for i in range(d):                      # row-major order = numpy's (d, m) fill order
            for j in range(m):
                F[i, j] = np.random.standard_normal() * scale[j]
        return F

    @numba.njit(cache=True)
    def gram_eigs(F):
        d, m = F.shape
        if m <= d:
            G = np.dot(F.T.copy(), F)
        else:
            G = np.dot(F, F.T.copy())
        lam = np.linalg.eigvalsh(G)[::-1].copy()
        for i in range(lam.size):
            if lam[i] < 0.0:
                lam[i] = 0.0
        return lam

    @numba.njit(cache=True)
    def draw_eigs(seed, d, scale):
        return gram_eigs(fill_F(seed, d, scale))

    return {"fill_F": fill_F, "gram_eigs": gram_eigs, "draw_eigs": draw_eigs}


def _numba_F(seeds, d, sig):
    k = _numba_kernels()
    out = np.empty((len(seeds), d, sig.size))
    for i, s in enumerate(seeds):
        out[i] = k["fill_F"](np.uint32(s), d, sig / np.sqrt(d))
    return out


def _numba_gram_eigs(F):
    k = _numba_kernels()
    Fb = np.ascontiguousarray(F.reshape((-1,) + F.shape[-2:]))
    lam = np.stack([k["gram_eigs"](f) for f in Fb])
    return lam.reshape(F.shape[:-2] + lam.shape[-1:])


# -- JAX ------------------------------------------------------------------------------------------
@functools.cache
def _jax_kernels():
    """JAX, ``jax.numpy``, the jitted kernels per ``d`` (``kernels(d)``, one compilation per ``d``) and the
    batched Gram eigenvalues, built on first use."""
    import jax
    import jax.numpy as jnp

    def one_F(key, r, d, scale):
        g = jax.random.normal(jax.random.fold_in(key, r), (d, scale.size), dtype=jnp.float64)
        return g * scale

    def one_eigs(F):
        d, m = F.shape
        G = F.T @ F if m <= d else F @ F.T
        return jnp.maximum(jnp.linalg.eigvalsh(G)[::-1], 0.0)

    def make(d):
        @jax.jit
        def fF(key, rs, scale):
            return jax.vmap(lambda r: one_F(key, r, d, scale))(rs)

        @jax.jit
        def fE(key, rs, scale):
            return jax.vmap(lambda r: one_eigs(one_F(key, r, d, scale)))(rs)
        return fF, fE

    return {"jax": jax, "jnp": jnp, "kernels": functools.cache(make), "eigs": jax.jit(jax.vmap(one_eigs))}


def _jax_F(seed, rs, d, sig):
    k = _jax_kernels()
    fF, _ = k["kernels"](d)
    with x64():                                     # float64 for this computation only
        key = k["jax"].random.PRNGKey(seed)
        return np.asarray(fF(key, k["jnp"].asarray(rs), k["jnp"].asarray(sig / np.sqrt(d))))


def _jax_gram_eigs(F):
    k = _jax_kernels()
    Fb = F.reshape((-1,) + F.shape[-2:])
    with x64():
        lam = np.asarray(k["eigs"](k["jnp"].asarray(Fb)))
    return lam.reshape(F.shape[:-2] + lam.shape[-1:])


# -- public API -----------------------------------------------------------------------------------
def sample_F(manifold: LinearManifold, d: int, draws: int = 1, seed: int = 0, backend: str = "numpy",
             start: int = 0) -> np.ndarray:
    """Draw ``F`` matrices: ``F_ij = sigma_j g_ij / sqrt(d)``.

    Parameters
    ----------
    manifold : rmt.LinearManifold (``alpha`` and the variance profile)
    d : ambient dimension;  draws : number of draws ``R``;  seed : int >= 0
    backend : 'numpy' | 'numba' | 'jax' (numpy and numba give identical values)
    start : index of the first draw (draw ``r`` depends only on ``seed`` and ``r``)

    Returns
    -------
    ndarray, shape (R, d, m), float64.

    Examples
    --------
    >>> from rmt import LinearManifold, VarianceProfile
    >>> M = LinearManifold(0.25, VarianceProfile.single(2.0))
    >>> F = sample_F(M, d=400, draws=2, seed=0)
    >>> F.shape                                                  # m = alpha d = 100 columns
    (2, 400, 100)
    >>> lam = np.linalg.eigvalsh(F[0].T @ F[0])                  # nonzero eigenvalues of C = F F^T
    >>> bool(0.45 < lam.min() and lam.max() < 4.6)               # MP edges s(1 -+ sqrt(alpha))^2 = 0.5, 4.5
    True
    >>> np.array_equal(F[1], sample_F(M, 400, draws=1, seed=0, start=1)[0])   # draw r depends on (seed, r) only
    True
    """
    backend = check_backend(backend)
    sig = np.sqrt(column_variances(manifold, d))
    draws = positive_int("draws", draws)
    start = positive_int("start", start, minimum=0)
    if backend == "jax":
        return _jax_F(positive_int("seed", seed, minimum=0), np.arange(start, start + draws), d, sig)
    seeds = draw_seeds(seed, draws, start)
    return (_numpy_F if backend == "numpy" else _numba_F)(seeds, d, sig)


def gram_eigenvalues(F, backend: str = "numpy") -> np.ndarray:
    """Eigenvalues of ``C = F F^T`` from the smaller Gram matrix (``F^T F`` if ``m <= d``).

    Parameters
    ----------
    F : array, shape (..., d, m)

    Returns
    -------
    ndarray, shape (..., min(d, m)): the nonzero-part eigenvalues, descending, clipped at 0. The other
    ``d - min(d, m)`` eigenvalues of ``C`` are exactly 0.
    """
    backend = check_backend(backend)
    F = np.asarray(F, dtype=float)
    if F.ndim < 2 or F.shape[-1] < 1 or F.shape[-2] < 1:
        raise ValueError(f"F must have shape (..., d, m), got {F.shape}")
    if not np.all(np.isfinite(F)):
        raise ValueError("F must be finite")
    return {"numpy": _numpy_gram_eigs, "numba": _numba_gram_eigs, "jax": _jax_gram_eigs}[backend](F)


def covariance_eigenvalues(manifold: LinearManifold, d: int, draws: int = 1, seed: int = 0,
                           backend: str = "numpy", progress: bool = False) -> np.ndarray:
    """Sample ``F`` and diagonalise its small Gram matrix, streaming over draws (``F`` is never all in memory).

    Returns
    -------
    ndarray, shape (R, min(d, m)): eigenvalues of ``C`` (covariance units), descending per draw; the
    remaining ``d - min(d, m)`` eigenvalues are 0. Same values as
    ``gram_eigenvalues(sample_F(...), backend)``.
    """
    backend = check_backend(backend)
    sig = np.sqrt(column_variances(manifold, d))
    draws = positive_int("draws", draws)
    m = sig.size
    # one draw holds F (d x m) and its Gram matrix (min(d, m)^2), float64
    one = 8.0 * (d * m + min(d, m) ** 2)
    check_memory("d", one, f"one draw at d={d} (F is {d} x {m})",
                 f"d up to about {int(np.sqrt(memory_budget() / 8 / (manifold.alpha + min(manifold.alpha, 1) ** 2)))} fits")
    # time: F^T F (2 d m k flops) and the eigenvalues of the k x k Gram matrix (~10 k^3), k = min(d, m), at a
    # conservative 5 GFLOP/s (measured 6-11 on the 2-core reference machine)
    k = min(d, m)
    per_draw = (2.0 * d * m * k + 10.0 * k ** 3) / 5e9
    check_time("draws", draws * per_draw, f"{draws} draws at d={d} (F is {d} x {m})",
               f"{max(int(time_budget() // per_draw), 0)} draws fit at this d")
    if progress and draws * per_draw > 10:
        sys.stderr.write(f"{draws} draws at d={d}: about {draws * per_draw:.0f} s ({per_draw:.1f} s each)\n")
    out = np.empty((draws, min(d, m)))
    bar = _bar(draws, progress, f"F draws ({backend}, d={d})")
    if backend == "numba":
        k = _numba_kernels()
        scale = sig / np.sqrt(d)
        for i, s in enumerate(draw_seeds(seed, draws)):
            out[i] = k["draw_eigs"](np.uint32(s), d, scale)
            bar.update(1)
    else:
        step = chunk_size(d, m, draws)
        if backend == "jax":
            kj = _jax_kernels()
            _, fE = kj["kernels"](d)
            with x64():
                key = kj["jax"].random.PRNGKey(positive_int("seed", seed, minimum=0))
        for a in range(0, draws, step):
            b = min(draws, a + step)
            if backend == "jax":                    # always `step` draws: one compiled shape (float64 inside x64)
                with x64():
                    lam = np.asarray(fE(key, kj["jnp"].arange(a, a + step), kj["jnp"].asarray(sig / np.sqrt(d))))
                out[a:b] = lam[:b - a]
            else:
                out[a:b] = _numpy_gram_eigs(_numpy_F(draw_seeds(seed, b - a, a), d, sig))
            bar.update(b - a)
    bar.close()
    return out


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _bar(total, progress, desc):
    if not progress:
        return _NoBar()
    import sys

    from tqdm import tqdm
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False)
