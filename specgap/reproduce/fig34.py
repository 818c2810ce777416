"""The paper's Figs. 3 and 4: Jacobian spectra of score networks trained on linear manifolds, against theory.

Setting (docs/theory.md section 10): ``d = 100``, ``m = 40`` (``alpha = 0.4``), ``n`` training points ``x = F z`` with
one fixed ``F`` per data set (:func:`trained.data.linear_manifold_data`), VE schedule (``t`` = noise variance),
a residual MLP trained by denoising score matching with EMA (:func:`trained.train.train`; checkpoints in
``RUNS/<panel>/checkpoint.pt``, so a rerun with the same settings reuses or resumes the training).

- Fig. 3, panels (a) levels ``sigma^2 = 1, 0.01`` with ``f = 0.75``; (b) swapped (``0.01, 1``, ``f = 0.75``);
  (c) ``n_levels`` levels uniform in ``[1e-2, 1]`` (:meth:`rmt.VarianceProfile.multi`), ``1/n_levels`` each.
  Sorted normalised singular values over time, averaged over points (noised training points, and states of
  reverse-time trajectories of the network), with the theory bulk edges; per subspace the time its gap opens
  in the network, for the exact score of the same ``F``, and in theory (definition in
  :mod:`trained.network_spectra`), and the order in which the subspaces separate.
- Fig. 4: the double-variance network (panel (a), shared ``RUNS/a``) at ``t = 0.45, 0.3, 0.11``: the network's
  singular values against the theory density; the KS distance between the ``m`` smallest values and the
  theory's tangent law (spike excluded); codimension and largest-gap dimension, network and theory.

Run (minutes on a CPU; the notebook of the same name and the study's test run it in quick mode)::

    summary = reproduce_fig3("results/fig3", quick=True)     # figures, summary.json, spectra_<panel>.npz
    summary = reproduce_fig4("results/fig4", quick=True, runs="results/fig3/runs")   # reuses network (a)
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from rmt import readouts, theory_spectrum
from rmt.io import write_json
from rmt.validation import positive, positive_int, resolution
from rmt.gaps import (
    intermediate_gaps,
    manifold_gap,
    phase_at,
    theory_largest_gap_dimension,
)
from rmt.mp import JacobianLaw
from rmt.profiles import VarianceProfile
from rmt.spectrum import Spectrum
from simulate.agreement import mean_sem, theory_edges
from trained.data import LinearManifoldData, linear_manifold_data
from trained.nets import torch_threads
from trained.network_spectra import (
    gap_opening_times,
    gap_widths,
    network_spectra,
    noised_points,
    reverse_trajectories,
    sample_network,
    separation_order,
    subspaces,
    tangent_ks,
    time_readouts,
    training_points,
)

from ._artefacts import stamp, use_agg, write_artefacts

__all__ = ["PANELS", "FIG4_TIMES", "fig34_settings", "panel_profile", "panel_data", "train_panel", "time_grid",
           "fig3_panel", "fig3_data", "plot_fig3", "reproduce_fig3", "fig4_data", "plot_fig4", "reproduce_fig4"]

#: Fig. 3 panels: the variance profile as given (levels and fractions in the paper's order)
PANELS = {"a": {"levels": [1.0, 0.01], "fractions": [0.75, 0.25]},
          "b": {"levels": [0.01, 1.0], "fractions": [0.75, 0.25]},
          "c": {"multi": True}}
#: the process times of Fig. 4's three panels (VE)
FIG4_TIMES = (0.45, 0.3, 0.11)

#: full setting; ``quick`` overrides below (CPU, about a minute per network)
FULL = {"d": 100, "alpha": 0.4, "n_train": 20000, "n_levels": 10, "schedule": "ve",
        "net": {"width": 256, "depth": 2},
        "train": {"steps": 20000, "batch": 256, "lr": 2e-3, "warmup": 100, "ema": 0.999, "sigma_min": 0.01,
                  "sigma_max": 10.0, "checkpoint_every": 2000},
        "points": 32, "per_decade": 12, "t_range": [1e-3, 1e2], "t_small": 0.01, "delta": 0.1,
        "reverse": True, "sample_steps": 200, "n_samples": 512, "fig4_points": 64, "threads": 1}
QUICK = {"train": {"steps": 1200, "checkpoint_every": 0}, "points": 8, "per_decade": 5, "n_samples": 256, "fig4_points": 16}


def fig34_settings(quick: bool = False, **overrides) -> dict:
    """All settings of a Fig. 3/4 run (JSON-serialisable). ``overrides`` replace top-level keys; ``net`` and
    ``train`` overrides are merged into their dicts."""
    s = json.loads(json.dumps(FULL))
    s["quick"] = bool(quick)
    if quick:
        for k, v in QUICK.items():
            s[k] = dict(s[k], **v) if isinstance(v, dict) else v
    for k, v in overrides.items():
        if k not in s:
            raise ValueError(f"unknown fig3/fig4 setting {k!r}; known: {sorted(s)}")
        s[k] = dict(s[k], **v) if isinstance(s[k], dict) else v
    for k in ("d", "n_train", "n_levels", "points", "per_decade", "sample_steps", "fig4_points", "threads"):
        s[k] = positive_int(k, s[k])
    s["n_samples"] = positive_int("n_samples", s["n_samples"], minimum=0)
    s["alpha"] = positive("alpha", s["alpha"])
    if not 0 < s["alpha"] < 1:
        raise ValueError(f"alpha must lie in (0, 1) (a spike is needed), got {s['alpha']}")
    lo, hi = (positive("t_range", v) for v in s["t_range"])
    if not lo < s["t_small"] < hi:
        raise ValueError(f"t_range must be increasing and contain t_small={s['t_small']}, got {s['t_range']}")
    resolution(s["delta"])
    return s


def panel_profile(panel: str, n_levels: int = 10, seed: int = 0) -> VarianceProfile:
    """The variance profile of a Fig. 3 panel ('a', 'b' or 'c')."""
    if panel not in PANELS:
        raise ValueError(f"panel must be one of {sorted(PANELS)}, got {panel!r}")
    p = PANELS[panel]
    if p.get("multi"):
        return VarianceProfile.multi(n_levels, 1e-2, 1.0, seed=seed)
    return VarianceProfile(p["levels"], p["fractions"])


def panel_data(panel: str, settings: dict, seed: int = 0) -> LinearManifoldData:
    """The training set of a panel: ``n_train`` points on a linear manifold with one fixed ``F``."""
    prof = panel_profile(panel, settings["n_levels"], seed)
    return linear_manifold_data(settings["d"], settings["alpha"], profile=prof, n=settings["n_train"], seed=seed)


def time_grid(settings: dict) -> np.ndarray:
    """``per_decade`` log-spaced times over ``t_range``, with ``t_small`` and the Fig. 4 times inserted."""
    k = settings["per_decade"]
    lo, hi = np.log10(settings["t_range"])
    t = 10.0 ** (np.arange(np.ceil(lo * k - 1e-9), np.floor(hi * k + 1e-9) + 1) / k)
    extra = np.array([settings["t_small"], *FIG4_TIMES])
    t = t[~np.any(np.isclose(t[:, None], extra[None], rtol=1e-6), axis=1)]
    return np.unique(np.concatenate([t, extra[(extra >= 10 ** lo) & (extra <= 10 ** hi)]]))


def train_panel(panel: str, settings: dict, runs=None, *, seed: int = 0, device="cpu", progress: bool = True):
    """Train (or reload / resume from ``runs/<panel>/checkpoint.pt``) the MLP of a panel.

    Returns ``(ema_model, data, info)``; ``info`` has the training and score-error numbers.
    """
    from trained.nets import build_model
    from trained.train import TrainConfig, score_error, train
    data = panel_data(panel, settings, seed)
    model = build_model({"arch": "mlp", "net": {"d": settings["d"], **settings["net"]},
                         "schedule": settings["schedule"], "sigma_data": data.sigma_data}, seed=seed)
    cfg = TrainConfig(seed=seed, **settings["train"])
    out = None if runs is None else Path(runs) / panel
    res = train(model, data, cfg, out, resume=True, device=device, progress=progress)
    ema = res.ema.cpu().eval().requires_grad_(False)
    L = res.losses
    k = max(1, min(100, L.size // 10))
    exact = data.exact_model(settings["schedule"])
    ts = [0.01, 0.1, 1.0]
    info = {"steps": int(res.step), "resumed_from": res.resumed_from, "seconds_this_call": round(res.seconds, 2),
            "loss_initial": float(np.mean(L[:k])), "loss_final": float(np.mean(L[-k:])),
            "checkpoint": None if res.checkpoint is None else str(res.checkpoint),
            "score_relative_error": {"t": ts, "ema": [score_error(ema, exact, t, 1024, seed=seed) for t in ts]}}
    if res.checkpoint is not None:
        info["seconds_total"] = _train_seconds(res.checkpoint, res.seconds)
    return ema, data, info


def _train_seconds(path, seconds):
    # wall time of the whole training, summed over calls, kept next to the checkpoint (not in it)
    f = Path(path).with_name("train_seconds.json")
    prev = json.loads(f.read_text()) if f.exists() else {"seconds": 0.0}
    total = prev["seconds"] + seconds
    write_json(f, {"seconds": total})
    return round(total, 2)


# ------------------------------------------------------------------------------------------------
# Fig. 3
# ------------------------------------------------------------------------------------------------
def _given_index(prof_levels, level):
    return int(np.argmin(np.abs(np.asarray(prof_levels) - level)))


def fig3_panel(panel: str, settings: dict, runs=None, *, seed: int = 0, progress: bool = True) -> dict:
    """Everything of one Fig. 3 panel: network, exact and theory spectra, readouts, gap-opening times."""
    t0 = time.perf_counter()
    model, data, train_info = train_panel(panel, settings, runs, seed=seed, progress=progress)
    M, d, delta, sch = data.manifold, settings["d"], settings["delta"], settings["schedule"]
    t = time_grid(settings)
    x0 = training_points(data, settings["points"], seed)
    spec = network_spectra(model, noised_points(x0, t, sch, seed), t, progress=progress,
                           meta={"panel": panel, "points": "noised training points"})
    spec_rev = None
    if settings["reverse"]:
        Xr, _ = reverse_trajectories(model, t, settings["points"], steps=settings["sample_steps"], seed=seed)
        spec_rev = network_spectra(model, Xr, t, progress=progress,
                                   meta={"panel": panel, "points": "reverse-time trajectories of the network"})
    exact = data.exact_model(sch)
    spec_exact = Spectrum(np.stack([exact.exact_eta(tt) for tt in t])[None], t, schedule=sch, source="simulation",
                          meta={"model": "exact score of the same F"})
    spec_theory = theory_spectrum(M, t, d, sch)

    subs = subspaces(M, d, delta, sch)
    bounds = [s["boundary"] for s in subs if s["gap"] is not None]
    measured = {"network": gap_opening_times(spec, bounds, delta),
                "exact_same_F": gap_opening_times(spec_exact, bounds, delta),
                "theory_quantiles": gap_opening_times(spec_theory, bounds, delta)}
    if spec_rev is not None:
        measured["network_reverse"] = gap_opening_times(spec_rev, bounds, delta)
    given_levels = PANELS[panel].get("levels")               # None for the multi-variance panel
    for s in subs:
        s["label"] = (f"sigma^2={s['levels'][0]:g} ({s['dimension']} dims)" if s["levels"] and len(s["levels"]) == 1
                      else f"bulk {s['k']} ({s['dimension']} dims)")
        s["given_index"] = (_given_index(given_levels, s["levels"][0])
                            if given_levels is not None and len(s["levels"]) == 1 else None)
        s["t_open"] = {"theory": s.pop("t_open"), "tau_theory": s.pop("tau_open")}
        for name, rows in measured.items():
            row = next((r for r in rows if r["boundary"] == s["boundary"]), None)
            s["t_open"][name] = None if row is None else row["t_open"]
            if row is not None:
                s.setdefault("open_at_start", {})[name] = row["open_at_start"]
                s.setdefault("max_width", {})[name] = row["max_width"]
    order = {}
    for name in ["theory", *measured]:
        ks = separation_order({s["k"]: s["t_open"][name] for s in subs if s["gap"] is not None})
        order[name] = {"k": ks, "labels": [subs[k - 1]["label"] for k in ks],
                       "given_index": [subs[k - 1]["given_index"] for k in ks],
                       "high_variance_first": ks == sorted(ks)}

    per_time = time_readouts(spec, delta)
    lg_th = theory_largest_gap_dimension(M, spec.tau) * d
    ph_th = phase_at(M, spec.tau, delta)
    cd_th = readouts.codimension(spec_theory.values[0], delta)
    cd_ex = readouts.codimension(spec_exact.values[0], delta)
    for j, row in enumerate(per_time):
        row.pop("mean_sorted")
        row.pop("sem_sorted")
        row["theory"] = {"phase": str(ph_th[j]), "largest_gap_dimension": float(lg_th[j]),
                         "codimension": int(cd_th[j])}
        row["exact_same_F"] = {"codimension": int(cd_ex[j]),
                               "largest_gap_dimension": int(readouts.largest_gap_dimension(spec_exact.values[0, j]))}
    j_small = int(np.argmin(np.abs(t - settings["t_small"])))
    samples = None
    if settings["n_samples"]:
        samples = _sample_check(model, data, settings, seed)
    summary = {
        "panel": panel, "profile": M.profile.as_dict(), "given": PANELS[panel] | (
            {"levels": M.profile.levels.tolist(), "n_levels": settings["n_levels"]} if given_levels is None else {}),
        "d": d, "m": M.latent_dim(d), "alpha": M.alpha, "train": train_info,
        "subspaces": subs, "order": order,
        "codimension_small_t": {"t": float(t[j_small]), "network_mean": per_time[j_small]["codimension"]["mean"],
                                "network_sem": per_time[j_small]["codimension"]["sem"],
                                "network_of_mean_spectrum": per_time[j_small]["codimension"]["of_mean_spectrum"],
                                "theory": int(cd_th[j_small]), "d_minus_m": d - M.latent_dim(d)},
        "largest_gap_dimension_small_t": {"t": float(t[j_small]),
                                          "network_mean": per_time[j_small]["largest_gap_dimension"]["mean"],
                                          "theory": float(lg_th[j_small])},
        "samples": samples, "per_time": per_time, "runtime_s": round(time.perf_counter() - t0, 2)}
    return {"panel": panel, "manifold": M, "t": t, "spectrum": spec, "spectrum_reverse": spec_rev,
            "spectrum_exact": spec_exact, "spectrum_theory": spec_theory, "subspaces": subs, "summary": summary}


def _sample_check(model, data, settings, seed):
    """Samples of the network (reverse SDE of simulate): variance inside and outside the span of ``F``."""
    res = sample_network(model, settings["n_samples"], steps=settings["sample_steps"], t_end=1e-3, seed=seed + 7)
    x = res.x
    Q, _ = np.linalg.qr(data.F)
    inside = x @ Q
    out = x - inside @ Q.T
    C = data.F @ data.F.T
    cov = np.cov(x.T)
    return {"n": int(x.shape[0]), "steps": int(res.info["steps"]), "t_end": res.info["t_end"],
            "variance_in_manifold": float(np.sum(inside ** 2) / x.shape[0]), "variance_expected": float(np.trace(C)),
            "rms_distance_to_manifold": float(np.sqrt(np.mean(np.sum(out ** 2, axis=1)))),
            "rms_distance_noise_at_t_end": float(np.sqrt((data.F.shape[0] - np.linalg.matrix_rank(data.F))
                                                         * res.info["t_end"])),
            "covariance_relative_error": float(np.linalg.norm(cov - C) / np.linalg.norm(C)),
            "covariance_relative_error_of_n_exact_samples": float(_exact_cov_error(data, x.shape[0], seed))}


def _exact_cov_error(data, n, seed):
    # the sampling floor: the same statistic for n exact data samples
    z = np.random.default_rng([seed, 11]).standard_normal((n, data.F.shape[1]))
    x = z @ data.F.T
    C = data.F @ data.F.T
    return np.linalg.norm(np.cov(x.T) - C) / np.linalg.norm(C)


def fig3_data(settings: dict | None = None, runs=None, *, panels=("a", "b", "c"), seed: int = 0,
              progress: bool = True) -> dict:
    """All panels of Fig. 3 and the summary (``order_reverses_when_swapped`` compares panels (a) and (b))."""
    settings = settings or fig34_settings()
    out = {p: fig3_panel(p, settings, runs, seed=seed, progress=progress) for p in panels}
    summary = {"figure": "fig3", "settings": settings, "seed": seed,
               "gap_open_definition": (
                   f"gap above the k values of a subspace (boundary index k = cumulative eigenvalue count, high "
                   f"variance first) in the sorted spectrum averaged over points; it opens at the first time, "
                   f"scanning t from large to small, at which its width reaches Delta={settings['delta']} "
                   f"(linear interpolation in log t between grid times). Theory: the same condition on the "
                   f"limiting bulk edges, solved exactly (rmt.gaps windows tau_open; manifold gap "
                   f"l_min(1-Delta)/Delta), tau converted to t; theory_quantiles applies the grid measurement to "
                   f"the d classical eigenvalue locations; exact_same_F to the exact score of the data's F."),
               "panels": {p: v["summary"] for p, v in out.items()}}
    if "a" in out and "b" in out:
        rev = {}
        for name in out["a"]["summary"]["order"]:
            oa = out["a"]["summary"]["order"][name]["given_index"]
            ob = out["b"]["summary"]["order"].get(name, {}).get("given_index")
            rev[name] = ob is not None and len(oa) > 1 and ob == oa[::-1]
        summary["order_reverses_when_swapped"] = rev
    return {"panels": out, "summary": summary}


def plot_fig3(data: dict):
    """Two figures: ``spectra`` (sorted singular values over time per panel with theory edges and opening
    times) and ``gaps`` (gap widths at the subspace boundaries: network, exact score, theory)."""
    import matplotlib.pyplot as plt
    panels = data["panels"]
    figs = {}
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.3), squeeze=False, sharey=True)
    for ax, (p, v) in zip(axes[0], panels.items()):
        spec, M, subs = v["spectrum"], v["manifold"], v["subspaces"]
        t, ms = spec.t, spec.mean_sorted()
        col = np.full(spec.n, len(subs))
        start = 0
        for i, s in enumerate(subs):
            col[start:s["boundary"]] = i
            start = s["boundary"]
        for j in range(spec.n):
            ax.plot(t, ms[:, j], color="0.6" if col[j] == len(subs) else f"C{col[j]}", lw=0.6, alpha=0.8)
        edges = np.array([theory_edges(M, float(x)) for x in spec.tau])            # (T, B, 2)
        for b in range(edges.shape[1]):
            for e in range(2):
                ax.plot(t, edges[:, b, e], "k--", lw=0.8)
        for i, s in enumerate(subs):
            if s["t_open"]["theory"]:
                ax.axvline(s["t_open"]["theory"], color=f"C{i}", ls=":", lw=1.2)
            if s["t_open"]["network"]:
                ax.axvline(s["t_open"]["network"], color=f"C{i}", ls="-", lw=1.0, alpha=0.6,
                           label=f"{s['label']}: t_open net {s['t_open']['network']:.3g} / theory "
                                 f"{(s['t_open']['theory'] or float('nan')):.3g}")
        ax.set_xscale("log")
        ax.set_xlabel("t (VE: noise variance)")
        g = PANELS[p]
        ax.set_title(f"({p}) " + (f"{M.profile.K} levels uniform in [0.01, 1], 1/{M.profile.K} each" if g.get("multi")
                                  else ", ".join(f"sigma^2={lv:g} (fraction {fr:g})"
                                                 for lv, fr in zip(g["levels"], g["fractions"]))), fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    axes[0, 0].set_ylabel(r"sorted singular values of $t J$ (mean over points)")
    fig.tight_layout()
    figs["spectra"] = fig

    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False, sharey=True)
    for ax, (p, v) in zip(axes[0], panels.items()):
        spec, M, subs = v["spectrum"], v["manifold"], v["subspaces"]
        gaps = intermediate_gaps(M)
        delta = data["summary"]["settings"]["delta"]
        for i, s in enumerate(subs):
            if s["gap"] is None:
                continue
            w, e = gap_widths(spec, s["boundary"])
            ax.fill_between(spec.t, w - e, w + e, color=f"C{i}", alpha=0.25)
            ax.plot(spec.t, w, color=f"C{i}", label=f"{s['label']} network")
            ax.plot(spec.t, gap_widths(v["spectrum_exact"], s["boundary"])[0], color=f"C{i}", ls="--", lw=0.9,
                    label="exact score, same F")
            th = gaps[s["k"] - 1].width(spec.tau) if s["gap"] == "intermediate" else manifold_gap(M, spec.tau)
            ax.plot(spec.t, th, color="k", ls=":", lw=1)
        ax.axhline(delta, color="0.4", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("t")
        ax.set_title(f"({p}) gap widths; dotted: theory; grey: Delta", fontsize=9)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("width of the gap above the subspace")
    fig.tight_layout()
    figs["gaps"] = fig
    return figs


def reproduce_fig3(out=None, *, quick: bool = False, seed: int = 0, runs=None, panels=("a", "b", "c"),
                   progress: bool = True, settings: dict | None = None) -> dict:
    """Reproduce Fig. 3 and return its summary.

    ``out`` receives ``fig3_spectra.png``, ``fig3_gaps.png``, ``spectra_<panel>.npz`` (network, noised training
    points), ``reverse_<panel>.npz`` (network, reverse trajectories), ``exact_<panel>.npz``, ``theory_<panel>.npz``
    and ``summary.json``; the networks are trained into ``runs`` (default ``out/runs``) and reused on a rerun.
    """
    settings = settings or fig34_settings(quick)
    runs = runs if runs is not None else (None if out is None else Path(out) / "runs")
    t0 = time.perf_counter()
    with torch_threads(settings["threads"]):
        data = fig3_data(settings, runs, panels=panels, seed=seed, progress=progress)
    s = data["summary"]
    s["runs"] = None if runs is None else str(runs)
    if out is not None:
        use_agg()
        arrays = {}
        for p, v in data["panels"].items():
            arrays[f"spectra_{p}"] = v["spectrum"]
            arrays[f"exact_{p}"] = v["spectrum_exact"]
            arrays[f"theory_{p}"] = v["spectrum_theory"]
            if v["spectrum_reverse"] is not None:
                arrays[f"reverse_{p}"] = v["spectrum_reverse"]
        s["runtime_s"] = round(time.perf_counter() - t0, 2)
        write_artefacts(out, s, figures={f"fig3_{k}": f for k, f in plot_fig3(data).items()}, spectra=arrays)
    s["runtime_s"] = round(time.perf_counter() - t0, 2)
    return stamp(s)


# ------------------------------------------------------------------------------------------------
# Fig. 4
# ------------------------------------------------------------------------------------------------
def fig4_data(settings: dict | None = None, runs=None, *, times=FIG4_TIMES, seed: int = 0,
              progress: bool = True) -> dict:
    """The double-variance network (panel (a)) against theory at ``times``: KS of the ``m`` smallest values to
    the tangent law, codimension and largest-gap dimension (network, exact score of the same ``F``, theory)."""
    settings = settings or fig34_settings()
    t0 = time.perf_counter()
    model, data, train_info = train_panel("a", settings, runs, seed=seed, progress=progress)
    M, d, delta, sch = data.manifold, settings["d"], settings["delta"], settings["schedule"]
    m = M.latent_dim(d)
    t = np.asarray(times, dtype=float)
    x0 = training_points(data, settings["fig4_points"], seed)
    spec = network_spectra(model, noised_points(x0, t, sch, seed + 1), t, progress=progress,
                           meta={"figure": "fig4", "points": "noised training points"})
    exact = data.exact_model(sch)
    spec_theory = theory_spectrum(M, t, d, sch)
    per_time = []
    for j, tt in enumerate(t):
        tau = float(spec.tau[j])
        v = spec.values[:, j]                                         # (P, d) ascending
        ks_pts = np.array([tangent_ks(M, tau, row[:m]) for row in v])
        ks_m, ks_s = mean_sem(ks_pts)
        eta_ex = exact.exact_eta(tt)
        cd, lg = readouts.codimension(v, delta), readouts.largest_gap_dimension(v)
        ortho = v[:, m:]
        per_time.append({
            "t": float(tt), "tau": tau,
            "ks_tangent": {"pooled": tangent_ks(M, tau, v[:, :m]), "mean": float(ks_m), "sem": float(ks_s),
                           "exact_same_F": tangent_ks(M, tau, eta_ex[:m]),
                           "definition": "KS between the m smallest singular values (pooled over points; or per "
                                         "point, mean and s.e.m.) and the theory eta law conditional on the bulk"},
            "codimension": {"network_mean": float(cd.mean()), "network_sem": float(mean_sem(cd)[1]),
                            "network_of_mean_spectrum": int(readouts.codimension(spec.mean_sorted()[j], delta)),
                            "exact_same_F": int(readouts.codimension(eta_ex, delta)),
                            "theory": int(readouts.codimension(spec_theory.values[0, j], delta))},
            "largest_gap_dimension": {"network_mean": float(lg.mean()), "network_sem": float(mean_sem(lg)[1]),
                                      "network_of_mean_spectrum": int(readouts.largest_gap_dimension(
                                          spec.mean_sorted()[j])),
                                      "exact_same_F": int(readouts.largest_gap_dimension(eta_ex)),
                                      "theory": float(theory_largest_gap_dimension(M, tau)[0] * d)},
            "phase": {"network_of_mean_spectrum": readouts.phase(spec.mean_sorted()[j], delta),
                      "theory": str(phase_at(M, tau, delta))},
            "orthogonal_values": {"mean": float(ortho.mean()), "std": float(ortho.std()),
                                  "min": float(ortho.min()), "max": float(ortho.max()),
                                  "theory": "spike at 1 with mass 1 - alpha"},
            "theory_support": [b.as_dict() for b in JacobianLaw(M, tau).support()],
        })
    summary = {"figure": "fig4", "settings": settings, "seed": seed, "d": d, "m": m, "alpha": M.alpha,
               "profile": M.profile.as_dict(), "points": int(spec.n_draws), "train": train_info,
               "per_time": per_time, "runtime_s": round(time.perf_counter() - t0, 2)}
    return {"manifold": M, "spectrum": spec, "spectrum_theory": spec_theory, "summary": summary}


def plot_fig4(data: dict, bins: int = 50):
    """One figure per time: histogram of the network's singular values vs the theory density (spike: arrow)."""
    import matplotlib.pyplot as plt
    spec, M = data["spectrum"], data["manifold"]
    fig, axes = plt.subplots(1, spec.n_times, figsize=(4.6 * spec.n_times, 3.6), squeeze=False, sharey=True)
    for j, ax in enumerate(axes[0]):
        js = JacobianLaw(M, float(spec.tau[j]))
        v = spec.values[:, j].ravel()
        hi = max(1.05, float(v.max()) + 0.01)
        edges = np.linspace(0.0, hi, bins + 1)
        h, _ = np.histogram(v, bins=edges)
        ax.bar(edges[:-1], h / (v.size * np.diff(edges)), width=np.diff(edges), align="edge", alpha=0.45,
               color="C0", label=f"network ({spec.n_draws} points)")
        x = np.linspace(1e-4, 1 - 1e-6, 2000)
        ax.plot(x, js.density(x), "k", lw=1.2, label="theory bulk")
        ax.vlines(1.0, 1e-2, 40.0, color="k", lw=2.0, label=f"theory spike at 1 (mass {js.spike_mass:.2f})")
        r = data["summary"]["per_time"][j]
        ax.set_title(f"t = {spec.t[j]:.3g}: KS(tangent) {r['ks_tangent']['pooled']:.3f}, codim "
                     f"{r['codimension']['network_of_mean_spectrum']} (theory {r['codimension']['theory']})",
                     fontsize=8)
        ax.set_yscale("log")
        ax.set_ylim(1e-2, 60)
        ax.set_xlabel(r"singular value of $t J$")
    axes[0, 0].set_ylabel("density (per unit d)")
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return {"density": fig}


