"""trained: score networks (torch), datasets, the Jacobian engine, dimension estimators.

The Jacobian engine (:mod:`trained.jacobian`) is the only place that computes Jacobians; everything else
(network spectra, dimension estimators, descriptors, ridge frames) calls it.
"""
from .estimators import ESTIMATORS, EffectiveDimension, GapDimension, NormalBundle
from .jacobian import JacobianResult, exact_score_jax, exact_score_torch, jacobian, jacobian_spectrum

__all__ = ["jacobian_spectrum", "jacobian", "JacobianResult", "exact_score_torch", "exact_score_jax",
           "GapDimension", "EffectiveDimension", "NormalBundle", "ESTIMATORS"]
