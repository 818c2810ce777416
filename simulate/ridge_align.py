"""The align law of reach-align-slide, measured (docs/theory.md section 8).

Near the ridge ``R_t`` the normal offset ``delta = V V^T (x - y)`` of a probability-flow trajectory (``y`` its
foot on the ridge) obeys, to first order in ``delta`` and in rescaled coordinates ``z = x / a``, ``u = log tau``,

    d delta_z / du = kappa delta_z + b,    kappa = -s^2 l_{k+1} / 2,    b = -(s^2 / 2a) e_normal,

with ``l_{k+1}`` the first normal eigenvalue of ``grad^2 log p_t`` at the foot (``-1/s^2`` for a condensed
posterior, so ``kappa ~ 1/2``) and ``e_normal = V V^T e`` the model's normal score error there. Going down in
``tau`` this contracts to ``delta = -e_normal / l_{k+1} ~ s^2 e_normal`` and forgets its start like ``sqrt(tau)``.

- :class:`RidgeError`: a prescribed error field, ``(eps_n n(x) + eps_t u(x)) / s^2`` with ``n`` the unit normal
  pointing away from the ridge and ``u`` a unit tangent; its settled normal offset is ``eps_n`` exactly where
  the law holds.
- :func:`linearised_offset`: integrates the equation along recorded trajectories with each sample's own
  error and the model's own Jacobian (the normal part; the tangent part gives the slide of a settled sample) (exponential integrator, coefficients averaged over each recorded interval).
- :func:`injected_align`: the controlled experiment, exact empirical score plus :class:`RidgeError` over a range
  of magnitudes from the same starting states; the log-log slope of the settled distance (or the along-ridge
  displacement) against the magnitude, with a bootstrap interval over trajectories, on the contracting regime.
"""
from __future__ import annotations

import numpy as np

from rmt.validation import finite_array, positive, positive_int

from .models import as_rng
from .ridge import empirical_model, ridge_frame
from .ridge_dynamics import PerturbedScore, median_spacing, reach_align_slide

__all__ = ["RidgeError", "linearised_offset", "loglog_fit", "response_fit", "prediction_fit", "injected_align",
           "regime_fit"]

#: a magnitude belongs to the contracting regime while the median response is within REGIME_RTOL of it and at
#: most a fraction REGIME_OFF of the trajectories respond beyond a factor 2 of it (e.g. settled at another mode)
REGIME_RTOL, REGIME_OFF = 0.1, 0.1


def _unit(v, fallback):
    n = np.linalg.norm(v, axis=1, keepdims=True)
    ok = n > 1e-12 * np.maximum(1.0, np.max(n, initial=0.0))
    return np.where(ok, v / np.where(ok, n, 1.0), fallback)


class RidgeError:
    """Error field ``e(x, t) = (normal n(x) + tangent u(x)) / s(t)^2`` (B, D) against the ridge of ``X``.

    ``n(x)``: unit normal pointing away from the ridge, ``-V V^T grad log p_t / |.|`` (the first normal direction
    where that vanishes); ``u(x)``: ``T T^T r / |.|`` for the fixed ``reference`` direction ``r`` (default the
    top principal direction of ``X``). ``normal`` and ``tangent`` are lengths: the offsets the field sets.
    """

    def __init__(self, X, k, normal=0.0, tangent=0.0, reference=None, schedule="ve"):
        self.model = empirical_model(X, schedule)
        self.k = positive_int("k", k)
        self.normal = positive("normal", normal, allow_zero=True)
        self.tangent = positive("tangent", tangent, allow_zero=True)
        if reference is None:
            P = self.model.points - self.model.points.mean(0)
            reference = np.linalg.svd(P, full_matrices=False)[2][0] if P.shape[0] > 1 else np.eye(P.shape[1])[0]
        r = finite_array("reference", reference)
        if r.shape != (self.model.d,) or not np.linalg.norm(r) > 0:
            raise ValueError(f"reference must be a non-zero vector of length D={self.model.d}, got shape {r.shape}")
        self.reference = r / np.linalg.norm(r)

    def __call__(self, x, t):
        x = np.atleast_2d(x)
        F = ridge_frame(self.model, x, float(t), self.k)
        out = np.zeros_like(x)
        if self.normal:
            out += self.normal * _unit(-F.normal_component(F.score), F.normal_first)
        if self.tangent:
            r = np.broadcast_to(self.reference, x.shape)
            out += self.tangent * _unit(F.tangent_component(r), F.tangent[:, :, 0])
        return out / self.model.coefficients(float(t))[1]


