"""trained: score networks (torch), datasets, the Jacobian engine, dimension estimators.

The Jacobian engine (:mod:`trained.jacobian`) is the only place that computes Jacobians; everything else
(network spectra, dimension estimators, descriptors, ridge frames) calls it. Importing :mod:`trained`
registers every training data set (:mod:`trained.data`: ``linear``; :mod:`trained.datasets`: ``images``).
"""
from . import data, datasets  # noqa: F401  (each registers its data sets)
from .data import TensorData, dataset_names, make_dataset, register_dataset
from .datasets import DATASETS, load_images
from .estimators import (
           ESTIMATORS,
           FLIPD,
           EffectiveDimension,
           GapDimension,
           ManifoldGapDimension,
           NormalBundle,
)
from .jacobian import JacobianResult, as_backend, jacobian, jacobian_spectrum

__all__ = ["jacobian_spectrum", "jacobian", "JacobianResult", "as_backend", "GapDimension",
           "ManifoldGapDimension", "EffectiveDimension", "NormalBundle", "FLIPD", "ESTIMATORS", "TensorData",
           "dataset_names", "make_dataset", "register_dataset", "DATASETS", "load_images"]
