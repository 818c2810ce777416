"""The paper's Fig. 2: exact-score Jacobian spectra of the double-variance model, theory vs simulation.

Parameters (docs/theory.md section 10): ``alpha = 0.5``, levels ``sigma_1^2 = 1`` and ``sigma_2^2 = 0.01``,
``f = 0.75``, ``d = 100``, 100 draws of ``F``, VE schedule (``t = tau``). Panels:

- theory density of ``eta`` (spectrum of ``-Jn``) against simulated histograms at several times;
- sorted spectra over time (mean over draws) with the theory bulk edges;
- the dimension drop: largest-gap dimension and ``D_eff = #{eta < 1/2}``, theory and simulation. The
  largest-gap dimension is only defined where some gap is at least the resolution ``delta`` wide (not in
  the trivial phase): elsewhere it is masked in the plot and ``null`` in ``summary.json``;
- the intermediate gap width ``w_12(t)`` with ``t_max = sqrt(l_1 u_2)`` (theory) against the argmax of
  the simulated width (mean over draws, refined by a parabola in ``log t``).

Agreement with the theory at the panel times: Wasserstein-1 in ``eta`` units per time; Kolmogorov-Smirnov
once (``eta = tau/(lambda + tau)`` is monotone in ``lambda``, so KS is the same at every time).

Run (minutes on a CPU; the notebook of the same name and the study's test run it in quick mode)::

    summary = reproduce_fig2("results/fig2")          # PNGs, summary.json, spectra.npz, curves.npz
"""
from __future__ import annotations

import time

import numpy as np

from rmt.gaps import (
    intermediate_gaps,
    theory_effective_dimension,
    theory_largest_gap_dimension,
    timescales,
)
from rmt.manifold import LinearManifold
from rmt.mp import JacobianLaw
from rmt.profiles import VarianceProfile
from rmt.readouts import effective_dimension, largest_gap
from rmt.validation import positive_int
from simulate.agreement import agreement, bulk_counts, mean_sem
from simulate.spectra import simulate_spectra

from ._artefacts import stamp, use_agg, write_artefacts

__all__ = ["FIG2_PARAMS", "fig2_manifold", "panel_times", "simulated_gap_width", "argmax_log",
           "fig2_data", "plot_density_panels", "plot_fig2", "reproduce_fig2"]

#: the paper's Fig. 2 model: ``alpha``, the double-variance profile, ``d`` and the number of draws
FIG2_PARAMS = {"alpha": 0.5, "levels": [1.0, 0.01], "fractions": [0.75, 0.25], "d": 100, "draws": 100}


def fig2_manifold(alpha: float = 0.5, sigma1_sq: float = 1.0, sigma2_sq: float = 0.01,
                  f: float = 0.75) -> LinearManifold:
    """The double-variance linear manifold of Fig. 2."""
    return LinearManifold(alpha, VarianceProfile.double(sigma1_sq, sigma2_sq, f))


def panel_times(manifold: LinearManifold) -> list[float]:
    """Times of the density panels: deep in the manifold-gap regime, ``t_max``, and two later times."""
    g = intermediate_gaps(manifold)
    t_max = g[0].tau_star if g else 0.05
    return [round(t_max / 40, 6), t_max, round(t_max * 7, 4), round(t_max * 70, 3)]


def simulated_gap_width(eta, n_below: int) -> np.ndarray:
    """Width of the gap above the ``n_below`` smallest values: ``eta[n_below] - eta[n_below - 1]``.

    Parameters
    ----------
    eta : (..., d) sorted;  n_below : number of values below the gap (e.g. the high-variance count)
    """
    return eta[..., n_below] - eta[..., n_below - 1]


def argmax_log(t, y) -> float:
    """Argmax of ``y(t)`` on a grid, refined by a parabola through the maximum and its neighbours in ``log t``."""
    t, y = np.asarray(t, float), np.asarray(y, float)
    i = int(np.argmax(y))
    if i == 0 or i == t.size - 1:
        return float(t[i])
    x = np.log(t[i - 1:i + 2])
    c = np.polyfit(x, y[i - 1:i + 2], 2)
    if c[0] >= 0:
        return float(t[i])
    return float(np.exp(np.clip(-c[1] / (2 * c[0]), x[0], x[2])))