def _projector(T, part):
    """(.., D, D) projector on the tangent (``T T^T``) or normal (``I - T T^T``) space of frames T (.., D, k)."""
    P = np.einsum("...dk,...ek->...de", T, T)
    return P if part == "tangent" else np.eye(T.shape[-2]) - P


def linearised_offset(dyn, schedule, *, part="normal", start="entry", anchor=None) -> np.ndarray:
    """Predicted offset ``|delta|`` (R, n) of the trajectories of a :class:`RidgeDynamics` ``dyn`` in the
    ``part`` ('normal' or 'tangent') of the ridge frame at their feet (NaN before each trajectory's start).

    Integrates ``d delta_z / du = M delta_z + b`` with ``M = -(s^2/2) P J P`` and ``b = -(s^2 / 2a) P e``
    (module docstring; ``P`` the part's projector, ``e`` the error at the foot) with ``J`` the score model's own
    Jacobian at the foot when ``dyn`` recorded it (``jacobian=True``), else the exact Hessian's
    (``l_{k+1}`` on the normal space; the tangent part needs the recorded one). On each recorded interval the
    coefficients are averaged and the step is exact: ``[delta; 1] <- expm([[M, b], [0, 0]] du) [delta; 1]``,
    then projected on the part's space at the new foot.

    'normal': ``delta = V V^T (x - y)``, the offset from the ridge, driven by ``e = V V^T (score_hat -
    grad log p_t)(y)``. 'tangent': ``delta = T T^T (x - anchor)``, the along-ridge offset from ``anchor`` (n, D), a
    critical point of ``p_t`` such as the mode a sample settles at, driven by ``T T^T score_hat(anchor)``
    (extrapolated from the foot with the recorded Jacobian).
    ``start``: 'entry' (default) starts each trajectory at the first record after which it never is in the
    reach phase again (one still reaching at the end is predicted only there); 'first': at the first record;
    or an integer array (n,) of record indices.
    """
    from scipy.linalg import expm
    if part not in ("normal", "tangent"):
        raise ValueError(f"part must be 'normal' or 'tangent', got {part!r}")
    t = np.asarray(dyn.times, dtype=float)
    a, s2, tau = schedule.a(t), schedule.s2(t), schedule.tau(t)
    R, n, D = dyn.foot.shape
    P = _projector(dyn.tangent, part)                                      # (R, n, D, D)
    if dyn.jacobian is not None:
        J = P @ dyn.jacobian @ P
    elif part == "normal":
        J = dyn.eigenvalues[:, :, -1, None, None] * P
    else:
        raise ValueError("the tangent part needs the score model's Jacobian: run reach_align_slide with "
                         "jacobian=True")
    M = -0.5 * s2[:, None, None, None] * J
    if part == "tangent":
        if anchor is None:
            raise ValueError("the tangent part needs anchor, the (n, D) points the offsets are measured from")
        ref = np.broadcast_to(finite_array("anchor", anchor), (n, D))
        # the model's score at the anchor (a critical point of p_t), from its value and Jacobian at the foot
        drive = dyn.error + dyn.exact_score + np.einsum("rnij,rnj->rni", dyn.jacobian, ref[None] - dyn.foot)
    else:
        ref, drive = None, dyn.error
    b = -(s2 / (2 * a))[:, None, None] * np.einsum("rnij,rnj->rni", P, drive)
    r0 = _start(dyn, start)
    out = np.full((R, n), np.nan)
    dz = np.zeros((n, D))
    for r in range(R):
        new = r0 == r
        base = dyn.foot[r][new] if ref is None else ref[new]
        dz[new] = np.einsum("nij,nj->ni", P[r][new], dyn.states[r][new] - base) / a[r]
        go = r0 < r
        if go.any():
            G = np.zeros((int(go.sum()), D + 1, D + 1))
            G[:, :D, :D] = 0.5 * (M[r] + M[r - 1])[go]
            G[:, :D, D] = 0.5 * (b[r] + b[r - 1])[go]
            step = expm(G * np.log(tau[r] / tau[r - 1]))
            dz[go] = np.einsum("nij,nj->ni", P[r][go], np.einsum("nij,nj->ni", step[:, :D, :D], dz[go])
                               + step[:, :D, D])
        done = r0 <= r
        out[r, done] = a[r] * np.linalg.norm(dz[done], axis=1)
    return out


