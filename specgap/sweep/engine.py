"""Run a sweep on Dask (``dask.distributed``): cells batched into tasks, results written as they finish.

- Default: an in-process :class:`distributed.LocalCluster` with one single-threaded worker *process* per
  core (``n_workers = workers or cores``, ``threads_per_worker = 1``), shut down at the end; started by
  :func:`local_cluster` with Dask's background work turned down and glibc's memory reuse left on
  (:data:`LOCAL_CONFIG`), because on a small machine the workers share the cores with the client, the
  scheduler and the nannies. A sweep whose estimated work (:func:`specgap.sweep.tasks.cell_cost`) is less
  than starting the cluster saves (:func:`serial_below`) runs the serial loop instead, and says so on stderr.
- ``scheduler='tcp://host:8786'``: an existing cluster (``dask scheduler`` / ``dask worker``,
  dask-jobqueue, Kubernetes); its scheduler and workers need the same specgap (checked first:
  :func:`check_workers`). ``client=``: a :class:`distributed.Client` the caller owns (left open).
  ``workers=0``: no Dask, the serial loop in this process (same cells, same writes).
- Cells are grouped into blocks of contiguous cells (one task and one store chunk each; ``batch`` cells,
  by default about 4 tasks per worker, 2 for theory cells, at most 8 cells for measured ones). Tasks are
  submitted most expensive first (:func:`specgap.sweep.tasks.cell_cost`: longest-processing-time order, so
  the last tasks are short and the workers finish together), before the store is created, so creating it
  overlaps the first tasks.
- Only this process (the client) writes the store, block by block in completion order (values, then the
  done flags), so a task that is re-run after its worker died is still written once, and an interrupted
  sweep loses at most the blocks in flight; ``resume=True`` submits only cells not marked done.
"""
from __future__ import annotations

import contextlib
import copy
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from .spec import SweepSpec
from .store import CellWriter, create_store, read_done, read_spec
from .tasks import cell_cost, compute_batch

__all__ = ["run_sweep", "default_workers", "check_workers", "local_cluster", "serial_below", "LOCAL_CONFIG"]

CONNECT_TIMEOUT = "10s"        # to reach ``scheduler``

#: Dask settings of the default LocalCluster (``dask.config`` keys). Dask's defaults wake every server
#: (scheduler, client, each nanny and worker) every 20 ms to check its event loop, sample the workers' stacks
#: every 10 ms for the dashboard's profile and poll memory every 100 ms: measured on an idle 2-worker cluster
#: (2 cores), 0.07 CPU-s/s in this process and 0.05 in each worker, against 0.014 and 0.004 with these
#: settings. And the nannies start the workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which turns off glibc's
#: reuse of freed large blocks, so every array of a cell's draws is a fresh ``mmap`` and page-faults again:
#: 1.6 s of system time per worker on the 64-cell d = 1000 benchmark (14 s), 0.1 s without it.
LOCAL_CONFIG = {"distributed.admin.tick.interval": "500ms", "distributed.worker.profile.enabled": False,
                "distributed.worker.memory.monitor-interval": "1s",
                "distributed.admin.system-monitor.interval": "2s",
                "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def local_cluster(workers: int | None = None, dashboard_address: str | None = ":0"):
    """The engine's default cluster: a :class:`distributed.LocalCluster` of ``workers`` (default: the cores)
    single-threaded worker processes, started under :data:`LOCAL_CONFIG` (the nannies pass it to the workers)."""
    import dask
    from distributed import LocalCluster
    with dask.config.set(LOCAL_CONFIG):
        # the nannies keep a shallow view of the global config; a copy keeps these settings for workers they
        # restart after the ``with`` has restored the caller's config
        config = {"distributed": copy.deepcopy(dask.config.get("distributed"))}
        return LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1, processes=True,
                            dashboard_address=dashboard_address, config=config)


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:               # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _worker_version():
    import specgap.sweep.tasks  # noqa: F401 - what every task needs
    from specgap import __version__
    return __version__