def largest_gap_dimensions(manifold: LinearManifold, spectrum, d: int, delta: float = 0.1):
    """Largest-gap dimension over time, theory ``(T,)`` and per draw ``(R, T)``, ``nan`` where no gap is at least
    ``delta`` wide (the readout is undefined there: trivial phase)."""
    lg_idx, lg_w, _, _ = largest_gap(spectrum.values)
    lg_sim = np.where(lg_w >= delta, lg_idx, np.nan)
    return theory_largest_gap_dimension(manifold, spectrum.tau, min_width=delta) * d, lg_sim


def _num(x):
    """``x`` as a float, None where it is not finite (strict JSON)."""
    return None if not np.isfinite(x) else float(x)


def fig2_data(d: int = 100, draws: int = 100, seed: int = 0, backend: str = "numpy", n_times: int = 121,
              t_range=(1e-4, 1e2), manifold: LinearManifold | None = None, progress: bool = True,
              delta: float = 0.1) -> dict:
    """All the numbers of Fig. 2 (no plotting): simulate, then the curves over ``t`` (``_curves``), the
    agreement at the panel times (``_panel_agreement``) and the summary.

    Parameters
    ----------
    d : ambient dimension, >= 4;  draws : draws of ``F``, >= 2;  seed, backend : of
        :func:`simulate.simulate_spectra`
    n_times : log-spaced times in ``t_range`` (VE: ``t = tau``), the panel times added
    manifold : the model (default :func:`fig2_manifold`); it must have an intermediate gap
    delta : resolution of the largest-gap readout

    Returns
    -------
    dict with ``manifold``, ``spectrum`` (rmt.Spectrum, values (R, T, d)), ``eigenvalues`` (R, m),
    ``t`` (T,), ``panel_t`` (P,), ``panel_index``, ``curves`` (arrays over ``t``), ``summary`` (JSON-ready dict).
    """
    t0 = time.perf_counter()
    d, draws = positive_int("d", d, minimum=4), positive_int("draws", draws, minimum=2)
    M = manifold if manifold is not None else fig2_manifold()
    ts = timescales(M)
    gaps = intermediate_gaps(M)
    if not gaps:
        raise ValueError("manifold must have two detached bulks (an intermediate gap) for Fig. 2")
    gap = gaps[0]
    panels = panel_times(M)
    t = np.unique(np.concatenate([np.geomspace(t_range[0], t_range[1], n_times), panels]))
    spec, lam = simulate_spectra(M, d, t, draws, seed, backend, "ve", progress, return_eigenvalues=True)
    counts = bulk_counts(M, d)
    idx = [int(np.argmin(np.abs(t - p))) for p in panels]
    curves, w_sim, lg_sim = _curves(M, gap, spec, lam, int(counts[0]), d, delta, idx)
    agr, per_time = _panel_agreement(M, spec, idx, curves, lg_sim, progress)
    t_max_sim = argmax_log(t, curves["gap_width_mean"])
    summary = {
        "figure": "fig2",
        "parameters": {"alpha": M.alpha, "profile": M.profile.as_dict(), "d": int(d), "m": int(lam.shape[1]),
                       "draws": int(draws), "seed": int(seed), "backend": backend, "schedule": "ve", "delta": float(delta),
                       "n_times": int(t.size), "t_range": [float(t[0]), float(t[-1])]},
        "theory": {"covariance_bulks": [b.as_dict() for b in sorted(M.support(), key=lambda b: -b.upper)],
                   "zero_mass": M.zero_mass, "timescales": ts, "t_max": gap.tau_star, "max_gap_width": gap.max_width,
                   "bulk_counts": counts.tolist()},
        "simulation": _simulated_summary(spec, lam, counts, curves, w_sim, t_max_sim),
        "t_max_relative_error": abs(t_max_sim - gap.tau_star) / gap.tau_star,
        "ks": {"mean": agr["ks"]["mean"][0], "sem": agr["ks"]["sem"][0], "pooled": agr["ks"]["pooled"][0],
               "t": float(t[idx[0]]),
               "note": "eta = tau/(lambda + tau) is monotone in lambda, so KS is the same at every time"},
        "agreement": per_time,
        "runtime_s": None,
    }
    summary["runtime_s"] = time.perf_counter() - t0
    return {"manifold": M, "spectrum": spec, "eigenvalues": lam, "t": t, "panel_t": t[idx],
            "panel_index": idx, "curves": curves, "summary": summary}


