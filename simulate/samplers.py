"""Reverse-time samplers with an exact score: Euler-Maruyama (reverse SDE) and Heun (probability-flow ODE).

Forward process ``x_t = a(t) x0 + s(t) eps`` is the SDE ``dx = f(t) x dt + g(t) dW`` with
``f = d log a / dt`` and ``g^2 = d s^2/dt - 2 f s^2`` (VE: ``f = 0``, ``g^2 = 1``; VP: ``f = -1``, ``g^2 = 2``).

- reverse SDE: ``dx = [f x - g^2 score(x, t)] dt + g dW_bar``, integrated from ``t_start`` down to ``t_end``
  with Euler-Maruyama;
- probability-flow ODE: ``dx/dt = f x - (g^2 / 2) score(x, t)``, integrated with Heun's method (2nd order).

Times are process times ``t``; the default grid is uniform in ``log tau`` (equal steps in ``log t`` for VE),
which keeps ``h * |J|`` bounded as ``t -> 0``. The trajectory can be recorded, and the exact Jacobian
spectrum ``eta`` (eigenvalues of ``-Jn = -s^2 J``, numpy ``eigvalsh``) at chosen times is returned as an
:class:`rmt.spectrum.Spectrum`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rmt.validation import finite_array, positive, positive_int
from rmt.schedules import DDPM, EDM, VE, VP, GeometricVE
from rmt.spectrum import Spectrum

from .models import ExactModel, as_rng

__all__ = ["sde_coefficients", "time_grid", "SampleResult", "sample_reverse", "reverse_step", "reverse_sde", "probability_flow"]

METHODS = ("sde", "ode")


def sde_coefficients(schedule, t):
    """Forward-SDE drift rate ``f(t) = d log a/dt`` and squared diffusion ``g(t)^2``.

    Parameters
    ----------
    schedule : rmt Schedule (VE, VP, DDPM, EDM, GeometricVE);  t : float or array of process times

    ``g^2 = d s^2/dt - 2 f s^2``: VE ``(0, 1)``; VP ``(-1, 2)``; DDPM ``(-beta(t)/2, beta(t))``; EDM
    ``(0, 2t)``; geometric VE ``(0, 2 ln(sigma_max/sigma_min) s(t)^2)``.

    Returns
    -------
    (f, g2) : floats or arrays shaped like ``t``
    """
    t = np.asarray(t, dtype=float)
    if isinstance(schedule, VE):
        return np.zeros_like(t), np.ones_like(t)
    if isinstance(schedule, VP):
        return -np.ones_like(t), 2.0 * np.ones_like(t)
    if isinstance(schedule, DDPM):
        beta = schedule.beta_min + t * (schedule.beta_max - schedule.beta_min)
        return -0.5 * beta, beta
    if isinstance(schedule, EDM):
        return np.zeros_like(t), 2.0 * t
    if isinstance(schedule, GeometricVE):
        return np.zeros_like(t), 2.0 * np.log(schedule.sigma_max / schedule.sigma_min) * schedule.s2(t)
    raise ValueError(f"schedule must be continuous (VE, VP, DDPM, EDM, geometric) for the SDE samplers, got "
                     f"{schedule!r}")


def time_grid(schedule, t_start, t_end, steps, spacing="log", extra=()):
    """Decreasing time grid from ``t_start`` to ``t_end`` with ``steps`` intervals, plus ``extra`` times.

    ``spacing='log'``: uniform in ``log tau(t)``; ``'linear'``: uniform in ``t``. ``extra`` times (e.g. the
    spectrum times) are inserted exactly. Returns an array of shape (steps + 1 + len(extra),) at most.
    """
    t_start, t_end = positive("t_start", t_start), positive("t_end", t_end)
    steps = positive_int("steps", steps)
    if not t_end < t_start:
        raise ValueError(f"t_end must be < t_start, got t_end={t_end}, t_start={t_start}")
    if spacing == "log":
        lt = np.linspace(np.log(schedule.tau(t_start)), np.log(schedule.tau(t_end)), steps + 1)
        grid = schedule.t_of_tau(np.exp(lt))
        grid[0], grid[-1] = t_start, t_end
    elif spacing == "linear":
        grid = np.linspace(t_start, t_end, steps + 1)
    else:
        raise ValueError(f"spacing must be 'log' or 'linear', got {spacing!r}")
    extra = np.atleast_1d(np.asarray(extra, dtype=float))
    if extra.size:
        if np.any(extra < t_end) or np.any(extra > t_start) or not np.all(np.isfinite(extra)):
            raise ValueError(f"requested times must lie in [t_end, t_start] = [{t_end}, {t_start}], got {extra}")
        # base points within rounding of a requested time are dropped, so each requested time occurs once
        near = np.any(np.isclose(grid[:, None], extra[None, :], rtol=1e-9, atol=0), axis=1)
        grid = np.unique(np.concatenate([grid[~near], extra]))[::-1]
    return grid


@dataclass
class SampleResult:
    """Output of a reverse-time sampler.

    Attributes
    ----------
    x : (n, d) samples at ``t_end``
    grid : (S + 1,) decreasing time grid that was integrated
    trajectory : (R, n_rec, d) states at ``record_times`` (None if not recorded)
    record_times : (R,) times of the recorded states
    spectrum : Spectrum of ``-Jn`` at ``spectrum_times`` for the first ``spectrum_points`` particles, or None
    denoised : (n, d) Tweedie denoiser ``E[x0 | x_{t_end}]`` of the final samples
    """

    x: np.ndarray
    grid: np.ndarray
    method: str
    trajectory: np.ndarray | None = None
    record_times: np.ndarray | None = None
    spectrum: Spectrum | None = None
    denoised: np.ndarray | None = None
    info: dict = field(default_factory=dict)


def _default_t_start(model):
    # tau(t_start) = 1e3 * max(1, largest data variance): the prior N(0, s^2 I) (VE) or N(0, I) (VP)
    # then differs from the exact marginal by a relative O(1e-3) in variance.
    # Duck-typed models without ``max_variance`` count as unit scale.
    tau0 = 1e3 * max(1.0, float(getattr(model, "max_variance", 1.0)) + float(np.max(np.abs(_mean(model)))) ** 2)
    return float(model.schedule.t_of_tau(tau0))


def _check_model(model):
    """An :class:`ExactModel`, or any object with ``score(x, t)`` ((n, d) -> (n, d)), ``d`` and ``schedule``
    (duck typing: e.g. a trained network wrapped as a numpy score in :mod:`trained`)."""
    if isinstance(model, ExactModel):
        return
    missing = [a for a in ("score", "d", "schedule") if not hasattr(model, a)]
    if missing or not callable(model.score):
        raise ValueError(f"model must be an ExactModel or provide score(x, t), d and schedule; "
                         f"{type(model).__name__} lacks {missing or ['a callable score']}")


def _mean(model):
    return model.mean() if hasattr(model, "mean") else np.zeros(model.d)


def _denoiser(model, x, t):
    if hasattr(model, "denoiser"):
        return model.denoiser(x, t)
    return model.schedule.denoise(x, t, model.score(x, t))


def _descending(name, times):
    """``times`` (validated, named ``name``) sorted from late to early; an empty array for None."""
    return np.sort(np.atleast_1d(finite_array(name, times)))[::-1] if times is not None else np.zeros(0)


def sample_reverse(model: ExactModel, n, *, method="sde", steps=500, t_start=None, t_end=1e-3,
                   spacing="log", rng=None, x_init=None, init="prior", record_times=None,
                   spectrum_times=None, spectrum_points=8, progress=False) -> SampleResult:
    """Integrate the reverse SDE (Euler-Maruyama) or the probability-flow ODE (Heun) with the exact score.

    Parameters
    ----------
    model : ExactModel (its ``schedule`` continuous: VE, VP, DDPM, EDM or geometric VE, not tabulated), or any
        object with ``score(x, t)``, ``d`` and ``schedule`` (optional: ``coefficients``, ``mean()``,
        ``max_variance``, ``denoiser``, ``describe``;
        ``init='marginal'`` needs ``sample_t`` and ``spectrum_times`` needs ``eta``)
    n : number of particles
    method : 'sde' or 'ode'
    steps : number of base time steps (the ``record_times``/``spectrum_times`` are inserted into the grid)
    t_start, t_end : process times (``t_start`` default: ``tau = 1e3 x`` the data scale; ``t_end`` > 0)
    spacing : 'log' (uniform in log tau, default) or 'linear'
    rng : seed or numpy Generator
    x_init : (n, d) initial state at ``t_start``; otherwise drawn from ``init``:
        'prior' = ``N(a mean, s^2 I)`` (the usual Gaussian prior; VP: ~N(0, I)), 'marginal' = exact
        ``p_{t_start}`` via ``model.sample_t`` (removes the prior-mismatch error).
    record_times : times at which to store the state (trajectory)
    spectrum_times : times at which to compute the exact spectrum of ``-Jn`` at the particles
    spectrum_points : how many particles enter the spectrum (the first ones)
    progress : show a tqdm bar on stderr

    Returns
    -------
    SampleResult

    Examples
    --------
    >>> from simulate import EmpiricalModel                   # the exact score of three training points memorises:
    >>> m = EmpiricalModel([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    >>> i, dist = m.nearest(sample_reverse(m, 300, method="ode", steps=60, t_end=1e-4, rng=0).x)
    >>> sorted(set(i.tolist())), bool(dist.max() < 5 * np.sqrt(1e-4))   # every sample within 5 s(t_end) of one
    ([0, 1, 2], True)
    """
    _check_model(model)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    n = positive_int("n", n)
    rng = as_rng(rng)
    sch = model.schedule
    sde_coefficients(sch, 1.0)  # validates the schedule
    t_start = _default_t_start(model) if t_start is None else positive("t_start", t_start)
    rec, spt = _descending("record_times", record_times), _descending("spectrum_times", spectrum_times)
    grid = time_grid(sch, t_start, t_end, steps, spacing, extra=np.concatenate([rec, spt]))
    x = _initial_state(model, n, x_init, init, t_start, rng)
    if spt.size and not hasattr(model, "eta"):
        raise ValueError(f"spectrum_times needs a model with eta(x, t); {type(model).__name__} has none "
                         f"(measure network spectra with trained.network_spectra)")
    spectrum_points = min(positive_int("spectrum_points", spectrum_points), n)
    traj, spec_vals = [], []

    def observe(t_now, state):
        if rec.size and np.any(np.isclose(rec, t_now, rtol=1e-12, atol=0)):
            traj.append(state.copy())
        if spt.size and np.any(np.isclose(spt, t_now, rtol=1e-12, atol=0)):
            spec_vals.append(model.eta(state[:spectrum_points], t_now))

    it = range(grid.size - 1)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc=f"reverse {method}", leave=False)
    observe(grid[0], x)
    for i in it:
        x = reverse_step(model, method, x, grid[i], grid[i + 1], rng)
        observe(grid[i + 1], x)

    spectrum = Spectrum(np.stack(spec_vals, axis=1), spt, schedule=sch, source="simulation", meta={
        "model": _describe(model), "sampler": method, "points": spectrum_points}) if spt.size else None
    return SampleResult(
        x=x, grid=grid, method=method,
        trajectory=np.stack(traj) if traj else None, record_times=rec if rec.size else None,
        spectrum=spectrum, denoised=_denoiser(model, x, grid[-1]),
        info={"t_start": float(t_start), "t_end": float(grid[-1]), "steps": int(grid.size - 1),
              "method": method, "schedule": sch.name, "init": "given" if x_init is not None else init})


def _initial_state(model, n, x_init, init, t_start, rng):
    """The (n, d) state at ``t_start``: ``x_init`` (checked), the prior ``a mean + s eps`` or the exact
    marginal (``model.sample_t``)."""
    if x_init is not None:
        x = finite_array("x_init", x_init).copy()
        if x.shape != (n, model.d):
            raise ValueError(f"x_init must have shape (n={n}, d={model.d}), got {x.shape}")
        return x
    if init == "prior":
        return model.schedule.noise(_mean(model), t_start, rng.standard_normal((n, model.d)))
    if init == "marginal":
        if not hasattr(model, "sample_t"):
            raise ValueError(f"init 'marginal' needs a model with sample_t; {type(model).__name__} has none")
        return model.sample_t(n, t_start, rng)
    raise ValueError(f"init must be 'prior' or 'marginal', got {init!r}")


def reverse_step(model, method, x, t0, t1, rng):
    """One step from ``t0`` down to ``t1 < t0`` with ``h = t0 - t1`` and the forward SDE ``dx = f x dt + g dW``
    (:func:`sde_coefficients`):

    - ``'sde'`` (Euler-Maruyama): ``x + h (-f x + g^2 score(x, t0)) + sqrt(g^2 h) eps``, one draw from ``rng``;
    - ``'ode'`` (Heun on the probability flow ``dx/d(-t) = -f x + (g^2/2) score``): predictor at ``t0``,
      corrector at ``t1``.

    Returns the new (n, d) state; a non-finite state raises ``FloatingPointError``.
    """
    sch = model.schedule
    h = t0 - t1
    f0, g20 = sde_coefficients(sch, t0)
    if method == "sde":
        drift = -f0 * x + g20 * model.score(x, t0)
        x = x + h * drift + np.sqrt(g20 * h) * rng.standard_normal(x.shape)
    else:
        k0 = -f0 * x + 0.5 * g20 * model.score(x, t0)
        xp = x + h * k0
        f1, g21 = sde_coefficients(sch, t1)
        k1 = -f1 * xp + 0.5 * g21 * model.score(xp, t1)
        x = x + 0.5 * h * (k0 + k1)
    if not np.all(np.isfinite(x)):
        raise FloatingPointError(f"non-finite state at t={t1:g}; use more steps or a larger t_end")
    return x


def _describe(model):
    return model.describe() if hasattr(model, "describe") else {"model": type(model).__name__, "d": model.d}


def reverse_sde(model, n, **kw) -> SampleResult:
    """Euler-Maruyama for the reverse SDE; see :func:`sample_reverse`."""
    return sample_reverse(model, n, method="sde", **kw)


def probability_flow(model, n, **kw) -> SampleResult:
    """Heun's method for the probability-flow ODE; see :func:`sample_reverse`."""
    return sample_reverse(model, n, method="ode", **kw)
