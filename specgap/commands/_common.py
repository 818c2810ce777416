"""What every command shares: common options, number lists, the one output function, usage errors.

The contract of every command (README.md, "The command line"): ``--json`` prints one strict JSON object on
stdout; ``--out DIR`` writes files and a ``summary.json`` (atomically); ``--seed``. Every JSON output carries
``specgap_version``, ``schema_version`` (:func:`specgap.version_stamp`), the ``command`` and its ``inputs``
(every option of the run).
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from .. import version_stamp

__all__ = ["load_points", "UsageError", "add_common", "OUT_SUMMARY", "require_out", "float_list", "emit", "save_arrays",
           "write_figure", "record", "check_out", "budgets", "flag_message", "flags_for", "BUDGET_FLAGS",
           "write_manifest", "snapshot", "EXTRAS", "TORCH", "extra_for", "missing_modules",
           "check_needs", "dataset_needs", "package_names"]

_NOT_INPUTS = ("handler", "needs", "json", "debug", "group", "command", "overwrite", "max_memory", "max_time")

#: the optional dependencies of each extra in pyproject.toml, as top-level module -> pip package (a test checks
#: this against pyproject.toml); smallest extra first, so that a module is named with the least to install
EXTRAS = {
    "jax": {"jax": "jax", "jaxlib": "jaxlib"},
    "torch": {"torch": "torch", "sklearn": "scikit-learn"},
    "dask": {"dask": "dask", "distributed": "distributed", "xarray": "xarray", "zarr": "zarr",
             "threadpoolctl": "threadpoolctl"},
    "data": {"torch": "torch", "mlxtend": "mlxtend", "sklearn": "scikit-learn", "skimage": "scikit-image",
             "PIL": "pillow", "skdim": "scikit-dimension"},
    "diffusers": {"torch": "torch", "diffusers": "diffusers", "safetensors": "safetensors",
                  "huggingface_hub": "huggingface_hub", "PIL": "pillow"},
}

#: what importing the ``trained`` package needs (torch; scikit-learn for the estimators' base class)
TORCH = ("torch", "sklearn")

#: forward-process schedules a theory or simulation command accepts (the names of ``rmt.schedules.SCHEDULES``;
#: spelled out so that ``--help`` does not import rmt)
SCHEDULE_NAMES = ("ve", "vp", "ddpm", "edm", "geometric")
SCHEDULE_HELP = "t -> tau: ve (tau = t, the default), vp (e^2t - 1), ddpm (linear beta), edm (t^2), geometric"
BACKEND_HELP = "numpy (default), numba (compiled loops) or jax (needs specgap[jax])"


class UsageError(Exception):
    """Bad input on the command line: exit status 2, one line."""


#: ``--out`` of a command that writes nothing but its result
OUT_SUMMARY = "directory for summary.json (the result, as --json prints it)"


def add_common(p: argparse.ArgumentParser, *, out=True, seed=True, out_help: str | None = None):
    """The options every command shares; ``out_help`` says what ``--out DIR`` receives."""
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    if out:
        p.add_argument("--out", type=Path, default=None, metavar="DIR",
                       help=out_help or "directory for this command's figures (.png), arrays (.npz) and summary.json")
        p.add_argument("--overwrite", action="store_true",
                       help="allow --out to hold another run (a different command or different options)")
    if seed:
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--max-memory", default=None, metavar="BYTES",
                   help="memory budget, e.g. 4G (default: SPECGAP_MAX_MEMORY, else half the machine); larger work "
                        "is refused up front with what fits")
    p.add_argument("--max-time", default=None, metavar="SECONDS",
                   help="time budget, e.g. 30m (default: SPECGAP_MAX_TIME, else 1h); work estimated to take longer "
                        "is refused up front")


def dataset_needs(name: str, data_dir=None) -> tuple[str, ...]:
    """The optional modules data set ``name`` is read with (``data_dir`` None: its bundled copy)."""
    from trained.catalogue import CATALOGUE, canonical_name
    info = CATALOGUE.get(canonical_name(name))
    if info is None:                                   # a name load_images refuses, with the list of names
        return TORCH
    return TORCH + (info.modules_bundled if data_dir is None else info.modules_files)


def extra_for(modules) -> str:
    """The extra(s) to install for ``modules``: the smallest one that holds them all, else one per module."""
    modules = list(dict.fromkeys(modules))
    for extra, mods in EXTRAS.items():
        if all(m in mods for m in modules):
            return extra
    return ",".join(dict.fromkeys(next((e for e, mods in EXTRAS.items() if m in mods), "all") for m in modules))


def package_names(modules) -> list[str]:
    """The pip package of each module (``PIL`` -> ``pillow``)."""
    return [next((mods[m] for mods in EXTRAS.values() if m in mods), m) for m in modules]


def missing_modules(modules) -> list[str]:
    """Those of ``modules`` that cannot be imported here (found without importing them)."""
    import importlib.util
    out = []
    for m in dict.fromkeys(modules):
        try:
            found = importlib.util.find_spec(m) is not None
        except (ImportError, ValueError):          # a broken install, or a module blocked in sys.modules
            found = False
        if not found:
            out.append(m)
    return out


def check_needs(args) -> None:
    """Every optional package the command needs (``set_defaults(needs=...)``: module names, or a function of the
    options that returns them) must be installed, else a usage error naming the extra to install, before any
    work."""
    needs = getattr(args, "needs", ())
    missing = missing_modules(needs(args) if callable(needs) else needs)
    if not missing:
        return
    command = " ".join(x for x in (getattr(args, "group", None), getattr(args, "command", None)) if x)
    raise UsageError(f"specgap {command}: needs {', '.join(package_names(missing))} (not installed): "
                     f"pip install 'specgap[{extra_for(missing)}]'")


def flag_message(message: str, flags: dict[str, str]) -> str:
    """``message`` of a library error with each parameter named as the command's flag (``flags``: parameter ->
    flag, e.g. ``{"store": "--out", "resume": "--resume"}``).

    A library names a parameter at the head of its message (``"batch must be ..."``, ``"store: ..."``), after an
    opening parenthesis (``"(max_time / SPECGAP_MAX_TIME)"``) or, for a switch, as ``name=True``; those are the
    places rewritten, so that words of the prose (``"the store's values"``) stay as they are."""
    import re
    for name, flag in flags.items():
        n = re.escape(name)
        message = re.sub(rf"^{n}(?![\w=])", flag, message)
        message = re.sub(rf"\({n}(?![\w=])", "(" + flag, message)
        message = re.sub(rf"(?<![\w.-]){n}=True\b", flag, message)
    return message


@contextlib.contextmanager
def flags_for(flags: dict[str, str]):
    """Re-raise a library ``ValueError`` raised in the block with its parameters named as the command's flags
    (:func:`flag_message`): the one place where a command maps the library's parameter names to its options."""
    try:
        yield
    except ValueError as e:
        message = flag_message(str(e), flags)
        if message == str(e):
            raise
        raise ValueError(message) from None


