"""Every command run in a read-only (or full) place exits 0 or 2 naming the path, never 1.

The working directory and ``--out`` lie in a folder whose writes the file system refuses. The tests run as
root here, where ``chmod`` blocks nothing, so the refusal comes from a Python audit hook: every open for
writing, ``mkdir``, ``rename``/``replace`` and ``remove`` of a path under the folder raises
``OSError(EROFS)`` (or ``ENOSPC``, a full disk) exactly where the operating system would. Each command is run
three ways: ``--out`` missing (its creation is refused), ``--out`` an existing empty folder (every file it
writes is refused) and without ``--out`` (it works, or asks for ``--out``). A command that accepted its input and is
still working after a few seconds (a reproduction training a network) is cut there and counts as accepted:
the refusal of its first write is then checked by the cheap commands that share the same writers.
"""
from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from specgap.cli import build_parser, main

SIM = ["--alpha", "0.5", "--levels", "1,0.01", "--fractions", "0.75,0.25"]
TRAIN = ["--data", "linear", "--d", "6", "--alpha", "0.5", "--n", "128", "--width", "8", "--steps", "4"]

#: one valid, small invocation of every command (the test below fails when a command is missing here)
ARGS = {
    "theory edges": SIM,
    "theory spectrum": [*SIM, "--t", "0.05"],
    "theory density": [*SIM, "--t", "0.05", "--points", "51"],
    "theory timescales": SIM,
    "theory phase-diagram": ["--parameter", "ratio", "--n-values", "6", "--n-tau", "20"],
    "theory formulas": [],
    "simulate spectra": [*SIM, "--d", "30", "--draws", "2", "--t", "0.01,1"],
    "simulate sample": ["--model", "linear", "--n", "20", "--d", "6", "--steps", "20"],
    "spectra": ["--model", "linear", "--d", "10", "--points", "2", "--t", "0.01,0.1"],
    "dimension": ["--data", "points.npy"],
    "descriptors": ["--model", "linear", "--d", "8", "--t", "1", "--points", "2"],
    "ridge residual": ["--data", "X.npy", "--points", "Y.npy", "--t", "0.01", "--k", "1"],
    "ridge project": ["--data", "X.npy", "--points", "Y.npy", "--t", "0.01", "--k", "1"],
    "train": TRAIN,
    "data list": [],
    "reproduce fig2": ["--quick", "--draws", "2", "--d", "20"],
    "reproduce fig3": ["--quick"],
    "reproduce fig4": ["--quick"],
    "reproduce fig5": ["--quick"],
    "reproduce relu-partition": ["--quick"],
    "reproduce toy-ddpm": ["--quick"],
    "reproduce vae-dynamics": ["--quick"],
    "reproduce ood": ["--quick"],
    "reproduce guidance": ["--quick"],
    "reproduce ridge-toy": ["--quick"],
    "reproduce ridge-mnist": ["--quick"],
    "sweep run": ["--task", "theory", "--ratio", "0.01,0.1", "--t", "1e-3:1:5", "--workers", "0", "--quiet"],
    "sweep plot": ["theory.zarr"],
}
#: where ``--out`` names a store rather than a folder of files
STORE = {"sweep run": "new.zarr"}
#: seconds a command may work before it is cut and counted as accepted
ALARM = 2


class _ReadOnly:
    """The audit hook: writes under ``root`` raise ``OSError(code)`` while ``root`` is set (the hook stays
    installed for the process; it does nothing once ``root`` is None)."""
    root: str | None = None
    code = errno.EROFS
    installed = False

    @classmethod
    def hook(cls, event, args):
        if cls.root is None:
            return
        if event == "open":
            path, mode, flags = args
            writes = (mode is not None and any(c in str(mode) for c in "wax+")) or \
                     (mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            paths = [path] if writes else []
        elif event in ("os.mkdir", "os.remove", "os.rmdir", "os.truncate", "os.chmod", "os.utime", "os.symlink"):
            paths = [args[0]]
        elif event in ("os.rename", "os.replace", "os.link"):
            paths = [args[0], args[1]]
        else:
            return
        for p in paths:
            if isinstance(p, (str, bytes, os.PathLike)):
                full = os.path.abspath(os.fsdecode(p))
                if full == cls.root or full.startswith(cls.root + os.sep):
                    raise OSError(cls.code, os.strerror(cls.code), full)


def _commands() -> list[str]:
    def subparsers(parser):
        return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})
    out = []
    for g, gp in subparsers(build_parser()).items():
        subs = subparsers(gp)
        out += [f"{g} {c}" for c in subs] if subs else [g]
    return out


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """The folder the file system will refuse, with the inputs the commands read (written before)."""
    root = tmp_path_factory.mktemp("readonly")
    rng = np.random.default_rng(0)
    np.save(root / "points.npy", rng.standard_normal((60, 4)) @ np.diag([1, 1, 0.01, 0.01]))
    np.save(root / "X.npy", np.c_[np.cos(np.linspace(0, 6, 40)), np.sin(np.linspace(0, 6, 40))])
    np.save(root / "Y.npy", 1.1 * np.c_[np.cos(np.linspace(0, 6, 5)), np.sin(np.linspace(0, 6, 5))])
    assert main(["sweep", "run", *ARGS["sweep run"][:-3], "--workers", "0", "--quiet",
                 "--out", str(root / "theory.zarr")]) == 0
    (root / "existing").mkdir()
    if not _ReadOnly.installed:
        sys.addaudithook(_ReadOnly.hook)
        _ReadOnly.installed = True
    return root


