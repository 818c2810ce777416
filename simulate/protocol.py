"""The one score-model protocol: what the samplers, the Jacobian engine, ``network_spectra``, the descriptors and
the dimension estimators accept as a diffusion model (docs/theory.md section 13).

A :class:`DiffusionModel` is anything with

- ``score(x, t)``: the score ``grad_x log p_t(x)`` at points ``x`` of shape ``(B, *data_shape)`` and process
  time ``t`` (a float in the units of ``schedule``), same shape as ``x``;
- ``schedule``: its forward process ``x_t = a(t) x0 + s(t) eps`` (an :class:`rmt.schedules.Schedule`, which
  carries its parameters, tabulated schedules included, and the noising and Tweedie denoising of
  :meth:`~rmt.schedules.Schedule.noise` / :meth:`~rmt.schedules.Schedule.denoise`);
- ``data_shape``: the shape of one data point, e.g. ``(d,)`` or ``(C, H, W)``.

It lives in :mod:`simulate`, the lowest layer with score models: the exact models of :mod:`simulate.models`
(numpy; :class:`simulate.models_jax.JaxModel` likewise) and :class:`simulate.ridge_dynamics.PerturbedScore`
implement it on numpy arrays, and in :mod:`trained` the networks (:class:`trained.nets.ScoreModel`, torch
tensors), the adapters of :mod:`trained.adapters` and the numpy wrapper
:class:`trained.network_spectra.NetworkScore`. :mod:`trained.protocol` re-exports it.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["DiffusionModel", "is_diffusion_model"]


@runtime_checkable
class DiffusionModel(Protocol):
    """Structural type of a diffusion model as specgap measures it (see the module docstring).

    ``isinstance(m, DiffusionModel)`` checks that the three members exist (not their signatures).
    """

    schedule: object
    data_shape: tuple

    def score(self, x, t):
        """Score at ``x`` ``(B, *data_shape)`` and process time ``t``: same shape as ``x``."""


def is_diffusion_model(f) -> bool:
    """True when ``f`` implements :class:`DiffusionModel` (``score`` callable, ``schedule``, ``data_shape``)."""
    return isinstance(f, DiffusionModel) and callable(getattr(f, "score", None))
