"""The ``specgap`` command: ``specgap <group> <command> [options]``.

The contract of every command (README.md, "The command line"): ``--help`` everywhere, ``--json`` prints one
JSON object on stdout, ``--out DIR`` writes files and a ``summary.json``, ``--seed``; usage errors exit 2 with
one line naming the argument; unexpected errors exit 1 with a short message (traceback only under ``--debug``).
Heavy libraries are imported inside the command handlers so that ``specgap theory ...`` starts fast.
"""
from __future__ import annotations

import argparse
import difflib
import errno
import sys
import time

from . import __version__
from .commands import register_all
from .commands._common import (EXTRAS, UsageError, budgets, check_needs, check_out, extra_for, snapshot,
                               write_manifest)


#: file-system refusals that are the user's environment, not an internal error: exit 2 naming the path
_USER_FS_ERRORS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}


_DESCRIPTION = """\
Statistical physics of diffusion models: the random-matrix theory of score-Jacobian
spectra, spectral gaps and geometric phases; simulations, trained networks and the
papers' figures.

'specgap <group> --help' lists a group's commands, 'specgap <group> <command> --help'
a command's options."""


def _is_option(token: str) -> bool:
    """An option-like token (``-x``, ``--name``, ``--name=value``), not a negative number."""
    try:
        float(token)
        return False
    except ValueError:
        return token.startswith("-") and len(token) > 1 and token != "--"


class _Parser(argparse.ArgumentParser):
    """One-line usage errors (exit 2); a command names any option it does not know, with the close match."""

    def parse_known_args(self, args=None, namespace=None):
        self._tokens = list(sys.argv[1:] if args is None else args)
        if self._subparsers is not None and self._unknown_options():     # before the group or command name
            self.error("")
        ns, extras = super().parse_known_args(args, namespace)
        if extras and self._subparsers is None:            # a command: nothing may be left over
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return ns, extras

    def _unknown_options(self) -> str | None:
        known = list(self._option_string_actions)
        unknown = []
        for tok in getattr(self, "_tokens", []):
            if tok == "--" or (self._subparsers is not None and not _is_option(tok)):
                break                                       # a group: what follows belongs to the command
            name = tok.split("=", 1)[0]
            if _is_option(tok) and not any(k.startswith(name) for k in known):     # unique prefixes are accepted
                close = difflib.get_close_matches(name, known, n=1) if self._subparsers is None else []
                unknown.append(name + (f" (did you mean {close[0]}?)" if close else ""))
        if not unknown:
            return None
        what = f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
        if self._subparsers is not None:
            return f"{what} before the command; a command's options go after its name (see '{self.prog} --help')"
        return f"{what}; see '{self.prog} --help'"

    def error(self, message):  # one line, exit 2, no usage dump
        raise UsageError(f"{self.prog}: {self._unknown_options() or message}")


def build_parser() -> argparse.ArgumentParser:
    """The ``specgap`` parser: ``--version``, ``--debug`` and every command group
    (:func:`specgap.commands.register_all`); its errors raise a one-line ``UsageError`` (exit status 2)."""
    parser = _Parser(prog="specgap", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"specgap {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an internal error (accepted anywhere on the line)")
    sub = parser.add_subparsers(dest="group", metavar="<group>", parser_class=_Parser)
    sub.required = True
    register_all(sub)
    return parser


def main(argv=None) -> int:
    """Run one ``specgap`` command line and return its exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after ``specgap`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success; 2 for bad input (one line on stderr naming the option, the file or the extra to install);
        1 for an internal error (a short message; the traceback with ``--debug``); 130 when interrupted. With
        ``--out`` the run's ``manifest.json`` is written whatever the outcome.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    end = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:end]            # accepted anywhere: before or after the group and command
    parse = [a for a in argv[:end] if a != "--debug"] + argv[end:]
    args, before, status, t0 = None, None, "error", time.perf_counter()
    try:
        parser = build_parser()
        args = parser.parse_args(parse)
        check_needs(args)                # every optional package the command needs, before any work
        check_out(args)
        before = snapshot(args.out) if getattr(args, "out", None) is not None else None
        with budgets(args):
            code = int(args.handler(args) or 0)
        status = "ok" if code == 0 else "error"
        return code
    except UsageError as e:
        sys.stderr.write(f"{e}\n")
        return 2
    except ModuleNotFoundError as e:  # an optional dependency that the command's `needs` did not name
        root = (e.name or "").split(".")[0]
        if not any(root in mods for mods in EXTRAS.values()):
            if debug:
                raise
            sys.stderr.write(f"specgap: internal error: {e}\n")
            return 1
        sys.stderr.write(f"specgap: error: this command needs the optional dependency {root!r}: "
                         f"pip install 'specgap[{extra_for([root])}]'\n")
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
