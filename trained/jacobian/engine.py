"""The Jacobian engine: one entry point for the Jacobian spectrum of any map ``x -> f(x)`` (docs/theory.md 9).

``f`` is a torch module/callable, a JAX callable, or an exact model from :mod:`simulate.models`
(through their torch and JAX versions, ``model.to_torch(t)`` / ``model.to_jax()``). Methods:

- ``"exact"``: the full Jacobian by batched forward-mode (``vmap(jvp)``) or reverse-mode (``vmap(vjp)``)
  autodiff over (point, basis-vector) pairs, chunked to ``chunk_bytes`` of intermediates. If a kernel lacks the chosen
  mode the engine retries with the math kernel of ``scaled_dot_product_attention``, then with the
  other mode, then with a plain per-point loop (``info['route']`` says which ran).
- ``"lanczos"``: matrix-free top-``k`` singular triplets from JVP/VJP products only: a restarted block
  Krylov iteration with Rayleigh-Ritz (``solver='krylov'``, default), scipy ``svds`` (ARPACK, implicitly
  restarted Lanczos) on a ``LinearOperator`` (``'arpack'``) or scipy LOBPCG (``'lobpcg'``). The block method
  needs more products than ARPACK but batches them (vmap); ``make bench`` measures both on the same operator
  and prints the ratio (tests/benchmarks/test_bench_jacobian.py). Aimed at the denoiser Jacobian (tangent space on top).
- ``"finite-difference"``: scores at ``x + sigma q_i`` for ``K`` orthonormal probes ``q_i`` (blocks of
  random orthonormal bases), one-sided or central (``central=True``, the symmetrised form), and a
  least-squares fit ``J Q^T = Delta`` (exact for ``K = d`` orthonormal probes).

Operators (``operator``): with ``t`` given, ``f`` is a score at process time ``t``:
``'score'`` -> ``Jn = s(t)^2 J`` (default), ``'denoiser'`` -> ``D' = (I + Jn) / a(t)``; without ``t``
(``'map'``) the raw ``J``. The result holds the singular values in the shared
:class:`rmt.spectrum.Spectrum` container (values ``(points, times, n)``, ascending); for the denoiser
operator the container stores ``1 - a sigma_i(D')`` (equal to ``eta`` for an exact, symmetric score)
and the raw values are in ``JacobianResult.singular_values``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from rmt.validation import finite_array, positive, positive_int
from rmt.schedules import get_schedule
from rmt.spectrum import Spectrum

from .backends import DEFAULT_CHUNK_BYTES, as_backend
from .krylov import krylov_svd, scipy_svds

__all__ = ["jacobian_spectrum", "jacobian", "JacobianResult", "METHODS", "OPERATORS"]

#: how the Jacobian is obtained: exact autodiff columns, Lanczos on products, or finite differences
METHODS = ("exact", "lanczos", "finite-difference")
#: which map is differentiated: ``s^2`` times the score, the denoiser ``(x + s^2 score) / a``, or a user's map
OPERATORS = ("score", "denoiser", "map")

@dataclass
class JacobianResult:
    """Output of :func:`jacobian_spectrum`.

    Attributes
    ----------
    spectrum : Spectrum with values (P, T, n) ascending (see module docstring for the denoiser case)
    singular_values : (P, T, n) raw singular values of the operator, descending
    right_vectors, left_vectors : (P, T, d, n) / (P, T, d_out, n) matching ``singular_values``, or None
    method, operator : str;  info : dict (route, timings, products, residuals)
    """

    spectrum: Spectrum
    singular_values: np.ndarray
    method: str
    operator: str
    right_vectors: np.ndarray | None = None
    left_vectors: np.ndarray | None = None
    info: dict = field(default_factory=dict)


def _operator_coeffs(operator, t, schedule):
    """``A = c0 I + c1 J``: (c0, c1, a)."""
    if operator == "map":
        return 0.0, 1.0, 1.0
    sch = get_schedule(schedule)
    a, s2 = float(sch.a(t)), float(sch.s2(t))
    if operator == "score":
        return 0.0, s2, a
    return 1.0 / a, s2 / a, a


def jacobian(f, x, *, t=None, method="exact", backend=None, dtype=None, device=None, chunk_bytes=DEFAULT_CHUNK_BYTES,
             mode="auto", sigma=None, probes=None, central=True, seed=0, time_arg=None, schedule=None):
    """Full Jacobian of ``f`` at the points ``x`` (B, d): array (B, d_out, d) (``t`` fixed, raw ``J``).

    ``method``: 'exact' (autodiff) or 'finite-difference' (see :func:`jacobian_spectrum` for options).

    Examples
    --------
    >>> import torch
    >>> f = lambda z: torch.stack([z[..., 0] * z[..., 1], z[..., 0] ** 2], -1)   # (x y, x^2)
    >>> jacobian(f, [[1.0, 2.0]], backend="torch").round(6).tolist()              # [[y, x], [2x, 0]]
    [[[2.0, 1.0], [2.0, 0.0]]]
    >>> from simulate import LinearGaussianModel
    >>> model = LinearGaussianModel(np.diag([2.0, 1.0, 0.0])[:, :2])               # C = diag(4, 1, 0)
    >>> np.diag(jacobian(model, np.zeros(3), t=1.0)[0]).round(6).tolist()          # J = -(C + t I)^{-1}
    [-0.2, -0.5, -1.0]
    """
    X = _points(x)
    sch = _schedule_of(f, schedule)
    be = as_backend(f, t=t, backend=backend, dtype=dtype, device=device, chunk_bytes=chunk_bytes, mode=mode,
                    time_arg=time_arg)
    if method == "exact":
        return be.jacobian(X)
    if method == "finite-difference":
        return _fd_jacobian(be, X, _fd_sigma(sigma, t, sch), probes, central, seed)
    raise ValueError(f"method must be 'exact' or 'finite-difference' for full Jacobians, got {method!r}")


def _points(x):
    X = finite_array("x", x)
    if X.ndim == 1:
        X = X[None]
    if X.ndim != 2 or X.shape[1] < 1 or X.shape[0] < 1:
        raise ValueError(f"x must have shape (B, d) or (d,), got {np.shape(x)}")
    return X


def _schedule_of(f, schedule):
    """The schedule of a diffusion model (a different ``schedule`` argument is refused), else ``schedule``."""
    from ..protocol import is_diffusion_model
    from simulate.models import ExactModel
    if isinstance(f, ExactModel) or (is_diffusion_model(f) and f.schedule is not None):
        own = get_schedule(f.schedule)
        if schedule is not None and get_schedule(schedule) != own:
            raise ValueError(f"schedule {schedule!r} differs from the model's schedule {own!r}")
        return own
    if schedule is None and getattr(f, "schedule", None) is not None:
        return get_schedule(f.schedule)
    return get_schedule(schedule or "ve")


def _check_k(method, k, solver, d):
    """``k`` (required for 'lanczos', at most ``d``) and the Lanczos ``solver``, validated."""
    if method == "lanczos":
        if k is None:
            raise ValueError("k must be given for method='lanczos'")
        if solver not in ("krylov", "arpack", "lobpcg"):
            raise ValueError(f"solver must be 'krylov', 'arpack' or 'lobpcg', got {solver!r}")
    if k is not None:
        k = positive_int("k", k)
        if k > d:
            raise ValueError(f"k must be <= d={d}, got {k}")
    return k


def _check_full_memory(P, d, method):
    """Refuse up front full Jacobians (P, d, d) in float64, the operator A and the SVD's work space beyond the
    memory limit (``SPECGAP_MAX_MEMORY`` / ``--max-memory``), saying what fits."""
    from rmt.budget import check_memory
    from rmt.budget import memory_budget as memory_limit      # the refusal limit, not the chunk size
    per_point = 8.0 * 3 * d * d
    check_memory("x", P * per_point, f"full Jacobians of {P} point(s) at d={d} (method={method!r})",
                 f"{int(memory_limit() // per_point)} point(s) at a time fit; or method='lanczos' with k"
                 if memory_limit() >= per_point else "method='lanczos' with k, or projected descriptors")


def _full_svd(J, c0, c1, k, return_vectors):
    """Singular values (and vectors) of ``A = c0 I + c1 J`` for Jacobians J (P, d_out, d): (S, U, V) top ``k``."""
    d = J.shape[2]
    if c0 and J.shape[1] != d:
        raise ValueError("operator 'denoiser' needs a square Jacobian (d_out = d)")
    A = c1 * J + (c0 * np.eye(d) if c0 else 0.0)
    if return_vectors:
        U, S, Vt = np.linalg.svd(A)
        n = k or S.shape[-1]
        return S[:, :n], U[:, :, :n], np.swapaxes(Vt, 1, 2)[:, :, :n]
    S = np.linalg.svd(A, compute_uv=False)
    return S[:, :(k or S.shape[-1])], [], []


def _matrix_free(be, X, c0, c1, k, solver, tol, maxiter, seed, return_vectors):
    """Top-``k`` singular triplets of ``A = c0 I + c1 J`` at each point from the backend's products only."""
    P, d = X.shape
    Ss, Us, Vs, res = [], [], [], []
    tol_p = max(tol, 32 * _working_eps(be))    # float32 products cannot reach 1e-10
    for p in range(P):
        mm, rmm = be.linear_ops(X[p])

        def matmat(V, mm=mm):
            return c1 * mm(V) + (c0 * V if c0 else 0.0)

        def rmatmat(U, rmm=rmm):
            return c1 * rmm(U) + (c0 * U if c0 else 0.0)
        d_out = mm(np.zeros((d, 1))).shape[0]
        if c0 and d_out != d:
            raise ValueError("operator 'denoiser' needs a square Jacobian (d_out = d)")
        if solver == "krylov":
            U, S, V, info = krylov_svd(matmat, rmatmat, d, k, tol=tol_p, maxiter=maxiter, seed=seed + p)
        else:
            U, S, V, info = scipy_svds(matmat, rmatmat, d, d_out, k, solver, tol_p, seed + p)
        Ss.append(S)
        Us.append(U)
        Vs.append(V)
        res.append(info)
    inf = {"solver": solver, "route": be.route, "tol": tol_p, "products": [r.get("products") for r in res],
           "residual": [r.get("residual") for r in res]}
    return np.stack(Ss), (np.stack(Us) if return_vectors else []), (np.stack(Vs) if return_vectors else []), inf


