"""The Jacobian engine: one entry point for the Jacobian spectrum of any map ``x -> f(x)`` (THEORY.md 9).

``f`` is a torch module/callable, a JAX callable, or an exact model from :mod:`simulate.models`
(wrapped by :func:`exact_score_torch` / :func:`exact_score_jax`). Methods:

- ``"exact"``: the full Jacobian by batched forward-mode (``vmap(jvp)``) or reverse-mode (``vmap(vjp)``)
  autodiff over (point, basis-vector) pairs, chunked to a memory budget. If a kernel lacks the chosen
  mode the engine retries with the math kernel of ``scaled_dot_product_attention``, then with the
  other mode, then with a plain per-point loop (``info['route']`` says which ran).
- ``"lanczos"``: matrix-free top-``k`` singular triplets from JVP/VJP products only: a restarted block
  Krylov iteration with Rayleigh-Ritz (``solver='krylov'``, default), scipy ``svds`` (ARPACK, implicitly
  restarted Lanczos) on a ``LinearOperator`` (``'arpack'``) or scipy LOBPCG (``'lobpcg'``). Measured in
  tests/benchmarks/test_bench_jacobian.py: the block method needs ~3x more products than ARPACK but
  batches them (vmap), and was 1.6-5x faster on an idle 2-core machine (d = 1024-3072, k = 50);
  LOBPCG was two orders of magnitude slower. Aimed at the denoiser Jacobian (tangent space on top).
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

import inspect
import math
from dataclasses import dataclass, field

import numpy as np

from rmt._validate import finite_array, positive, positive_int
from rmt.schedules import get_schedule
from rmt.spectrum import Spectrum

__all__ = ["jacobian_spectrum", "jacobian", "JacobianResult", "exact_score_torch", "exact_score_jax",
           "as_backend", "METHODS", "OPERATORS", "krylov_svd"]

METHODS = ("exact", "lanczos", "finite-difference")
OPERATORS = ("score", "denoiser", "map")
DEFAULT_BUDGET = 512 * 2 ** 20  # bytes of autodiff intermediates per chunk


# =================================================================================================
# Exact models as torch and JAX callables
# =================================================================================================
def exact_score_torch(model, t, dtype=None):
    """Torch ``nn.Module`` computing the closed-form score of an exact model at process time ``t``.

    ``forward(x)``: (B, d) -> (B, d) (or (d,) -> (d,)), differentiable by torch autograd/torch.func.
    Same formulas as :mod:`simulate.models` (low-rank components or isotropic mixtures).
    """
    import torch

    from simulate.models import ExactModel, GaussianMixtureModel, SubspaceUnionModel
    if not isinstance(model, ExactModel):
        raise ValueError(f"model must be a simulate ExactModel, got {type(model).__name__}")
    dtype = dtype or torch.float64
    a, s2 = model.coefficients(t)
    log2pi = math.log(2 * math.pi)

    class _Score(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("logw", torch.as_tensor(model.log_weights, dtype=dtype))
            self.register_buffer("means", torch.as_tensor(model.means, dtype=dtype))
            if isinstance(model, SubspaceUnionModel):
                self.kind = "subspace"
                for k, (U, lam) in enumerate(zip(model.U, model.lam)):
                    self.register_buffer(f"U{k}", torch.as_tensor(U, dtype=dtype))
                    self.register_buffer(f"lam{k}", torch.as_tensor(lam, dtype=dtype))
                self.K = len(model.U)
            elif isinstance(model, GaussianMixtureModel):
                self.kind = "isotropic"
                self.register_buffer("var", torch.as_tensor(model.variances, dtype=dtype))
            else:
                raise ValueError(f"no torch implementation for {type(model).__name__}")

        def forward(self, x):
            single = x.ndim == 1
            xb = x[None] if single else x
            d = xb.shape[-1]
            if self.kind == "subspace":
                logN, g = [], []
                for k in range(self.K):
                    U, lam = getattr(self, f"U{k}"), getattr(self, f"lam{k}")
                    lt = a * a * lam
                    y = xb - a * self.means[k]
                    p = y @ U
                    resid = y - p @ U.T
                    q = p / (lt + s2)
                    quad = (resid ** 2).sum(-1) / s2 + (p * q).sum(-1)
                    logdet = torch.log(lt + s2).sum() + (d - lam.shape[0]) * math.log(s2)
                    logN.append(-0.5 * (quad + logdet + d * log2pi))
                    g.append(-(resid / s2 + q @ U.T))
                r = torch.softmax(torch.stack(logN, -1) + self.logw, dim=-1)
                out = torch.einsum("bk,kbi->bi", r, torch.stack(g))
            else:
                c = a * a * self.var + s2
                dist2 = ((xb[:, None, :] - a * self.means[None]) ** 2).sum(-1)
                rc = torch.softmax(self.logw - 0.5 * dist2 / c - 0.5 * d * torch.log(c), dim=-1) / c
                out = a * (rc @ self.means) - rc.sum(-1, keepdim=True) * xb
            return out[0] if single else out

    return _Score()


def exact_score_jax(model, t):
    """JAX callable ``x -> score(x, t)`` of an exact model ((d,) or (B, d)), from :mod:`simulate.jax_models`."""
    return model.to_jax().score_fn(t)


# =================================================================================================
# Backends: evaluate f, full Jacobians, and JVP/VJP products at one point (numpy in, numpy out)
# =================================================================================================
def _is_torch_callable(f):
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return isinstance(f, torch.nn.Module)


def _is_jax_callable(f):
    mod = getattr(type(f), "__module__", "") or ""
    fmod = getattr(f, "__module__", "") or ""
    return mod.startswith("jax") or fmod.startswith("jax") or getattr(f, "_specgap_backend", None) == "jax"


class TorchBackend:
    """Torch map ``f`` on points: ``f(x)`` with x (B, d) -> (B, d_out)."""

    name = "torch"

    def __init__(self, f, dtype=None, device=None, budget=DEFAULT_BUDGET, mode="auto"):
        import torch
        self.torch = torch
        self.f = f
        if dtype is None:
            params = list(f.parameters()) + list(f.buffers()) if isinstance(f, torch.nn.Module) else []
            dtype = params[0].dtype if params and params[0].is_floating_point() else torch.float64
        self.dtype = {"float32": torch.float32, "float64": torch.float64}.get(dtype, dtype)
        if self.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        self.device = torch.device(device) if device is not None else _module_device(f)
        self.budget = budget
        if mode not in ("auto", "forward", "reverse"):
            raise ValueError(f"mode must be 'auto', 'forward' or 'reverse', got {mode!r}")
        self.mode = mode
        self.route = None

    def _t(self, a):
        return self.torch.as_tensor(np.ascontiguousarray(a), dtype=self.dtype, device=self.device)

    def _single(self, x):
        return self.f(x[None])[0]

    def eval(self, X):
        with self.torch.no_grad():
            return self.f(self._t(X)).detach().cpu().numpy().astype(float)

    def _bytes_per_pair(self, x):
        """Bytes autograd saves for one point (measured with saved-tensor hooks), a proxy per (point, vector)."""
        torch = self.torch
        total = [0]
        xx = x[None].clone().requires_grad_(True)
        # parameters/buffers are shared by every pair: count only per-sample activations
        shared = set()
        if isinstance(self.f, torch.nn.Module):
            shared = {p.untyped_storage().data_ptr() for p in list(self.f.parameters()) + list(self.f.buffers())}

        def pack(t):
            leaf_param = t.requires_grad and t.is_leaf and t is not xx
            if not leaf_param and t.untyped_storage().data_ptr() not in shared:
                total[0] += t.numel() * t.element_size()
            return t
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = self.f(xx)
        self.d_out = int(out.reshape(-1).shape[0])
        return 4 * (total[0] + (x.numel() + out.numel()) * x.element_size()) + 1024

    def jacobian(self, X):
        """Full Jacobians, shape (B, d_out, d), by chunked vmap(jvp)/vmap(vjp) with automatic fallbacks."""
        torch = self.torch
        Xt = self._t(X)
        B, d = Xt.shape
        per_pair = self._bytes_per_pair(Xt[0])
        d_out = self.d_out
        chunk = max(1, int(self.budget // per_pair))
        # reverse mode shares one forward pass over all output rows and was faster on every network we
        # measured (square maps included, e.g. 80x on a small UNet); forward only when d < d_out
        first = self.mode if self.mode != "auto" else ("forward" if d < d_out else "reverse")
        other = "reverse" if first == "forward" else "forward"
        errors = []
        # the math kernel of scaled_dot_product_attention has forward-AD and vmap batching rules (the fused
        # CPU/GPU kernels lack some), so it is tried first; it is a no-op for modules without attention
        for mode, kernel in ((first, "math"), (first, "default"), (other, "math"), (other, "default"),
                             ("loop", "math")):
            try:
                with _sdpa_context(kernel):
                    J = self._jacobian_mode(Xt, mode, chunk, d_out)
                self.route = f"{mode}/{kernel}" + ("" if not errors else f" (after: {'; '.join(errors)})")
                return J
            except (NotImplementedError, RuntimeError) as e:
                errors.append(f"{mode}/{kernel}: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
        raise RuntimeError("no autodiff route worked: " + " | ".join(errors))

    def _jacobian_mode(self, Xt, mode, chunk, d_out):
        """Rows of ``f`` are independent points (no cross-batch coupling, e.g. eval-mode networks), so one
        batched ``jvp``/``vjp`` of ``f`` over a chunk of points, vmapped over basis vectors, gives every
        point's Jacobian columns/rows at once (the forward pass is shared in reverse mode)."""
        torch = self.torch
        from torch.func import jvp, vjp, vmap
        B, d = Xt.shape
        if mode == "loop":
            out = [torch.autograd.functional.jacobian(self._single, Xt[b]).reshape(d_out, d) for b in range(B)]
            return torch.stack(out).detach().cpu().numpy().astype(float)
        n_basis = d if mode == "forward" else d_out
        Bc = max(1, min(B, chunk))
        Kc = max(1, min(n_basis, chunk // Bc))
        J = np.empty((B, d_out, d))

        def flat(z):
            return self.f(z).reshape(z.shape[0], -1)
        for b0 in range(0, B, Bc):
            Xc = Xt[b0:b0 + Bc]
            nb = Xc.shape[0]
            if mode == "reverse":
                _, pull = vjp(flat, Xc)
                vpull = vmap(lambda u: pull(u)[0])
            for k0 in range(0, n_basis, Kc):
                kk = torch.arange(k0, min(n_basis, k0 + Kc), device=self.device)
                E = torch.zeros((kk.numel(), nb, n_basis), dtype=self.dtype, device=self.device)
                E[torch.arange(kk.numel()), :, kk] = 1.0
                with torch.no_grad():
                    if mode == "forward":
                        cols = vmap(lambda v: jvp(flat, (Xc,), (v,))[1])(E)       # (k, nb, d_out)
                        J[b0:b0 + nb, :, k0:k0 + kk.numel()] = cols.permute(1, 2, 0).cpu().numpy()
                    else:
                        rows = vpull(E)                                           # (k, nb, d)
                        J[b0:b0 + nb, k0:k0 + kk.numel(), :] = rows.permute(1, 0, 2).cpu().numpy()
        return J

    def linear_ops(self, x):
        """``(matmat, rmatmat)`` of the Jacobian at one point ``x`` (d,): V (d, L) -> J V; U (d_out, L) -> J^T U."""
        torch = self.torch
        from torch.func import jvp, vjp, vmap
        xt = self._t(x)
        f1 = self._single
        state = {"kernel": "math"}

        def flat(z):
            return f1(z).reshape(-1)

        def matmat(V):
            Vt = self._t(V).T.contiguous()
            for kernel in dict.fromkeys((state["kernel"], "default")):
                try:
                    with _sdpa_context(kernel), torch.no_grad():
                        out = vmap(lambda v: jvp(flat, (xt,), (v,))[1])(Vt)
                    state["kernel"] = kernel
                    return out.T.cpu().numpy().astype(float)
                except (NotImplementedError, RuntimeError):
                    continue
            # forward mode unavailable: J V = (J^T)^T V via reverse mode on the transposed problem
            return _reverse_matmat(flat, xt, Vt, self)

        with _sdpa_context("math"):
            _, pull = vjp(flat, xt)

        def rmatmat(U):
            Ut = self._t(U).T.contiguous()
            with torch.no_grad():
                return vmap(lambda u: pull(u)[0])(Ut).T.cpu().numpy().astype(float)
        return matmat, rmatmat


def _reverse_matmat(flat, xt, Vt, backend):
    """``J V`` without forward mode: form J^T by VJPs on the output basis, then multiply (fallback)."""
    torch = backend.torch
    from torch.func import jacrev
    with torch.no_grad(), _sdpa_context("math"):
        J = jacrev(flat)(xt)
    return (J @ Vt.T).cpu().numpy().astype(float)


def _module_device(f):
    try:
        import torch
        if isinstance(f, torch.nn.Module):
            for p in list(f.parameters()) + list(f.buffers()):
                return p.device
    except ImportError:  # pragma: no cover
        pass
    return None


class _sdpa_context:
    """Context selecting the math kernel of scaled_dot_product_attention (supports forward AD and vmap)."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.ctx = None

    def __enter__(self):
        if self.kernel == "math":
            from torch.nn.attention import SDPBackend, sdpa_kernel
            self.ctx = sdpa_kernel(SDPBackend.MATH)
            self.ctx.__enter__()
        return self

    def __exit__(self, *exc):
        if self.ctx is not None:
            return self.ctx.__exit__(*exc)
        return False


class JaxBackend:
    """JAX map ``f``: (d,) -> (d_out,) or (B, d) -> (B, d_out) (float64 when x64 is enabled)."""

    name = "jax"

    def __init__(self, f, budget=DEFAULT_BUDGET, mode="auto"):
        import jax
        self.jax = jax
        self.f = f
        self.budget = budget
        self.mode = mode
        self.route = None

    def _single(self, x):
        return self.f(x[None])[0].reshape(-1)

    def eval(self, X):
        return np.asarray(self.f(self.jax.numpy.asarray(X)), dtype=float)

    def jacobian(self, X):
        jax = self.jax
        X = jax.numpy.asarray(X)
        B, d = X.shape
        d_out = int(np.prod(self.jax.eval_shape(self._single, X[0]).shape))
        first = self.mode if self.mode != "auto" else ("forward" if d <= d_out else "reverse")
        chunk = max(1, int(self.budget // (8 * 16 * d * max(d, d_out))))
        errors = []
        for mode in (first, "reverse" if first == "forward" else "forward"):
            jf = jax.jit(jax.vmap((jax.jacfwd if mode == "forward" else jax.jacrev)(self._single)))
            try:
                J = np.concatenate([np.asarray(jf(X[s:s + chunk])) for s in range(0, B, chunk)])
                self.route = mode + ("" if not errors else f" (after: {'; '.join(errors)})")
                return J.reshape(B, d_out, d).astype(float)
            except (NotImplementedError, TypeError, ValueError) as e:  # pragma: no cover - JAX rarely lacks a rule
                errors.append(f"{mode}: {e}")
        raise RuntimeError("no autodiff route worked: " + " | ".join(errors))

    def linear_ops(self, x):
        jax = self.jax
        xj = jax.numpy.asarray(x)
        f1 = self._single
        jv = jax.jit(jax.vmap(lambda v: jax.jvp(f1, (xj,), (v,))[1], in_axes=1, out_axes=1))
        _, pull = jax.vjp(f1, xj)
        vj = jax.jit(jax.vmap(lambda u: pull(u)[0], in_axes=1, out_axes=1))
        return (lambda V: np.asarray(jv(jax.numpy.asarray(V)), dtype=float),
                lambda U: np.asarray(vj(jax.numpy.asarray(U)), dtype=float))


class NumpyBackend:
    """Black-box numpy callable ``f(X)``: (B, d) -> (B, d_out). Finite differences only."""

    name = "numpy"

    def __init__(self, f):
        self.f = f
        self.route = None

    def eval(self, X):
        return np.asarray(self.f(np.asarray(X)), dtype=float)

    def jacobian(self, X):
        raise ValueError("method='exact' needs a torch or JAX callable (or an exact model); "
                         "a plain numpy callable supports method='finite-difference' only")

    linear_ops = jacobian


def as_backend(f, *, t=None, backend=None, dtype=None, device=None, budget=DEFAULT_BUDGET, mode="auto",
               time_arg=None):
    """Wrap ``f`` (torch module/callable, JAX callable, numpy callable or exact model) at time ``t``.

    ``backend``: 'torch' | 'jax' | 'numpy' (default: detected; exact models use torch).
    ``time_arg``: call ``f(x, t)`` with ``t`` the process time as a Python float (default: when ``t`` is
    given and ``f`` takes two positional arguments, e.g. :class:`trained.nets.ScoreModel`). Modules with a
    ``data_shape`` of rank > 1 (images) are evaluated on flat vectors ``(B, prod(data_shape))``.
    """
    from simulate.models import ExactModel
    if isinstance(f, ExactModel):
        if t is None:
            raise ValueError("t must be given for an exact model (its score depends on the process time)")
        if backend in (None, "torch"):
            return TorchBackend(exact_score_torch(f, t, _torch_dtype(dtype)), None, device, budget, mode)
        if backend == "jax":
            return JaxBackend(exact_score_jax(f, t), budget, mode)
        if backend == "numpy":
            return NumpyBackend(lambda X: f.score(X, t))
        raise ValueError(f"backend must be 'torch', 'jax' or 'numpy', got {backend!r}")
    if not callable(f):
        raise ValueError(f"f must be callable or an exact model, got {type(f).__name__}")
    if backend is None:
        backend = "torch" if _is_torch_callable(f) else "jax" if _is_jax_callable(f) else None
        if backend is None:
            raise ValueError("backend must be given ('torch', 'jax' or 'numpy') for a plain callable")
    g = _flattened(f) if backend == "torch" else f
    if t is not None and (time_arg or (time_arg is None and _n_positional(f) >= 2)):
        g = _with_time(g, t, backend)
    if backend == "torch":
        return TorchBackend(g, dtype, device, budget, mode)
    if backend == "jax":
        return JaxBackend(g, budget, mode)
    if backend == "numpy":
        return NumpyBackend(g)
    raise ValueError(f"backend must be 'torch', 'jax' or 'numpy', got {backend!r}")


def _torch_dtype(dtype):
    if dtype is None:
        return None
    import torch
    return {"float32": torch.float32, "float64": torch.float64}.get(dtype, dtype)


def _n_positional(f):
    target = f.forward if hasattr(f, "forward") else f
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return 1
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
               for p in sig.parameters.values())


def _with_time(f, t, backend):
    """``x -> f(x, t)`` with ``t`` passed as a Python float (the convention of trained.nets.ScoreModel)."""
    t = float(t)

    def g(x):
        return f(x, t)
    if backend == "jax":
        g._specgap_backend = "jax"
    return g


def _flattened(f):
    """Networks on shaped data (``f.data_shape``, e.g. images (C, H, W)) as maps on flat vectors (B, d)."""
    shape = tuple(getattr(f, "data_shape", ()) or ())
    if len(shape) <= 1:
        return f
    import torch

    class _Flat(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = f

        def forward(self, x, *rest):
            return self.inner(x.reshape((x.shape[0],) + shape), *rest).reshape(x.shape[0], -1)
    return _Flat()


# =================================================================================================
# Matrix-free top-k singular triplets
# =================================================================================================
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


def _scipy_svds(matmat, rmatmat, d, d_out, k, solver, tol, seed):
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


# =================================================================================================
# The entry point
# =================================================================================================
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


def jacobian(f, x, *, t=None, method="exact", backend=None, dtype=None, device=None, memory_budget=DEFAULT_BUDGET,
             mode="auto", sigma=None, probes=None, central=True, seed=0, time_arg=None, schedule=None):
    """Full Jacobian of ``f`` at the points ``x`` (B, d): array (B, d_out, d) (``t`` fixed, raw ``J``).

    ``method``: 'exact' (autodiff) or 'finite-difference' (see :func:`jacobian_spectrum` for options).
    """
    X = _points(x)
    sch = _schedule_of(f, schedule)
    be = as_backend(f, t=t, backend=backend, dtype=dtype, device=device, budget=memory_budget, mode=mode,
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
    from simulate.models import ExactModel
    if isinstance(f, ExactModel):
        if schedule is not None and get_schedule(schedule) != f.schedule:
            raise ValueError(f"schedule {schedule!r} differs from the model's schedule {f.schedule.name!r}")
        return f.schedule
    if schedule is None and getattr(f, "schedule", None) is not None:
        return get_schedule(f.schedule)
    return get_schedule(schedule or "ve")


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


def jacobian_spectrum(f, x, *, method="exact", t=None, operator=None, k=None, schedule=None,
                      return_vectors=False, backend=None, dtype=None, device=None,
                      memory_budget=DEFAULT_BUDGET, mode="auto", solver="krylov", tol=1e-10, maxiter=100,
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
    schedule : 've'/'vp' for the normalisation (exact models use their own)
    return_vectors : also return singular vectors
    backend, dtype, device : 'torch'|'jax'|'numpy', float32/float64, torch device
    memory_budget : bytes of autodiff intermediates per vmapped chunk (exact)
    mode : 'auto' | 'forward' | 'reverse' (exact)
    solver, tol, maxiter : lanczos solver ('krylov' default, 'arpack', 'lobpcg'), tolerance, restarts (krylov)
    sigma, probes, central : finite-difference step (default ``1e-3 s(t)``), number of probes K (default d),
        central differences (the symmetrised form; default True)
    seed : seeds the random probes / starting blocks

    Returns
    -------
    JacobianResult
    """
    import time as _time
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    X = _points(x)
    P, d = X.shape
    sch = _schedule_of(f, schedule)
    times = None if t is None else np.atleast_1d(finite_array("t", t, positive_values=True))
    if operator is None:
        operator = "map" if times is None else ("denoiser" if method == "lanczos" else "score")
    if operator not in OPERATORS:
        raise ValueError(f"operator must be one of {OPERATORS}, got {operator!r}")
    if (operator == "map") != (times is None):
        raise ValueError(f"operator {operator!r} needs {'no t' if operator == 'map' else 'a time t'}")
    if method == "lanczos":
        if k is None:
            raise ValueError("k must be given for method='lanczos'")
        if solver not in ("krylov", "arpack", "lobpcg"):
            raise ValueError(f"solver must be 'krylov', 'arpack' or 'lobpcg', got {solver!r}")
    if k is not None:
        k = positive_int("k", k)
        if k > d:
            raise ValueError(f"k must be <= d={d}, got {k}")
    tlist = [None] if times is None else [float(tt) for tt in times]
    S_all, U_all, V_all, infos = [], [], [], []
    t0 = _time.perf_counter()
    for tt in tlist:
        be = as_backend(f, t=tt, backend=backend, dtype=dtype, device=device, budget=memory_budget, mode=mode,
                        time_arg=time_arg)
        c0, c1, a = _operator_coeffs(operator, tt, sch)
        Ss, Us, Vs, inf = [], [], [], {}
        if method in ("exact", "finite-difference"):
            J = be.jacobian(X) if method == "exact" else _fd_jacobian(be, X, _fd_sigma(sigma, tt, sch), probes,
                                                                      central, seed)
            if c0 and J.shape[1] != d:
                raise ValueError("operator 'denoiser' needs a square Jacobian (d_out = d)")
            A = c1 * J + (c0 * np.eye(d) if c0 else 0.0)
            if return_vectors:
                U, S, Vt = np.linalg.svd(A)
                n = k or S.shape[-1]
                Ss, Us, Vs = S[:, :n], U[:, :, :n], np.swapaxes(Vt, 1, 2)[:, :, :n]
            else:
                S = np.linalg.svd(A, compute_uv=False)
                Ss = S[:, :(k or S.shape[-1])]
            inf["route"] = be.route if method == "exact" else "finite-difference"
        else:
            res = []
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
                    U, S, V, info = krylov_svd(matmat, rmatmat, d, k, tol=tol, maxiter=maxiter, seed=seed + p)
                else:
                    U, S, V, info = _scipy_svds(matmat, rmatmat, d, d_out, k, solver, tol, seed + p)
                Ss.append(S)
                Us.append(U)
                Vs.append(V)
                res.append(info)
            Ss = np.stack(Ss)
            if return_vectors:
                Us, Vs = np.stack(Us), np.stack(Vs)
            inf = {"solver": solver, "products": [r.get("products") for r in res],
                   "residual": [r.get("residual") for r in res]}
        S_all.append(Ss)
        if return_vectors:
            U_all.append(Us)
            V_all.append(Vs)
        infos.append(inf)
    S = np.stack(S_all, axis=1)                                                # (P, T, n) descending
    if operator == "denoiser":
        a_t = np.array([_operator_coeffs("denoiser", tt, sch)[2] for tt in tlist])
        vals = 1.0 - a_t[None, :, None] * S
    else:
        vals = S
    spec = Spectrum(vals, np.zeros(1) + 1.0 if times is None else times, schedule=sch.name, source="network",
                    kind="singular values",
                    meta={"method": method, "operator": operator, "t_given": times is not None,
                          "values": "1 - a sigma(D')" if operator == "denoiser" else "sigma"})
    out = JacobianResult(spectrum=spec, singular_values=S, method=method, operator=operator,
                         info={"per_time": infos, "seconds": _time.perf_counter() - t0})
    if return_vectors:
        out.left_vectors = np.stack(U_all, axis=1)
        out.right_vectors = np.stack(V_all, axis=1)
    return out
