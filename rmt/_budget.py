"""Memory guards: refuse work whose arrays would not fit, with a message that says what would.

The budget is ``SPECGAP_MAX_MEMORY`` (bytes, or with a suffix ``K``/``M``/``G``) if set, else half of the
machine's physical memory.
"""
from __future__ import annotations

import os

__all__ = ["memory_budget", "check_memory", "fmt_bytes"]


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