def _working_eps(be):
    """Machine epsilon of the backend's arithmetic (float64 unless the backend runs float32)."""
    dt = getattr(be, "dtype", None)
    if dt is None or str(dt) in ("float64", "torch.float64"):
        return float(np.finfo(np.float64).eps)
    return float(np.finfo(np.float32).eps)


def _fd_sigma(sigma, t, sch):
    if sigma is not None:
        return positive("sigma", sigma)
    return 1e-3 * (math.sqrt(float(sch.s2(t))) if t is not None else 1.0)


def _probe_matrix(d, K, seed):
    """``K`` probes as rows: ``ceil(K/d)`` independent random orthonormal bases, truncated: (K, d)."""
    rng = np.random.default_rng(seed)
    rows = []
    while sum(r.shape[0] for r in rows) < K:
        rows.append(np.linalg.qr(rng.standard_normal((d, d)))[0].T)
    return np.vstack(rows)[:K]


def _fd_jacobian(be, X, sigma, probes, central, seed):
    B, d = X.shape
    K = d if probes is None else positive_int("probes", probes)
    Q = _probe_matrix(d, K, seed)                                        # (K, d)
    Xp = (X[:, None, :] + sigma * Q[None]).reshape(B * K, d)
    Fp = be.eval(Xp).reshape(B, K, -1)
    if central:
        Fm = be.eval((X[:, None, :] - sigma * Q[None]).reshape(B * K, d)).reshape(B, K, -1)
        Delta = (Fp - Fm) / (2 * sigma)
    else:
        Delta = (Fp - be.eval(X)[:, None, :]) / sigma                  # (B, K, d_out)
    # least squares Q J^T = Delta (min-norm for K < d: J restricted to the probed subspace)
    pinv = np.linalg.pinv(Q)                                             # (d, K)
    return np.einsum("dk,bko->bod", pinv, Delta)


