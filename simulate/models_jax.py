"""The exact scores of :mod:`simulate.models` in JAX (same closed forms; numpy and torch versions live
in :mod:`simulate.models` and :mod:`simulate.models_torch`).

Pure, jit-compiled functions, so they can be differentiated (``jax.grad`` of ``log_density`` is the
score; ``jax.jacfwd`` of the score is the Jacobian) and vmapped. Float64 is explicit (:mod:`simulate.jax_x64`):
methods that return arrays (``score``, ``log_density``, ``denoiser``) compute inside the float64 context;
the pure functions ``score_fn``/``log_density_fn`` need float64 turned on by the caller
(``with jax.enable_x64(True): ...``) and say so when it is off. ``dtype='float32'`` runs in float32.

>>> import numpy as np
>>> from rmt import LinearManifold
>>> from simulate import LinearGaussianModel
>>> model = LinearGaussianModel.from_manifold(20, LinearManifold(0.5), seed=0)
>>> jm = model.to_jax()                  # or JaxModel(model)
>>> x = np.random.default_rng(0).standard_normal((3, 20))
>>> np.allclose(jm.score(x, 0.1), model.score(x, 0.1))      # (B, d) numpy array; 0.1 is the process time t
True
>>> with jax.enable_x64(True):
...     f = jm.score_fn(0.1)             # x -> score(x, t), jitted, for jax transformations
...     np.allclose(np.asarray(jax.jacfwd(f)(x[0])), model.jacobian(x[:1], 0.1)[0])
True
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .jax_x64 import require_x64, x64

__all__ = ["JaxModel", "subspace_logp_score", "isotropic_logp_score"]

_LOG2PI = float(np.log(2.0 * np.pi))


@jax.jit
def subspace_logp_score(params, x, a, s2):
    """Low-rank components ``N(a mu_k, a^2 U_k diag(lam_k) U_k^T + s2 I)``: (log p (B,), score (B, d)).

    ``params = (log_weights (K,), means (K, d), [(U_k (d, r_k), lam_k (r_k,)), ...])``; ``x`` (B, d).
    """
    logw, means, comps = params
    d = x.shape[-1]
    logN, g = [], []
    for k, (U, lam) in enumerate(comps):
        lt = a * a * lam
        y = x - a * means[k]
        p = y @ U
        resid = y - p @ U.T
        q = p / (lt + s2)
        quad = jnp.sum(resid ** 2, axis=-1) / s2 + jnp.sum(p * q, axis=-1)
        logdet = jnp.sum(jnp.log(lt + s2)) + (d - lam.shape[0]) * jnp.log(s2)
        logN.append(-0.5 * (quad + logdet + d * _LOG2PI))
        g.append(-(resid / s2 + q @ U.T))
    z = jnp.stack(logN, axis=-1) + logw
    logp = jax.scipy.special.logsumexp(z, axis=-1)
    r = jax.nn.softmax(z, axis=-1)
    score = jnp.einsum("bk,kbi->bi", r, jnp.stack(g))
    return logp, score


@jax.jit
def isotropic_logp_score(params, x, a, s2):
    """Isotropic mixture ``N(a mu_k, (a^2 v_k + s2) I)``: (log p (B,), score (B, d)).

    ``params = (log_weights (K,), means (K, d), variances (K,))``; ``x`` (B, d).
    """
    logw, means, var = params
    d = x.shape[-1]
    c = a * a * var + s2
    dist2 = jnp.sum((x[:, None, :] - a * means[None]) ** 2, axis=-1)          # (B, K), direct form
    z = logw - 0.5 * dist2 / c - 0.5 * d * jnp.log(c)
    logp = jax.scipy.special.logsumexp(z, axis=-1) - 0.5 * d * _LOG2PI
    rc = jax.nn.softmax(z, axis=-1) / c
    score = a * (rc @ means) - jnp.sum(rc, axis=-1, keepdims=True) * x
    return logp, score


class JaxModel:
    """JAX mirror of an exact model of :mod:`simulate.models` (its ``parameters()`` and schedule).

    Methods take ``x`` of shape (B, d) or (d,) and the process time ``t`` (a Python float; ``a(t)``
    and ``s(t)^2`` come from the numpy schedule and enter as traced scalars, so a new ``t`` does not
    recompile).
    """

    def __init__(self, model, dtype: str = "float64"):
        if not hasattr(model, "parameters") or not hasattr(model, "coefficients"):
            raise ValueError(f"model must be an exact model of simulate.models, got {type(model).__name__}")
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        P = model.parameters()
        self.model, self.d, self.schedule, self.dtype = model, model.d, model.schedule, dtype
        self.data_shape = (int(model.d),)             # with score and schedule: a simulate.protocol.DiffusionModel
        npd = np.float64 if dtype == "float64" else np.float32
        if P["kind"] == "subspace":
            comps = [(np.asarray(U, npd), np.asarray(lam, npd)) for U, lam in zip(P["U"], P["lam"])]
            self.params = (np.asarray(P["log_weights"], npd), np.asarray(P["means"], npd), comps)
            self._core = subspace_logp_score
        else:
            self.params = (np.asarray(P["log_weights"], npd), np.asarray(P["means"], npd),
                           np.asarray(P["variances"], npd))
            self._core = isotropic_logp_score

    def _context(self):
        import contextlib
        return x64() if self.dtype == "float64" else contextlib.nullcontext()

    def _call(self, x, t, which):
        a, s2 = self.model.coefficients(t)
        with self._context():
            xb = jnp.asarray(x, dtype=self.dtype)
            single = xb.ndim == 1
            out = np.asarray(self._core(self.params, xb[None] if single else xb, a, s2)[which])
        return out[0] if single else out

    def log_density(self, x, t):
        """``log p_t(x)``, shape (B,) (numpy)."""
        return self._call(x, t, 0)

    def score(self, x, t):
        """Closed-form score, shape (B, d) (numpy; not autodiff: compare with ``jax.grad`` of ``log_density_fn``)."""
        return self._call(x, t, 1)

    def denoiser(self, x, t):
        """Tweedie denoiser ``(x + s^2 score) / a`` (:meth:`rmt.schedules.Schedule.denoise`), shape (B, d) (numpy)."""
        return self.schedule.denoise(np.asarray(x, dtype=float), t, self.score(x, t))

    def _fn(self, t, which, name):
        a, s2 = self.model.coefficients(t)
        core, params, dtype = self._core, self.params, self.dtype

        def f(x):
            if dtype == "float64":
                require_x64(f"JaxModel.{name}")
            xb = x[None] if x.ndim == 1 else x
            out = core(params, xb, a, s2)[which]
            return out[0] if x.ndim == 1 else out
        f._specgap_backend = "jax"
        f._specgap_dtype = dtype
        return f

    def score_fn(self, t):
        """Pure function ``x -> score(x, t)`` for ``x`` of shape (d,) or (B, d) (differentiable)."""
        return self._fn(t, 1, "score_fn")

    def log_density_fn(self, t):
        """Pure function ``x -> log p_t(x)`` for ``x`` of shape (d,) or (B, d)."""
        return self._fn(t, 0, "log_density_fn")
