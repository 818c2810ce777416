"""The result store of a sweep: one Zarr group read as an :class:`xarray.Dataset`.

Layout (documented dims): every variable has the task's outer dimensions first (``alpha, ratio, fraction``
[, ``d`` [, ``n``]]) then its inner ones (``draw``, ``point``, ``t``, ``bulk``, ``edge``, ``level``), float64
with NaN where nothing was computed; coordinates carry the grid values (``t`` with its ``tau`` alongside,
``edge = ['lower', 'upper']``); ``done`` (outer dims, bool) is the done-mask. The outer dimensions are
chunked in blocks of contiguous cells (:func:`outer_chunks`; one block = one task of the engine, one
cell per block when cells are expensive), so a finished block is written by replacing its own chunk
files, and its ``done`` flags are set only after its values are on disk: an interrupted sweep leaves every
cell either complete and marked, or unmarked (and recomputed by ``--resume``, which overwrites the same
chunks). Attributes: ``spec`` (the
:class:`SweepSpec` as JSON), every spec field, ``specgap_version``, ``schema_version``, ``phase_codes``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from rmt.schedules import get_schedule

from .spec import SweepSpec
from .tasks import inner_sizes, variables

__all__ = ["create_store", "open_store", "open_sweep", "read_spec", "read_done", "CellWriter", "outer_chunks",
           "blocks"]

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


def outer_chunks(shape, cells: int) -> tuple:
    """Chunk shape over the outer dims holding at most ``cells`` cells that are contiguous in C order:
    whole trailing dimensions, then part of the next one, then 1."""
    c, prod = [1] * len(shape), 1
    for k in reversed(range(len(shape))):
        if prod * shape[k] <= cells:
            c[k], prod = shape[k], prod * shape[k]
        else:
            c[k] = max(1, cells // prod)
            break
    return tuple(c)


def blocks(shape, chunks):
    """Every chunk block as (tuple of slices, flat cell numbers in C order)."""
    import itertools
    ranges = [range(0, n, c) for n, c in zip(shape, chunks)]
    for start in itertools.product(*ranges):
        sl = tuple(slice(s0, min(s0 + c, n)) for s0, c, n in zip(start, chunks, shape))
        idx = np.indices([x.stop - x.start for x in sl]).reshape(len(sl), -1) + np.array(start)[:, None]
        yield sl, np.ravel_multi_index(tuple(idx), shape).tolist()


def create_store(path, spec: SweepSpec, overwrite: bool = False, cells_per_chunk: int = 1, chunks=None) -> None:
    """Write the empty store (metadata, coordinates, an all-False ``done``); data chunks come as blocks finish.

    Written with zarr alone, in the layout xarray reads (``_ARRAY_DIMENSIONS``, NaN fill values, consolidated
    metadata), so the client does not import xarray/dask.array while the workers start.
    """
    import zarr

    from .. import version_stamp
    from .tasks import PHASE_CODES
    path = Path(path)
    if path.exists():
        if not overwrite:
            raise ValueError(f"path: {str(path)!r} exists; pass overwrite=True to replace it")
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    sizes = inner_sizes(spec)
    outer, shape = spec.outer_dims, spec.shape
    oc = tuple(chunks) if chunks is not None else outer_chunks(shape, cells_per_chunk)
    g = zarr.open_group(str(path), mode="w-", zarr_format=ZARR_FORMAT)
    g.attrs.update({**version_stamp(), "spec": spec.to_json(),
                    "phase_codes": json.dumps(PHASE_CODES), "dims": json.dumps(list(outer)),
                    "schedule_parameters": json.dumps(get_schedule(spec.schedule).to_dict()),
                    **{k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in spec.as_dict().items()}})

    def array(name, dims, values=None, shp=None, chk=None, dtype="f8", fill=np.nan, **attrs):
        # data and attributes in the create call: each later write re-writes the array's metadata
        attributes = {"_ARRAY_DIMENSIONS": list(dims), **attrs}
        if values is not None:
            values = np.asarray(values)
            g.create_array(name, data=values, chunks=chk or values.shape, fill_value=fill, attributes=attributes)
        else:
            g.create_array(name, shape=shp, dtype=dtype, chunks=chk or shp, fill_value=fill, attributes=attributes)

    for k, v in _coords(spec).items():
        dims, vals = v if isinstance(v, tuple) else ((k,), v)
        array(k, dims, vals, fill=None)
    for name, (inner, desc) in variables(spec).items():
        ish = tuple(sizes[k] for k in inner)
        extra = {"coordinates": "tau"} if "t" in inner else {}
        if name == "phase_theory" or name == "phase":
            extra.update(flag_values=[0, 1, 2], flag_meanings="trivial coverage consolidation")
        array(name, outer + inner, shp=shape + ish, chk=oc + ish, description=desc, **extra)
    array("done", outer, np.zeros(shape, dtype=bool), chk=oc, fill=None, description="cell computed and written")
    zarr.consolidate_metadata(str(path))


def read_spec(path) -> SweepSpec:
    """The :class:`SweepSpec` a sweep store at ``path`` was written with; ``ValueError`` naming ``store`` when
    ``path`` is not a specgap sweep store."""
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
    """The store as an :class:`xarray.Dataset` (lazy, dask-backed): ``xarray.open_zarr(path)``.

    Examples
    --------
    >>> from specgap.sweep import SweepSpec, run_sweep
    >>> spec = SweepSpec(task="theory", alpha=[0.5], ratio=[0.01, 0.1], t=[0.05])
    >>> _ = run_sweep(spec, "ratios.zarr", workers=0, progress=False)
    >>> ds = open_sweep("ratios.zarr")
    >>> ds.tau_star.dims, ds.tau_star.values.round(6).ravel().tolist()      # tau* = sqrt(l u) per ratio
    (('alpha', 'ratio', 'fraction'), [0.044402, 0.142394])
    """
    import xarray as xr
    return xr.open_zarr(str(path))


open_store = open_sweep


class CellWriter:
    """Writes finished cells into the store: values first, then the ``done`` flags (one writer, the client)."""

    def __init__(self, path, spec: SweepSpec):
        import zarr
        self.spec = spec
        self.group = zarr.open_group(str(path), mode="r+")
        self.names = list(variables(spec))
        # each array opened once: reopening re-reads its metadata, about half of a block's write time
        self.arrays = {name: self.group[name] for name in self.names + ["done"]}
        self.chunks = tuple(self.arrays["done"].chunks)

    def write(self, flat: int, values: dict) -> None:
        """One cell."""
        idx = self.spec.cell_index(flat)
        for name in self.names:
            self.arrays[name][idx] = values[name]
        self.arrays["done"][idx] = True

    def write_block(self, region, cells, results) -> list:
        """The results ``[(flat, values, error)]`` of the block ``region`` (slices) holding ``cells``: one
        write per variable when every cell of the block succeeded, else cell by cell. Returns the written cells."""
        ok = {f: v for f, v, e in results if e is None}
        if list(ok) == list(cells):
            shape = tuple(s.stop - s.start for s in region)
            for name in self.names:
                arr = np.stack([ok[f][name] for f in cells])
                self.arrays[name][region] = arr.reshape(shape + arr.shape[1:])
            self.arrays["done"][region] = True
            return list(cells)
        for f in sorted(ok):
            self.write(f, ok[f])
        return sorted(ok)