def _check_operator(operator, timed: bool, method: str) -> str:
    """The operator to take singular values of: the given one, checked against whether a time is given, or the
    default (``'map'`` without a time, ``'denoiser'`` for Lanczos, else ``'score'``)."""
    if operator is None:
        return "map" if not timed else ("denoiser" if method == "lanczos" else "score")
    if operator not in OPERATORS:
        raise ValueError(f"operator must be one of {OPERATORS}, got {operator!r}")
    if (operator == "map") == timed:
        raise ValueError(f"operator {operator!r} needs {'no t' if operator == 'map' else 'a time t'}")
    return operator


def _spectrum(S, times, tlist, sch, method, operator) -> Spectrum:
    """The container of the singular values ``S`` (P, T, n): ``S`` itself, or ``1 - a sigma(D')`` for the denoiser."""
    if operator == "denoiser":
        a_t = np.array([_operator_coeffs("denoiser", tt, sch)[2] for tt in tlist])
        vals = 1.0 - a_t[None, :, None] * S
    else:
        vals = S
    return Spectrum(vals, np.zeros(1) + 1.0 if times is None else times, schedule=sch, source="network",
                    kind="singular values",
                    meta={"method": method, "operator": operator, "t_given": times is not None,
                          "values": "1 - a sigma(D')" if operator == "denoiser" else "sigma"})


