"""The score-model protocol as :mod:`trained` uses it: :class:`DiffusionModel` and :func:`is_diffusion_model`
(defined once in :mod:`simulate.protocol`, re-exported here), the Tweedie :func:`denoiser` of any such model
and :func:`flat_score`, the flat-vector score the Jacobian engine differentiates (docs/theory.md section 13).

specgap's own :class:`trained.nets.ScoreModel` (torch tensors), the exact models of :mod:`simulate.models`
(numpy arrays; the engine differentiates their torch version ``to_torch(t)``) and the adapters of
:mod:`trained.adapters` (diffusers UNets, EDM/k-diffusion denoisers, score functions) implement it.
"""
from __future__ import annotations

from simulate.protocol import DiffusionModel, is_diffusion_model

__all__ = ["DiffusionModel", "is_diffusion_model", "denoiser", "flat_score"]


def denoiser(model, x, t):
    """Tweedie denoiser ``D(x) = (x + s(t)^2 score(x, t)) / a(t)`` of a :class:`DiffusionModel` (same shape as ``x``;
    :meth:`rmt.schedules.Schedule.denoise`)."""
    return model.schedule.denoise(x, t, model.score(x, t))


def flat_score(model, t):
    """``x (B, d) -> score (B, d)`` of a torch :class:`DiffusionModel` at a fixed time ``t``, on flat vectors
    ``d = prod(data_shape)`` (what the Jacobian engine differentiates)."""
    shape = tuple(model.data_shape)
    t = float(t)

    def f(x):
        return model.score(x.reshape((x.shape[0],) + shape), t).reshape(x.shape[0], -1)
    return f