def _start(dyn, start) -> np.ndarray:
    R, n = dyn.phase.shape
    if isinstance(start, str):
        if start not in ("entry", "first"):
            raise ValueError(f"start must be 'entry', 'first' or record indices, got {start!r}")
        if start == "first":
            return np.zeros(n, dtype=int)
        reach = dyn.phase == 0
        return np.where(reach.any(0), R - np.argmax(reach[::-1], axis=0), 0).clip(max=R - 1)
    r0 = np.asarray(start)
    if r0.shape != (n,) or r0.dtype.kind not in "iu" or r0.min(initial=0) < 0 or r0.max(initial=0) >= R:
        raise ValueError(f"start must hold one record index in [0, {R}) per trajectory ({n}), got {r0!r}")
    return r0


def _interval(boot, level):
    boot = boot[np.isfinite(boot)]
    q = (1 - level) / 2
    return [float(np.quantile(boot, q)), float(np.quantile(boot, 1 - q))] if boot.size else [None, None]


def loglog_fit(x, y, n_boot=1000, seed=0, level=0.95) -> dict:
    """Least squares ``log y = slope log x + c`` over pairs ``x, y`` (n,); the ``level`` interval of the slope
    by a bootstrap over the pairs. Non-positive pairs are left out (counted in ``left_out``)."""
    x, y = np.ravel(x).astype(float), np.ravel(y).astype(float)
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    lx, ly = np.log(x[ok]), np.log(y[ok])

    def slope(i):
        return float(np.polyfit(lx[i], ly[i], 1)[0]) if i.size >= 3 and np.ptp(lx[i]) > 1e-12 else np.nan
    rng = np.random.default_rng(seed)
    boot = np.array([slope(rng.integers(0, lx.size, lx.size)) for _ in range(n_boot)]) if lx.size else np.zeros(0)
    return {"slope": slope(np.arange(lx.size)), "ci": _interval(boot, level), "level": level,
            "points": int(ok.sum()), "left_out": int((~ok).sum())}


def response_fit(magnitudes, response, n_boot=1000, seed=0, level=0.95) -> dict:
    """Log-log slope of the median response over trajectories against the magnitude: ``magnitudes`` (M,),
    ``response`` (M, n); the ``level`` interval by a bootstrap over the trajectories (columns). The median
    keeps a trajectory that switched modes from steering the fit."""
    lm = np.log(np.ravel(magnitudes).astype(float))
    Y = np.asarray(response, dtype=float)

    def slope(cols):
        med = np.nanmedian(Y[:, cols], axis=1)
        return float(np.polyfit(lm, np.log(med), 1)[0]) if lm.size >= 2 and np.all(med > 0) else np.nan
    rng = np.random.default_rng(seed)
    n = Y.shape[1]
    boot = np.array([slope(rng.integers(0, n, n)) for _ in range(n_boot)])
    return {"slope": slope(np.arange(n)), "ci": _interval(boot, level), "level": level, "magnitudes": lm.size}


def prediction_fit(measured, predicted, seed=0) -> dict:
    """How well ``predicted`` (n,) explains ``measured`` (n,) on log scales: ``r2 = 1 - sum (log m - log p)^2 /
    sum (log m - mean)^2`` (the prediction as it is, no fitted constants), the log-log slope with its 95%
    interval, and the median ratio ``m / p``."""
    m, p = np.ravel(measured).astype(float), np.ravel(predicted).astype(float)
    ok = (m > 0) & (p > 0) & np.isfinite(p)
    lm, lp = np.log(m[ok]), np.log(p[ok])
    ss = np.sum((lm - lm.mean()) ** 2) if ok.any() else 0.0
    r2 = float(1 - np.sum((lm - lp) ** 2) / ss) if ok.sum() > 2 and ss > 0 else None
    fit = loglog_fit(p[ok], m[ok], seed=seed)
    return {"r2": r2, "slope": fit["slope"], "ci": fit["ci"],
            "median_ratio": float(np.median(m[ok] / p[ok])) if ok.any() else None, "samples": int(ok.sum())}


