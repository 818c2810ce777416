"""Forward-process schedules ``x_t = a(t) x0 + s(t) eps`` and the effective noise ``tau = s^2 / a^2``.

Every formula in :mod:`rmt` is written in ``tau``; a schedule converts to the process time ``t``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Schedule", "VE", "VP", "get_schedule"]


def _times(name, t):
    a = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {t!r}")
    return a


class Schedule:
    """Base class. Subclasses define ``a(t)``, ``s2(t)`` (= ``s(t)^2``) and ``t_of_tau``."""

    name = "base"

    def a(self, t):
        raise NotImplementedError

    def s2(self, t):
        raise NotImplementedError

    def s(self, t):
        return np.sqrt(self.s2(t))

    def tau(self, t):
        """Effective noise ``tau(t) = s(t)^2 / a(t)^2``."""
        t = _times("t", t)
        return self.s2(t) / self.a(t) ** 2

    def t_of_tau(self, tau):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))


@dataclass(frozen=True, eq=False)
class VE(Schedule):
    """Variance exploding (default): ``a = 1``, ``s^2 = t``, so ``tau = t`` (``t`` is the noise variance)."""

    name = "ve"

    def a(self, t):
        return np.ones_like(np.asarray(t, dtype=float))

    def s2(self, t):
        return np.asarray(t, dtype=float)

    def t_of_tau(self, tau):
        return _times("tau", tau).copy()


@dataclass(frozen=True, eq=False)
class VP(Schedule):
    """Variance preserving / Ornstein-Uhlenbeck: ``a = e^{-t}``, ``s^2 = 1 - e^{-2t}``, ``tau = e^{2t} - 1``."""

    name = "vp"

    def a(self, t):
        return np.exp(-np.asarray(t, dtype=float))

    def s2(self, t):
        return -np.expm1(-2 * np.asarray(t, dtype=float))

    def tau(self, t):
        t = _times("t", t)
        return np.expm1(2 * t)

    def t_of_tau(self, tau):
        return 0.5 * np.log1p(_times("tau", tau))


def get_schedule(schedule) -> Schedule:
    """``'ve'``/``'vp'`` (or a :class:`Schedule`) -> schedule instance."""
    if isinstance(schedule, Schedule):
        return schedule
    key = str(schedule).lower()
    if key == "ve":
        return VE()
    if key == "vp":
        return VP()
    raise ValueError(f"schedule must be 've' or 'vp', got {schedule!r}")