def _curves(M: LinearManifold, gap, spec, lam, n_high: int, d: int, delta: float, idx):
    """``(curves, w_sim, lg_sim)``: the arrays over ``t`` of Fig. 2 (``curves.npz``: intermediate gap width,
    largest-gap and effective dimensions, theory and simulation, mean sorted spectrum, theory edges) and the
    per-draw gap widths ``(R, T)`` and largest-gap dimensions ``(R, T)`` (nan: no gap >= ``delta``)."""
    t, tau = spec.t, spec.tau
    w_sim = simulated_gap_width(spec.values, n_high)                  # (R, T)
    w_mean, w_sem = mean_sem(w_sim)
    lg_th, lg_sim = largest_gap_dimensions(M, spec, d, delta)           # (T,), (R, T); nan: no gap >= delta
    lg_mean, lg_sem = mean_sem(lg_sim, skip_nan=True)
    de_mean, de_sem = mean_sem(effective_dimension(spec.values))
    curves = {"t": t, "tau": tau, "gap_width_theory": gap.width(tau), "gap_width_mean": w_mean, "gap_width_sem": w_sem,
              "largest_gap_dim_theory": lg_th, "largest_gap_dim_mean": lg_mean, "largest_gap_dim_sem": lg_sem,
              "d_eff_theory": theory_effective_dimension(M, tau) * d, "d_eff_mean": de_mean, "d_eff_sem": de_sem,
              "mean_sorted": spec.mean_sorted(), "eigenvalues": lam, "panel_t": t[idx],
              "edges_theory": np.array([[[b.lower, b.upper] for b in JacobianLaw(M, float(x)).support()]
                                        for x in tau])}
    return curves, w_sim, lg_sim


def _panel_agreement(M: LinearManifold, spec, idx, curves: dict, lg_sim, progress: bool):
    """``(agreement, rows)``: :func:`simulate.agreement` of the simulated spectra at the panel times ``idx`` and
    one summary row per panel (W1, edges, gaps, spike mass, dimensions: theory against simulation)."""
    t, tau = spec.t, spec.tau
    sub = type(spec)(spec.values[:, idx], t[idx], schedule="ve", source="simulation", meta=spec.meta)
    agr = agreement(M, sub, progress=progress)
    edges_th = [[b.as_dict() for b in JacobianLaw(M, float(tau[i])).support()] for i in idx]
    c = curves
    rows = []
    for j, i in enumerate(idx):
        rows.append({
            "t": float(t[i]), "tau": float(tau[i]),
            "w1_eta": {k: agr["w1"][k][j] for k in ("mean", "sem", "pooled")},
            "edges_theory": edges_th[j],
            "edges_simulated_mean": agr["edges"]["simulated_mean"][j],
            "edges_simulated_sem": agr["edges"]["simulated_sem"][j],
            "gaps_theory": agr["gaps"]["theory"][j],
            "gaps_simulated_mean": agr["gaps"]["simulated_mean"][j],
            "gaps_simulated_sem": agr["gaps"]["simulated_sem"][j],
            "spike_mass_simulated": float(np.mean(spec.values[:, i] == 1.0)),
            "largest_gap_dimension": {"theory": _num(c["largest_gap_dim_theory"][i]),
                                      "simulated_mean": _num(c["largest_gap_dim_mean"][i]),
                                      "simulated_sem": _num(c["largest_gap_dim_sem"][i]),
                                      "draws_with_gap": int(np.sum(np.isfinite(lg_sim[:, i])))},
            "effective_dimension": {"theory": float(c["d_eff_theory"][i]), "simulated_mean": float(c["d_eff_mean"][i]),
                                    "simulated_sem": float(c["d_eff_sem"][i])},
        })
    return agr, rows


def _simulated_summary(spec, lam, counts, curves: dict, w_sim, t_max_sim: float) -> dict:
    """The ``simulation`` block of the summary: mean covariance bulk edges (eigenvalues ``lam`` (R, m) grouped by
    the theory's ``counts``), spike mass, ``t_max`` (``t_max_sim``: the refined argmax of the mean width; on the
    grid; per draw, geometric mean and sem of its log) and the maximal mean width."""
    t, draws = spec.t, w_sim.shape[0]
    lam_edges_sim = [{"lower": float(np.mean(lam[:, a + c - 1])), "upper": float(np.mean(lam[:, a]))}
                     for a, c in zip(np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)]
    t_max_draws = np.array([argmax_log(t, w) for w in w_sim])
    i_max = int(np.argmax(curves["gap_width_mean"]))
    return {"covariance_bulks_mean": lam_edges_sim,
            "spike_mass": float(np.mean(spec.values == 1.0)),
            "t_max": t_max_sim, "t_max_grid": float(t[i_max]),
            "t_max_draws_mean": float(np.exp(np.mean(np.log(t_max_draws)))),
            "t_max_draws_sem_log": float(np.std(np.log(t_max_draws), ddof=1) / np.sqrt(draws))
            if draws > 1 else 0.0,
            "max_gap_width_mean": float(curves["gap_width_mean"][i_max]),
            "max_gap_width_sem": float(curves["gap_width_sem"][i_max])}


