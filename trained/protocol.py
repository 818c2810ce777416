"""The one score-model protocol: what the Jacobian engine, ``network_spectra``, the descriptors, the dimension
estimators and the samplers accept as a diffusion model (docs/theory.md section 13).

A :class:`DiffusionModel` is anything with

- ``score(x, t)``: the score ``grad_x log p_t(x)`` at points ``x`` of shape ``(B, *data_shape)`` and process
  time ``t`` (a float in the units of ``schedule``), same shape as ``x``;
- ``schedule``: its forward process ``x_t = a(t) x0 + s(t) eps`` (an :class:`rmt.schedules.Schedule`, which
  carries its parameters, tabulated schedules included);
- ``data_shape``: the shape of one data point, e.g. ``(d,)`` or ``(C, H, W)``.

specgap's own :class:`trained.nets.ScoreModel` (torch tensors), the exact models of :mod:`simulate.models`
(numpy arrays; the engine differentiates their torch version ``to_torch(t)``) and the adapters of
:mod:`trained.adapters` (diffusers UNets, EDM/k-diffusion denoisers, score functions) implement it. The
Tweedie denoiser of any of them is :func:`denoiser`, written once here.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["DiffusionModel", "is_diffusion_model", "denoiser", "flat_score"]


@runtime_checkable
class DiffusionModel(Protocol):
    """Structural type of a diffusion model as specgap measures it (see the module docstring)."""

    schedule: object
    data_shape: tuple

    def score(self, x, t):
        """Score at ``x`` (B, *data_shape) and process time ``t``: same shape as ``x``."""


def is_diffusion_model(f) -> bool:
    """True when ``f`` implements :class:`DiffusionModel` (``score`` callable, ``schedule``, ``data_shape``)."""
    return isinstance(f, DiffusionModel) and callable(getattr(f, "score", None))


def denoiser(model, x, t):
    """Tweedie denoiser ``D(x) = (x + s(t)^2 score(x, t)) / a(t)`` of a :class:`DiffusionModel` (same shape as ``x``)."""
    return model.schedule.denoise(x, t, model.score(x, t))


def flat_score(model, t):
    """``x (B, d) -> score (B, d)`` of a torch :class:`DiffusionModel` at a fixed time ``t``, on flat vectors
    ``d = prod(data_shape)`` (what the Jacobian engine differentiates)."""
    shape = tuple(model.data_shape)
    t = float(t)

    def f(x):
        return model.score(x.reshape((x.shape[0],) + shape), t).reshape(x.shape[0], -1)
    return f
