"""Input validation shared by the whole package (the boundary checks live in one place)."""
from __future__ import annotations

import numpy as np

__all__ = ["positive", "finite_array", "resolution", "probability", "positive_int", "as_rng"]


def positive(name: str, value, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float, raising ``ValueError`` naming ``name`` unless it is finite and > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return v


def positive_int(name: str, value, *, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum`` or raise ``ValueError`` naming ``name``."""
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if v != value and not (isinstance(value, float) and float(v) == value):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return v


def finite_array(name: str, value, *, positive_values: bool = False, ndim: int | None = None) -> np.ndarray:
    """Return ``value`` as a float64 array; reject NaN/inf (and non-positive entries if asked)."""
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric, got {value!r}") from None
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive_values and np.any(a <= 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return a


def resolution(value, name: str = "delta") -> float:
    """The spectral resolution ``Delta``; must lie in the open interval (0, 0.5)."""
    v = positive(name, value)
    if not v < 0.5:
        raise ValueError(f"{name} must lie in (0, 0.5), got {value!r}")
    return v


def probability(name: str, value, *, open_interval: bool = True) -> float:
    """A number in (0, 1) (or [0, 1] with ``open_interval=False``)."""
    v = positive(name, value, allow_zero=not open_interval)
    if v > 1 or (open_interval and v == 1):
        raise ValueError(f"{name} must lie in {'(0, 1)' if open_interval else '[0, 1]'}, got {value!r}")
    return v


def as_rng(rng) -> np.random.Generator:
    """``None`` / an int seed / a ``np.random.Generator`` -> a ``np.random.Generator`` (a Generator is used as is,
    so a caller's stream continues); anything else raises ``ValueError`` naming ``rng``."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a seed or numpy Generator, got {rng!r}")
