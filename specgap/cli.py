"""The ``specgap`` command: ``specgap <group> <command> [options]``.

Contract (DESIGN.md): ``--help`` everywhere, ``--json`` prints one JSON object on stdout, ``--out DIR``
writes files and a ``summary.json``, ``--seed``; usage errors exit 2 with one line naming the argument;
unexpected errors exit 1 with a short message (traceback only under ``--debug``). Heavy libraries are
imported inside the command handlers so that ``specgap theory ...`` starts fast.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import __version__

GROUPS = {
    "theory": "analytic spectra, edges, gaps, timescales, phases (rmt)",
    "simulate": "random F matrices, exact-score spectra, reverse-time samples (simulate)",
    "spectra": "Jacobian spectra of a score model through the Jacobian engine (trained)",
    "dimension": "intrinsic dimension of a point cloud from score spectra (trained)",
    "train": "train a score network (trained)",
    "reproduce": "reproduce a figure of the paper (fig2, fig3, fig4, fig5)",
}


class UsageError(Exception):
    """Bad input on the command line: exit status 2, one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        raise UsageError(f"{self.prog}: {message}")


def add_common(p: argparse.ArgumentParser, *, out=True, seed=True):
    """The options every command shares."""
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    if out:
        p.add_argument("--out", type=Path, default=None, metavar="DIR",
                       help="directory for figures, .npz arrays and summary.json")
    if seed:
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def float_list(text: str) -> list[float]:
    """Parse ``1,0.01`` into floats (argparse ``type``)."""
    try:
        vals = [float(v) for v in str(text).split(",") if v.strip() != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not vals:
        raise argparse.ArgumentTypeError(f"expected at least one number, got {text!r}")
    return vals


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="specgap", description=__doc__.splitlines()[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog="groups:\n" + "\n".join(f"  {k:<10} {v}" for k, v in GROUPS.items()))
    parser.add_argument("--version", action="version", version=f"specgap {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="group", metavar="<group>", parser_class=_Parser)
    sub.required = True
    from .commands import register_all
    register_all(sub, GROUPS)
    return parser


def emit(args, result: dict, text: str | None = None) -> None:
    """Print the result (JSON with ``--json``) and write ``summary.json`` under ``--out``."""
    out = getattr(args, "out", None)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / "summary.json.tmp"
        tmp.write_text(json.dumps(result, indent=2, default=_jsonable))
        os.replace(tmp, out / "summary.json")
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(result, default=_jsonable) + "\n")
    else:
        sys.stdout.write((text if text is not None else json.dumps(result, indent=2, default=_jsonable)) + "\n")


from rmt._io import jsonable as _jsonable  # noqa: E402  (one definition, shared)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.handler(args) or 0)
    except UsageError as e:
        sys.stderr.write(f"{e}\n")
        return 2
    except ValueError as e:  # bad values found by the library's boundary checks
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        sys.stderr.write(f"specgap: error: {msg}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("specgap: interrupted\n")
        return 130
    except SystemExit as e:  # --help / --version
        return int(e.code or 0)
    except Exception as e:  # noqa: BLE001 - internal error: short message, traceback on --debug
        if debug:
            raise
        sys.stderr.write(f"specgap: internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                         f" (rerun with --debug for the traceback)\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
