"""Figures of the Fig. 5 reproduction (:mod:`specgap.reproduce.fig5`): sorted spectra, dimension over time,
dimension per class."""
from __future__ import annotations

import numpy as np

__all__ = ["plot_fig5", "plot_class_dimensions"]


def plot_fig5(data: dict) -> dict:
    """Figures: ``spectra`` (mean sorted spectra with s.e.m. bands over time), ``dimension`` (largest-gap
    dimension and ``D_eff`` vs ``t`` with phases and gap openings), ``classes`` (:func:`plot_class_dimensions`),
    ``samples``. Returns ``{name: Figure}``."""
    import matplotlib.pyplot as plt
    spec, s = data["spectrum"], data["summary"]
    figs = {}
    m, se = spec.values.mean(0), (spec.values.std(0, ddof=1) / np.sqrt(spec.n_draws) if spec.n_draws > 1
                                  else np.zeros(spec.values.shape[1:]))
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    cmap = plt.get_cmap("viridis")
    x = np.arange(1, spec.n + 1)
    for j, t in enumerate(spec.t):
        c = cmap(j / max(1, spec.n_times - 1))
        ax.plot(x, m[j], color=c, lw=1, label=f"t={t:.3g} ({s['per_time'][j]['phase']})")
        ax.fill_between(x, m[j] - se[j], m[j] + se[j], color=c, alpha=0.25)
    ax.set_xlabel("index (sorted)")
    ax.set_ylabel(r"singular value of $J_n = s^2 J$" if spec.meta.get("method") != "lanczos"
                  else r"$1 - a\,\sigma_i(D')$ (top-k of the denoiser)")
    ax.set_title(f"{s['dataset']}: sorted spectra, mean over {spec.n_draws} images (d={s['d']})")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    figs["spectra"] = fig

    pt = s["per_time"]
    t = np.array([p["t"] for p in pt])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for key, fmt, label in (("largest_gap_dimension", "o-", "largest-gap dimension (images with a gap below the top)"),
                            ("effective_dimension", "s--", r"$D_{eff} = \#\{\sigma < 1/2\}$")):
        tt, mean, sem = _dimension_curve(t, pt, key, s["d"])
        a1.errorbar(tt, mean, sem, fmt=fmt, ms=3, label=label)
    for e in s["gap_openings"]:
        if e["t_open"] is not None:
            a1.axvline(e["t_open"], color="0.7", lw=0.8, ls=":")
    colors = {"trivial": "0.9", "coverage": "#cfe8ff", "consolidation": "#ffe0c0"}
    edges = np.sqrt(t[1:] * t[:-1])
    lo = np.concatenate([[t[0] / 1.5], edges])
    hi = np.concatenate([edges, [t[-1] * 1.5]])
    for p, a, b in zip(pt, lo, hi):
        a1.axvspan(a, b, color=colors[p["phase"]], alpha=0.6, lw=0)
    a1.set_xscale("log")
    a1.set_yscale("log")
    a1.set_xlabel(_time_label(data["spectrum"].schedule))
    a1.set_ylabel("dimension")
    a1.set_title("dimension over time; shading: phase (grey trivial, blue coverage, orange consolidation)",
                 fontsize=8)
    a1.legend(fontsize=8)
    a2.errorbar(t, [p["largest_gap_width"]["mean"] for p in pt], [p["largest_gap_width"]["sem"] for p in pt],
                fmt="o-", ms=3)
    a2.set_xscale("log")
    a2.set_xlabel("t")
    a2.set_ylabel("largest gap width")
    a2.set_title("width of the largest gap (mean over images)")
    fig.tight_layout()
    figs["dimension"] = fig

    figs["classes"] = plot_class_dimensions(s["dimension_small_t"])

    if data.get("samples") is not None:
        smp = data["samples"]
        n = smp.shape[0]
        cols = min(8, n)
        rows = int(np.ceil(n / cols))
        fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.2 * rows), squeeze=False)
        for i, ax in enumerate(axes.ravel()):
            ax.axis("off")
            if i < n:
                img = ((smp[i].permute(1, 2, 0).numpy() + 1) / 2).clip(0, 1)
                ax.imshow(img[..., 0] if img.shape[2] == 1 else img, cmap="gray" if img.shape[2] == 1 else None)
        fig.suptitle("reverse-SDE samples (network score)", fontsize=9)
        fig.tight_layout()
        figs["samples"] = fig
    return figs


def _dimension_curve(t, per_time, key, d):
    """Mean and s.e.m. of a dimension readout over images per time, for a log axis: a largest gap above the top
    value (dimension ``d - 1``: one outlying value, not a manifold) and zero dimensions are left out, and a time
    with no image left is not drawn (no NaN in the curve)."""
    tt, mean, sem = [], [], []
    for tv, p in zip(t, per_time):
        v = np.asarray(p[key].get("per_point", [p[key]["mean"]]), dtype=float)
        v = v[(v > 0) & (v < d - 1)] if key == "largest_gap_dimension" else v[v > 0]
        if v.size:
            tt.append(tv)
            mean.append(v.mean())
            sem.append(v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0)
    return np.array(tt), np.array(mean), np.array(sem)


def _time_label(schedule) -> str:
    return {"ve": "t (VE: noise variance)", "tabulated-vp": "training timestep k", "edm": "sigma (EDM)"}.get(
        schedule.name, f"t ({schedule.name} schedule)")


def plot_class_dimensions(comp: dict):
    """Dimension per class and pooled with 90% bootstrap intervals: the engine's exact route (tangent count,
    ``D_eff``) and the paper's protocol side by side, the point-cloud estimators beside them (one Figure)."""
    import matplotlib.pyplot as plt
    routes = [("engine_tangent", "engine: n - codim"), ("engine_d_eff", r"engine: $D_{eff}$"),
              ("paper_protocol", "paper protocol (normal bundle)"), ("mle", "MLE"), ("lpca", "local PCA")]
    groups = list(comp["routes"]["engine_tangent"]["per_class"]) + ["all"]
    x = np.arange(len(groups))
    fig, ax = plt.subplots(figsize=(max(6.5, 0.7 * len(groups) + 3) + 2.2, 4.2))
    routes = [(key, label) for key, label in routes if key in comp["routes"]]
    w = 0.8 / len(routes)
    for i, (key, label) in enumerate(routes):
        r = comp["routes"][key]
        rows = [r["per_class"][g] for g in groups[:-1]] + [r["pooled"]]
        val = np.array([g["value"] for g in rows])
        lo = np.array([g["interval"][0] for g in rows])
        hi = np.array([g["interval"][1] for g in rows])
        ax.errorbar(x + (i - (len(routes) - 1) / 2) * w, val, [val - lo, hi - val], fmt="os^vd"[i], ms=4,
                    capsize=2, lw=1, label=label)
    ax.set_xticks(x, groups)
    ax.set_yscale("log")
    ax.set_xlabel("class")
    ax.set_ylabel("dimension (median, 90% bootstrap interval)")
    ax.set_title(f"dimension of {comp.get('images', 'held-out images')} at t = {comp['t']:.4g} "
                 f"({comp['n_images']} images)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))          # beside the points, not on them
    fig.tight_layout()
    return fig
