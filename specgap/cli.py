"""The ``specgap`` command: ``specgap <group> <command> [options]``.

Contract (DESIGN.md): ``--help`` everywhere, ``--json`` prints one JSON object on stdout, ``--out DIR``
writes files and a ``summary.json``, ``--seed``; usage errors exit 2 with one line naming the argument;
unexpected errors exit 1 with a short message (traceback only under ``--debug``). Heavy libraries are
imported inside the command handlers so that ``specgap theory ...`` starts fast.
"""
from __future__ import annotations

import argparse
import errno
import sys
import time

from . import __version__
from .commands import GROUPS, register_all
from .commands._common import UsageError, budgets, check_out, snapshot, write_manifest

#: optional dependency (top-level module) -> the extra that installs it
EXTRAS = {"torch": "torch", "jax": "jax", "jaxlib": "jax", "skdim": "data", "sklearn": "data", "mlxtend": "data",
          "skimage": "data", "PIL": "data", "dask": "dask", "distributed": "dask", "xarray": "dask", "zarr": "dask",
          "diffusers": "diffusers", "safetensors": "diffusers", "huggingface_hub": "diffusers"}


#: file-system refusals that are the user's environment, not an internal error: exit 2 naming the path
_USER_FS_ERRORS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="specgap", description=__doc__.splitlines()[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog="groups:\n" + "\n".join(f"  {k:<10} {v[0]}" for k, v in GROUPS.items()))
    parser.add_argument("--version", action="version", version=f"specgap {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="group", metavar="<group>", parser_class=_Parser)
    sub.required = True
    register_all(sub)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    args, before, status, t0 = None, None, "error", time.perf_counter()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        check_out(args)
        before = snapshot(args.out) if getattr(args, "out", None) is not None else None
        with budgets(args):
            code = int(args.handler(args) or 0)
        status = "ok" if code == 0 else "error"
        return code
    except UsageError as e:
        sys.stderr.write(f"{e}\n")
        return 2
    except ModuleNotFoundError as e:  # an optional dependency of this command is not installed
        root = (e.name or "").split(".")[0]
        if root not in EXTRAS:
            if debug:
                raise
            sys.stderr.write(f"specgap: internal error: {e}\n")
            return 1
        sys.stderr.write(f"specgap: error: this command needs the optional dependency {root!r}: "
                         f"pip install 'specgap[{EXTRAS[root]}]'\n")
        return 2
    except ValueError as e:  # bad values found by the library's boundary checks
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        sys.stderr.write(f"specgap: error: {msg}\n")
        return 2
    except OSError as e:  # the file system refused a write (read-only, permissions, full disk): not a bug of ours
        if e.errno not in _USER_FS_ERRORS:
            if debug:
                raise
            sys.stderr.write(f"specgap: internal error: {type(e).__name__}: {e} (rerun with --debug for the "
                             "traceback)\n")
            return 1
        where = f" {e.filename!s}" if e.filename else ""
        sys.stderr.write(f"specgap: error: cannot write{where}: {e.strerror or type(e).__name__} (choose another "
                         "--out)\n")
        return 2
    except KeyboardInterrupt as e:  # training writes a checkpoint first and says how to resume
        status = "interrupted"
        sys.stderr.write(f"specgap: {str(e) or 'interrupted'}\n")
        return 130
    except SystemExit as e:  # --help / --version
        return int(e.code or 0)
    except Exception as e:  # noqa: BLE001 - internal error: short message, traceback on --debug
        if debug:
            raise
        sys.stderr.write(f"specgap: internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                         f" (rerun with --debug for the traceback)\n")
        return 1
    finally:
        # the run manifest: written whenever the command got as far as running (its --out was accepted)
        if before is not None:
            try:
                write_manifest(args, argv, before, status, time.perf_counter() - t0)
            except OSError as e:  # pragma: no cover - the out directory vanished or is read-only
                sys.stderr.write(f"specgap: warning: could not write the run manifest ({e})\n")


if __name__ == "__main__":
    sys.exit(main())
