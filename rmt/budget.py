"""Memory and time guards: refuse work that would not fit, with a message that says what would.

Each budget is looked up in this order: the innermost :func:`limits` block around the call, then the
environment variable, then the default. Memory: ``limits(max_memory=...)``, else ``SPECGAP_MAX_MEMORY``
(bytes, or with a suffix ``K``/``M``/``G``), else half of the machine's physical memory. Time:
``limits(max_time=...)``, else ``SPECGAP_MAX_TIME`` (seconds, or with a suffix ``m``/``h``), else one hour.
The command line's ``--max-memory`` / ``--max-time`` set :func:`limits` for one command.
Time estimates are rough (measured on a 2-core machine, scaled by the operation count): they stop runs that
would take hours, not runs that take a minute too long.

>>> with limits(max_memory="1G", max_time="30m"):
...     memory_budget(), time_budget()
(1073741824, 1800.0)
"""
from __future__ import annotations

import contextlib
import contextvars
import os

__all__ = ["limits", "memory_budget", "check_memory", "fmt_bytes", "time_budget", "check_time", "parse_time",
           "parse_bytes"]

#: the budgets of the innermost :func:`limits` block: (bytes or None, seconds or None); None = not set there
_LIMITS: contextvars.ContextVar[tuple[int | None, float | None]] = contextvars.ContextVar(
    "specgap_limits", default=(None, None))


@contextlib.contextmanager
def limits(max_memory=None, max_time=None):
    """Set the memory and time budgets for the ``with`` block (a context manager, like ``numpy.errstate``).

    Inside the block :func:`memory_budget` and :func:`time_budget` return these values ahead of the
    environment variables; a budget left None keeps the value of the enclosing block (or the environment).
    Blocks nest; the previous budgets are restored on exit, also after an exception. The values live in a
    ``contextvars`` variable, so threads and asyncio tasks each see their own.

    Parameters
    ----------
    max_memory : int, float or str, optional
        Bytes one array (or one step's arrays) may take, > 0: a number or a string with a suffix ``K``, ``M``
        or ``G`` (powers of 1024), e.g. ``"4G"``.
    max_time : float or str, optional
        Seconds one command may be estimated to take, > 0: a number or a string with a suffix ``m`` or ``h``,
        e.g. ``"30m"``.

    Raises
    ------
    ValueError
        Naming ``max_memory`` or ``max_time`` when a value is not a positive amount.
    """
    memory, seconds = _LIMITS.get()
    if max_memory is not None:
        memory = parse_bytes(max_memory, "max_memory")
    if max_time is not None:
        seconds = parse_time(max_time, "max_time")
    token = _LIMITS.set((memory, seconds))
    try:
        yield
    finally:
        _LIMITS.reset(token)


def fmt_bytes(n: float) -> str:
    """``n`` bytes in words with a binary unit, e.g. ``'1.5 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024


def parse_bytes(value, name: str = "SPECGAP_MAX_MEMORY") -> int:
    """Bytes from ``4096``, ``'512K'``, ``'1.5G'`` (suffixes ``K``/``M``/``G``: powers of 1024); must be >= 1.

    ``ValueError`` naming ``name`` otherwise."""
    text = str(value).strip()
    mult = {"K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30}.get(text[-1:].upper(), 1)
    try:
        v = int(float(text[:-1] if mult > 1 else text) * mult)
    except (ValueError, OverflowError):
        v = 0
    if v < 1:
        raise ValueError(f"{name} must be a positive number of bytes (suffix K, M or G), got {text!r}")
    return v


def memory_budget() -> int:
    """Bytes one array (or one step's arrays) may take: :func:`limits`, else ``SPECGAP_MAX_MEMORY``, else half
    the machine's physical memory."""
    memory = _LIMITS.get()[0]
    if memory is not None:
        return memory
    env = os.environ.get("SPECGAP_MAX_MEMORY", "").strip()
    if env:
        return parse_bytes(env)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2)
    except (ValueError, OSError, AttributeError):      # pragma: no cover - non-POSIX
        return 8 * 2 ** 30


def check_memory(name: str, nbytes: float, what: str, fits: str = "") -> None:
    """``ValueError`` naming ``name`` when ``nbytes`` exceeds :func:`memory_budget`; the message says ``what``
    needs the memory and, when given, what ``fits``."""
    budget = memory_budget()
    if nbytes > budget:
        raise ValueError(f"{name}: {what} needs about {fmt_bytes(nbytes)}, more than the memory budget "
                         f"{fmt_bytes(budget)} (max_memory / SPECGAP_MAX_MEMORY){'; ' + fits if fits else ''}")


def parse_time(text: str, name: str = "SPECGAP_MAX_TIME") -> float:
    """Seconds from ``90``, ``'90'``, ``'30m'`` or ``'2h'`` (suffixes ``s``/``m``/``h``); must be finite and > 0.

    ``ValueError`` naming ``name`` otherwise."""
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
    """Seconds one command may be estimated to take: :func:`limits`, else ``SPECGAP_MAX_TIME``, else one hour."""
    seconds = _LIMITS.get()[1]
    if seconds is not None:
        return seconds
    env = os.environ.get("SPECGAP_MAX_TIME", "").strip()
    return parse_time(env) if env else 3600.0


def check_time(name: str, seconds: float, what: str, fits: str = "") -> None:
    """``ValueError`` naming ``name`` when the estimated ``seconds`` exceed :func:`time_budget`; the message says
    ``what`` would take them and, when given, what ``fits``."""
    budget = time_budget()
    if seconds > budget:
        raise ValueError(f"{name}: {what} would take about {_fmt_seconds(seconds)}, more than the time budget "
                         f"{_fmt_seconds(budget)} (max_time / SPECGAP_MAX_TIME){'; ' + fits if fits else ''}")


def _fmt_seconds(s: float) -> str:
    """``s`` seconds in words: seconds below 2 min, minutes below 2 h, else hours."""
    return f"{s:.0f} s" if s < 120 else (f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h")
