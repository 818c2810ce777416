"""Forward-process schedules ``x_t = a(t) x0 + s(t) eps`` and the effective noise ``tau = s^2 / a^2``.

Every formula in :mod:`rmt` is written in ``tau``; a schedule converts to the process time ``t``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Schedule", "VE", "VP", "DDPM", "EDM", "GeometricVE", "SCHEDULES", "get_schedule"]


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


@dataclass(frozen=True)
class DDPM(Schedule):
    """DDPM linear-beta VP schedule (Ho et al. 2020; continuous form of Song et al. 2021), ``t`` in ``(0, 1]``.

    ``beta(t) = beta_min + t (beta_max - beta_min)``, ``B(t) = int_0^t beta = beta_min t + (beta_max - beta_min)
    t^2 / 2``; ``a = e^{-B/2}``, ``s^2 = 1 - e^{-B}``, so ``tau = e^{B(t)} - 1``. The discrete DDPM with
    ``T`` steps and ``beta_i = beta(i/T)/T`` (defaults: ``1e-4 .. 0.02`` for ``T = 1000``) is this schedule at
    ``t = i/T``. ``t`` beyond 1 extends the same formula.
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    name = "ddpm"

    def __post_init__(self):
        if not (np.isfinite(self.beta_min) and np.isfinite(self.beta_max) and 0 < self.beta_min <= self.beta_max):
            raise ValueError(f"beta_min, beta_max must satisfy 0 < beta_min <= beta_max, got {self.beta_min}, "
                             f"{self.beta_max}")

    def _B(self, t):
        t = np.asarray(t, dtype=float)
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t

    def a(self, t):
        return np.exp(-0.5 * self._B(t))

    def s2(self, t):
        return -np.expm1(-self._B(t))

    def tau(self, t):
        return np.expm1(self._B(_times("t", t)))

    def t_of_tau(self, tau):
        B = np.log1p(_times("tau", tau))
        db = self.beta_max - self.beta_min
        if db == 0:
            return B / self.beta_min
        # root of (db/2) t^2 + beta_min t - B = 0, written without cancellation
        return 2 * B / (self.beta_min + np.sqrt(self.beta_min ** 2 + 2 * db * B))


@dataclass(frozen=True, eq=False)
class EDM(Schedule):
    """EDM (Karras et al. 2022): ``a = 1``, ``s = t`` (``t`` is the noise standard deviation), ``tau = t^2``."""

    name = "edm"

    def a(self, t):
        return np.ones_like(np.asarray(t, dtype=float))

    def s2(self, t):
        return np.asarray(t, dtype=float) ** 2

    def t_of_tau(self, tau):
        return np.sqrt(_times("tau", tau))


@dataclass(frozen=True)
class GeometricVE(Schedule):
    """Geometric VE (NCSN / Song et al. 2021), ``t`` in ``(0, 1]``: ``a = 1``,
    ``s(t) = sigma_min (sigma_max / sigma_min)^t``, so ``tau = sigma_min^2 (sigma_max / sigma_min)^{2t}``."""

    sigma_min: float = 0.01
    sigma_max: float = 50.0
    name = "geometric"

    def __post_init__(self):
        if not (np.isfinite(self.sigma_min) and np.isfinite(self.sigma_max) and 0 < self.sigma_min < self.sigma_max):
            raise ValueError(f"sigma_min, sigma_max must satisfy 0 < sigma_min < sigma_max, got {self.sigma_min}, "
                             f"{self.sigma_max}")

    def a(self, t):
        return np.ones_like(np.asarray(t, dtype=float))

    def s2(self, t):
        t = np.asarray(t, dtype=float)
        return self.sigma_min ** 2 * (self.sigma_max / self.sigma_min) ** (2 * t)

    def t_of_tau(self, tau):
        tau = _times("tau", tau)
        return 0.5 * np.log(tau / self.sigma_min ** 2) / np.log(self.sigma_max / self.sigma_min)


#: schedule name -> class (default parameters)
SCHEDULES = {"ve": VE, "vp": VP, "ddpm": DDPM, "edm": EDM, "geometric": GeometricVE}


def get_schedule(schedule) -> Schedule:
    """A name of :data:`SCHEDULES` (``'ve'``, ``'vp'``, ``'ddpm'``, ``'edm'``, ``'geometric'``; default
    parameters) or a :class:`Schedule` -> schedule instance."""
    if isinstance(schedule, Schedule):
        return schedule
    key = str(schedule).lower()
    if key in SCHEDULES:
        return SCHEDULES[key]()
    raise ValueError(f"schedule must be one of {tuple(SCHEDULES)}, got {schedule!r}")
