"""Fixtures of the benchmarks (helpers in benchutil.py)."""
import pytest

from benchutil import FULL


@pytest.fixture
def full():
    return FULL