class _Slow(BaseException):
    """Raised by the alarm: the command accepted its input and is working."""


def _alarm(signum, frame):
    raise _Slow()


def run_refused(root: Path, argv: list[str], code=errno.EROFS, alarm: int = ALARM):
    """(exit status or None when cut after ``alarm`` s of work, stderr) of ``argv`` run in ``root`` with writes
    refused."""
    import io
    from contextlib import redirect_stderr, redirect_stdout
    err = io.StringIO()
    cwd = os.getcwd()
    old = signal.signal(signal.SIGALRM, _alarm)
    os.chdir(root)
    _ReadOnly.root, _ReadOnly.code = str(root), code
    signal.alarm(alarm)
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(err):
            status = main(argv)
    except _Slow:
        status = None
    finally:
        signal.alarm(0)
        _ReadOnly.root = None
        signal.signal(signal.SIGALRM, old)
        os.chdir(cwd)
    return status, err.getvalue()


def test_the_table_holds_every_command():
    assert sorted(ARGS) == sorted(_commands())


def test_the_hook_refuses_like_the_file_system(root):
    """The hook itself: reads pass, writes, folders and renames under the root are refused with EROFS."""
    _ReadOnly.root = str(root)
    try:
        assert np.load(root / "points.npy").shape == (60, 4)
        for write in (lambda: open(root / "a.txt", "w"), lambda: os.mkdir(root / "d"),
                      lambda: os.replace(root / "X.npy", root / "Z.npy"), lambda: np.save(root / "b.npy", [1]),
                      lambda: os.open(root / "c", os.O_WRONLY | os.O_CREAT)):
            with pytest.raises(OSError) as e:
                write()
            assert e.value.errno == errno.EROFS
    finally:
        _ReadOnly.root = None
    assert not (root / "a.txt").exists() and (root / "X.npy").exists()


def _check(status, err, argv, path):
    assert status in (0, 2, None), f"{' '.join(argv)}: exit {status}\n{err[-800:]}"
    assert "Traceback" not in err and "internal error" not in err, err[-800:]
    if status == 2:
        last = err.strip().splitlines()[-1]
        assert str(path) in last or path.name in last, f"{' '.join(argv)}: the refusal does not name {path}: {last}"


@pytest.mark.parametrize("command", sorted(ARGS))
def test_a_command_refused_its_out_folder_exits_2_naming_it(root, command):
    out = root / STORE.get(command, "new")
    argv = [*command.split(), *ARGS[command], "--out", str(out)]
    status, err = run_refused(root, argv)
    _check(status, err, argv, out)
    assert status == 2 and not out.exists()


@pytest.mark.parametrize("command", sorted(ARGS))
def test_a_command_whose_files_are_refused_exits_0_or_2_never_1(root, command):
    out = root / "existing"
    argv = [*command.split(), *ARGS[command], "--out", str(out)]
    status, err = run_refused(root, argv)
    _check(status, err, argv, out)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("command", sorted(ARGS))
def test_a_command_without_out_in_a_read_only_place_works_or_asks_for_out(root, command):
    argv = [*command.split(), *ARGS[command]]
    status, err = run_refused(root, argv)
    asks = "--out is required" in err or "arguments are required: --out" in err
    assert status in (0, None) or (status == 2 and asks), f"{command}: exit {status}: {err}"
    assert "Traceback" not in err and "internal error" not in err, err[-800:]


@pytest.mark.parametrize("command", ["theory density", "simulate spectra", "train", "reproduce fig2"])
def test_a_full_disk_exits_2_naming_the_file(root, command):
    argv = [*command.split(), *ARGS[command], "--out", str(root / "existing")]
    status, err = run_refused(root, argv, code=errno.ENOSPC, alarm=120)       # to the first write, not cut
    assert status == 2, err[-800:]
    last = err.strip().splitlines()[-1]
    assert "No space left on device" in last and str(root / "existing") in last, last