#: the budget parameters of :func:`rmt.budget.limits` and the options that set them
BUDGET_FLAGS = {"max_memory": "--max-memory", "max_time": "--max-time"}


@contextlib.contextmanager
def budgets(args):
    """``--max-memory`` / ``--max-time`` as the budgets of :func:`rmt.budget.limits` for the duration of one
    command (restored afterwards: ``main`` may run in a longer-lived process); budget errors name the options."""
    from rmt.budget import limits
    with flags_for(BUDGET_FLAGS):
        block = limits(max_memory=getattr(args, "max_memory", None), max_time=getattr(args, "max_time", None))
        with block:
            yield


def require_out(args, what: str = "the figures and summary.json") -> None:
    """A reproduction writes files: ``--out`` is required and ``--seed`` must be >= 0."""
    if args.out is None:
        raise ValueError(f"--out is required (directory for {what})")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")


def float_list(text: str) -> list[float]:
    """Parse ``1,0.01`` into floats (argparse ``type``)."""
    try:
        vals = [float(v) for v in str(text).split(",") if v.strip() != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not vals:
        raise argparse.ArgumentTypeError(f"expected at least one number, got {text!r}")
    return vals


def record(args, result: dict) -> dict:
    """``result`` with ``specgap_version``, ``schema_version``, ``command`` and ``inputs`` (all options) first."""
    inputs = {k: v for k, v in vars(args).items() if k not in _NOT_INPUTS and not callable(v)}
    command = " ".join(x for x in (getattr(args, "group", None), getattr(args, "command", None)) if x)
    rest = {k: v for k, v in result.items() if k not in ("specgap_version", "schema_version")}
    return {**version_stamp(), "command": command, "inputs": inputs, **rest}


def check_out(args) -> None:
    """``--out`` must be a directory that can be created, and must not hold another run.

    Another run is a ``summary.json`` (or, where a run was interrupted before writing one, its ``manifest.json``)
    written by a different command or with different options (a rerun with the same options, e.g. a reproduction
    reusing its trained networks, or ``train --resume``, is allowed); ``--overwrite`` allows it anyway."""
    import json
    out = getattr(args, "out", None)
    if out is None:
        return
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {str(out)!r} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out: cannot create {str(out)!r} ({e.strerror or type(e).__name__})") from None
    prev = out / "summary.json"
    if not prev.exists():
        prev = out / "manifest.json"                 # a run interrupted before its summary
    if not prev.exists() or getattr(args, "overwrite", False):
        return
    mine = record(args, {})
    try:
        old = json.loads(prev.read_text())
    except (OSError, ValueError):
        old = {}
    if prev.name == "manifest.json" and old.get("status") != "interrupted":
        return                                       # a failed run's record: nothing there to protect
    same_command = old.get("command") == mine["command"]
    ignore = ("out", "resume", "steps", "max_memory", "max_time")
    same_inputs = {k: v for k, v in (old.get("inputs") or {}).items() if k not in ignore} == \
        {k: v for k, v in json.loads(json.dumps(mine["inputs"], default=str)).items() if k not in ignore}
    resuming = getattr(args, "resume", False)
    if not same_command or not (same_inputs or resuming):
        what = (f"{'an interrupted' if prev.name == 'manifest.json' else 'a'} run of 'specgap {old['command']}'"
                if old.get("command") else "another run")
        raise UsageError(f"--out: {str(out)!r} holds {what} with other options; choose another directory or "
                         f"pass --overwrite")


def emit(args, result: dict, text: str | None = None) -> None:
    """Print the result (strict JSON with ``--json``) and write ``summary.json`` under ``--out``. A smoke run's
    result (``smoke_run``, stamped on every quick reproduction) says so on stderr."""
    from rmt.io import dumps, write_json
    result = record(args, result)
    if result.get("smoke_run"):
        sys.stderr.write(f"specgap: note: {result.get('smoke_run_note', 'a smoke run')}\n")
    out = getattr(args, "out", None)
    if out is not None:
        write_json(Path(out) / "summary.json", result)
    if getattr(args, "json", False):
        sys.stdout.write(dumps(result) + "\n")
    else:
        sys.stdout.write((text if text is not None else dumps(result, indent=2)) + "\n")


def write_figure(args, name: str, fig, what: str) -> str:
    """Write matplotlib ``fig`` to ``OUT/name`` (PNG, atomically), say so on stderr (``what`` it shows) and
    return the file name."""
    from ..reproduce._artefacts import save_figure
    path = save_figure(Path(args.out) / name, fig)
    sys.stderr.write(f"specgap: wrote {what} to {path}\n")
    return name


def save_arrays(args, name: str, **arrays) -> str:
    """Write ``arrays`` to ``OUT/name`` atomically (``.npz``); returns the file name."""
    from rmt.io import save_npz
    save_npz(Path(args.out) / name, **arrays)
    return name


def snapshot(out) -> dict:
    """``{relative path: (size, mtime_ns)}`` of the files under ``out`` (to tell which files a run wrote)."""
    out = Path(out)
    if not out.is_dir():
        return {}
    snap = {}
    for f in out.rglob("*"):
        if f.is_file() and not f.name.startswith(".") and f.name != "manifest.json":
            st = f.stat()
            snap[str(f.relative_to(out))] = (st.st_size, st.st_mtime_ns)
    return snap


def write_manifest(args, argv, before: dict, status: str, seconds: float) -> None:
    """``OUT/manifest.json``: the command line, command, every input, version, status, wall time and the
    files this run wrote (new or changed since it started), with sizes and SHA-256.

    A run that failed (``status`` error, e.g. refused by a budget) and wrote nothing leaves an existing
    manifest alone: it describes the files there, e.g. those of an interrupted run to resume."""
    import hashlib
    import platform

    from rmt.io import write_json
    out = Path(args.out)
    after = snapshot(out)
    files = []
    for name, (size, mtime) in sorted(after.items()):
        if before.get(name) != (size, mtime):
            h = hashlib.sha256()
            with open(out / name, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            files.append({"path": name, "bytes": size, "sha256": h.hexdigest()})
    if status == "error" and not files and (out / "manifest.json").exists():
        return
    rec = record(args, {})
    write_json(out / "manifest.json", {**rec, "argv": ["specgap", *argv], "status": status,
                                       "seconds": round(seconds, 3), "python": platform.python_version(),
                                       "files_written": files,
                                       "files_kept": sorted(n for n in after if before.get(n) == after[n])})


def load_points(path, option: str = "--data", min_points: int = 2):
    """A point cloud from ``.npy`` (shape (n, d)); clear errors naming the option and the file."""
    import numpy as np
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{option}: no such file {str(path)!r}")
    try:
        X = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file is a usage error
        raise ValueError(f"{option}: cannot read {str(path)!r} as .npy ({type(e).__name__})") from None
    if not isinstance(X, np.ndarray):                    # an .npz archive: not one array
        X.close()
        raise ValueError(f"{option}: {str(path)!r} is an .npz archive; give one array saved with numpy.save (.npy)")
    if np.iscomplexobj(X):
        raise ValueError(f"{option}: {str(path)!r} holds complex numbers; points must be real")
    if X.ndim != 2 or X.shape[0] < min_points or X.shape[1] < 1:
        raise ValueError(f"{option}: {str(path)!r} must hold an array of shape (n, d), got {X.shape}")
    X = X.astype(float)
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{option}: {str(path)!r} contains NaN or inf")
    return X