def injected_align(X, k, magnitudes, *, part="normal", n=64, steps=120, t_start=None, t_end=1e-6,
                   reference=None, rng=0) -> tuple[dict, dict]:
    """The controlled experiment: exact empirical score of ``X`` (VE) plus a :class:`RidgeError` of each
    magnitude (a length) in the ``part`` ('normal' or 'tangent'), every run from the same ``n`` starting states.

    Responses are paired with the error-free run from the same states, which removes the transient that has not
    yet decayed at ``t_end`` (``~ sqrt(tau_end / tau_start)`` of the start): 'normal': the settled distance to
    the ridge at ``t_end`` (the projected foot) minus the error-free one, predicted equal to the magnitude;
    'tangent': the displacement of the foot from the error-free run's foot (predicted equal to the magnitude)
    and the change of distance (predicted 0, reported relative to the magnitude).
    The contracting regime is the run of magnitudes, from the smallest, with ``|median(response / magnitude) -
    1| <= REGIME_RTOL`` and at most ``REGIME_OFF`` of the trajectories off by more than a factor 2 (``off_law``);
    :func:`response_fit` gives the slope and its 95% interval there (:func:`regime_fit`).
    Returns ``(summary, arrays)``; ``arrays`` holds the responses (M, n) for fits on subsets of trajectories.
    """
    if part not in ("normal", "tangent"):
        raise ValueError(f"part must be 'normal' or 'tangent', got {part!r}")
    mags = np.sort(finite_array("magnitudes", magnitudes, positive_values=True).ravel())
    model = empirical_model(X, "ve")
    k = positive_int("k", k)
    n = positive_int("n", n)
    sch = model.schedule
    t_start = float(sch.t_of_tau(100.0 * max(1.0, model.max_variance))) if t_start is None else t_start
    x0 = np.sqrt(sch.s2(t_start)) * as_rng(rng).standard_normal((n, model.d)) + model.mean()

    def run(m):
        score = PerturbedScore(model, RidgeError(model, k, **{part: m}, reference=reference))
        d = reach_align_slide(model, score, k, n=n, record_times=[t_end], steps=steps, t_start=t_start,
                              t_end=t_end, x_init=x0)
        return d.distance[-1], d.foot[-1], d.converged[-1]
    d0, y0, c0 = run(0.0)
    runs = [run(m) for m in mags]
    dist = np.stack([r[0] for r in runs])
    resp = dist - d0 if part == "normal" else np.stack([np.linalg.norm(r[1] - y0, axis=1) for r in runs])
    out = {"part": part, "n": n, "k": k, "steps": steps, "t_start": float(t_start), "t_end": float(t_end),
           "error_free_distance_median": float(np.median(d0)),
           "projections_converged": float(np.mean([c0.mean()] + [r[2].mean() for r in runs]))}
    if part == "tangent":
        # a tangential push also tips samples near the decision between modes into the other one: counted,
        # and left out of the law (which is the displacement of a sample that settles where it would have)
        switched = resp > 0.5 * median_spacing(model.points)
        out["switched"] = switched.mean(axis=1).tolist()
        change = np.abs(dist - d0) / mags[:, None]
        out["distance_change"] = [float(np.median(c[~w])) if (~w).any() else None for c, w in zip(change, switched)]
        resp = np.where(switched, np.nan, resp)
    out.update(regime_fit(mags, resp))
    arrays = {"magnitudes": mags, "response": resp, "distance": dist, "error_free_distance": d0,
              "error_free_foot": y0, "start": x0}
    return out, arrays


def regime_fit(magnitudes, response) -> dict:
    """The contracting regime of responses (M, n) to magnitudes (M,) (see :func:`injected_align`; NaN: left
    out) and the slope with its 95% interval there."""
    mags = np.asarray(magnitudes, dtype=float)
    rel = np.asarray(response, dtype=float) / mags[:, None]
    have = ~np.isnan(rel)
    ratio = np.array([np.median(r[h]) if h.any() else np.nan for r, h in zip(rel, have)])
    far = np.abs(np.log2(np.where(rel > 0, rel, 1e-300))) > 1                     # beyond a factor 2
    off = np.array([np.mean(f[h]) if h.any() else np.nan for f, h in zip(far, have)])
    inside = (np.abs(ratio - 1) <= REGIME_RTOL) & (off <= REGIME_OFF)
    m_in = mags.size if inside.all() else int(np.argmin(inside))                  # the leading run of True
    if m_in >= 2:
        fit = response_fit(mags[:m_in], rel[:m_in] * mags[:m_in, None])
    else:
        fit = {"slope": None, "ci": [None, None]}
    return {"magnitudes": mags.tolist(), "median_ratio": ratio.tolist(), "off_law": off.tolist(),
            "regime_end": float(mags[m_in - 1]) if m_in else None,
            "first_outside": float(mags[m_in]) if m_in < mags.size else None,
            "slope": fit["slope"], "ci": fit["ci"], "trajectories": int(rel.shape[1])}
