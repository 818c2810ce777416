"""Gap widths, timescales, phases and dimension curves of the linear model (docs/theory.md sections 4-5).

All functions of the effective noise ``tau`` (convert with :mod:`rmt.schedules`). Bulks are sorted
by variance, high first: bulk ``k`` has covariance edges ``[l_k, u_k]``.

- manifold gap   ``W_M(tau) = l_min / (l_min + tau)``
- intermediate   ``W_k(tau) = tau (l_k - u_{k+1}) / ((u_{k+1} + tau)(l_k + tau))``,
  maximal at ``tau*_k = sqrt(l_k u_{k+1})`` with width ``(sqrt l_k - sqrt u_{k+1})/(sqrt l_k + sqrt u_{k+1})``;
  visible (``W_k >= Delta``) between ``tau_close`` and ``tau_open``, ``tau_open tau_close = l_k u_{k+1}``.
- phases at resolution ``Delta``: trivial for ``tau > lambda_max (1-Delta)/Delta``, consolidation for
  ``tau < l_min Delta/(1-Delta)`` (when there is a spike), coverage between.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validation import finite_array, positive, resolution
from .intervals import Bulk
from .manifold import LinearManifold
from .mp import JacobianLaw, eta_edges
from .readouts import phase_rule
from .schedules import get_schedule

__all__ = ["IntermediateGap", "intermediate_gaps", "manifold_gap", "phase_boundaries", "phase_at",
           "timescales", "phase_transitions", "spectrum_report", "theory_effective_dimension",
           "theory_largest_gap_dimension", "edges_report"]


def _taus(tau, name="tau"):
    t = finite_array(name, tau)
    if np.any(t <= 0):
        raise ValueError(f"{name} must be > 0, got {tau!r}")
    return t


@dataclass(frozen=True)
class IntermediateGap:
    """Gap between detached bulk ``k`` (higher variance, lower edge ``l``) and bulk ``k+1`` (upper edge ``u``).

    ``dimension_fraction`` is the mass (fraction of ``d``) of bulks ``1..k``: the dimension the gap reveals.

    Examples
    --------
    The paper's model (``alpha = 1/2``, levels 1 and 0.01 on 3/4 and 1/4; docs/theory.md section 4):

    >>> from rmt import LinearManifold, VarianceProfile
    >>> g, = intermediate_gaps(LinearManifold(0.5, VarianceProfile.double(1.0, 0.01, f=0.75)))
    >>> g.k, round(g.l, 5), round(g.u, 5), g.dimension_fraction      # bulk 1 holds alpha f = 0.375 of d
    (1, 0.15154, 0.01301, 0.375)
    >>> round(g.tau_star, 6), round(float(np.sqrt(g.l * g.u)), 6)     # tau* = sqrt(l u)
    (0.044402, 0.044402)
    >>> round(g.max_width, 5), round(float(g.width(g.tau_star)), 5)   # W_k at its maximum
    (0.54678, 0.54678)
    >>> op, cl = g.window(0.1)                                        # W_k = Delta at both ends
    >>> round(op, 5), round(cl, 7), round(op * cl / (g.l * g.u), 10), round(float(g.width(op)), 10)
    (1.21911, 0.0016172, 1.0, 0.1)
    """

    k: int
    l: float
    u: float
    dimension_fraction: float

    def width(self, tau):
        """``W_k(tau) = tau (l - u) / ((u + tau)(l + tau))`` in ``eta`` units."""
        tau = _taus(tau)
        return tau * (self.l - self.u) / ((self.u + tau) * (self.l + tau))

    @property
    def tau_star(self) -> float:
        """``tau*_k = sqrt(l u)`` (the paper's ``t_max`` under VE)."""
        return float(np.sqrt(self.l * self.u))

    @property
    def max_width(self) -> float:
        """``(sqrt l - sqrt u) / (sqrt l + sqrt u)``."""
        a, b = np.sqrt(self.l), np.sqrt(self.u)
        return float((a - b) / (a + b))

    def window(self, delta: float = 0.1):
        """``(tau_open, tau_close)`` at resolution ``delta``; ``(None, None)`` if never visible.

        Roots of ``Delta tau^2 - [(l - u) - Delta (l + u)] tau + Delta l u = 0``; ``tau_open`` is the
        larger (generation runs from large to small ``tau``).
        """
        delta = resolution(delta)
        l, u = self.l, self.u
        b = (l - u) - delta * (l + u)
        disc = b * b - 4 * delta * delta * l * u
        if b <= 0 or disc < 0:
            return None, None
        r = np.sqrt(disc)
        hi = (b + r) / (2 * delta)
        lo = (2 * delta * l * u) / (b + r)   # = (b - r)/(2 delta) without cancellation
        return float(hi), float(lo)


def _bulks_by_variance(manifold) -> list[Bulk]:
    return sorted(manifold.support(), key=lambda b: -b.upper)


def intermediate_gaps(manifold: LinearManifold) -> list[IntermediateGap]:
    """Every gap between consecutive detached bulks, high variance first.

    Examples
    --------
    >>> from rmt import LinearManifold, VarianceProfile
    >>> M = LinearManifold(0.5, VarianceProfile([1.0, 1e-2, 1e-4]))  # three levels, three detached bulks
    >>> [(g.k, round(g.dimension_fraction, 4)) for g in intermediate_gaps(M)]   # alpha/3, 2 alpha/3 below
    [(1, 0.1667), (2, 0.3333)]
    """
    bulks = _bulks_by_variance(manifold)
    out, mass = [], 0.0
    for k, (b1, b2) in enumerate(zip(bulks[:-1], bulks[1:]), start=1):
        mass += b1.mass
        out.append(IntermediateGap(k, b1.lower, b2.upper, mass))
    return out


def manifold_gap(manifold: LinearManifold, tau):
    """``W_M(tau) = l_min / (l_min + tau)``: distance from the top ``eta`` edge to the spike at 1.

    Examples
    --------
    >>> from rmt import LinearManifold, VarianceProfile
    >>> M = LinearManifold(0.25, VarianceProfile.single(2.0))          # l_min = 2 (1 - 1/2)^2 = 0.5
    >>> manifold_gap(M, [0.5, 4.5]).round(6).tolist()                # 0.5/(0.5 + tau)
    [0.5, 0.1]
    """
    tau = _taus(tau)
    lmin = min(b.lower for b in manifold.support(masses=False))
    return lmin / (lmin + tau)


def phase_boundaries(manifold: LinearManifold, delta: float = 0.1) -> dict:
    """``trivial_coverage = lambda_max (1-Delta)/Delta`` and ``coverage_consolidation = l_min Delta/(1-Delta)``
    (in ``tau``; ``None`` when there is no spike, ``alpha >= 1``, so consolidation cannot occur).

    Examples
    --------
    >>> from rmt import LinearManifold, VarianceProfile
    >>> pb = phase_boundaries(LinearManifold(0.25, VarianceProfile.single(2.0)), delta=0.1)   # edges 0.5, 4.5
    >>> round(pb["trivial_coverage"], 10), round(pb["coverage_consolidation"], 10)   # 4.5 * 9, 0.5 / 9
    (40.5, 0.0555555556)
    """
    delta = resolution(delta)
    bulks = manifold.support(masses=False)
    lmax = max(b.upper for b in bulks)
    lmin = min(b.lower for b in bulks)
    cc = lmin * delta / (1 - delta) if manifold.zero_mass > 0 else None
    return {"trivial_coverage": lmax * (1 - delta) / delta, "coverage_consolidation": cc}


def phase_at(manifold: LinearManifold, tau, delta: float = 0.1):
    """Phase label(s) at ``tau`` from the exact ``eta`` bulks (docs/theory.md section 5 definition).

    An ``eta``-bulk (:func:`rmt.mp.eta_edges`) is "near 0" if it lies below ``delta``, "near 1" if
    above ``1 - delta`` (the spike is near 1). trivial: everything near 1; consolidation: everything
    near 0 or 1 and both non-empty; coverage otherwise (:func:`rmt.readouts.phase_rule`). For well-separated
    variances this gives, besides the outer boundaries of :func:`phase_boundaries`, an intermediate window
    where the high-variance bulk has consolidated while a low-variance bulk is still inside the spike cluster.

    Returns an array of strings of the shape of ``tau`` (a ``str`` for scalar ``tau``).

    Examples
    --------
    >>> from rmt import LinearManifold, VarianceProfile
    >>> M = LinearManifold(0.25, VarianceProfile.single(2.0))   # boundaries 4.5 * 9 = 40.5 and 0.5 / 9 = 0.0556
    >>> phase_at(M, [50.0, 30.0, 0.06, 0.05]).tolist()
    ['trivial', 'coverage', 'coverage', 'consolidation']
    >>> phase_at(LinearManifold(1.5, VarianceProfile.single(1.0)), 1e-4)   # alpha > 1: no spike, no consolidation
    'coverage'
    """
    tau = _taus(tau)
    lower, upper = np.stack([eta_edges(b, tau) for b in manifold.support(masses=False)], axis=-1)   # (..., B)
    out = phase_rule(lower, upper, delta, spike=manifold.zero_mass > 0)
    return out if out.ndim else str(out)


def phase_transitions(manifold: LinearManifold, delta: float = 0.1) -> np.ndarray:
    """Every ``tau`` at which :func:`phase_at` can change: a bulk edge crosses ``delta`` or ``1 - delta``."""
    delta = resolution(delta)
    e = np.array([[b.lower, b.upper] for b in manifold.support(masses=False)]).ravel()
    return np.sort(np.concatenate([e * delta / (1 - delta), e * (1 - delta) / delta]))


def theory_effective_dimension(manifold: LinearManifold, tau):
    """Analytic ``D_eff(tau) / d = #{lambda_i > tau} / d = #{eta_i < 1/2} / d`` (docs/theory.md 4c).

    The empirical readout of a list of values is :func:`rmt.readouts.effective_dimension`.
    """
    return manifold.counting(_taus(tau))


def theory_largest_gap_dimension(manifold: LinearManifold, tau, min_width: float = 0.0):
    """Analytic dimension (fraction of ``d``) below the widest gap of the ``eta`` spectrum at each ``tau``.

    Gaps are those of :meth:`JacobianLaw.gaps` (between bulks and to the spike); ``nan`` where the
    spectrum has no gap, or its widest gap is narrower than ``min_width`` (e.g. the resolution ``delta``:
    the readout is then undefined). The empirical readout is :func:`rmt.readouts.largest_gap_dimension`.
    """
    tau = np.atleast_1d(_taus(tau))
    min_width = positive("min_width", min_width, allow_zero=True)
    out = np.empty(tau.shape)
    for i, t in enumerate(tau.ravel()):
        g = JacobianLaw(manifold, t).gaps()
        w = max(g, key=lambda x: x.width) if g else None
        out.flat[i] = w.mass_below if w is not None and w.width >= min_width else np.nan
    return out


def edges_report(manifold: LinearManifold) -> dict:
    """``{"bulks": [{"lower", "upper", "mass"}], "zero_mass"}`` in covariance units, sorted by ``lower``."""
    return {"bulks": [b.as_dict() for b in manifold.support()], "zero_mass": manifold.zero_mass}


def spectrum_report(manifold: LinearManifold, t: float, schedule="ve", delta: float = 0.1,
                    convention: str = "eta") -> dict:
    """The spectrum of ``-Jn`` (``convention='eta'``) or of ``Jn`` (``'jacobian'``, values negated) at time ``t``.

    Returns ``{t, tau, schedule, convention, bulks, spike, gaps, phase}``: bulks and gaps as dicts of
    ``lower``, ``upper`` and ``mass`` / ``width``, the spike's ``position`` and ``mass``.
    """
    sch = get_schedule(schedule)
    t = positive("t", t)
    delta = resolution(delta)
    tau = float(sch.tau(t))
    js = JacobianLaw(manifold, tau)
    bulks = [b.as_dict() for b in js.support()]
    gaps = [{"lower": g.lower, "upper": g.upper, "width": g.width} for g in js.gaps()]
    spike = {"position": 1.0, "mass": js.spike_mass}
    if convention == "jacobian":
        bulks = sorted(({"lower": -b["upper"], "upper": -b["lower"], "mass": b["mass"]} for b in bulks),
                       key=lambda b: b["lower"])
        gaps = sorted(({"lower": -g["upper"], "upper": -g["lower"], "width": g["width"]} for g in gaps),
                      key=lambda g: g["lower"])
        spike = {"position": -1.0, "mass": js.spike_mass}
    elif convention != "eta":
        raise ValueError(f"convention must be 'eta' or 'jacobian', got {convention!r}")
    return {"t": t, "tau": tau, "schedule": sch.name, "convention": convention, "bulks": bulks,
            "spike": spike, "gaps": gaps, "phase": phase_at(manifold, tau, delta)}


def timescales(manifold: LinearManifold, delta: float = 0.1, schedule="ve") -> dict:
    """Per intermediate gap: ``tau_max`` (= ``tau*``), ``max_width``, ``tau_open``, ``tau_close``; phase
    boundaries; the manifold gap's opening time. With a schedule the same times in ``t`` are added.

    Examples
    --------
    >>> from rmt import LinearManifold, VarianceProfile
    >>> ts = timescales(LinearManifold(0.5, VarianceProfile.double(1.0, 0.01, f=0.75)), delta=0.1, schedule="vp")
    >>> g = ts["gaps"][0]
    >>> round(g["tau_max"], 6), round(g["t_max"], 6), round(float(np.log1p(g["tau_max"]) / 2), 6)  # t = log(1+tau)/2
    (0.044402, 0.021722, 0.021722)
    >>> round(ts["manifold_gap"]["tau_open"], 6)      # l_min (1 - Delta)/Delta, l_min = 0.0018983
    0.017085
    """
    delta = resolution(delta)
    sch = get_schedule(schedule)

    def t_of(x):
        return None if x is None else float(sch.t_of_tau(x))

    gaps = []
    for g in intermediate_gaps(manifold):
        op, cl = g.window(delta)
        gaps.append({"k": g.k, "tau_max": g.tau_star, "max_width": g.max_width, "tau_open": op,
                     "tau_close": cl, "t_max": t_of(g.tau_star), "t_open": t_of(op), "t_close": t_of(cl),
                     "lower_edge_high_bulk": g.l, "upper_edge_low_bulk": g.u,
                     "dimension_fraction": g.dimension_fraction})
    pb = phase_boundaries(manifold, delta)
    lmin = min(b.lower for b in manifold.support(masses=False))
    mg_open = lmin * (1 - delta) / delta if manifold.zero_mass > 0 else None
    return {"delta": delta, "schedule": sch.name, "gaps": gaps, "phase_boundaries": pb,
            "phase_boundaries_t": {k: t_of(v) for k, v in pb.items()},
            "manifold_gap": {"tau_open": mg_open, "t_open": t_of(mg_open)}}
