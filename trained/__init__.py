"""trained: score networks (torch), datasets, the Jacobian engine, dimension estimators.

The Jacobian engine (:mod:`trained.jacobian`) is the only place that computes Jacobians; everything else
(network spectra, dimension estimators, descriptors, ridge frames) calls it. The package imports its
submodules on first use (PEP 562), so the point-cloud dimension estimators (:mod:`trained.estimators`: numpy,
scikit-learn) load without torch. Importing :mod:`trained.data` (or any name of it from :mod:`trained`)
registers every training data set (:mod:`trained.data`: ``linear``; :mod:`trained.datasets`: ``images``).
"""
import importlib
import importlib.machinery
import sys

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


class _RegisterAllDatasets(importlib.machinery.PathFinder):
    """Importing :mod:`trained.data` also imports :mod:`trained.datasets` (which registers ``images``), as the
    eager package import did: ``from trained.data import make_dataset`` still sees every data set."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname != f"{__name__}.data":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = _DataLoader(spec.loader.name, spec.loader.path)
        return spec


class _DataLoader(importlib.machinery.SourceFileLoader):
    def exec_module(self, module):
        super().exec_module(module)
        importlib.import_module(f"{__name__}.datasets")


if not any(f is _RegisterAllDatasets or getattr(f, "__name__", "") == "_RegisterAllDatasets"
           for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAllDatasets)
