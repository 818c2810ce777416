"""trained: score networks (torch), datasets, the Jacobian engine, dimension estimators.

The Jacobian engine (:mod:`trained.jacobian`) is the only place that differentiates a score network or any
other black-box score; network spectra, dimension estimators and descriptors call it. Closed-form Jacobians
stay with their models below (:mod:`simulate.models`; the ridge frames of :mod:`simulate.ridge` use the
empirical model's closed-form Hessian ``Sigma_gamma / s^4 - I / s^2``). The package imports its
submodules on first use (PEP 562), so the point-cloud dimension estimators (:mod:`trained.estimators`: numpy,
scikit-learn) load without torch. The training-data registry :mod:`trained.data` holds
every built-in data set (``linear``, and ``images`` read by :mod:`trained.datasets`) as soon as it is imported.
"""
import importlib

# the engine is numpy-only and light; imported here so that ``trained.jacobian`` stays the function (it shadows
# its subpackage, as it always did)
from .jacobian import JacobianResult, as_backend, jacobian, jacobian_spectrum

#: public name -> submodule that defines it (imported on first access)
_LAZY = {
    "TensorData": "data", "dataset_names": "data", "make_dataset": "data", "register_dataset": "data",
    "DATASETS": "datasets", "load_images": "datasets",
    "ESTIMATORS": "estimators", "FLIPD": "estimators", "EffectiveDimension": "estimators",
    "GapDimension": "estimators", "ManifoldGapDimension": "estimators", "NormalBundle": "estimators",
}

__all__ = ["jacobian_spectrum", "jacobian", "JacobianResult", "as_backend", "GapDimension",
           "ManifoldGapDimension", "EffectiveDimension", "NormalBundle", "FLIPD", "ESTIMATORS", "TensorData",
           "dataset_names", "make_dataset", "register_dataset", "DATASETS", "load_images"]


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
