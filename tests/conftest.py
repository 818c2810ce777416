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
