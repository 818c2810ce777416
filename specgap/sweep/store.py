"""The result store of a sweep: one Zarr group read as an :class:`xarray.Dataset`.

Layout (documented dims): every variable has the task's outer dimensions first (``alpha, ratio, fraction``
[, ``d`` [, ``n``]]) then its inner ones (``draw``, ``point``, ``t``, ``bulk``, ``edge``, ``level``), float64
with NaN where nothing was computed; coordinates carry the grid values (``t`` with its ``tau`` alongside,
``edge = ['lower', 'upper']``); ``done`` (outer dims, bool) is the done-mask. Each variable is chunked
one cell per chunk, so a cell is written by replacing its own chunk files, and its ``done`` flag is set only
after its values are on disk: an interrupted sweep leaves every cell either complete and marked, or
unmarked (and recomputed by ``--resume``, which overwrites the same chunks). Attributes: ``spec`` (the
:class:`SweepSpec` as JSON), every spec field, ``specgap_version``, ``schema_version``, ``phase_codes``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from .spec import SweepSpec
from .tasks import inner_sizes, variables

__all__ = ["create_store", "open_store", "open_sweep", "read_spec", "read_done", "CellWriter"]

ZARR_FORMAT = 2           # readable by every zarr / xarray; consolidated metadata is part of the format


def _coords(spec: SweepSpec) -> dict:
    c = {k: np.asarray(getattr(spec, k), dtype=float if k in ("alpha", "ratio", "fraction") else np.int64)
         for k in spec.outer_dims}
    c["t"] = np.asarray(spec.t, float)
    c["tau"] = ("t", np.asarray(spec.tau, float))
    used = {k for inner, _ in variables(spec).values() for k in inner}
    c["edge"] = np.array(["lower", "upper"])
    for k in ("bulk", "draw", "point", "level"):
        if k in used:
            c[k] = np.arange(inner_sizes(spec)[k])
    return c


def create_store(path, spec: SweepSpec, overwrite: bool = False) -> None:
    """Write the empty store (metadata, coordinates, an all-False ``done``); data chunks come cell by cell."""
    import xarray as xr

    from .. import SCHEMA_VERSION, __version__
    from .tasks import PHASE_CODES
    path = Path(path)
    if path.exists():
        if not overwrite:
            raise ValueError(f"--out: {str(path)!r} exists; pass --resume to complete it or --overwrite")
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    sizes = inner_sizes(spec)
    outer, shape = spec.outer_dims, spec.shape
    data, enc = {}, {}
    for name, (inner, desc) in variables(spec).items():
        full = shape + tuple(sizes[k] for k in inner)
        data[name] = (outer + inner, np.full(full, np.nan), {"description": desc})
        enc[name] = {"chunks": (1,) * len(outer) + tuple(sizes[k] for k in inner), "_FillValue": np.nan}
    data["done"] = (outer, np.zeros(shape, dtype=bool), {"description": "cell computed and written"})
    enc["done"] = {"chunks": (1,) * len(outer)}
    attrs = {"specgap_version": __version__, "schema_version": SCHEMA_VERSION, "spec": spec.to_json(),
             "phase_codes": json.dumps(PHASE_CODES), "dims": json.dumps(list(outer)),
             **{k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in spec.as_dict().items()}}
    ds = xr.Dataset(data, coords=_coords(spec), attrs=attrs)
    ds["phase_theory"].attrs.update(flag_values=[0, 1, 2], flag_meanings="trivial coverage consolidation")
    ds.to_zarr(path, mode="w-", encoding=enc, consolidated=True, zarr_format=ZARR_FORMAT,
               write_empty_chunks=False, compute=True)


def read_spec(path) -> SweepSpec:
    import zarr
    try:
        g = zarr.open_group(str(path), mode="r")
        return SweepSpec.from_dict(json.loads(g.attrs["spec"]))
    except (KeyError, FileNotFoundError, ValueError, TypeError) as e:
        raise ValueError(f"store: {str(path)!r} is not a specgap sweep store ({type(e).__name__}: {e})") from None


def read_done(path) -> np.ndarray:
    """The done-mask (outer shape, bool)."""
    import zarr
    return np.asarray(zarr.open_group(str(path), mode="r")["done"][...], dtype=bool)


def open_sweep(path):
    """The store as an :class:`xarray.Dataset` (lazy, dask-backed): ``xarray.open_zarr(path)``."""
    import xarray as xr
    return xr.open_zarr(str(path))


open_store = open_sweep


class CellWriter:
    """Writes finished cells into the store: values first, then the ``done`` flag (one writer, the client)."""

    def __init__(self, path, spec: SweepSpec):
        import zarr
        self.spec = spec
        self.group = zarr.open_group(str(path), mode="r+")
        self.names = list(variables(spec))

    def write(self, flat: int, values: dict) -> None:
        idx = self.spec.cell_index(flat)
        for name in self.names:
            self.group[name][idx] = values[name]
        self.group["done"][idx] = True
