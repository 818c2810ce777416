"""Memory and time guards: refuse work that would not fit, with a message that says what would.

The memory budget is ``SPECGAP_MAX_MEMORY`` (bytes, or with a suffix ``K``/``M``/``G``) if set, else half of
the machine's physical memory. The time budget is ``SPECGAP_MAX_TIME`` (seconds, or with a suffix
``m``/``h``) if set, else one hour. The command line sets both with ``--max-memory`` / ``--max-time``.
Time estimates are rough (measured on a 2-core machine, scaled by the operation count): they stop runs that
would take hours, not runs that take a minute too long.
"""
from __future__ import annotations

import os

__all__ = ["memory_budget", "check_memory", "fmt_bytes", "time_budget", "check_time", "parse_time"]


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024


def memory_budget() -> int:
    """Bytes one array (or one step's arrays) may take."""
    env = os.environ.get("SPECGAP_MAX_MEMORY", "").strip()
    if env:
        mult = {"K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30}.get(env[-1].upper(), 1)
        try:
            return int(float(env[:-1] if mult > 1 else env) * mult)
        except ValueError:
            raise ValueError(f"SPECGAP_MAX_MEMORY must be a number of bytes (suffix K, M or G), got {env!r}") from None
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2)
    except (ValueError, OSError, AttributeError):      # pragma: no cover - non-POSIX
        return 8 * 2 ** 30


def check_memory(name: str, nbytes: float, what: str, fits: str = "") -> None:
    """``ValueError`` naming ``name`` when ``nbytes`` exceeds the budget."""
    budget = memory_budget()
    if nbytes > budget:
        raise ValueError(f"{name}: {what} needs about {fmt_bytes(nbytes)}, more than the memory budget "
                         f"{fmt_bytes(budget)} (SPECGAP_MAX_MEMORY){'; ' + fits if fits else ''}")


def parse_time(text: str, name: str = "SPECGAP_MAX_TIME") -> float:
    """Seconds from ``'90'``, ``'30m'`` or ``'2h'``."""
    text = str(text).strip()
    mult = {"S": 1, "M": 60, "H": 3600}.get(text[-1:].upper(), 1) if text else 1
    try:
        v = float(text[:-1] if text[-1:].isalpha() else text) * mult
    except ValueError:
        v = float("nan")
    if not v > 0 or v == float("inf"):
        raise ValueError(f"{name} must be a positive number of seconds (suffix m or h), got {text!r}")
    return v


def time_budget() -> float:
    """Seconds one command may be estimated to take."""
    env = os.environ.get("SPECGAP_MAX_TIME", "").strip()
    return parse_time(env) if env else 3600.0


def check_time(name: str, seconds: float, what: str, fits: str = "") -> None:
    """``ValueError`` naming ``name`` when the estimated ``seconds`` exceed the budget."""
    budget = time_budget()
    if seconds > budget:
        raise ValueError(f"{name}: {what} would take about {_fmt_seconds(seconds)}, more than the time budget "
                         f"{_fmt_seconds(budget)} (--max-time / SPECGAP_MAX_TIME){'; ' + fits if fits else ''}")


def _fmt_seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else (f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h")
