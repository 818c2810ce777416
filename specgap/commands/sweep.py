"""``specgap sweep``: parameter grids on Dask with a labelled, resumable xarray/Zarr store (specgap.sweep).

``specgap sweep run --task theory|simulate|finite-n|network --alpha 0.3,0.5 --ratio 0.01,0.1 --fraction 0.75
--t 1e-3:10:40 --d 200 --draws 8 --out STORE.zarr [--spec FILE.toml] [--scheduler ADDR] [--workers N]
[--resume] --json``; ``specgap sweep plot STORE.zarr --out DIR``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ._common import EXTRAS, SCHEDULE_NAMES, TORCH, add_common, emit, flags_for, float_list


def _int_list(text):
    try:
        return [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


_GRID = ("task", "alpha", "ratio", "fraction", "t", "d", "n", "draws", "points", "steps", "width", "schedule", "delta",
         "seed")


def spec_from_args(args):
    """The :class:`SweepSpec` of ``--spec FILE`` (if any) with every grid option given on the line on top."""
    from ..sweep.spec import SweepSpec, spec_fields
    fields = spec_fields(args.spec, "--spec") if args.spec is not None else {}
    fields.update({k: getattr(args, k) for k in _GRID if getattr(args, k) is not None})
    return SweepSpec.from_dict(fields)


def _run_needs(args) -> tuple[str, ...]:
    """The [dask] extra (Dask, xarray, Zarr), and torch for the network task (``--task``, else the task of
    ``--spec FILE``)."""
    task = args.task
    if task is None and args.spec is not None:
        from ..sweep.spec import spec_fields
        task = spec_fields(args.spec, "--spec").get("task")
    return tuple(EXTRAS["dask"]) + (TORCH if task == "network" else ())


#: the parameters of :func:`specgap.sweep.engine.run_sweep` (and :func:`specgap.sweep.plot.plot_sweep`) and the
#: options of ``sweep run`` (``sweep plot``) that set them
_RUN_FLAGS = {"store": "--out", "path": "--out", "workers": "--workers", "batch": "--batch", "scheduler": "--scheduler",
              "resume": "--resume", "overwrite": "--overwrite"}
_PLOT_FLAGS = {"parameter": "--parameter", "at": "--at"}


def _run(args):
    import sys

    from ..sweep.engine import run_sweep
    from ..sweep.store import read_done
    spec = spec_from_args(args)
    try:
        with flags_for(_RUN_FLAGS):
            res = run_sweep(spec, args.store, workers=args.workers, scheduler=args.scheduler, resume=args.resume,
                            overwrite=args.overwrite, batch=args.batch, progress=not args.quiet)
    except KeyboardInterrupt:
        n = int(read_done(args.store).sum()) if Path(args.store).exists() else 0
        raise KeyboardInterrupt(f"interrupted: {n} of {spec.n_cells} cells are in {str(args.store)!r}; rerun with "
                                f"--resume to compute the rest") from None
    res["spec"] = spec.as_dict()
    text = (f"{res['computed']} cells computed, {res['skipped']} already done, {len(res['failed'])} failed "
            f"({res['seconds']:.1f} s, {res['scheduler']}, {res['workers']} workers) -> {res['store']}")
    for f in res["failed"][:10]:
        text += f"\n  failed {f['cell']}: {f['error']}"
    emit(args, res, text)
    if res["failed"]:
        sys.stderr.write(f"specgap: {len(res['failed'])} cells failed; fix the input and rerun with --resume\n")
        return 1
    return 0


def _dim_value(text):
    """``DIM=VALUE`` of ``sweep plot --at``."""
    k, _, v = str(text).partition("=")
    try:
        return k.strip(), float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected DIM=VALUE, e.g. alpha=0.5, got {text!r}") from None


def _plot(args):
    import sys

    from ..sweep.plot import plot_sweep
    if args.out is None:
        raise ValueError("--out is required (directory for the figures)")
    with flags_for(_PLOT_FLAGS):
        res = plot_sweep(args.store, args.out, parameter=args.parameter, at=dict(args.at))
    held = [k for k in res["other_values"] if k not in dict(args.at)]
    if held:             # the store has more: say which values the figures show and how to choose others
        at = [f"{k}={res['fixed'][k]:g} (of {', '.join(f'{v:g}' for v in res['other_values'][k])})" for k in held]
        sys.stderr.write(f"specgap sweep plot: the figures show {res['parameter']} against tau at {', '.join(at)}; "
                         "choose others with --at DIM=VALUE\n")
    where = ", ".join(f"{k}={v:g}" for k, v in res["fixed"].items())
    emit(args, res, "\n".join([f"wrote {', '.join(res['files'])} to {args.out} ({res['parameter']} against tau"
                               + (f" at {where})" if where else ")")] +
                              [f"{k}: {v}" for k, v in res.get("measured", {}).items() if not isinstance(v, list)]))


def register(sub, help_text):
    """Add the ``sweep`` group and its commands to the subparsers ``sub``; ``help_text`` is its one-line help."""
    p = sub.add_parser("sweep", help=help_text, description=help_text)
    cmds = p.add_subparsers(dest="command", metavar="<command>")
    cmds.required = True

    c = cmds.add_parser("run", help="compute a grid x task on Dask into a Zarr store, cell by cell",
                        description="Cells are (alpha, ratio, fraction[, d[, n]]); each computes every t. "
                                    "Options left out come from --spec FILE.toml, else the defaults.")
    c.add_argument("--spec", type=Path, default=None, metavar="FILE.toml",
                   help="TOML file with the grid fields (task, alpha, ratio, fraction, t, d, n, draws, points, "
                        "steps, width, schedule, delta, seed); options on the line override it")
    c.add_argument("--task", choices=["theory", "simulate", "finite-n", "network"], default=None,
                   help="theory readouts | simulated exact-score spectra | exact finite-n empirical score | "
                        "trained MLP score networks")
    c.add_argument("--alpha", type=float_list, default=None, help="alpha = m/d values (default 0.5)")
    c.add_argument("--ratio", type=float_list, default=None, help="sigma_2^2/sigma_1^2 values (default 0.01)")
    c.add_argument("--fraction", type=float_list, default=None, help="fraction of the first level (default 0.75)")
    c.add_argument("--t", type=str, default=None, help="LOW:HIGH:N (log-spaced) or t1,t2,.. (default 1e-3:10:40)")
    c.add_argument("--d", type=_int_list, default=None,
                   help="ambient dimensions (simulate, finite-n, network; default 200)")
    c.add_argument("--n", type=_int_list, default=None, help="training-set sizes (finite-n, network; default 100)")
    c.add_argument("--draws", type=int, default=None, help="F draws per cell (network: one network each; default 8)")
    c.add_argument("--points", type=int, default=None, help="query points per draw (finite-n, network; default 4)")
    c.add_argument("--steps", type=int, default=None, help="training steps of each network (network; default 2000)")
    c.add_argument("--width", type=int, default=None, help="hidden width of the networks' MLP (network; default 128)")
    c.add_argument("--schedule", choices=SCHEDULE_NAMES, default=None, help="t -> tau (default ve)")
    c.add_argument("--delta", type=float, default=None, help="resolution of the phase readouts (default 0.1)")
    c.add_argument("--seed", type=int, default=None,
                   help="root seed (default 0); cell i uses SeedSequence(seed, spawn_key=(i,))")
    c.add_argument("--out", dest="store", type=Path, required=True, metavar="STORE.zarr", help="the result store")
    c.add_argument("--overwrite", action="store_true", help="replace an existing store")
    c.add_argument("--resume", action="store_true", help="complete an existing store: compute only missing cells")
    c.add_argument("--scheduler", default=None, metavar="ADDR",
                   help="address of a running Dask scheduler (tcp://host:8786); default: a LocalCluster here")
    c.add_argument("--workers", type=int, default=None,
                   help="worker processes of the local cluster (default: cores, or serial when the sweep's "
                        "estimated work is less than starting them); 0 = serial, no Dask")
    c.add_argument("--batch", type=int, default=None,
                   help="cells per task = per chunk of a new store (default: by task and workers)")
    c.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    c.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    c.set_defaults(handler=_run, needs=_run_needs)

    c = cmds.add_parser("plot", help="phase diagrams (theory, or measured vs theory) of a sweep store",
                        description="Phase diagram of one dim (--parameter) against tau at one value of every "
                                    "other dim (--at): the theory's phases and boundaries and, for measured tasks, "
                                    "the measured phases (majority over draws/points); agreement fraction and "
                                    "worst boundary offset over every cell.")
    c.add_argument("store", type=Path, metavar="STORE.zarr", help="the store written by 'specgap sweep run'")
    c.add_argument("--parameter", choices=["alpha", "ratio", "fraction", "d", "n"], default=None,
                   help="vertical axis (default: the first of ratio, alpha, fraction, n, d with more than one value "
                        "in the store)")
    c.add_argument("--at", type=_dim_value, action="append", default=[], metavar="DIM=VALUE",
                   help="value at which another dim is held in the figures (repeatable; default: its first value, "
                        "named on stderr when the store has several)")
    add_common(c, out_help="directory for phase_diagram.png and .pdf (measured tasks: beside the theory; finite-n: "
                           "also memorisation.png, finite_size.png) and summary.json (required)")
    c.set_defaults(handler=_plot, needs=("xarray", "zarr"))
