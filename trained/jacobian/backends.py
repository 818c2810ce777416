"""Backends of the Jacobian engine: evaluate a map, its full Jacobian, and JVP/VJP products at one point,
numpy in and numpy out, for torch modules/callables, JAX callables, numpy black boxes and the exact
models of :mod:`simulate.models` (through their torch and JAX versions, :mod:`simulate.models_torch`,
:mod:`simulate.models_jax`).
"""
from __future__ import annotations

import inspect
import warnings
import weakref

import numpy as np

__all__ = ["TorchBackend", "JaxBackend", "NumpyBackend", "as_backend", "DEFAULT_CHUNK_BYTES"]

#: bytes of autodiff intermediates per chunk of Jacobian columns (``chunk_bytes`` default)
DEFAULT_CHUNK_BYTES = 512 * 2 ** 20
#: fewest columns per chunk for which the matrix-free products are vmapped (fewer: the batch-axis route)
VMAP_MIN_COLUMNS = 8

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

    def __init__(self, f, dtype=None, device=None, chunk_bytes=DEFAULT_CHUNK_BYTES, mode="auto", key=None):
        import torch
        self.torch = torch
        self.f = f
        if dtype is None:
            dtype = _param_dtype(f) or torch.float64
        self.dtype = {"float32": torch.float32, "float64": torch.float64}.get(dtype, dtype)
        if self.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        self.device = torch.device(device) if device is not None else _module_device(f)
        self.chunk_bytes = chunk_bytes
        if mode not in ("auto", "forward", "reverse"):
            raise ValueError(f"mode must be 'auto', 'forward' or 'reverse', got {mode!r}")
        self.mode = mode
        self.route = None
        self._key = key if key is not None else f
        self._known_route = _route_of(self._key)

    def _t(self, a):
        return self.torch.as_tensor(np.ascontiguousarray(a), dtype=self.dtype, device=self.device)

    def _single(self, x):
        return self.f(x[None])[0]

    def eval(self, X):
        """``f(X)`` for numpy ``X`` (B, d) as float64 numpy (B, d_out), without gradients."""
        with self.torch.no_grad():
            return self.f(self._t(X)).detach().cpu().numpy().astype(float)

    def _bytes_per_pair(self, x):
        """Bytes autograd saves for one point (measured with saved-tensor hooks), a proxy per (point, vector)."""
        torch = self.torch
        total = [0]
        xx = x[None].clone().requires_grad_(True)
        # parameters/buffers are shared by every pair: count only per-sample activations
        shared = set()
        module = self._key if isinstance(self._key, torch.nn.Module) else getattr(self._key, "module", self.f)
        if isinstance(module, torch.nn.Module):
            shared = {p.untyped_storage().data_ptr() for p in list(module.parameters()) + list(module.buffers())}

        def pack(t):
            leaf_param = t.requires_grad and t.is_leaf and t is not xx
            if not leaf_param and t.untyped_storage().data_ptr() not in shared:
                total[0] += t.numel() * t.element_size()
            return t
        # measured with the math attention kernel, the one the vmapped routes use: it saves the attention
        # matrices the fused kernels do not (6.5x more per pair on a 3x64x64 attention UNet)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), _sdpa_context("math"):
            out = self.f(xx)
        self.d_out = int(out.reshape(-1).shape[0])
        return 4 * (total[0] + (x.numel() + out.numel()) * x.element_size()) + 1024

    def jacobian(self, X):
        """Full Jacobians, shape (B, d_out, d), by chunked vmap(jvp)/vmap(vjp) with automatic fallbacks."""
        Xt = self._t(X)
        B, d = Xt.shape
        per_pair = self._bytes_per_pair(Xt[0])
        d_out = self.d_out
        chunk = max(1, int(self.chunk_bytes // per_pair))
        # reverse mode shares one forward pass over all output rows (make bench prints reverse vs forward
        # on an MLP and a small UNet); forward only when d < d_out
        first = self.mode if self.mode != "auto" else ("forward" if d < d_out else "reverse")
        other = "reverse" if first == "forward" else "forward"
        errors = []
        # the math kernel of scaled_dot_product_attention has forward-AD and vmap batching rules (the fused
        # CPU/GPU kernels lack some), so it is tried first; it is a no-op for modules without attention.
        # Models whose kernels have no vmap rule (diffusers' attention UNets) take the vmap-free routes:
        # the network's own batch axis carries the basis vectors ('batch-*').
        routes = [(first, "math"), (first, "default"), (other, "math"), (other, "default"),
                  ("batch-reverse", "math"), ("batch-forward", "math"), ("loop", "math")]
        if self._known_route is not None:
            routes.insert(0, self._known_route)
        for mode, kernel in routes:
            try:
                with _sdpa_context(kernel):
                    J = self._jacobian_mode(Xt, mode, chunk, d_out)
                self.route = f"{mode}/{kernel}" + ("" if not errors else f" (after: {'; '.join(errors)})")
                _remember(self._key, (mode, kernel))
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
        if mode.startswith("batch-"):
            return self._jacobian_batched(Xt, mode[6:], chunk, d_out)
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
                if mode == "forward":
                    with torch.no_grad():
                        cols = vmap(lambda v: jvp(flat, (Xc,), (v,))[1])(E)       # (k, nb, d_out)
                    J[b0:b0 + nb, :, k0:k0 + kk.numel()] = cols.permute(1, 2, 0).cpu().numpy()
                else:
                    # no no_grad() here: under it, vmapped convolution backward of some models (diffusers'
                    # UNets) fails with "NYI: querying is_contiguous inside of vmap"
                    rows = vpull(E).detach()                                      # (k, nb, d)
                    J[b0:b0 + nb, k0:k0 + kk.numel(), :] = rows.permute(1, 0, 2).cpu().numpy()
        return J

    def _flat(self, z):
        return self.f(z).reshape(z.shape[0], -1)

    def _products(self, Xrep, V, mode):
        """Rows of ``J(x_i) v_i`` (forward) or ``J(x_i)^T v_i`` (reverse) for a batch of (point, vector) pairs
        stacked on the network's own batch axis: ``Xrep`` (N, d), ``V`` (N, d) or (N, d_out) -> (N, d_out) / (N, d).
        No vmap: one forward (+ one backward) pass of the network on N inputs. ``'double-reverse'`` is ``J v``
        without forward AD: the derivative of the linear map ``u -> J^T u`` in ``u`` (a double backward)."""
        torch = self.torch
        if mode == "forward":
            from torch.func import jvp
            with torch.no_grad():
                return jvp(self._flat, (Xrep,), (V,))[1]
        with torch.enable_grad():
            z = Xrep.detach().requires_grad_(True)
            out = self._flat(z)
            if mode == "reverse":
                return torch.autograd.grad(out, z, V)[0].detach()
            u = torch.zeros_like(out, requires_grad=True)
            g = torch.autograd.grad(out, z, u, create_graph=True)[0]
            return torch.autograd.grad(g, u, V)[0].detach()

    def _jacobian_batched(self, Xt, mode, chunk, d_out):
        """Full Jacobians with the basis vectors on the batch axis (vmap-free route): each pass evaluates
        the network on up to ``chunk`` copies of the points with one basis vector each."""
        torch = self.torch
        B, d = Xt.shape
        n_basis = d if mode == "forward" else d_out
        J = np.empty((B, d_out, d))
        pairs = [(b, k) for b in range(B) for k in range(n_basis)]
        for p0 in range(0, len(pairs), max(1, chunk)):
            pb = torch.tensor(pairs[p0:p0 + max(1, chunk)], device=self.device)
            E = torch.zeros((pb.shape[0], n_basis), dtype=self.dtype, device=self.device)
            E[torch.arange(pb.shape[0]), pb[:, 1]] = 1.0
            R = self._products(Xt[pb[:, 0]], E, mode).cpu().numpy()
            b_idx, k_idx = pb[:, 0].cpu().numpy(), pb[:, 1].cpu().numpy()
            if mode == "forward":
                J[b_idx, :, k_idx] = R
            else:
                J[b_idx, k_idx, :] = R
        return J

    def linear_ops(self, x):
        """``(matmat, rmatmat)`` of the Jacobian at one point ``x`` (d,): V (d, L) -> J V; U (d_out, L) -> J^T U.

        Products run vmapped over the columns when the model's kernels allow it and at least
        ``VMAP_MIN_COLUMNS`` columns fit the budget, otherwise (and then for the rest of the run) on the
        network's batch axis, ``chunk_bytes`` bytes at a time (``self.route``). Large models go to the batch axis:
        a vmapped double backward of one column of a 3x64x64 attention UNet exceeded 20 GB."""
        fits = int(self.chunk_bytes // self._bytes_per_pair(self._t(x)))
        if fits < VMAP_MIN_COLUMNS:
            _remember(self._key, "batch", "ops")
        if _route_of(self._key, "ops") != "batch":
            try:
                mm, rmm = self._vmap_ops(x)
                rmm(mm(np.eye(x.shape[0], 1)))                 # probe both products once
                self.route = "vmap"
                return mm, rmm
            except (NotImplementedError, RuntimeError):
                _remember(self._key, "batch", "ops")
        return self._batched_ops(x)

    def _batched_ops(self, x):
        torch = self.torch
        xt = self._t(x)
        chunk = max(1, int(self.chunk_bytes // self._bytes_per_pair(xt)))
        state = {"forward": True}

        def run(M, mode):
            Mt = self._t(M).T.contiguous()                                  # (L, n)
            out = []
            step = max(1, chunk // 2) if mode == "double-reverse" else chunk
            for c0 in range(0, Mt.shape[0], step):
                Mc = Mt[c0:c0 + step]
                with _sdpa_context("math"):
                    out.append(self._products(xt[None].expand(Mc.shape[0], -1).contiguous(), Mc, mode))
            return torch.cat(out).T.cpu().numpy().astype(float)

        def matmat(V):
            if state["forward"]:
                try:
                    return run(V, "forward")
                except (NotImplementedError, RuntimeError):
                    state["forward"] = False          # forward AD missing: J V by a double backward
            return run(V, "double-reverse")

        def rmatmat(U):
            return run(U, "reverse")
        self.route = "batch"
        return matmat, rmatmat

    def _vmap_ops(self, x):
        """Products vmapped over the columns; ``J V`` by forward mode, or (no forward AD, e.g. fused attention)
        by a double backward: the VJP of the linear map ``u -> J^T u``."""
        torch = self.torch
        from torch.func import jvp, vjp, vmap
        xt = self._t(x)
        chunk = max(1, int(self.chunk_bytes // self._bytes_per_pair(xt)))
        state = {"forward": True}

        def flat(z):
            return self._single(z).reshape(-1)

        with _sdpa_context("math"):
            out0, pull = vjp(flat, xt)

        def jt(u):
            return pull(u)[0]

        def jv_double(v):
            return vjp(jt, torch.zeros_like(out0))[1](v)[0]

        def matmat(V):
            Vt = self._t(V).T.contiguous()
            with _sdpa_context("math"):
                if state["forward"]:
                    try:
                        with torch.no_grad():
                            out = vmap(lambda v: jvp(flat, (xt,), (v,))[1], chunk_size=chunk)(Vt)
                        return out.T.cpu().numpy().astype(float)
                    except (NotImplementedError, RuntimeError):
                        state["forward"] = False
                # a double backward keeps the graph of the first: half the columns per chunk
                out = vmap(jv_double, chunk_size=max(1, chunk // 2))(Vt).detach()
            return out.T.cpu().numpy().astype(float)

        def rmatmat(U):
            with _sdpa_context("math"):                  # no no_grad(): see _jacobian_mode
                out = vmap(jt, chunk_size=chunk)(self._t(U).T.contiguous()).detach()
            return out.T.cpu().numpy().astype(float)
        return matmat, rmatmat


_ROUTES = weakref.WeakKeyDictionary()


def _route_of(key, what="jacobian"):
    """The autodiff route that last worked for this model (``what``: 'jacobian' or 'ops'), or None."""
    try:
        return _ROUTES.get(key, {}).get(what)
    except TypeError:                     # not weak-referenceable: no memory
        return None


def _remember(key, route, what="jacobian"):
    try:
        _ROUTES.setdefault(key, {})[what] = route
    except TypeError:
        pass


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
    """Context selecting the math kernel of scaled_dot_product_attention (supports forward AD and vmap), and
    silencing torch's "performance drop ... batching rule" warning (the engine picks its route itself)."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.ctx = None

    def __enter__(self):
        self._warn = warnings.catch_warnings()
        self._warn.__enter__()
        warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet implemented")
        if self.kernel == "math":
            from torch.nn.attention import SDPBackend, sdpa_kernel
            self.ctx = sdpa_kernel(SDPBackend.MATH)
            self.ctx.__enter__()
        return self

    def __exit__(self, *exc):
        try:
            if self.ctx is not None:
                return self.ctx.__exit__(*exc)
            return False
        finally:
            self._warn.__exit__(*exc)


class JaxBackend:
    """JAX map ``f``: (d,) -> (d_out,) or (B, d) -> (B, d_out).

    ``dtype='float64'`` runs every JAX computation of the engine inside the float64 context of
    :func:`simulate.jax_x64.x64` (the global ``jax_enable_x64`` flag is left as it was); ``'float32'`` or
    ``None`` run as JAX is configured.
    """

    name = "jax"

    def __init__(self, f, chunk_bytes=DEFAULT_CHUNK_BYTES, mode="auto", dtype=None):
        import contextlib

        import jax

        from simulate.jax_x64 import x64
        if dtype not in (None, "float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64' for a JAX map, got {dtype!r}")
        self.jax = jax
        self.f = f
        self.chunk_bytes = chunk_bytes
        self.mode = mode
        self.route = None
        self.dtype = dtype
        self._context = x64 if dtype == "float64" else contextlib.nullcontext

    def _single(self, x):
        return self.f(x[None])[0].reshape(-1)

    def eval(self, X):
        """``f(X)`` for numpy ``X`` (B, d) as float64 numpy (B, d_out)."""
        with self._context():
            return np.asarray(self.f(self.jax.numpy.asarray(X)), dtype=float)

    def jacobian(self, X):
        """Full Jacobians at ``X`` (B, d): (B, d_out, d), forward or reverse mode by shape, chunked by ``chunk_bytes``."""
        with self._context():
            return self._jacobian(X)

    def _jacobian(self, X):
        jax = self.jax
        X = jax.numpy.asarray(X)
        B, d = X.shape
        d_out = int(np.prod(self.jax.eval_shape(self._single, X[0]).shape))
        first = self.mode if self.mode != "auto" else ("forward" if d <= d_out else "reverse")
        chunk = max(1, int(self.chunk_bytes // (8 * 16 * d * max(d, d_out))))
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
        """``(matmat, rmatmat)`` of the Jacobian at one point ``x``: ``V (d, k) -> J V`` and ``U (d_out, k) -> J^T U``."""
        jax, ctx = self.jax, self._context
        with ctx():
            xj = jax.numpy.asarray(x)
            f1 = self._single
            jv = jax.jit(jax.vmap(lambda v: jax.jvp(f1, (xj,), (v,))[1], in_axes=1, out_axes=1))
            _, pull = jax.vjp(f1, xj)
            vj = jax.jit(jax.vmap(lambda u: pull(u)[0], in_axes=1, out_axes=1))

        def matmat(V):
            with ctx():
                return np.asarray(jv(jax.numpy.asarray(V)), dtype=float)

        def rmatmat(U):
            with ctx():
                return np.asarray(vj(jax.numpy.asarray(U)), dtype=float)
        return matmat, rmatmat


class NumpyBackend:
    """Black-box numpy callable ``f(X)``: (B, d) -> (B, d_out). Finite differences only."""

    name = "numpy"

    def __init__(self, f):
        self.f = f
        self.route = None

    def eval(self, X):
        """``f(X)`` as float64 numpy (B, d_out)."""
        return np.asarray(self.f(np.asarray(X)), dtype=float)

    def jacobian(self, X):
        """Refused: a plain numpy callable has no autodiff (``ValueError``; finite differences only)."""
        raise ValueError("method='exact' needs a torch or JAX callable (or an exact model); "
                         "a plain numpy callable supports method='finite-difference' only")

    linear_ops = jacobian


def as_backend(f, *, t=None, backend=None, dtype=None, device=None, chunk_bytes=DEFAULT_CHUNK_BYTES, mode="auto",
               time_arg=None):
    """Wrap ``f`` at time ``t``: a :class:`trained.protocol.DiffusionModel` (its ``score``), an exact model, or a
    torch / JAX / numpy callable.

    ``backend``: 'torch' | 'jax' | 'numpy' (default: detected; exact models use torch). A diffusion model is
    differentiated through ``score(x, t)`` on flat vectors ``(B, prod(data_shape))``. For a plain callable,
    ``time_arg`` calls ``f(x, t)`` with ``t`` a Python float (default: when ``t`` is given and ``f`` takes two
    positional arguments); modules with a ``data_shape`` of rank > 1 are evaluated on flat vectors.
    """
    from simulate.models import ExactModel

    from ..protocol import flat_score, is_diffusion_model
    if isinstance(f, ExactModel):
        if t is None:
            raise ValueError("t must be given for an exact model (its score depends on the process time)")
        if backend in (None, "torch"):
            return TorchBackend(f.to_torch(t, dtype=_torch_dtype(dtype)), None, device, chunk_bytes, mode)
        if backend == "jax":
            return JaxBackend(f.to_jax(dtype or "float64").score_fn(t), chunk_bytes, mode, dtype=dtype or "float64")
        if backend == "numpy":
            return NumpyBackend(lambda X: f.score(X, t))
        raise ValueError(f"backend must be 'torch', 'jax' or 'numpy', got {backend!r}")
    if not callable(f) and not is_diffusion_model(f):
        raise ValueError(f"f must be callable, an exact model or a diffusion model, got {type(f).__name__}")
    if is_diffusion_model(f) and t is not None and backend in (None, "torch", "numpy"):
        g = flat_score(f, t)
        if backend == "numpy":
            return NumpyBackend(g)
        module = f if _is_torch_callable(f) else getattr(f, "module", None)
        return TorchBackend(g, dtype or _param_dtype(module), device or _module_device(module), chunk_bytes, mode, key=f)
    if backend is None:
        backend = "torch" if _is_torch_callable(f) else "jax" if _is_jax_callable(f) else None
        if backend is None:
            raise ValueError("backend must be given ('torch', 'jax' or 'numpy') for a plain callable")
    g = _flattened(f) if backend == "torch" else f
    if t is not None and (time_arg or (time_arg is None and _n_positional(f) >= 2)):
        g = _with_time(g, t, backend)
    if backend == "torch":
        return TorchBackend(g, dtype, device, chunk_bytes, mode, key=f)
    if backend == "jax":
        return JaxBackend(g, chunk_bytes, mode, dtype=dtype or getattr(f, "_specgap_dtype", None))
    if backend == "numpy":
        return NumpyBackend(g)
    raise ValueError(f"backend must be 'torch', 'jax' or 'numpy', got {backend!r}")


def _param_dtype(module):
    """Floating dtype of a torch module's first parameter/buffer (None: no module or no floating tensor)."""
    import torch
    if isinstance(module, torch.nn.Module):
        for p in list(module.parameters()) + list(module.buffers()):
            if p.is_floating_point():
                return p.dtype
    return None


def _torch_dtype(dtype):
    """None, a torch dtype, or its name ('float32', 'float64', 'float16', 'bfloat16') -> torch dtype or None."""
    import torch
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    table = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if str(dtype) not in table:
        raise ValueError(f"dtype must be one of {tuple(table)}, got {dtype!r}")
    return table[str(dtype)]


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


