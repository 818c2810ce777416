"""Command groups of the ``specgap`` CLI; each module defines ``register(subparsers, help)``.

Handlers import numpy/scipy/torch/JAX lazily so that ``--help`` and ``theory`` commands start fast.
"""
from __future__ import annotations

from . import data, descriptors, dimension, reproduce, ridge, simulate, spectra, sweep, theory, train

GROUPS = {
    "theory": ("analytic spectra, edges, gaps, timescales, phases (rmt)", theory),
    "simulate": ("random F matrices, exact-score spectra, reverse-time samples (simulate)", simulate),
    "spectra": ("Jacobian spectra of a score model through the Jacobian engine (trained)", spectra),
    "dimension": ("intrinsic dimension of a point cloud from score spectra (trained)", dimension),
    "descriptors": ("local scaling, rank and complexity of a score model's maps (trained)", descriptors),
    "ridge": ("ridge of the smoothed empirical density: residual, projection (simulate)", ridge),
    "train": ("train a score network (trained)", train),
    "data": ("the data sets the package can read (bundled or from --data-dir)", data),
    "reproduce": ("reproduce the papers' figures and studies (figures, arrays, summary.json)", reproduce),
    "sweep": ("parameter grids on Dask into a labelled, resumable xarray/Zarr store", sweep),
}


def register_all(sub):
    """Add every command group of :data:`GROUPS` to the subparsers ``sub`` of the ``specgap`` parser."""
    for name, (help_text, module) in GROUPS.items():
        module.register(sub, help_text)
