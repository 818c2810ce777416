import os

import matplotlib
import pytest

matplotlib.use("Agg")

# One torch thread: the small networks of the tests run 20-70x slower when two threads fight over a
# shared 2-core machine (measured); numpy/BLAS keep their default.
try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a hard dependency
    pass

# CI=true runs slow tests in their quick mode (see README).
QUICK = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# CI draws the same hypothesis examples on every run (a landing must not hinge on a lucky draw); locally each
# run explores new ones and keeps failures in .hypothesis/.
try:
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
    if QUICK:
        settings.load_profile("ci")
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    pass


@pytest.fixture
def quick():
    return QUICK


@pytest.fixture(autouse=True, scope="session")
def _every_saved_figure_reads_well():
    """Every figure a test saves - the quick reproductions' and studies' included - is checked as it is saved
    (labelled axes, all text on the canvas, finite data: tests/figure_check.py); a figure that reads badly
    fails the test that made it."""
    from figure_check import figure_problems
    from matplotlib.figure import Figure
    original = Figure.savefig

    def checked(self, fname, *args, **kwargs):
        problems = figure_problems(self)
        if problems:
            raise AssertionError(f"figure {fname} reads badly: " + "; ".join(problems))
        return original(self, fname, *args, **kwargs)
    Figure.savefig = checked
    yield
    Figure.savefig = original
