"""Forward-process schedules ``x_t = a(t) x0 + s(t) eps`` and the effective noise ``tau = s^2 / a^2``.

Every formula in :mod:`rmt` is written in ``tau``; a schedule converts to the process time ``t``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import dataclasses
import warnings

__all__ = ["Schedule", "VE", "VP", "DDPM", "EDM", "GeometricVE", "TabulatedVP", "SCHEDULES", "get_schedule"]


def _times(name, t):
    a = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {t!r}")
    return a


class Schedule:
    """Base class of the forward processes ``x_t = a(t) x0 + s(t) eps``.

    Subclasses define ``a(t)``, ``s2(t)`` (= ``s(t)^2``) and ``t_of_tau``; the five named schedules are
    :class:`VE` (default), :class:`VP`, :class:`DDPM`, :class:`EDM` and :class:`GeometricVE`, and
    :class:`TabulatedVP` holds the discrete schedule of a pretrained model. :meth:`noise` and :meth:`denoise`
    are the forward process and the Tweedie denoiser, written once for every caller.
    """

    name = "base"

    def a(self, t):
        """Signal scale ``a(t)`` at process times ``t`` (array of the shape of ``t``)."""
        raise NotImplementedError

    def s2(self, t):
        """Noise variance ``s(t)^2`` at process times ``t`` (array of the shape of ``t``)."""
        raise NotImplementedError

    def s(self, t):
        """Noise scale ``s(t) = sqrt(s2(t))``."""
        return np.sqrt(self.s2(t))

    def tau(self, t):
        """Effective noise ``tau(t) = s(t)^2 / a(t)^2``."""
        t = _times("t", t)
        return self.s2(t) / self.a(t) ** 2

    def t_of_tau(self, tau):
        """Process time of the effective noise ``tau`` (the inverse of :meth:`tau`)."""
        raise NotImplementedError

    def _coefficient(self, value, t, x):
        """``value`` (``a(t)`` or ``s2(t)``) ready to multiply ``x``: a Python float for a scalar ``t`` (so it
        works on numpy, torch and JAX arrays alike); for an array ``t`` of shape ``x.shape[:k]``, an array of
        shape ``t.shape + (1,) * (x.ndim - k)``, as a tensor like ``x`` when ``x`` has ``new_tensor`` (torch)."""
        if np.ndim(t) == 0:
            return float(value)
        v = np.reshape(value, tuple(np.shape(t)) + (1,) * (np.ndim(x) - np.ndim(t)))
        return x.new_tensor(v) if hasattr(x, "new_tensor") else v

    def noise(self, x0, t, eps):
        """The forward process ``x_t = a(t) x0 + s(t) eps``.

        No validation: the caller checks ``t`` at its boundary (:meth:`check_times`).

        Parameters
        ----------
        x0 : data points, numpy / torch / JAX array
        t : process time: a scalar (any array type for ``x0``), or a numpy array of the leading shape of ``x0``
            (e.g. (B,) for ``x0`` (B, d)) or broadcasting against it (e.g. (1, T, 1) for ``x0`` (P, 1, d))
        eps : standard normal noise, broadcasting against ``x0``

        Returns
        -------
        ``x_t``, the broadcast shape of ``x0`` and ``eps``.
        """
        a = self._coefficient(self.a(t), t, x0)
        s = self._coefficient(np.sqrt(self.s2(t)), t, x0)
        return a * x0 + s * eps

    def denoise(self, x, t, score):
        """Tweedie denoiser ``E[x0 | x_t = x] = (x + s(t)^2 score(x, t)) / a(t)``.

        Parameters
        ----------
        x : noised points ``x_t``, numpy / torch / JAX array
        t : process time, scalar or array as in :meth:`noise`
        score : ``grad_x log p_t(x)``, the shape of ``x``

        Returns
        -------
        The denoised points, the shape of ``x``.
        """
        a = self._coefficient(self.a(t), t, x)
        s2 = self._coefficient(self.s2(t), t, x)
        return (x + s2 * score) / a

    def check_times(self, t, name="t"):
        """Validated process times: a 1-d float array, finite and > 0 (ValueError naming ``name``)."""
        return np.atleast_1d(_times(name, t)).astype(float)

    def to_dict(self) -> dict:
        """``{"name": ..., <parameters>}``, JSON-serialisable; :func:`get_schedule` rebuilds the schedule."""
        params = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)} if dataclasses.is_dataclass(self) else {}
        return {"name": self.name, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}}

    def __repr__(self):
        params = self.to_dict()
        params.pop("name")
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in params.items())})"

    def __str__(self):
        return self.name

    def __eq__(self, other):
        """Same class and parameters; a string compares as :func:`get_schedule` of it (default parameters)."""
        if isinstance(other, str):
            try:
                other = get_schedule(other)
            except ValueError:
                return False
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __hash__(self):
        return hash((type(self), repr(self)))


@dataclass(frozen=True, eq=False)
class VE(Schedule):
    """Variance exploding (default): ``a = 1``, ``s^2 = t``, so ``tau = t`` (``t`` is the noise variance).

    Examples
    --------
    >>> ve = VE()
    >>> float(ve.tau(0.3)), float(ve.t_of_tau(0.3)), float(ve.a(0.3)), float(ve.s2(0.3))
    (0.3, 0.3, 1.0, 0.3)
    """

    name = "ve"

    def a(self, t):
        """``a = 1``."""
        return np.ones_like(np.asarray(t, dtype=float))

    def s2(self, t):
        """``s^2 = t``."""
        return np.asarray(t, dtype=float)

    def t_of_tau(self, tau):
        """``t = tau``."""
        return _times("tau", tau).copy()


@dataclass(frozen=True, eq=False)
class VP(Schedule):
    """Variance preserving / Ornstein-Uhlenbeck: ``a = e^{-t}``, ``s^2 = 1 - e^{-2t}``, ``tau = e^{2t} - 1``.

    Examples
    --------
    >>> vp, t = VP(), 0.7
    >>> round(float(vp.s2(t) / vp.a(t) ** 2), 12), round(float(np.expm1(2 * t)), 12)   # tau = s^2/a^2
    (3.055199966845, 3.055199966845)
    >>> round(float(vp.t_of_tau(vp.tau(t))), 12)                                         # and back
    0.7
    """

    name = "vp"

    def a(self, t):
        """``a = e^{-t}``."""
        return np.exp(-np.asarray(t, dtype=float))

    def s2(self, t):
        """``s^2 = 1 - e^{-2t}``."""
        return -np.expm1(-2 * np.asarray(t, dtype=float))

    def tau(self, t):
        """``tau = e^{2t} - 1`` (``expm1``, exact at small ``t``)."""
        t = _times("t", t)
        return np.expm1(2 * t)

    def t_of_tau(self, tau):
        """``t = log(1 + tau) / 2``."""
        return 0.5 * np.log1p(_times("tau", tau))


@dataclass(frozen=True, eq=False)
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
        """``a = e^{-B(t)/2}``."""
        return np.exp(-0.5 * self._B(t))

    def s2(self, t):
        """``s^2 = 1 - e^{-B(t)}``."""
        return -np.expm1(-self._B(t))

    def tau(self, t):
        """``tau = e^{B(t)} - 1``."""
        return np.expm1(self._B(_times("t", t)))

    def t_of_tau(self, tau):
        """The root ``t`` of ``B(t) = log(1 + tau)``."""
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
        """``a = 1``."""
        return np.ones_like(np.asarray(t, dtype=float))

    def s2(self, t):
        """``s^2 = t^2``."""
        return np.asarray(t, dtype=float) ** 2

    def t_of_tau(self, tau):
        """``t = sqrt(tau)`` (the noise standard deviation)."""
        return np.sqrt(_times("tau", tau))


@dataclass(frozen=True, eq=False)
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
        """``a = 1``."""
        return np.ones_like(np.asarray(t, dtype=float))

    def s2(self, t):
        """``s^2 = sigma_min^2 (sigma_max / sigma_min)^{2t}``."""
        t = np.asarray(t, dtype=float)
        return self.sigma_min ** 2 * (self.sigma_max / self.sigma_min) ** (2 * t)

    def t_of_tau(self, tau):
        """``t = log(tau / sigma_min^2) / (2 log(sigma_max / sigma_min))``."""
        tau = _times("tau", tau)
        return 0.5 * np.log(tau / self.sigma_min ** 2) / np.log(self.sigma_max / self.sigma_min)


@dataclass(frozen=True, eq=False)
class TabulatedVP(Schedule):
    """The discrete VP schedule a DDPM-family model was trained on (diffusers' ``alphas_cumprod``).

    ``t`` is the training timestep index ``k = 0 .. K-1`` (the model is defined at those only):
    ``a_k^2 = alpha_bar_k``, ``s_k^2 = 1 - alpha_bar_k``, ``tau_k = (1 - alpha_bar_k) / alpha_bar_k``.
    ``check_times`` rounds a fractional timestep to the nearest one with a warning; ``a``, ``s2`` and
    ``tau`` refuse anything but integer timesteps in range; ``t_of_tau`` returns the timestep whose
    ``tau_k`` is nearest to ``tau`` in ``log tau``.
    """

    alphas_cumprod: tuple
    name = "tabulated-vp"

    def __post_init__(self):
        ab = np.asarray(self.alphas_cumprod, dtype=float)
        if ab.ndim != 1 or ab.size < 1 or not np.all(np.isfinite(ab)) or np.any(ab <= 0) or np.any(ab >= 1):
            raise ValueError("alphas_cumprod must be a non-empty 1-d sequence of values in (0, 1)")
        if np.any(np.diff(ab) >= 0):
            raise ValueError("alphas_cumprod must decrease strictly with the timestep (noise increases)")
        object.__setattr__(self, "alphas_cumprod", tuple(float(v) for v in ab))

    def __repr__(self):
        ab = self.alphas_cumprod
        return f"TabulatedVP({self.n_steps} steps, alpha_bar {ab[0]:.6g} .. {ab[-1]:.6g})"

    @property
    def n_steps(self) -> int:
        """Number of training timesteps ``K``."""
        return len(self.alphas_cumprod)

    def _index(self, t):
        t = np.asarray(t, dtype=float)
        k = np.rint(t)
        if not np.all(np.isfinite(t)) or np.any(k != t) or np.any(k < 0) or np.any(k > self.n_steps - 1):
            raise ValueError(f"t must be integer timesteps in 0..{self.n_steps - 1} of the tabulated schedule, "
                             f"got {t.tolist() if t.ndim else float(t)}")
        return k.astype(int)

    def check_times(self, t, name="t"):
        """Timesteps as floats; fractional ones rounded to the nearest integer with a warning."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        if not np.all(np.isfinite(t)) or np.any(t < -0.5) or np.any(t > self.n_steps - 0.5):
            raise ValueError(f"{name} must be timesteps in 0..{self.n_steps - 1}, got {t.tolist()}")
        k = np.rint(t)
        if np.any(k != t):
            warnings.warn(f"{name}={t[k != t].tolist()} rounded to the nearest training timesteps "
                          f"{k[k != t].astype(int).tolist()} (the model is defined at integer timesteps only)",
                          stacklevel=2)
        return k.astype(float)

    def a(self, t):
        """``a_k = sqrt(alpha_bar_k)`` at integer timesteps ``k``."""
        return np.sqrt(np.asarray(self.alphas_cumprod)[self._index(t)])

    def s2(self, t):
        """``s_k^2 = 1 - alpha_bar_k``."""
        return 1.0 - np.asarray(self.alphas_cumprod)[self._index(t)]

    def tau(self, t):
        """``tau_k = (1 - alpha_bar_k) / alpha_bar_k``."""
        ab = np.asarray(self.alphas_cumprod)[self._index(t)]
        return (1.0 - ab) / ab

    def t_of_tau(self, tau):
        """The timestep whose ``tau_k`` is nearest to ``tau`` in ``log tau``."""
        tau = _times("tau", tau)
        ab = np.asarray(self.alphas_cumprod)
        lt = np.log((1.0 - ab) / ab)
        return np.abs(np.log(tau)[..., None] - lt).argmin(axis=-1).astype(float)


#: schedule name -> class (default parameters)
SCHEDULES = {"ve": VE, "vp": VP, "ddpm": DDPM, "edm": EDM, "geometric": GeometricVE}


def get_schedule(schedule) -> Schedule:
    """A name of :data:`SCHEDULES` (``'ve'``, ``'vp'``, ``'ddpm'``, ``'edm'``, ``'geometric'``; default
    parameters), a :class:`Schedule`, or a dict from :meth:`Schedule.to_dict` (parameters and tabulated
    schedules included) -> schedule instance.

    Examples
    --------
    >>> vp = get_schedule("vp")
    >>> float(vp.tau(0.5)), round(float(np.e - 1), 12)           # tau = e^{2t} - 1
    (1.718281828459045, 1.718281828459)
    >>> float(vp.t_of_tau(3.0)), round(float(np.log(4) / 2), 12)  # t = log(1 + tau)/2
    (0.6931471805599453, 0.69314718056)
    >>> get_schedule(vp.to_dict()) == vp, round(float(get_schedule("edm").tau(0.3)), 12)   # EDM: tau = t^2
    (True, 0.09)
    """
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, dict):
        params = dict(schedule)
        name = str(params.pop("name", "")).lower()
        cls = {**SCHEDULES, TabulatedVP.name: TabulatedVP}.get(name)
        if cls is None:
            raise ValueError(f"schedule name must be one of {tuple(SCHEDULES) + (TabulatedVP.name,)}, got {name!r}")
        try:
            return cls(**params)
        except TypeError as e:
            raise ValueError(f"schedule {name!r}: bad parameters {sorted(params)} ({e})") from None
    key = str(schedule).lower()
    if key in SCHEDULES:
        return SCHEDULES[key]()
    raise ValueError(f"schedule must be one of {tuple(SCHEDULES)}, got {schedule!r}")