def plot_density_panels(manifold: LinearManifold, spectrum, index=None, bins: int = 60, t_label: str = "t"):
    """One panel per time of ``spectrum`` (``index``: which; default all; four to a row): the histogram of the simulated
    ``eta < 1`` (density per unit d, log scale) with the theory density of ``manifold`` over it. Returns the
    Figure. ``t_label`` names the time in the panel titles."""
    import matplotlib.pyplot as plt
    idx = list(range(spectrum.n_times)) if index is None else list(index)
    ve = getattr(spectrum.schedule, "name", "ve") == "ve"            # VE: s_t^2 = t
    xlabel = r"$\eta$ (eigenvalue of $-t J_t$)" if ve else r"$\eta$ (eigenvalue of $-s_t^2 J_t$)"
    cols = min(4, len(idx))
    rows = -(-len(idx) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.ravel()[len(idx):]:
        ax.remove()
    for ax, i in zip(axes.ravel(), idx):
        v = spectrum.values[:, i].ravel()
        js = JacobianLaw(manifold, float(spectrum.tau[i]))
        hi = min(1.0, max(b.upper for b in js.support()) * 1.05 + 1e-3)
        edges = np.linspace(0.0, hi, bins + 1)
        h, _ = np.histogram(v[v < 1.0], bins=edges)
        ax.bar(edges[:-1], h / (v.size * np.diff(edges)), width=np.diff(edges), align="edge", alpha=0.45,
               color="C0", label=f"simulation (R={spectrum.n_draws}, d={spectrum.n})")
        x = np.linspace(0.0, hi, 1500)
        ax.plot(x, js.density(x), "k", lw=1.2, label="theory")
        tau = "" if ve else f", tau = {spectrum.tau[i]:.3g}"
        ax.set_title(f"{t_label} = {spectrum.t[i]:.3g}{tau}  (spike mass {js.spike_mass:.2f} at 1)", fontsize=9)
        _note_unseen(ax, js, v, hi / bins)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("density (per unit d)")
        ax.set_yscale("log")
        ax.set_ylim(bottom=1e-2)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def bulk_place(lower: float, upper: float) -> str:
    """Where a bulk of ``eta`` lies, in words a figure can show: ``on [a, b]``, or ``within g of 1`` when it is
    squeezed against 1 (four digits would read ``[1, 1]``)."""
    gap = 1.0 - lower
    if gap <= 0:
        return "at 1 to float precision"
    return f"within {gap:.2g} of 1" if gap < 1e-3 else f"on [{lower:.4g}, {upper:.4g}]"


def _note_unseen(ax, js, eta, width: float) -> None:
    """Say in the panel what its histogram cannot show: bulks narrower than a bin, or no simulated ``eta < 1``."""
    notes = [f"bulk {bulk_place(b.lower, b.upper)}, mass {b.mass:.2g}: < 1 bin"
             for b in js.support() if b.upper - b.lower < width]
    if not np.any(eta < 1.0):
        notes.append("all simulated eta are 1 (float precision)")
    if notes:
        ax.text(0.03, 0.97, "\n".join(notes), transform=ax.transAxes, fontsize=7, va="top", wrap=True)


def _plot_finite(ax, x, y, *fmt, **kw):
    """``ax.plot`` of the finite stretches of ``y`` (a masked readout: no line across the gaps, no NaN)."""
    ok = np.isfinite(y)
    starts = np.flatnonzero(ok & ~np.r_[False, ok[:-1]])
    ends = np.flatnonzero(ok & ~np.r_[ok[1:], False]) + 1
    for k, (a, b) in enumerate(zip(starts, ends)):
        ax.plot(x[a:b], y[a:b], *fmt, **(kw if k == 0 else {**kw, "label": None}))


def plot_fig2(data: dict, bins: int = 60):
    """Three matplotlib figures: ``density`` (theory vs histograms), ``spectra`` (sorted spectra over time),
    ``dimension`` (dimension drop and gap width with ``t_max``). Returns ``{name: Figure}``."""
    import matplotlib.pyplot as plt
    spec, c = data["spectrum"], data["curves"]
    s = data["summary"]
    figs = {"density": plot_density_panels(data["manifold"], spec, data["panel_index"], bins)}

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    t = c["t"]
    ms = c["mean_sorted"]
    counts = s["theory"]["bulk_counts"]
    col = np.zeros(ms.shape[1], int)
    col[counts[0]:] = 1
    col[sum(counts):] = 2
    for j in range(ms.shape[1]):
        ax.plot(t, ms[:, j], color=f"C{col[j]}", lw=0.5, alpha=0.7)
    for k, name in enumerate(("high-variance directions", "low-variance directions", "normal directions")):
        ax.plot([], [], color=f"C{k}", label=name)                   # the colours, in the legend
    for b in range(c["edges_theory"].shape[1]):
        for e in range(2):
            ax.plot(t, c["edges_theory"][:, b, e], "k--", lw=0.9)
    ax.axvline(s["theory"]["t_max"], color="k", ls=":", lw=1, label=r"$t_{max}$ theory")
    ax.set_xscale("log")
    ax.set_xlabel("t (VE: noise variance)")
    ax.set_ylabel(r"sorted $\eta$ (mean over draws)")
    ax.set_title("sorted spectra over time; dashed: theory edges")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    figs["spectra"] = fig

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    _plot_finite(a1, t, c["largest_gap_dim_theory"], "k-", label="largest-gap dimension, theory")
    ok = np.isfinite(c["largest_gap_dim_mean"])
    a1.errorbar(t[ok], c["largest_gap_dim_mean"][ok], np.nan_to_num(c["largest_gap_dim_sem"][ok]), fmt=".",
                color="C0", ms=3, label="largest-gap dimension, simulation")
    a1.plot(t, c["d_eff_theory"], "k--", label=r"$D_{eff}$, theory")
    a1.errorbar(t, c["d_eff_mean"], c["d_eff_sem"], fmt=".", color="C1", ms=3, label=r"$D_{eff}$, simulation")
    a1.set_xscale("log")
    a1.set_xlabel("t")
    a1.set_ylabel("dimension")
    a1.set_title(f"dimension drop (d = {spec.n})\nlargest-gap dimension only where a gap is at least "
                 f"delta = {s['parameters']['delta']:g} wide", fontsize=10)
    a1.legend(fontsize=8)
    a2.plot(t, c["gap_width_theory"], "k-", label=r"gap width $w_{12}(t)$, theory")
    a2.fill_between(t, c["gap_width_mean"] - c["gap_width_sem"], c["gap_width_mean"] + c["gap_width_sem"],
                    color="C0", alpha=0.3)
    a2.plot(t, c["gap_width_mean"], color="C0", label="simulation (mean over draws)")
    a2.axvline(s["theory"]["t_max"], color="k", ls=":", label=f"t_max theory {s['theory']['t_max']:.4g}")
    a2.axvline(s["simulation"]["t_max"], color="C0", ls="--",
               label=f"argmax simulation {s['simulation']['t_max']:.4g}")
    a2.set_xscale("log")
    a2.set_xlabel("t")
    a2.set_ylabel("intermediate gap width")
    a2.legend(fontsize=8)
    fig.tight_layout()
    figs["dimension"] = fig
    return figs


def reproduce_fig2(out=None, d: int = 100, draws: int = 100, seed: int = 0, backend: str = "numpy",
                   quick: bool = False, progress: bool = True) -> dict:
    """Reproduce Fig. 2 and return its summary dict.

    Parameters
    ----------
    out : directory for ``fig2_density.png``, ``fig2_spectra.png``, ``fig2_dimension.png``,
        ``summary.json``, ``spectra.npz`` (``eta`` (R, T, d), ``t``, ``tau``) and ``curves.npz``; None: no files
    quick : 41 times instead of 121 and at most 20 draws
    """
    n_times = 41 if quick else 121
    if quick:
        draws = min(draws, 20)
    data = fig2_data(d=d, draws=draws, seed=seed, backend=backend, n_times=n_times, progress=progress)
    summary = data["summary"]
    summary["parameters"]["quick"] = bool(quick)
    if out is not None:
        use_agg()
        write_artefacts(out, summary, figures={f"fig2_{k}": f for k, f in plot_fig2(data).items()},
                        spectra={"spectra": data["spectrum"]}, arrays={"curves": data["curves"]}, dpi=130)
    return stamp(summary)
