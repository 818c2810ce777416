"""JAX implementation of the exact models of :mod:`simulate.models` (same closed forms, float64).

Importing this module enables JAX float64 (``jax_enable_x64``): the numpy and JAX scores must agree
to ~1e-12. The functions are pure and jit-compiled, so they can be differentiated (``jax.grad`` of
``log_density`` is the score; ``jax.jacfwd`` of the score is the Jacobian) and vmapped.

>>> jm = model.to_jax()                  # or JaxModel(model)
>>> jm.score(x, t)                       # (B, d) jax array, t is the process time
>>> f = jm.score_fn(t)                   # x -> score(x, t), jitted, for the Jacobian engine
"""
from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from .models import EmpiricalModel, ExactModel, GaussianMixtureModel, SubspaceUnionModel  # noqa: E402

__all__ = ["JaxModel", "subspace_logp_score", "isotropic_logp_score"]

_LOG2PI = float(np.log(2.0 * np.pi))


@jax.jit
def subspace_logp_score(params, x, a, s2):
    """Low-rank components ``N(a mu_k, a^2 U_k diag(lam_k) U_k^T + s2 I)``: (log p (B,), score (B, d)).

    ``params = (log_weights (K,), [(U_k (d, r_k), lam_k (r_k,), mu_k (d,)), ...])``; ``x`` (B, d).
    """
    logw, comps = params
    d = x.shape[-1]
    logN, g = [], []
    for U, lam, mu in comps:
        lt = a * a * lam
        y = x - a * mu
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
    """JAX mirror of an :class:`~simulate.models.ExactModel` (same parameters, same schedule).

    Methods take ``x`` of shape (B, d) or (d,) and the process time ``t`` (a Python float; ``a(t)``
    and ``s(t)^2`` are computed by the numpy schedule and passed as traced scalars, so changing ``t``
    does not recompile).
    """

    def __init__(self, model: ExactModel):
        if not isinstance(model, ExactModel):
            raise ValueError(f"model must be an ExactModel, got {type(model).__name__}")
        self.model = model
        self.d = model.d
        self.schedule = model.schedule
        if isinstance(model, SubspaceUnionModel):
            comps = [(jnp.asarray(U), jnp.asarray(lam), jnp.asarray(mu))
                     for U, lam, mu in zip(model.U, model.lam, model.means)]
            self.params = (jnp.asarray(model.log_weights), comps)
            self._core = subspace_logp_score
        elif isinstance(model, (GaussianMixtureModel, EmpiricalModel)):
            self.params = (jnp.asarray(model.log_weights), jnp.asarray(model.means),
                           jnp.asarray(model.variances))
            self._core = isotropic_logp_score
        else:
            raise ValueError(f"no JAX implementation for {type(model).__name__}")

    def _call(self, x, t, which):
        a, s2 = self.model.coefficients(t)
        x = jnp.asarray(x, dtype=jnp.float64)
        single = x.ndim == 1
        xb = x[None] if single else x
        out = self._core(self.params, xb, a, s2)[which]
        return out[0] if single else out

    def log_density(self, x, t):
        """``log p_t(x)``, shape (B,)."""
        return self._call(x, t, 0)

    def score(self, x, t):
        """Closed-form score, shape (B, d) (not autodiff: compare with ``jax.grad`` of ``log_density``)."""
        return self._call(x, t, 1)

    def denoiser(self, x, t):
        """``(x + s^2 score) / a``, shape (B, d)."""
        a, s2 = self.model.coefficients(t)
        return (jnp.asarray(x) + s2 * self.score(x, t)) / a

    def score_fn(self, t):
        """Pure function ``x -> score(x, t)`` for ``x`` of shape (d,) or (B, d) (differentiable)."""
        a, s2 = self.model.coefficients(t)
        core, params = self._core, self.params

        def f(x):
            xb = x[None] if x.ndim == 1 else x
            out = core(params, xb, a, s2)[1]
            return out[0] if x.ndim == 1 else out
        return f

    def log_density_fn(self, t):
        """Pure function ``x -> log p_t(x)`` for ``x`` of shape (d,) or (B, d)."""
        a, s2 = self.model.coefficients(t)
        core, params = self._core, self.params

        def f(x):
            xb = x[None] if x.ndim == 1 else x
            out = core(params, xb, a, s2)[0]
            return out[0] if x.ndim == 1 else out
        return f