def check_workers(client) -> None:
    """The scheduler and every worker import this specgap version's sweep tasks, else ``ValueError`` (one line).

    A task goes through the scheduler (which unpickles the task graph), ``client.run`` reaches every worker.
    """
    from .. import __version__
    try:
        client.submit(_worker_version, pure=False).result(timeout=120)
        got = client.run(_worker_version)
    except Exception as e:  # noqa: BLE001 - e.g. ModuleNotFoundError or a deserialisation error on a worker
        raise ValueError(f"scheduler: the scheduler or a worker cannot import specgap.sweep ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}); install specgap[dask] {__version__} "
                         f"in the scheduler's and every worker's environment") from None
    bad = {w: v for w, v in got.items() if v != __version__}
    if bad:
        raise ValueError(f"scheduler: workers run another specgap version ({sorted(set(bad.values()))}, here "
                         f"{__version__}); install the same version on every worker")


STARTUP_S = 1.5        # seconds to start a LocalCluster of single-threaded workers (measured 1.2-1.5 s, 2 cores)


def serial_below(workers: int) -> float:
    """Estimated work (seconds, :func:`specgap.sweep.tasks.cell_cost`) under which the default is the serial
    loop: ``W`` workers save at most ``(1 - 1/W)`` of it, which must pay for starting them
    (``STARTUP_S W / (W - 1)``; with one core, always)."""
    return math.inf if workers <= 1 else STARTUP_S * workers / (workers - 1)


def _default_batch(spec: SweepSpec, n_cells: int, workers: int) -> int:
    # about 4 tasks per worker: few enough that the client's per-task work (receiving and writing a block,
    # ~25-50 ms) stays small, enough that the longest-first order balances the workers (theory cells are
    # alike: 2 per worker); measured cells take 0.1 s or more, so at most 8 per task keeps the loss on
    # interruption small
    per = 2 if spec.task == "theory" else 4
    cap = 1024 if spec.task == "theory" else 8
    return int(max(1, min(cap, math.ceil(n_cells / (max(1, workers) * per)))))


def run_sweep(spec: SweepSpec, store, *, workers: int | None = None, scheduler: str | None = None,
              client=None, resume: bool = False, overwrite: bool = False, batch: int | None = None,
              progress: bool = True, on_cell=None) -> dict:
    """Compute every cell of ``spec`` not yet in ``store`` and write it there.

    Plan (check the arguments, estimate the cells' costs, choose serial or Dask), connect, lay out the blocks,
    submit them and write each as it finishes, report.

    Parameters
    ----------
    spec : SweepSpec
    store : path of the Zarr store (created unless ``resume``)
    workers : worker processes of the default LocalCluster; 0 = serial; default: the machine's cores, or the
        serial loop when the estimated work is below :func:`serial_below` (less than the cluster's start-up)
    scheduler : address of an existing Dask scheduler
    client : an open ``distributed.Client`` to use (left open)
    resume : complete an existing store written with the same spec (only cells not done are computed)
    overwrite : replace an existing store
    batch : cells per task = per chunk block of a new store (default: by task and worker count; a resumed
        store keeps its blocks)
    progress : progress line on stderr
    on_cell : ``f(flat)`` called after each cell is written

    Returns
    -------
    dict
        ``cells``, ``computed``, ``skipped`` (already done), ``failed`` (list of ``{"cell", "index",
        "error"}``), ``complete``, ``seconds``, ``rate`` (cells/s), ``scheduler`` ('serial', 'local' or the
        address), ``workers``, ``chunk`` (cells per block along each outer dim), ``dims``, ``shape``,
        ``estimated_seconds`` (:func:`specgap.sweep.tasks.cell_cost` of the cells computed now, one core).

    Raises
    ------
    ValueError
        Naming the parameter (``spec``, ``store``, ``workers``, ``batch``, ``resume``, ``scheduler``).

    Examples
    --------
    A theory sweep of one cell, the paper's model (``alpha = 1/2``, levels 1 and 0.01 on 3/4 and 1/4), into a
    store in the working directory:

    >>> from specgap.sweep import SweepSpec, open_sweep
    >>> spec = SweepSpec(task="theory", alpha=[0.5], ratio=[0.01], fraction=[0.75], t=[100.0, 0.05, 1e-5])
    >>> res = run_sweep(spec, "sweep.zarr", workers=0, progress=False)          # workers=0: serial, no cluster
    >>> res["computed"], res["complete"], res["shape"]
    (1, True, [1, 1, 1])
    >>> ds = open_sweep("sweep.zarr")
    >>> ds.phase_theory.values.ravel().tolist()                                  # trivial, coverage, consolidation
    [0.0, 1.0, 2.0]
    >>> round(float(ds.tau_star.values.ravel()[0]), 6), round(float(ds.max_width.values.ravel()[0]), 5)  # sqrt(l u)
    (0.044402, 0.54678)
    >>> run_sweep(spec, "sweep.zarr", workers=0, resume=True, progress=False)["skipped"]   # done cells are kept
    1
    """
    store = Path(store)
    resuming = _check_arguments(spec, store, workers, batch, resume, overwrite)
    t0 = time.perf_counter()
    pending, costs = _costs(spec, store, resuming)
    estimate = float(costs.sum())
    serial = _runs_serially(workers, scheduler, client, estimate, progress and pending > 0)
    where, n_workers = "serial", 1
    with contextlib.ExitStack() as started:              # closes the client and cluster this sweep starts
        if pending and not serial:
            client, where = _connect(started, workers, scheduler, client)
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        chunks, skipped, work = _blocks(spec, store, resuming, batch or _default_batch(spec, spec.n_cells, n_workers))
        computed, failed = _compute(spec, store, work, costs, None if serial else client, chunks=chunks,
                                    create=not resuming, overwrite=overwrite, skipped=skipped, progress=progress,
                                    on_cell=on_cell)
    dt = time.perf_counter() - t0
    done_now = int(read_done(store).sum())
    return {"store": str(store), "task": spec.task, "dims": list(spec.outer_dims), "shape": list(spec.shape),
            "cells": spec.n_cells, "computed": computed, "skipped": skipped, "failed": failed,
            "complete": done_now == spec.n_cells, "seconds": dt, "rate": computed / dt if dt > 0 else None,
            "scheduler": where, "workers": n_workers, "chunk": list(CellWriter(store, spec).chunks),
            "estimated_seconds": estimate}


