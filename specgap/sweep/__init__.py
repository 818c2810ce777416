"""Sweeps at scale: a grid of parameters x a task (theory | simulate | finite-n | network) on Dask, one labelled
result store (xarray / Zarr) written cell by cell, resumable.

>>> from specgap.sweep import SweepSpec, run_sweep, open_sweep
>>> spec = SweepSpec(task="theory", alpha=[0.5], ratio=[0.01, 0.1], t="1e-3:10:40")
>>> run_sweep(spec, "theory.zarr", workers=0, progress=False)["computed"]      # workers=0: no cluster
2
>>> open_sweep("theory.zarr").phase_theory.dims
('alpha', 'ratio', 'fraction', 't')

Needs the ``[dask]`` extra (dask.distributed, xarray, zarr); nothing here is imported by the libraries.
"""
from .spec import TASKS, SweepSpec, load_spec, parse_times

__all__ = ["TASKS", "SweepSpec", "load_spec", "parse_times", "run_sweep", "open_sweep", "compute_cell",
           "create_store", "read_done"]


def __getattr__(name):          # the Dask / xarray parts load on first use
    if name == "run_sweep":
        from .engine import run_sweep
        return run_sweep
    if name in ("open_sweep", "create_store", "read_done"):
        from . import store
        return getattr(store, name)
    if name == "compute_cell":
        from .tasks import compute_cell
        return compute_cell
    raise AttributeError(name)
