"""Run a sweep on Dask (``dask.distributed``): cells batched into tasks, results written as they finish.

- Default: an in-process :class:`distributed.LocalCluster` with one single-threaded worker *process* per
  core (``n_workers = workers or cores``, ``threads_per_worker = 1``), shut down at the end.
- ``scheduler='tcp://host:8786'``: an existing cluster (``dask scheduler`` / ``dask worker``,
  dask-jobqueue, Kubernetes); its workers need specgap importable. ``client=``: a :class:`distributed.Client`
  the caller owns (left open). ``workers=0``: no Dask, the serial loop in this process (same cells, same
  writes; the reference the parallel runs are compared with).
- Only this process (the client) writes the store, cell by cell in completion order (values, then the
  done flag), so a task that is re-run after its worker died is still written once, and an interrupted
  sweep loses at most the cells in flight; ``resume=True`` submits only cells not marked done.
"""
from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from .spec import SweepSpec
from .store import CellWriter, create_store, read_done, read_spec
from .tasks import compute_batch

__all__ = ["run_sweep", "default_workers", "Progress"]

CONNECT_TIMEOUT = "10s"        # to reach --scheduler


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:               # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Progress:
    """``sweep: done/total cells (rate/s, ETA)`` on stderr, redrawn at most every ``every`` seconds."""

    def __init__(self, total: int, start: int = 0, enabled: bool = True, every: float = 0.5, stream=None):
        self.total, self.done, self.start_done = total, start, start
        self.enabled, self.every = enabled, every
        self.stream = stream or sys.stderr
        self.t0 = self.last = time.perf_counter()
        self.shown = None

    def rate(self) -> float:
        dt = time.perf_counter() - self.t0
        return (self.done - self.start_done) / dt if dt > 0 else 0.0

    def update(self, k: int = 1, force: bool = False) -> None:
        self.done += k
        now = time.perf_counter()
        if self.enabled and (force or now - self.last >= self.every or self.done == self.total):
            self.last = now
            r = self.rate()
            eta = (self.total - self.done) / r if r > 0 else float("inf")
            eta_s = f"{eta:.0f}s" if math.isfinite(eta) else "?"
            self.stream.write(f"\rsweep: {self.done}/{self.total} cells ({r:.2f}/s, ETA {eta_s})   ")
            self.stream.flush()
            self.shown = self.done

    def close(self) -> None:
        if self.enabled:
            if self.shown != self.done:
                self.update(0, force=True)
            self.stream.write("\n")
            self.stream.flush()


def _batches(todo, size):
    return [todo[i:i + size] for i in range(0, len(todo), size)]


def _default_batch(spec: SweepSpec, n_todo: int, workers: int) -> int:
    # theory cells take ~10 ms: batch them so each worker gets ~4 tasks; measured cells take 0.1 s or more:
    # small batches keep the loss on interruption small and the load balanced
    per = 4 if spec.task == "theory" else 16
    cap = 256 if spec.task == "theory" else 8
    return int(max(1, min(cap, math.ceil(n_todo / (max(1, workers) * per)))))


def run_sweep(spec: SweepSpec, store, *, workers: int | None = None, scheduler: str | None = None,
              client=None, resume: bool = False, overwrite: bool = False, batch: int | None = None,
              progress: bool = True, on_cell=None) -> dict:
    """Compute every cell of ``spec`` not yet in ``store`` and write it there.

    Parameters
    ----------
    spec : SweepSpec;  store : path of the Zarr store (created unless ``resume``)
    workers : worker processes of the default LocalCluster (default: the machine's cores); 0 = serial
    scheduler : address of an existing Dask scheduler;  client : an open ``distributed.Client`` to use
    resume : complete an existing store written with the same spec (only cells not done are computed)
    overwrite : replace an existing store;  batch : cells per task (default: by task and worker count)
    progress : progress line on stderr;  on_cell : ``f(flat)`` called after each cell is written

    Returns
    -------
    dict: ``cells``, ``computed``, ``skipped`` (already done), ``failed`` (list of ``{"cell", "index",
    "error"}``), ``seconds``, ``rate`` (cells/s), ``scheduler``, ``workers``, ``batch``, ``complete``.
    """
    if not isinstance(spec, SweepSpec):
        raise ValueError(f"spec must be a SweepSpec, got {type(spec).__name__}")
    store = Path(store)
    if workers is not None and (int(workers) != workers or workers < 0):
        raise ValueError(f"--workers must be an integer >= 0, got {workers!r}")
    if batch is not None and (int(batch) != batch or batch < 1):
        raise ValueError(f"--batch must be an integer >= 1, got {batch!r}")
    if resume and store.exists():
        old = read_spec(store)
        if old != spec:
            diff = [k for k, v in spec.as_dict().items() if old.as_dict().get(k) != v]
            raise ValueError(f"--resume: {str(store)!r} was written by another sweep (different {', '.join(diff)})")
    else:
        create_store(store, spec, overwrite=overwrite)
    done = read_done(store).ravel()
    todo = np.flatnonzero(~done).tolist()
    skipped = int(done.sum())
    writer = CellWriter(store, spec)
    t0 = time.perf_counter()
    bar = Progress(spec.n_cells, skipped, enabled=progress)
    failed, computed = [], 0
    where, n_workers = "serial", 1

    def take(results):
        nonlocal computed
        for flat, values, err in results:
            if err is not None:
                failed.append({"index": flat, "cell": spec.cell(flat), "error": err})
            else:
                writer.write(flat, values)
                computed += 1
                if on_cell is not None:
                    on_cell(flat)
            bar.update(1)

    own_client = own_cluster = None
    try:
        if todo and (workers == 0 and scheduler is None and client is None):
            size = batch or _default_batch(spec, len(todo), 1)
            for cells in _batches(todo, size):
                take(compute_batch(spec, cells))
        elif todo:
            from distributed import Client, LocalCluster, as_completed
            if client is None and scheduler is not None:
                try:
                    client = own_client = Client(scheduler, timeout=CONNECT_TIMEOUT)
                except (OSError, TimeoutError, ValueError) as e:
                    raise ValueError(f"--scheduler: cannot connect to {scheduler!r} ({type(e).__name__}: "
                                     f"{str(e).splitlines()[0] if str(e) else ''})") from None
            elif client is None:
                n = workers or default_workers()
                own_cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
                client = own_client = Client(own_cluster)
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))
            where = "local" if own_cluster is not None else str(client.scheduler.address)
            size = batch or _default_batch(spec, len(todo), n_workers)
            groups = _batches(todo, size)
            futures = [client.submit(compute_batch, spec, cells, pure=False) for cells in groups]
            owner = {f.key: cells for f, cells in zip(futures, groups)}
            try:
                for fut in as_completed(futures):
                    try:
                        res = fut.result()
                    except Exception as e:  # noqa: BLE001 - the task died (e.g. KilledWorker): its cells fail
                        msg = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                        res = [(c, None, msg) for c in owner[fut.key]]
                    take(res)
                    fut.release()
            except BaseException:
                client.cancel(futures)
                raise
    finally:
        bar.close()
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()
    dt = time.perf_counter() - t0
    done_now = int(read_done(store).sum())
    return {"store": str(store), "task": spec.task, "dims": list(spec.outer_dims), "shape": list(spec.shape),
            "cells": spec.n_cells, "computed": computed, "skipped": skipped, "failed": failed,
            "complete": done_now == spec.n_cells, "seconds": dt, "rate": computed / dt if dt > 0 else None,
            "scheduler": where, "workers": n_workers,
            "batch": (batch or (_default_batch(spec, len(todo), n_workers) if todo else None))}