def _check_arguments(spec, store: Path, workers, batch, resume: bool, overwrite: bool) -> bool:
    """Validate the arguments of :func:`run_sweep` (errors name the parameter); True when resuming ``store``."""
    if not isinstance(spec, SweepSpec):
        raise ValueError(f"spec must be a SweepSpec, got {type(spec).__name__}")
    if workers is not None and (int(workers) != workers or workers < 0):
        raise ValueError(f"workers must be an integer >= 0, got {workers!r}")
    if batch is not None and (int(batch) != batch or batch < 1):
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    resuming = resume and store.exists()
    if resuming:
        old = read_spec(store)
        if old != spec:
            diff = [k for k, v in spec.as_dict().items() if old.as_dict().get(k) != v]
            raise ValueError(f"resume: {str(store)!r} was written by another sweep (different {', '.join(diff)})")
    elif store.exists() and not overwrite:
        raise ValueError(f"store: {str(store)!r} exists; pass resume=True to complete it or overwrite=True")
    return bool(resuming)


def _costs(spec: SweepSpec, store: Path, resuming: bool) -> tuple[int, np.ndarray]:
    """``(pending, costs)``: the number of cells still to compute and the estimated seconds
    (:func:`specgap.sweep.tasks.cell_cost`) of each cell, 0 for those ``store`` marks done; ``costs`` has shape
    ``(spec.n_cells,)``."""
    todo_mask = ~read_done(store).ravel() if resuming else np.ones(spec.n_cells, dtype=bool)
    costs = np.zeros(spec.n_cells)
    costs[todo_mask] = [cell_cost(spec, c) for c in np.flatnonzero(todo_mask)]
    return int(todo_mask.sum()), costs


def _runs_serially(workers, scheduler, client, estimate: float, say: bool) -> bool:
    """Whether the cells are computed in this process: ``workers=0``, or by default (no ``workers``,
    ``scheduler`` or ``client``) when the ``estimate`` (seconds) is below :func:`serial_below`; ``say``: note
    the latter on stderr."""
    if scheduler is not None or client is not None:
        return False
    if workers == 0:
        return True
    if workers is None and estimate < serial_below(default_workers()):
        if say:
            sys.stderr.write(f"sweep: about {estimate:.1f} s of work, less than starting a cluster: computing it "
                             f"here (--workers N for a cluster)\n")
        return True
    return False