def reproduce_fig4(out=None, *, quick: bool = False, seed: int = 0, runs=None, times=FIG4_TIMES,
                   progress: bool = True, settings: dict | None = None) -> dict:
    """Reproduce Fig. 4 and return its summary. ``out`` receives ``fig4_density.png``, ``spectra.npz``,
    ``theory.npz`` and ``summary.json``; the network is trained into ``runs/a`` (default ``out/runs``), the
    same directory layout as Fig. 3, so ``runs`` can point at a Fig. 3 run to reuse its panel (a)."""
    settings = settings or fig34_settings(quick)
    runs = runs if runs is not None else (None if out is None else Path(out) / "runs")
    t0 = time.perf_counter()
    with torch_threads(settings["threads"]):
        data = fig4_data(settings, runs, times=times, seed=seed, progress=progress)
    s = data["summary"]
    s["runs"] = None if runs is None else str(runs)
    if out is not None:
        use_agg()
        s["runtime_s"] = round(time.perf_counter() - t0, 2)
        write_artefacts(out, s, figures={f"fig4_{k}": f for k, f in plot_fig4(data).items()},
                        spectra={"spectra": data["spectrum"], "theory": data["spectrum_theory"]})
    s["runtime_s"] = round(time.perf_counter() - t0, 2)
    return stamp(s)
