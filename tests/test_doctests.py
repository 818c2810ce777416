"""The examples in the docstrings run: every ``>>>`` line of every public module (the modules the API reference
documents, ``docs/_ext/apigen.py``) is executed by doctest and its printed output compared, so an example that
no longer matches the code fails here, not in a reader's session."""
import doctest
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "_ext"))
from apigen import PACKAGES, public_modules  # noqa: E402

MODULES = [m for p in PACKAGES for m in public_modules(p)]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _tests(modname):
    mod = importlib.import_module(modname)
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [t for t in finder.find(mod, modname) if t.examples]


def test_the_modules_are_found():
    assert {"rmt.manifold", "rmt.testing", "simulate.ridge", "trained.descriptors", "trained.adapters",
            "specgap.sweep.engine", "specgap.reproduce.fig2"} <= set(MODULES)


@pytest.mark.parametrize("modname", MODULES)
def test_docstring_examples(modname, tmp_path, monkeypatch):
    tests = _tests(modname)
    if not tests:
        return
    monkeypatch.chdir(tmp_path)                     # an example that writes files writes them here
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    with np.printoptions(precision=8, suppress=False, legacy=False):
        for t in tests:
            runner.run(t, out=report.append)
    assert runner.failures == 0, "".join(report)
    assert runner.tries > 0
