import os

import matplotlib
import pytest

matplotlib.use("Agg")

# CI=true runs slow tests in their quick mode (see README).
QUICK = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def quick():
    return QUICK
