"""Phase diagrams: phase labels on a (``tau``, model parameter) grid with the analytic boundaries and the
``tau*`` curves (docs/theory.md section 5).

Parameters that can be varied: ``'ratio'`` (``sigma_2^2 / sigma_1^2`` of a two-level profile, ``sigma_1^2``
fixed), ``'alpha'``, ``'f'`` (fraction of the first level of a two-level profile), ``'sigma2'``
(``sigma_2^2`` itself).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .budget import check_memory, check_time, memory_budget, time_budget
from .validation import finite_array, resolution
from .gaps import intermediate_gaps, phase_at, phase_boundaries
from .manifold import LinearManifold
from .profiles import VarianceProfile

__all__ = ["PhaseDiagram", "phase_diagram", "plot_phase_diagram", "cell_edges", "PARAMETERS", "PHASE_CODES", "manifold_along"]

#: the profile parameters a phase diagram can sweep (``values`` of :func:`phase_diagram`)
PARAMETERS = ("ratio", "alpha", "f", "sigma2")
#: integer code of each phase in ``PhaseDiagram.labels``
PHASE_CODES = {"trivial": 0, "coverage": 1, "consolidation": 2}


@dataclass
class PhaseDiagram:
    """Result of :func:`phase_diagram`.

    Attributes
    ----------
    tau : (T,) grid of effective noise;  values : (P,) parameter values;  parameter : its name
    labels : (P, T) int array, codes of :data:`PHASE_CODES`
    trivial_coverage, coverage_consolidation : (P,) boundaries in ``tau`` (nan if absent)
    tau_star : (P, G) ``tau*`` of each intermediate gap (nan where the bulks are not detached)
    delta : the resolution ``Delta`` of the phases
    """

    tau: np.ndarray
    values: np.ndarray
    parameter: str
    labels: np.ndarray
    trivial_coverage: np.ndarray
    coverage_consolidation: np.ndarray
    tau_star: np.ndarray
    delta: float

    def as_dict(self) -> dict:
        """The diagram as JSON-ready lists: ``parameter``, ``delta``, ``values``, ``tau``, the two boundaries and
        ``tau_star`` (None where absent) and ``fractions``, the share of the grid in each phase (the labels
        themselves are left out: the command writes them to ``phase_diagram.npz``)."""
        return {"parameter": self.parameter, "delta": self.delta, "values": self.values.tolist(),
                "tau": self.tau.tolist(), "trivial_coverage": _nan_none(self.trivial_coverage),
                "coverage_consolidation": _nan_none(self.coverage_consolidation),
                "tau_star": [_nan_none(r) for r in self.tau_star],
                "fractions": {k: float(np.mean(self.labels == v)) for k, v in PHASE_CODES.items()}}


def _nan_none(a):
    """``a`` as a list of floats with None for NaN/inf (strict JSON)."""
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(a, float)]


def manifold_along(parameter: str, value: float, alpha: float, levels, fractions) -> LinearManifold:
    """The linear manifold at one point of a phase-diagram axis.

    ``parameter``: ``"alpha"`` (``value`` is alpha; ``levels``/``fractions`` any profile), or, for a two-level
    profile ``levels = (sigma1^2, sigma2^2)`` with fractions ``(f, 1 - f)``: ``"ratio"`` (``sigma2^2 =
    sigma1^2 value``), ``"sigma2"`` (``sigma2^2 = value``) or ``"f"`` (``f = value``). Two equal levels collapse
    to the one-level profile.
    """
    if parameter == "alpha":
        return LinearManifold(value, VarianceProfile(levels, fractions))
    if len(levels) != 2:
        raise ValueError(f"parameter {parameter!r} needs a two-level profile, got levels={list(levels)}")
    s1, s2 = levels
    f = fractions[0] if fractions is not None else 0.5
    if parameter == "ratio":
        s2 = s1 * value
    elif parameter == "sigma2":
        s2 = value
    elif parameter == "f":
        f = value
    if parameter in ("ratio", "sigma2") and abs(s2 - s1) <= 1e-12 * s1:
        return LinearManifold(alpha, VarianceProfile([s1], [1.0]))
    return LinearManifold(alpha, VarianceProfile([s1, s2], [f, 1 - f]))


def phase_diagram(parameter: str, values, tau, *, alpha: float = 0.5, levels=(1.0, 0.01),
                  fractions=(0.75, 0.25), delta: float = 0.1) -> PhaseDiagram:
    """Phase labels on the grid ``values x tau`` for the linear model.

    Parameters
    ----------
    parameter : one of ``'ratio'``, ``'alpha'``, ``'f'``, ``'sigma2'``
    values : (P,) parameter values, P >= 1
    tau : (T,) effective noise values (> 0), T >= 1
    alpha, levels, fractions : the model the other parameters are taken from
    delta : resolution in (0, 0.5)

    Returns
    -------
    PhaseDiagram

    Raises
    ------
    ValueError
        Naming the argument: an unknown ``parameter``, an empty, non-finite or non-positive ``values`` or
        ``tau``, ``delta`` outside (0, 0.5), or a grid past the memory or time budget (``values x tau``).

    Examples
    --------
    Two ratios ``sigma_2^2/sigma_1^2`` at three ``tau`` (codes of :data:`PHASE_CODES`: 0 trivial, 1 coverage,
    2 consolidation):

    >>> pd = phase_diagram("ratio", [0.01, 0.1], [100.0, 0.05, 1e-5])
    >>> pd.labels.tolist()
    [[0, 1, 2], [0, 1, 2]]
    >>> pd.tau_star.round(6).tolist()                 # sqrt(l u) of each model; 0.044402 for the paper's
    [[0.044402], [0.142394]]
    >>> round(float(pd.trivial_coverage[0]), 4)       # lambda_max (1 - Delta)/Delta = 2.601003 * 9
    23.409
    """
    if parameter not in PARAMETERS:
        raise ValueError(f"parameter must be one of {PARAMETERS}, got {parameter!r}")
    values = np.atleast_1d(finite_array("values", values, positive_values=True))
    tau = np.atleast_1d(finite_array("tau", tau, positive_values=True))
    for name, grid in (("values", values), ("tau", tau)):
        if grid.size == 0:
            raise ValueError(f"{name} is empty: a phase diagram needs at least one value of each axis")
    delta = resolution(delta)
    P, T = values.size, tau.size
    # labels (int8) plus the phase readouts of one row; the JSON of the labels takes ~3 bytes a cell
    check_memory("values x tau", 12.0 * P * T, f"a {P} x {T} phase diagram",
                 f"about {int(memory_budget() / 12)} cells fit")
    check_time("values x tau", 0.01 * P + 5e-6 * P * T, f"a {P} x {T} phase diagram",
               f"about {int(time_budget() / 5e-6)} cells and {int(time_budget() / 0.01)} values fit")
    labels = np.empty((P, T), dtype=np.int8)
    tc = np.full(P, np.nan)
    cc = np.full(P, np.nan)
    stars = []
    for i, v in enumerate(values):
        M = manifold_along(parameter, float(v), alpha, list(levels), list(fractions) if fractions else None)
        pb = phase_boundaries(M, delta)
        tc[i] = pb["trivial_coverage"]
        if pb["coverage_consolidation"] is not None:
            cc[i] = pb["coverage_consolidation"]
        labels[i] = [PHASE_CODES[p] for p in phase_at(M, tau, delta)]
        stars.append([g.tau_star for g in intermediate_gaps(M)])
    G = max((len(s) for s in stars), default=0)
    ts = np.full((P, G), np.nan)
    for i, s in enumerate(stars):
        ts[i, :len(s)] = s
    return PhaseDiagram(tau, values, parameter, labels, tc, cc, ts, delta)


def cell_edges(values, log: bool) -> np.ndarray:
    """Edges of the cells centred on sorted grid ``values`` (n,) -> (n + 1,): midpoints, in ``log`` when the
    axis is logarithmic (geometric means), the outer edges mirrored; one value gets a cell of +-10%."""
    v = np.asarray(values, float)
    if v.size == 1:
        return v[0] * np.array([0.9, 1.1]) if log else v[0] + 0.1 * max(abs(v[0]), 1.0) * np.array([-0.5, 0.5])
    w = np.log(v) if log else v
    mid = (w[1:] + w[:-1]) / 2
    e = np.concatenate([[2 * w[0] - mid[0]], mid, [2 * w[-1] - mid[-1]]])
    return np.exp(e) if log else e


def plot_phase_diagram(diag: PhaseDiagram, ax=None, log_values: bool | None = None):
    """Colour the (``tau``, parameter) plane by phase; overlay boundaries and ``tau*`` curves.

    ``log_values``: logarithmic parameter axis (default: for ``ratio`` and ``sigma2``); cells are centred on
    the grid values in the axis' own scale (:func:`cell_edges`)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.2))
    log_values = diag.parameter in ("ratio", "sigma2") if log_values is None else bool(log_values)
    cmap = ListedColormap(["#d9d9d9", "#9ecae1", "#fdae6b"])
    rows, cols = np.argsort(diag.values), np.argsort(diag.tau)          # labels may be a masked array
    ax.pcolormesh(cell_edges(np.asarray(diag.tau)[cols], True), cell_edges(np.asarray(diag.values)[rows], log_values),
                  diag.labels[rows][:, cols], cmap=cmap, vmin=-0.5, vmax=2.5, shading="flat")
    ax.plot(diag.trivial_coverage, diag.values, "k-", lw=1.5, label="trivial | coverage")
    ax.plot(diag.coverage_consolidation, diag.values, "k--", lw=1.5, label="coverage | consolidation")
    drawn = [j for j in range(diag.tau_star.shape[1]) if np.isfinite(diag.tau_star[:, j]).any()]
    for j in drawn:                      # a gap with no tau* on the grid has no curve (and no legend entry)
        ax.plot(diag.tau_star[:, j], diag.values, "r-", lw=1.2, label=r"$\tau^*$" if j == drawn[0] else None)
    ax.set_xscale("log")
    if log_values:
        ax.set_yscale("log")
    ax.set_xlim(diag.tau.min(), diag.tau.max())
    ax.set_xlabel(r"$\tau$ (effective noise; VE: $t$)")
    ax.set_ylabel({"ratio": r"$\sigma_2^2/\sigma_1^2$", "alpha": r"$\alpha = m/d$", "f": "$f$",
                   "sigma2": r"$\sigma_2^2$"}[diag.parameter])
    for name, code in PHASE_CODES.items():
        ax.scatter([], [], marker="s", color=cmap(code), label=name)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(f"geometric phases ($\\Delta$ = {diag.delta:g})")
    return ax.figure