def _connect(started: contextlib.ExitStack, workers, scheduler, client):
    """``(client, where)``: the caller's ``client`` (left open), else one connected to ``scheduler``, else one of
    a :func:`local_cluster` of ``workers`` (``where``: ``'local'``); what this starts is closed by ``started``.
    The workers of a cluster this did not start are checked by :func:`check_workers`."""
    from distributed import Client
    own_cluster = None
    if client is None and scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as e:
            raise ValueError(f"scheduler: cannot connect to {scheduler!r} ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''})") from None
        started.callback(client.close)
    elif client is None:
        own_cluster = local_cluster(workers)          # dashboard on any free port
        started.callback(own_cluster.close)
        client = Client(own_cluster)
        started.callback(client.close)               # closed before its cluster
    if own_cluster is None:
        check_workers(client)
    return client, "local" if own_cluster is not None else str(client.scheduler.address)


def _blocks(spec: SweepSpec, store: Path, resuming: bool, batch: int):
    """``(chunks, skipped, work)``: the chunk shape (that of a resumed store, else ``batch`` cells per block),
    the number of cells already done, and ``(region, cells, todo)`` of each block with cells to compute."""
    from .store import blocks, outer_chunks
    if resuming:
        chunks, done = tuple(CellWriter(store, spec).chunks), read_done(store).ravel()
    else:
        chunks, done = outer_chunks(spec.shape, batch), np.zeros(spec.n_cells, dtype=bool)
    work = []
    for region, cells in blocks(spec.shape, chunks):
        todo = [c for c in cells if not done[c]]
        if todo:
            work.append((region, cells, todo))
    return chunks, int(done.sum()), work


def _compute(spec: SweepSpec, store: Path, work, costs, client, *, chunks, create: bool, overwrite: bool,
             skipped: int, progress: bool, on_cell) -> tuple[int, list]:
    """Compute the blocks of ``work`` (on ``client``'s workers, longest first, or here when it is None), create
    the store (``create``; replacing one when ``overwrite``) while the first tasks run, and write each block as
    it finishes. Returns ``(computed, failed)``; an interruption cancels the tasks in flight."""
    futures = []
    if client is not None and work:                      # longest first (equal costs keep their order)
        cost = [costs[todo].sum() for _, _, todo in work]
        work = [work[i] for i in sorted(range(len(work)), key=lambda i: -cost[i])]
        futures = [client.submit(compute_batch, spec, todo, pure=False, priority=len(work) - i)
                   for i, (_, _, todo) in enumerate(work)]
    bar = None
    try:
        if create:                                       # while the workers start on the first blocks
            create_store(store, spec, overwrite=overwrite, chunks=chunks)
        writer = CellWriter(store, spec)
        from tqdm import tqdm                # done/total, rate and ETA on stderr (the package's one progress bar)
        bar = tqdm(total=spec.n_cells, initial=skipped, desc="sweep", unit="cell", file=sys.stderr,
                   disable=not progress, mininterval=0.5)
        failed, computed = [], 0
        for region, cells, results in _results(spec, work, futures):
            failed += [{"index": flat, "cell": spec.cell(flat), "error": err} for flat, _, err in results
                       if err is not None]
            for flat in writer.write_block(region, cells, results):
                computed += 1
                if on_cell is not None:
                    on_cell(flat)
            bar.update(len(results))
        return computed, failed
    except BaseException:                    # interrupted: nothing more runs for this sweep
        if futures:
            client.cancel(futures)
        raise
    finally:
        if bar is not None:
            bar.close()


def _results(spec: SweepSpec, work, futures):
    """``(region, cells, results)`` of each block of ``work``: computed here in order when there are no
    ``futures``, else in completion order (a task that died fails its cells: ``(cell, None, error)``)."""
    if not futures:
        for region, cells, todo in work:
            yield region, cells, compute_batch(spec, todo)
        return
    from distributed import as_completed
    owner = {f.key: w for f, w in zip(futures, work)}
    for fut in as_completed(futures):
        region, cells, todo = owner[fut.key]
        try:
            res = fut.result()
        except Exception as e:  # noqa: BLE001 - the task died (e.g. KilledWorker): its cells fail
            msg = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            res = [(c, None, msg) for c in todo]
        yield region, cells, res
        fut.release()
