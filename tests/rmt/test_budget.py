"""rmt.budget.limits: budgets as arguments of a block (contextvars), ahead of the environment variables."""
import threading

import pytest

from rmt.budget import check_memory, check_time, limits, memory_budget, parse_bytes, time_budget


def test_limits_set_the_budgets_inside_the_block_only(monkeypatch):
    monkeypatch.setenv("SPECGAP_MAX_MEMORY", "8M")
    monkeypatch.setenv("SPECGAP_MAX_TIME", "2h")
    assert (memory_budget(), time_budget()) == (8 * 2 ** 20, 7200.0)
    with limits(max_memory="1G", max_time="30m"):
        assert (memory_budget(), time_budget()) == (2 ** 30, 1800.0)       # ahead of the environment
    assert (memory_budget(), time_budget()) == (8 * 2 ** 20, 7200.0)
    with limits(max_memory=4096, max_time=90):
        assert (memory_budget(), time_budget()) == (4096, 90.0)


def test_limits_nest_and_an_unset_budget_keeps_the_enclosing_one(monkeypatch):
    monkeypatch.delenv("SPECGAP_MAX_TIME", raising=False)
    with limits(max_memory="2K", max_time=10):
        with limits(max_time="1m"):
            assert (memory_budget(), time_budget()) == (2048, 60.0)
            with limits(max_memory=100):
                assert (memory_budget(), time_budget()) == (100, 60.0)
            assert memory_budget() == 2048
        assert (memory_budget(), time_budget()) == (2048, 10.0)
    assert time_budget() == 3600.0


def test_limits_are_restored_after_an_exception_and_the_checks_read_them():
    before = (memory_budget(), time_budget())
    with pytest.raises(ValueError, match=r"x: .* more than the memory budget 1\.0 KiB \(max_memory"):
        with limits(max_memory="1K"):
            check_memory("x", 2048, "two kilobytes")
    with pytest.raises(ValueError, match=r"y: .* more than the time budget 5 s \(max_time"):
        with limits(max_time=5):
            check_time("y", 6, "six seconds")
    assert (memory_budget(), time_budget()) == before


def test_limits_are_per_thread(monkeypatch):
    monkeypatch.delenv("SPECGAP_MAX_TIME", raising=False)
    seen = []
    with limits(max_time=42):
        t = threading.Thread(target=lambda: seen.append(time_budget()))
        t.start()
        t.join()
        assert time_budget() == 42.0
    assert seen == [3600.0]                     # another thread: its own context, the default


@pytest.mark.parametrize("kw, name", [({"max_memory": "lots"}, "max_memory"), ({"max_memory": 0}, "max_memory"),
                                      ({"max_memory": "-1G"}, "max_memory"), ({"max_time": "-3"}, "max_time"),
                                      ({"max_time": "inf"}, "max_time"), ({"max_time": "x"}, "max_time")])
def test_limits_refuse_bad_values_naming_the_parameter(kw, name):
    with pytest.raises(ValueError, match=f"^{name} must be a positive number"):
        with limits(**kw):
            pass


def test_parse_bytes_suffixes():
    assert [parse_bytes(v) for v in (4096, "512K", "1.5G", " 3m ")] == [4096, 512 * 1024, 3 * 2 ** 29, 3 * 2 ** 20]
    with pytest.raises(ValueError, match="SPECGAP_MAX_MEMORY"):
        parse_bytes("nan")
