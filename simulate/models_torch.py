"""The exact scores of :mod:`simulate.models` as torch modules (same closed forms; numpy and JAX versions
live in :mod:`simulate.models` and :mod:`simulate.models_jax`). torch is imported when this module is.

``score_module(model, t)`` is differentiable by torch autograd and ``torch.func``, which is how the
Jacobian engine (:mod:`trained.jacobian`) checks itself against the closed-form Jacobians.
"""
from __future__ import annotations

import math

import torch

__all__ = ["score_module"]

_LOG2PI = math.log(2 * math.pi)


class _Score(torch.nn.Module):
    """``forward(x)``: (B, d) -> (B, d) or (d,) -> (d,), the exact score at a fixed process time."""

    def __init__(self, params: dict, a: float, s2: float, dtype):
        super().__init__()
        self.a, self.s2, self.kind = float(a), float(s2), params["kind"]
        self.register_buffer("logw", torch.as_tensor(params["log_weights"], dtype=dtype))
        self.register_buffer("means", torch.as_tensor(params["means"], dtype=dtype))
        if self.kind == "subspace":
            self.K = len(params["U"])
            for k, (U, lam) in enumerate(zip(params["U"], params["lam"])):
                self.register_buffer(f"U{k}", torch.as_tensor(U, dtype=dtype))
                self.register_buffer(f"lam{k}", torch.as_tensor(lam, dtype=dtype))
        else:
            self.register_buffer("var", torch.as_tensor(params["variances"], dtype=dtype))

    def forward(self, x):
        a, s2 = self.a, self.s2
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
                logN.append(-0.5 * (quad + logdet + d * _LOG2PI))
                g.append(-(resid / s2 + q @ U.T))
            r = torch.softmax(torch.stack(logN, -1) + self.logw, dim=-1)
            out = torch.einsum("bk,kbi->bi", r, torch.stack(g))
        else:
            c = a * a * self.var + s2
            dist2 = ((xb[:, None, :] - a * self.means[None]) ** 2).sum(-1)
            rc = torch.softmax(self.logw - 0.5 * dist2 / c - 0.5 * d * torch.log(c), dim=-1) / c
            out = a * (rc @ self.means) - rc.sum(-1, keepdim=True) * xb
        return out[0] if single else out


def score_module(model, t, dtype=None) -> torch.nn.Module:
    """Torch module computing the closed-form score of an exact model at process time ``t``."""
    if not hasattr(model, "parameters") or not hasattr(model, "coefficients"):
        raise ValueError(f"model must be an exact model of simulate.models, got {type(model).__name__}")
    a, s2 = model.coefficients(t)
    return _Score(model.parameters(), a, s2, dtype or torch.float64)