def jacobian_spectrum(f, x, *, method="exact", t=None, operator=None, k=None, schedule=None,
                      return_vectors=False, backend=None, dtype=None, device=None,
                      chunk_bytes=DEFAULT_CHUNK_BYTES, mode="auto", solver="krylov", tol=1e-10, maxiter=100,
                      sigma=None, probes=None, central=True, seed=0, time_arg=None) -> JacobianResult:
    """Singular values of the (normalised) Jacobian of ``f`` at points ``x`` and times ``t``.

    Parameters
    ----------
    f : torch module/callable, JAX callable, numpy callable (finite differences only) or exact model
    x : (P, d) points (or (d,))
    method : 'exact' | 'lanczos' | 'finite-difference'
    t : None, a process time, or a list of times (T,); ``f(x, t)`` is called for time-dependent callables
    operator : 'score' (``Jn = s^2 J``, default when ``t`` is given), 'denoiser' (``(I + Jn)/a``, default
        for ``lanczos``), or 'map' (raw ``J``; the only choice when ``t`` is None)
    k : number of singular values (lanczos: required; exact/fd: keep the top k, default all)
    schedule : ``'ve'`` (default), ``'vp'``, ``'ddpm'``, ``'edm'``, ``'geometric'`` or a
        :class:`~rmt.schedules.Schedule`,
        for the normalisation (exact models and diffusion models use their own)
    return_vectors : also return singular vectors
    backend, dtype, device : 'torch'|'jax'|'numpy', float32/float64, torch device
    chunk_bytes : bytes of autodiff intermediates per vmapped chunk (a chunk size, not the refusal limit of
        :func:`rmt.budget.memory_budget`) (exact)
    mode : 'auto' | 'forward' | 'reverse' (exact)
    solver, tol, maxiter : lanczos solver ('krylov' default, 'arpack', 'lobpcg'), tolerance, restarts (krylov)
    sigma, probes, central : finite-difference step (default ``1e-3 s(t)``), number of probes K (default d),
        central differences (the symmetrised form; default True)
    seed : seeds the random probes / starting blocks

    Returns
    -------
    JacobianResult

    Examples
    --------
    >>> from simulate import LinearGaussianModel
    >>> model = LinearGaussianModel(np.diag([2.0, 1.0, 0.0])[:, :2])      # C = diag(4, 1, 0), VE: eta = t/(lambda + t)
    >>> jacobian_spectrum(model, np.zeros((1, 3)), t=[1.0, 4.0]).spectrum.values.round(6).tolist()  # [1/5, 1/2, 1], ...
    [[[0.2, 0.5, 1.0], [0.5, 0.8, 1.0]]]
    >>> r = jacobian_spectrum(model, np.zeros((1, 3)), t=[1.0], method="lanczos", k=2)   # denoiser: tangent on top
    >>> r.operator, r.spectrum.values.round(6).tolist()
    ('denoiser', [[[0.2, 0.5]]])
    """
    import time as _time
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    X = _points(x)
    P, d = X.shape
    sch = _schedule_of(f, schedule)
    times = None if t is None else sch.check_times(t)
    operator = _check_operator(operator, times is not None, method)
    k = _check_k(method, k, solver, d)
    if method in ("exact", "finite-difference"):
        _check_full_memory(P, d, method)
    tlist = [None] if times is None else [float(tt) for tt in times]
    S_all, U_all, V_all, infos = [], [], [], []
    t0 = _time.perf_counter()
    for tt in tlist:
        be = as_backend(f, t=tt, backend=backend, dtype=dtype, device=device, chunk_bytes=chunk_bytes, mode=mode,
                        time_arg=time_arg)
        c0, c1, a = _operator_coeffs(operator, tt, sch)
        if method in ("exact", "finite-difference"):
            J = be.jacobian(X) if method == "exact" else _fd_jacobian(be, X, _fd_sigma(sigma, tt, sch), probes,
                                                                      central, seed)
            Ss, Us, Vs = _full_svd(J, c0, c1, k, return_vectors)
            inf = {"route": be.route if method == "exact" else "finite-difference"}
        else:
            Ss, Us, Vs, inf = _matrix_free(be, X, c0, c1, k, solver, tol, maxiter, seed, return_vectors)
        S_all.append(Ss)
        if return_vectors:
            U_all.append(Us)
            V_all.append(Vs)
        infos.append(inf)
    S = np.stack(S_all, axis=1)                                                # (P, T, n) descending
    spec = _spectrum(S, times, tlist, sch, method, operator)
    out = JacobianResult(spectrum=spec, singular_values=S, method=method, operator=operator,
                         info={"per_time": infos, "seconds": _time.perf_counter() - t0})
    if return_vectors:
        out.left_vectors = np.stack(U_all, axis=1)
        out.right_vectors = np.stack(V_all, axis=1)
    return out

