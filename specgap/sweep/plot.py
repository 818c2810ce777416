"""Phase diagrams of a sweep store: the theory's, and measured (simulate / finite-n / network) against the theory
(docs/theory.md section 11).

Measured phase of a cell at time ``t``: the most frequent phase code over its draws (and query points),
each read from one measured spectrum with :func:`rmt.readouts.phases` (docs/theory.md section 5). Over
every computed cell and time: ``agreement`` = fraction of (cell, t) where measured and theory phases agree.
Measured boundaries along ``tau`` (grid ascending): trivial|coverage between the largest ``tau`` whose
phase is not trivial and the next grid point; coverage|consolidation between the smallest ``tau`` whose
phase is not consolidation and the previous one (geometric midpoints). ``boundary_offset`` =
``|log10(measured / theory)|`` in decades against :func:`rmt.gaps.phase_boundaries`, counted where both
lie inside the grid; its resolution is half a grid step (``grid_step_decades / 2``).

finite-n (docs/theory.md sections 6, 11): for each variance level ``k`` the variance kept along its
directions, ``retained`` (mean of ``1 - eta`` over the level's subspace, averaged over draws and points),
divided by its ``n = infinity`` value; the level has condensed where this ratio is below 1/2, and the
measured ``tau_c,k`` is the (log-interpolated) ``tau`` where it first climbs back to 1/2, compared with
``sigma_k^2 / (2 ln n)``; drawn over (``tau``, ``n``) when the store has several ``n``.

Finite-size scaling (simulate stores with three or more ``d``; the first ``alpha, ratio, fraction``): each
bulk edge and the gap width, averaged over draws, is fitted by ``c0 + c1 d^(-2/3)`` (the scale of the edge
fluctuations) with weights ``1/sem^2``; ``c0`` is the ``d -> infinity`` extrapolation, with a 95% interval
(standard error inflated by ``sqrt(chi2/dof)`` when the fit is worse than the error bars), compared with the
theory at that time.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_sweep", "majority_phase", "measured_boundaries", "condensation_tau", "fit_finite_size",
           "finite_size_scaling", "DEFAULT_AXIS_ORDER"]


def majority_phase(codes, axes) -> np.ndarray:
    """Most frequent code (0, 1, 2) over ``axes`` (ties: lowest code); NaN where every entry is NaN."""
    c = np.asarray(codes, float)
    counts = np.stack([np.sum(c == k, axis=axes) for k in (0, 1, 2)], axis=-1)
    out = np.argmax(counts, axis=-1).astype(float)
    out[counts.sum(-1) == 0] = np.nan
    return out


def measured_boundaries(labels, tau):
    """(trivial|coverage, coverage|consolidation) ``tau`` of each row of ``labels`` (rows, T); NaN if none."""
    labels = np.atleast_2d(labels)
    tc = np.full(labels.shape[0], np.nan)
    cc = np.full(labels.shape[0], np.nan)
    for r, row in enumerate(labels):
        if np.any(np.isnan(row)):
            continue
        i = np.flatnonzero(row != 0)
        if i.size and i[-1] < row.size - 1 and np.any(row == 0):
            tc[r] = np.sqrt(tau[i[-1]] * tau[i[-1] + 1])
        j = np.flatnonzero(row != 2)
        if j.size and j[0] > 0:
            cc[r] = np.sqrt(tau[j[0] - 1] * tau[j[0]])
    return tc, cc


def _offsets(measured, theory, tau):
    inside = np.isfinite(measured) & np.isfinite(theory) & (theory > tau[0]) & (theory < tau[-1])
    return np.abs(np.log10(measured[inside] / theory[inside]))


def condensation_tau(ratio, tau, level: float = 0.5) -> float:
    """``tau`` where a kept-variance ratio (ascending ``tau`` grid) first climbs from below ``level`` to
    ``level`` or above, log-interpolated; NaN if it is never below (not condensed on the grid) or never reaches
    ``level`` (never resolved)."""
    R = np.asarray(ratio, float)
    up = np.flatnonzero(R >= level)
    if up.size == 0 or up[0] == 0:
        return float("nan")
    k = up[0]
    x0, x1 = np.log(tau[k - 1]), np.log(tau[k])
    y0, y1 = R[k - 1] - level, R[k] - level
    return float(np.exp(x0 + (x1 - x0) * (-y0) / (y1 - y0)))


def _diagram(ax, tau, values, labels, tc, cc, ts, delta, parameter, title):
    from rmt.diagram import PhaseDiagram, plot_phase_diagram
    name = {"ratio": "ratio", "alpha": "alpha", "fraction": "f"}.get(parameter, "alpha")
    D = PhaseDiagram(tau, np.asarray(values, float), name, np.ma.masked_invalid(labels), tc, cc,
                     np.asarray(ts, float)[:, None], delta)
    plot_phase_diagram(D, ax, log_values=parameter not in ("alpha", "fraction"))     # ratio, d, n: log
    if parameter not in ("ratio", "alpha", "fraction"):
        ax.set_ylabel(parameter)
    ax.set_title(title, fontsize=9)


#: the dims ``plot_sweep`` puts on the vertical axis by default: the first of these with more than one value
DEFAULT_AXIS_ORDER = ("ratio", "alpha", "fraction", "n", "d")


def _fixed_indices(ds, outer, parameter, at) -> dict:
    """Index along each outer dim but ``parameter``: that of ``at[dim]`` (a value the store has), else 0."""
    others = [k for k in outer if k != parameter]
    bad = [k for k in at if k not in others]
    if bad:
        why = "is the vertical axis (parameter)" if bad[0] == parameter else "is not a dim of the store"
        raise ValueError(f"at {bad[0]}: {bad[0]} {why}; the dims held fixed are {', '.join(others) or 'none'}")
    pick = {}
    for k in outer:
        if k == parameter:
            continue
        vals = np.asarray(ds[k].values, float)
        i = np.flatnonzero(np.isclose(vals, at[k], rtol=1e-9, atol=0)) if k in at else [0]
        if len(i) == 0:
            raise ValueError(f"at {k}={at[k]:g}: the store's {k} values are {', '.join(f'{v:g}' for v in vals)}")
        pick[k] = int(i[0])
    return pick


def _measured(ds, spec, tau):
    """Agreement and boundary offsets of the measured phases over every cell, and the majority phases."""
    axes = ("draw",) if spec.task == "simulate" else ("draw", "point")          # finite-n, network
    meas = majority_phase(ds.phase.values, tuple(ds.phase.dims.index(a) for a in axes))   # outer + (t,)
    th = ds.phase_theory.values
    ok = np.isfinite(meas) & np.isfinite(th)
    mt_c, mt_cc = measured_boundaries(meas.reshape(-1, tau.size), tau)
    offs = np.concatenate([_offsets(mt_c, ds.trivial_coverage.values.ravel(), tau),
                           _offsets(mt_cc, ds.coverage_consolidation.values.ravel(), tau)])
    return {"agreement": float(np.mean(meas[ok] == th[ok])) if ok.any() else None,
            "worst_boundary_offset_decades": float(offs.max()) if offs.size else None,
            "grid_step_decades": float(np.max(np.diff(np.log10(tau)))) if tau.size > 1 else None,
            "cells_compared": int(np.isfinite(meas).all(-1).sum()), "boundaries_compared": int(offs.size)}, meas


def plot_sweep(store, out, parameter: str | None = None, at: dict | None = None) -> dict:
    """Figures of a sweep store into ``out`` and the summary numbers (see the module doc).

    ``parameter`` is the vertical axis (default: the first of :data:`DEFAULT_AXIS_ORDER` with more than one
    value); every other dim is held at its value in ``at`` (``{dim: value}``), else at its first value.

    Returns
    -------
    dict with ``task``, ``dims``, ``done`` (cells computed / total), ``parameter`` and ``fixed`` (the values of
    the other dims in the figure), ``other_values`` (every value of each fixed dim that has several), ``files``;
    for measured tasks ``measured`` (over every cell): ``agreement``, ``worst_boundary_offset_decades``,
    ``grid_step_decades``, ``cells_compared``; finite-n ``memorisation``.
    """
    from ..reproduce._artefacts import use_agg
    use_agg()
    import matplotlib.pyplot as plt

    from .store import open_sweep, read_spec
    spec = read_spec(store)
    ds = open_sweep(store).load()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    outer = list(spec.outer_dims)
    if parameter is None:
        order = [k for k in DEFAULT_AXIS_ORDER if k in outer]
        parameter = next((k for k in order if ds.sizes[k] > 1), order[0])
    if parameter not in outer:
        raise ValueError(f"parameter must be one of the store's dims {outer}, got {parameter!r}")
    pick = _fixed_indices(ds, outer, parameter, dict(at or {}))
    fixed = {k: float(ds[k].values[i]) for k, i in pick.items()}
    sl = ds.isel(pick)
    tau = ds.tau.values
    done = ds.done.values
    res = {"task": spec.task, "dims": outer, "shape": list(spec.shape), "done": int(done.sum()),
           "cells": spec.n_cells, "parameter": parameter, "fixed": fixed,
           "other_values": {k: ds[k].values.tolist() for k in pick if ds.sizes[k] > 1}, "files": []}
    vals = ds[parameter].values
    args = (sl.trivial_coverage.values, sl.coverage_consolidation.values, sl.tau_star.values, spec.delta)
    panels = [("theory phases", sl.phase_theory.values)]
    if spec.task != "theory":
        res["measured"], meas = _measured(ds, spec, tau)
        idx = tuple(pick.get(k, slice(None)) for k in outer)
        panels.append((f"{spec.task}: measured phases (majority over draws"
                       + (")" if spec.task == "simulate" else ", points)"), meas[idx]))
    if tau.size > 1:                         # a diagram needs at least two times
        fig, axs = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.2), squeeze=False)
        for ax, (title, lab) in zip(axs[0], panels):
            fx = ", ".join(f"{k}={v:g}" for k, v in fixed.items())
            _diagram(ax, tau, vals, lab, *args[:3], args[3], parameter, f"{title}\n{fx}")
        if spec.schedule != "ve":
            for ax in axs[0]:
                ax.set_xlabel(rf"$\tau$ ({spec.schedule} schedule: $\tau(t)$)")
        fig.tight_layout()
        for ext in ("png", "pdf"):
            fig.savefig(out / f"phase_diagram.{ext}", dpi=150, bbox_inches="tight")
            res["files"].append(f"phase_diagram.{ext}")
        plt.close(fig)
    if spec.task == "finite-n":
        res["memorisation"] = _memorisation(ds, spec, tau, out, res["files"], fixed)
    if spec.task == "simulate" and len(spec.d) >= 3:
        cell = {k: pick.get(k, 0) for k in ("alpha", "ratio", "fraction")}
        rows = finite_size_scaling(ds, spec, cell)
        if any(r["quantities"] for r in rows):
            plot_finite_size([r for r in rows if r["quantities"]], out, res["files"])
        qs = [q for r in rows for q in r["quantities"]]
        res["finite_size"] = {"cell": {k: float(ds[k].values[i]) for k, i in cell.items()},
                              "worst_relative_error": max((q["relative_error"] for q in qs), default=None),
                              "all_theory_inside_interval": all(q["theory_inside_interval"] for q in qs),
                              "times": rows}
    return res


def _memorisation(ds, spec, tau, out, files, fixed):
    import matplotlib.pyplot as plt
    rows, curves = [], {}
    for flat, c in enumerate(spec.cells()):
        cell = ds.isel(dict(zip(spec.outer_dims, spec.cell_index(flat))))
        if not bool(cell.done):
            continue
        kept = cell.retained.mean(("draw", "point")).values                       # (t, level)
        ratio = kept / cell.retained_theory.mean("draw").values
        est = cell.condensation_estimate.values
        levels = np.isfinite(est)
        meas = np.array([condensation_tau(ratio[:, k], tau) for k in range(ratio.shape[1])])[levels]
        rows.append({**c, "tau_c_measured": meas.tolist(), "tau_c_estimate": est[levels].tolist(),
                     "ratio_measured_to_estimate": (meas / est[levels]).tolist()})
        key = tuple((k, v) for k, v in c.items() if k != "n")
        curves.setdefault(key, []).append((c["n"], ratio, est, meas))
    key, series = next(((k, v) for k, v in curves.items()                # the figure's (alpha, ratio, fraction, d)
                        if all(np.isclose(x, fixed.get(a, x)) for a, x in k)), next(iter(curves.items())))
    series.sort(key=lambda x: x[0])
    L = int(np.sum(np.isfinite(series[0][2])))
    fig, axs = plt.subplots(1, L, figsize=(5.5 * L, 4), squeeze=False)
    ns = np.array([x[0] for x in series], float)
    for k, ax in enumerate(axs[0]):
        if len(series) > 1:                                           # a diagram over (tau, n)
            Z = np.stack([x[1][:, k] for x in series])
            pm = ax.pcolormesh(tau, ns, Z, shading="nearest", vmin=0, vmax=1.2, cmap="viridis")
            fig.colorbar(pm, ax=ax, label="kept variance / n = inf")
            ax.plot([x[3][k] for x in series], ns, "wo-", ms=4, label=r"measured $\tau_c$ (ratio = 1/2)")
            ax.plot([x[2][k] for x in series], ns, "r--", label=r"$\sigma_k^2 / (2 \ln n)$")
            ax.set_yscale("log")
            ax.set_ylabel("n")
        else:
            n, R, est, meas = series[0]
            ax.plot(tau, R[:, k], label=f"n={n:g}")
            ax.axvline(est[k], color="r", ls="--", label=r"$\sigma_k^2 / (2 \ln n)$")
            ax.axhline(0.5, color="k", lw=0.5)
            ax.set_ylabel("kept variance / n = inf")
        ax.set_xscale("log")
        ax.set_xlabel(r"$\tau$")
        ax.set_title(f"level {k + 1} (" + ", ".join(f"{a}={v:g}" for a, v in key) + ")", fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(out / f"memorisation.{ext}", dpi=150, bbox_inches="tight")
        files.append(f"memorisation.{ext}")
    plt.close(fig)
    return rows


# -- finite-size scaling ---------------------------------------------------------------------------------
_FSS = (("edges", 0, 0, "lower edge of bulk 1 (high variance)"), ("edges", 0, 1, "upper edge of bulk 1"),
        ("edges", 1, 0, "lower edge of bulk 2 (low variance)"), ("edges", 1, 1, "upper edge of bulk 2"),
        ("gap_width", None, None, "width of the gap between the bulks"))


def fit_finite_size(d, mean, sem, z: float = 1.96) -> dict:
    """Weighted least squares ``y(d) = c0 + c1 d^(-2/3)`` (weights ``1/sem^2``).

    Returns ``c0``, ``c1``, ``c0_se`` (standard error, scaled by ``sqrt(chi2/dof)`` when that exceeds 1),
    ``interval`` ``c0 -+ z c0_se`` and ``chi2_dof``.
    """
    x = np.asarray(d, float) ** (-2.0 / 3.0)
    y, s = np.asarray(mean, float), np.asarray(sem, float)
    if x.size < 3:
        raise ValueError(f"finite-size fit needs at least 3 values of d, got {x.size}")
    s = np.where(s > 0, s, np.max(s[s > 0]) if np.any(s > 0) else 1.0)
    A = np.stack([np.ones_like(x), x], axis=1) / s[:, None]
    coef, *_ = np.linalg.lstsq(A, y / s, rcond=None)
    cov = np.linalg.inv(A.T @ A)
    chi2 = float(np.sum(((y - coef[0] - coef[1] * x) / s) ** 2)) / (x.size - 2) if x.size > 2 else float("nan")
    se = float(np.sqrt(cov[0, 0] * max(1.0, chi2)))
    return {"c0": float(coef[0]), "c1": float(coef[1]), "c0_se": se,
            "interval": [float(coef[0] - z * se), float(coef[0] + z * se)], "chi2_dof": chi2}


def finite_size_scaling(ds, spec, cell: dict | None = None) -> list:
    """For each time: every bulk edge and the gap width, mean and s.e.m. over draws at each ``d``, fitted by
    :func:`fit_finite_size` and extrapolated to ``d -> infinity``, against the theory at that time."""
    from simulate.agreement import mean_sem
    sel = {k: 0 for k in ("alpha", "ratio", "fraction")} if cell is None else cell
    sub = ds.isel(sel)
    d = sub.d.values
    rows = []
    for i, t in enumerate(ds.t.values):
        entry = {"t": float(t), "tau": float(ds.tau.values[i]), "quantities": []}
        for var, b, e, label in _FSS:
            if var == "edges":
                y = sub.edges.isel(t=i, bulk=b, edge=e).values                      # (d, draw)
                th = float(sub.edges_theory.isel(t=i, bulk=b, edge=e).values.ravel()[0])
            else:
                y = sub.gap_width.isel(t=i).values
                th = float(sub.gap_width_theory.isel(t=i).values.ravel()[0])
            if not np.isfinite(th) or not np.all(np.isfinite(y)):
                continue
            m, s = mean_sem(y, axis=-1)
            fit = fit_finite_size(d, m, s)
            entry["quantities"].append({
                "name": label, "theory": th, "d": d.tolist(), "mean": m.tolist(), "sem": s.tolist(), **fit,
                "relative_error": abs(fit["c0"] - th) / abs(th),
                "relative_error_largest_d": abs(float(m[-1]) - th) / abs(th),
                "theory_inside_interval": bool(fit["interval"][0] <= th <= fit["interval"][1])})
        rows.append(entry)
    return rows


def plot_finite_size(rows, out, files) -> None:
    """Draw the finite-size extrapolations ``rows`` (one row of panels per time, one panel per quantity: the
    simulated means against ``d^(-2/3)``, the fit ``c0 + c1 d^(-2/3)``, its intercept with the 95% interval and
    the theory) into ``out/finite_size.png`` and ``.pdf``; the file names are appended to ``files``."""
    import matplotlib.pyplot as plt
    n = max(len(r["quantities"]) for r in rows)
    fig, axs = plt.subplots(len(rows), n, figsize=(3.2 * n, 2.8 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        for q, (ax, Q) in enumerate(zip(axs[r], row["quantities"])):
            x = np.asarray(Q["d"], float) ** (-2 / 3)
            ax.errorbar(x, Q["mean"], yerr=Q["sem"], fmt="o", ms=3, label="simulated")
            xx = np.linspace(0, x.max(), 50)
            ax.plot(xx, Q["c0"] + Q["c1"] * xx, "-", lw=1, label=r"$c_0 + c_1 d^{-2/3}$")
            ax.errorbar([0], [Q["c0"]], yerr=[[Q["c0"] - Q["interval"][0]], [Q["interval"][1] - Q["c0"]]],
                        fmt="s", color="C1", ms=3)
            ax.plot([0], [Q["theory"]], "k*", ms=8, label="theory")
            ax.set_title(f"{Q['name']}\nt={row['t']:.3g}: rel. err. {Q['relative_error']:.2%}", fontsize=7)
            ax.set_xlabel(r"$d^{-2/3}$", fontsize=7)
            ax.set_ylabel(r"$\eta$", fontsize=7)
            ax.tick_params(labelsize=6)
            if r == 0 and q == 0:
                ax.legend(fontsize=6)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(Path(out) / f"finite_size.{ext}", dpi=130, bbox_inches="tight")
        files.append(f"finite_size.{ext}")
    plt.close(fig)
