"""Study ``ridge-toy``: a random-feature score model on 2-D Dirac mixtures and the ridge of the smoothed
empirical density (docs/theory.md section 8).

For 2, 3 and 9 modes (a segment, a unit triangle, a 3 x 3 grid, spacing 1 or 2) a
:class:`trained.random_features.RandomFeatureScore` is fitted (closed-form read-out at training time ``s``),
then sampled with the probability-flow ODE (:func:`simulate.samplers.sample_reverse`) from ``tau_max`` down to
``tau_min``. Reported per configuration:

- per-mode counts: a sample belongs to a mode within ``0.15 x`` the mode spacing, otherwise it is
  *inter-mode*; an inter-mode sample is *on a ridge segment* when it lies within ``0.05 x`` spacing of a
  segment joining two nearest-neighbour modes (where the ridge of ``p_t`` runs at small ``t``);
- the distance to the ridge ``R_t`` (``k = 1``) along the trajectories, its histograms per recorded time,
  the phases and the settled-distance slope (:func:`simulate.ridge_dynamics.reach_align_slide`);
- the loss of the read-out against training time ``s``, split into the normal and tangent parts of the score
  error (and the architectural bias, ``s = inf``) at noised training points (:func:`error_split`).

Run (minutes on a CPU; the notebook of the same name and the study's test run it in quick mode)::

    summary = reproduce_ridge_toy("results/ridge-toy", quick=True)
"""
from __future__ import annotations

import time

import numpy as np

from rmt.validation import positive_int

from ._artefacts import stamp, use_agg, write_artefacts

__all__ = ["toy_modes", "segments", "segment_distance", "ridge_toy_data", "plot_ridge_toy", "reproduce_ridge_toy"]

CONFIGS = (2, 3, 9)


def toy_modes(K: int) -> np.ndarray:
    """The modes: 2 -> (+-1, 0); 3 -> a unit-side triangle scaled to side 2; 9 -> a 3 x 3 grid of spacing 1."""
    if K == 2:
        return np.array([[-1.0, 0.0], [1.0, 0.0]])
    if K == 3:
        return 2.0 * np.array([[-0.5, -np.sqrt(3) / 6], [0.5, -np.sqrt(3) / 6], [0.0, np.sqrt(3) / 3]])
    if K == 9:
        g = np.arange(-1.0, 2.0)
        return np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    raise ValueError(f"K must be one of {CONFIGS}, got {K!r}")


def segments(Y) -> list[tuple[int, int]]:
    """Pairs of modes at the smallest spacing (within 1%): where the small-``t`` ridge runs."""
    d = np.linalg.norm(Y[:, None] - Y[None], axis=-1)
    h = d[np.triu_indices(len(Y), 1)].min()
    return [(i, j) for i in range(len(Y)) for j in range(i + 1, len(Y)) if d[i, j] <= 1.01 * h]


def segment_distance(P, Y, segs) -> np.ndarray:
    """Distance of each row of ``P`` to the nearest of the segments ``segs`` (pairs of rows of ``Y``)."""
    out = np.full(len(P), np.inf)
    for i, j in segs:
        u = Y[j] - Y[i]
        lam = np.clip((P - Y[i]) @ u / (u @ u), 0.0, 1.0)
        out = np.minimum(out, np.linalg.norm(P - Y[i] - lam[:, None] * u, axis=1))
    return out


def junction_distance(P, Y, segs) -> np.ndarray:
    """Distance of each row of ``P`` to the nearest *junction* of the small-``t`` ridge: a mode where two or more
    segments meet (the ridge is not a smooth curve there; none for two modes). ``inf`` without junctions."""
    deg = np.bincount(np.ravel(segs), minlength=len(Y)) if segs else np.zeros(len(Y), int)
    J = Y[deg >= 2]
    if not len(J):
        return np.full(len(P), np.inf)
    return np.linalg.norm(P[:, None] - J[None], axis=-1).min(1)


def _slide_start(states, anchor, radius) -> np.ndarray:
    """First record index after which each trajectory stays within ``radius`` of its ``anchor``."""
    far = np.linalg.norm(states - anchor[None], axis=-1) >= radius            # (R, n)
    R = far.shape[0]
    return np.where(far.any(0), R - np.argmax(far[::-1], axis=0), 0).clip(max=R - 1)


def align_random_features(Y, dyn, schedule, spacing) -> tuple[dict, dict]:
    """The align law for one random-feature run: the linearised normal offset
    (:func:`simulate.ridge_align.linearised_offset`, the model's own Jacobian and normal error) against the
    measured settled distance per sample, on all samples and on those whose foot is away from ridge junctions
    (beyond ``0.05 x`` spacing); the slide: the tangential analogue for samples settled within ``0.15 x``
    spacing of a mode that is not a junction, their along-ridge offset from that mode."""
    from simulate.ridge_align import linearised_offset, prediction_fit
    segs = segments(Y)
    pred = linearised_offset(dyn, schedule)
    meas = dyn.distance[-1]
    smooth = junction_distance(dyn.foot[-1], Y, segs) > 0.05 * spacing
    x = dyn.states[-1]
    dm = np.linalg.norm(x[:, None] - Y[None], axis=-1)
    near = dm.argmin(1)
    settled = (dm.min(1) < 0.15 * spacing) & (junction_distance(Y[near], Y, segs) > 0)
    out = {"all": prediction_fit(meas, pred[-1]), "smooth": prediction_fit(meas[smooth], pred[-1][smooth]),
           "smooth_fraction": float(smooth.mean())}
    slide_pred = np.full(len(x), np.nan)
    slide_meas = np.full(len(x), np.nan)
    if settled.any():
        anchor = Y[near]
        start = _slide_start(dyn.states, anchor, 0.15 * spacing)
        sp = linearised_offset(dyn, schedule, part="tangent", start=start, anchor=anchor)[-1]
        T = dyn.tangent[-1]
        tm = np.linalg.norm(np.einsum("ndk,nk->nd", T, np.einsum("ndk,nd->nk", T, x - anchor)), axis=1)
        slide_pred[settled], slide_meas[settled] = sp[settled], tm[settled]
        out["slide"] = {**prediction_fit(tm[settled], sp[settled]), "settled_at_ends": int(settled.sum())}
    else:
        out["slide"] = {"r2": None, "slope": None, "ci": [None, None], "settled_at_ends": 0}
    arrays = {"predicted_offset": pred, "smooth": smooth, "slide_predicted": slide_pred,
              "slide_measured": slide_meas}
    return out, arrays


def _one(K, *, n_samples, n_features, fit_samples, train_time, train_grid, steps, record, align_records, tau_range,
         eval_points, seed):
    from simulate.models import EmpiricalModel
    from simulate.ridge import ridge_residual
    from simulate.ridge_dynamics import reach_align_slide
    from trained.random_features import RandomFeatureScore, error_split
    Y = toy_modes(K)
    spacing = float(np.min(np.linalg.norm(Y[:, None] - Y[None], axis=-1)[np.triu_indices(K, 1)]))
    rf = RandomFeatureScore(2, n_features=n_features, n_freq=8, tau_range=tau_range, seed=seed)
    rf.fit(Y, n_samples=fit_samples, seed=seed + 1)
    net = rf.at(rf.weights_at(train_time))
    sch = rf.schedule
    t_start, t_end = float(sch.t_of_tau(tau_range[1])), float(sch.t_of_tau(tau_range[0]))
    # dense records: the linearised dynamics integrate the error along the path
    rec = sch.t_of_tau(np.geomspace(tau_range[0], tau_range[1], max(record, align_records) + 1)[:-1])
    dyn = reach_align_slide(Y, net, 1, n=n_samples, record_times=rec, steps=steps, t_start=t_start, t_end=t_end,
                            rng=seed + 2, radius=0.05 * spacing, jacobian=True)
    align, align_arrays = align_random_features(Y, dyn, sch, spacing)
    x = dyn.states[-1]
    dmode = np.linalg.norm(x[:, None] - Y[None], axis=-1)
    near = dmode.argmin(1)
    at_mode = dmode.min(1) < 0.15 * spacing
    counts = np.bincount(near[at_mode], minlength=K)
    segs = segments(Y)
    dseg = segment_distance(x, Y, segs)
    inter = ~at_mode
    on = inter & (dseg < 0.05 * spacing)
    # residual of the states against the ridge of p_t at each recorded time (units of length: s^2 |V V^T score|)
    resid = np.stack([sch.s2(t) * ridge_residual(Y, dyn.states[r], float(t), 1) for r, t in enumerate(dyn.times)])
    # losses against training time at noised training points, split by the ridge frame
    rng = np.random.default_rng(seed + 3)
    em = EmpiricalModel(Y, sch)
    t_eval = sch.t_of_tau(np.geomspace(tau_range[0] * 3, tau_range[1] / 10, 4))
    losses = {f"{p}_{q}": [] for p in ("total", "bias", "opt") for q in ("normal", "tangent")}
    xeval = [em.sample_t(eval_points, float(t), rng) for t in t_eval]     # the same points at every s
    for s in train_grid:
        acc = {k: 0.0 for k in losses}
        for t, xe in zip(t_eval, xeval):
            e = error_split(rf, Y, xe, float(t), train_time=float(s), k=1)
            w = float(sch.s2(t))                                      # s^2 |e|^2 = the epsilon-loss scale
            for k in acc:
                acc[k] += w * e[f"{k}_mse"] / len(t_eval)
        for k in losses:
            losses[k].append(acc[k])
    summ = {
        "K": K, "spacing": spacing, "segments": [list(s) for s in segs],
        "counts": counts.tolist(), "at_modes": int(at_mode.sum()), "inter_mode": int(inter.sum()),
        "inter_mode_on_ridge": int(on.sum()),
        "fraction_inter_mode_on_ridge": float(on.sum() / inter.sum()) if inter.sum() else None,
        "loss_final": rf.loss(net.A), "loss_equilibrium": rf.loss(rf.equilibrium()),
        "residual_median": np.median(resid, 1).tolist(),
        "dynamics": dyn.summary(), "align_law": align,
        "loss_vs_training_time": {"s": list(map(float, train_grid)), **losses},
    }
    arrays = {"modes": Y, "samples": x, "times": dyn.times, "states": dyn.states, "distance": dyn.distance,
              "delta_eq": dyn.delta_eq,
              "residual": resid, **align_arrays,
              "phase": dyn.phase, "train_time": np.asarray(train_grid, float),
              **{f"loss_{k}": np.asarray(v) for k, v in losses.items()}}
    return summ, arrays


def align_injected(*, n=64, steps=120, magnitudes=7, seed=0) -> tuple[dict, dict]:
    """The controlled align experiment (:func:`simulate.ridge_align.injected_align`) with magnitudes
    ``0.01 .. 1 x`` the spacing: the two-mode segment, normal and tangential error (the headline law), and the
    3 x 3 grid, normal error, split by whether the error-free foot is at a junction of the ridge."""
    from simulate.ridge_align import injected_align, regime_fit
    out, arrays = {}, {}
    for K, part in ((2, "normal"), (2, "tangent"), (9, "normal")):
        Y = toy_modes(K)
        h = float(np.min(np.linalg.norm(Y[:, None] - Y[None], axis=-1)[np.triu_indices(K, 1)]))
        mags = h * np.geomspace(0.01, 1.0, magnitudes)
        res, arr = injected_align(Y, 1, mags, part=part, n=n, steps=steps, rng=seed + 7)
        if K == 9:
            smooth = junction_distance(arr["error_free_foot"], Y, segments(Y)) > 0.05 * h
            res["away_from_junctions"] = {"fraction": float(smooth.mean()),
                                          **(regime_fit(mags, arr["response"][:, smooth]) if smooth.any() else {})}
            res["at_junctions"] = regime_fit(mags, arr["response"][:, ~smooth]) if (~smooth).any() else None
        out[f"{K}_{part}"] = {"spacing": h, **res}
        arrays.update({f"{K}_{part}_{name}": v for name, v in arr.items()})
    return out, arrays


def _pooled_rf(per: dict, arrays: dict) -> dict:
    """The random-feature align law pooled over configurations: predicted against measured settled distance of
    the samples whose foot is away from junctions (``r2``, ``slope``), and of all samples (``r2_all``)."""
    from simulate.ridge_align import prediction_fit
    meas = np.concatenate([a["distance"][-1] for a in arrays.values()])
    pred = np.concatenate([a["predicted_offset"][-1] for a in arrays.values()])
    smooth = np.concatenate([a["smooth"] for a in arrays.values()])
    sm = np.concatenate([a["slide_measured"] for a in arrays.values()])
    sp = np.concatenate([a["slide_predicted"] for a in arrays.values()])
    ok = np.isfinite(sm)
    main, every = prediction_fit(meas[smooth], pred[smooth]), prediction_fit(meas, pred)
    return {**main, "population": "samples whose foot is away from ridge junctions (all configurations)",
            "r2_all": every["r2"], "slope_all": every["slope"], "samples_all": every["samples"],
            "slide": {**prediction_fit(sm[ok], sp[ok]),
                      "population": "samples settled at a mode that ends the ridge (two modes)"},
            "per_config": {k: v["align_law"] for k, v in per.items()}}


def ridge_toy_data(*, n_samples=400, n_features=512, fit_samples=40000, train_time=None, steps=200, record=8,
                   align_records=40, align_n=64, align_steps=120, align_magnitudes=7, tau_range=(1e-3, 10.0),
                   train_points=11, eval_points=200, seed=0, configs=CONFIGS) -> dict:
    """Run the study for each mode count in ``configs`` (no plotting). ``train_time`` (``s``) defaults to the
    largest of the training-time grid (``train_points`` values in ``10^-1 .. 10^4``); the losses are averaged
    over ``eval_points`` noised training points at each of 4 times. The trajectories are recorded at
    ``align_records`` times (the align law integrates along them; ``record`` of them are drawn); the injected
    experiment (``align_injected``) runs ``align_n`` trajectories of ``align_steps`` steps per magnitude."""
    t0 = time.perf_counter()
    grid = np.geomspace(1e-1, 1e4, positive_int("train_points", train_points))
    train_time = float(grid[-1] if train_time is None else train_time)
    kw = dict(n_samples=positive_int("n_samples", n_samples), n_features=positive_int("n_features", n_features),
              fit_samples=positive_int("fit_samples", fit_samples), train_time=train_time, train_grid=grid,
              steps=positive_int("steps", steps), record=positive_int("record", record),
              align_records=positive_int("align_records", align_records),
              tau_range=tuple(tau_range), eval_points=positive_int("eval_points", eval_points), seed=int(seed))
    inj_kw = dict(n=positive_int("align_n", align_n), steps=positive_int("align_steps", align_steps),
                  magnitudes=positive_int("align_magnitudes", align_magnitudes, minimum=2))
    per, arrays = {}, {}
    for K in configs:
        per[str(K)], arrays[f"modes{K}"] = _one(int(K), **kw)
    injected, arrays["align_injected"] = align_injected(seed=int(seed), **inj_kw)
    head = injected["2_normal"]
    align = {"injected": {"slope": head["slope"], "ci": head["ci"], "regime_end": head["regime_end"],
                          "configuration": "two modes, normal error", "slide": {
                              k: injected["2_tangent"][k] for k in ("slope", "ci", "regime_end", "first_outside")},
                          "runs": injected},
             "random_features": _pooled_rf(per, {k: v for k, v in arrays.items() if k.startswith("modes")})}
    summary = {"study": "ridge-toy",
               "parameters": {**{k: v for k, v in kw.items() if k != "train_grid"}, "train_grid": grid.tolist(),
                              "configs": list(configs), **{f"align_{k}": v for k, v in inj_kw.items()}},
               "configs": per, "align_law": align, "runtime_s": round(time.perf_counter() - t0, 2)}
    return {"summary": summary, "arrays": arrays}


def plot_ridge_toy(data: dict) -> dict:
    """``samples`` (scatter with modes and segments), ``counts``, ``residuals`` (histograms of the distance
    to the ridge per recorded time) and ``losses`` (normal vs tangent loss against training time)."""
    import matplotlib.pyplot as plt
    S, A = data["summary"]["configs"], data["arrays"]
    keys = list(S)
    figs = {}
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 4))
    for ax, k in zip(np.atleast_1d(axes), keys):
        a, s = A[f"modes{k}"], S[k]
        Y = a["modes"]
        for i, j in s["segments"]:
            ax.plot(*Y[[i, j]].T, color="0.7", lw=1)
        ax.scatter(*a["samples"].T, s=4, alpha=0.5)
        ax.scatter(*Y.T, c="r", marker="x")
        ax.set_title(f"{k} modes: {s['inter_mode']} inter-mode, {s['inter_mode_on_ridge']} on a segment", fontsize=9)
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.set_aspect("equal")
    fig.tight_layout()
    figs["samples"] = fig
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3))
    for ax, k in zip(np.atleast_1d(axes), keys):
        c = S[k]["counts"]
        ax.bar(range(len(c)), c)
        ax.bar([len(c)], [S[k]["inter_mode"]], color="C1")
        ax.set_xticks(range(len(c) + 1), [str(i) for i in range(len(c))] + ["inter"])
        ax.set_title(f"{k} modes: samples per mode", fontsize=9)
        ax.set_xlabel("mode (inter: between modes)")
        ax.set_ylabel("samples")
    fig.tight_layout()
    figs["counts"] = fig
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4))
    for ax, k in zip(np.atleast_1d(axes), keys):
        a = A[f"modes{k}"]
        draw = np.unique(np.linspace(0, len(a["times"]) - 1, data["summary"]["parameters"]["record"]).round()).astype(int)
        for r in draw:
            t = a["times"][r]
            v = np.log10(np.maximum(a["distance"][r], 1e-12))
            ax.hist(v, bins=30, histtype="step", label=f"t={t:.2g}", color=plt.cm.viridis(r / len(a["times"])))
        ax.set_xlabel("log10 distance to the ridge")
        ax.set_ylabel("samples")
        ax.set_title(f"{k} modes", fontsize=9)
    np.atleast_1d(axes)[0].legend(fontsize=6)
    fig.tight_layout()
    figs["residuals"] = fig
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4))
    for ax, k in zip(np.atleast_1d(axes), keys):
        L = S[k]["loss_vs_training_time"]
        ax.loglog(L["s"], L["total_normal"], "o-", label="normal")
        ax.loglog(L["s"], L["total_tangent"], "s-", label="tangent")
        ax.axhline(L["bias_normal"][0], color="C0", ls=":", label="bias normal")
        ax.axhline(L["bias_tangent"][0], color="C1", ls=":", label="bias tangent")
        ax.set_xlabel("training time s")
        ax.set_ylabel("loss")
        ax.set_title(f"{k} modes: s^2 |score error|^2", fontsize=9)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    figs["losses"] = fig
    figs["align"] = _plot_align(data)
    return figs


def _plot_align(data: dict):
    """Left: the injected experiment, response against magnitude (law: the diagonal). Right: random features,
    measured settled distance against the linearised prediction per sample (junction feet hollow)."""
    import matplotlib.pyplot as plt
    S, A = data["summary"], data["arrays"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
    inj = A["align_injected"]
    labels = {"2_normal": "2 modes, normal: distance", "2_tangent": "2 modes, tangential: foot shift",
              "9_normal": "3x3 grid, normal: distance"}
    for i, (key, lab) in enumerate(labels.items()):
        m, r = inj[f"{key}_magnitudes"], inj[f"{key}_response"]
        keep = ~np.all(np.isnan(r), axis=1)                             # NaN: switched modes (tangential)
        m, q = m[keep], np.nanquantile(r[keep], [0.25, 0.5, 0.75], axis=1)
        ax1.errorbar(m * (1 + 0.04 * (i - 1)), q[1], yerr=[q[1] - q[0], q[2] - q[1]], fmt="os^"[i] + "-",
                     ms=4, capsize=2, label=lab)
    lim = [inj["2_normal_magnitudes"][0] / 2, inj["2_normal_magnitudes"][-1] * 2]
    ax1.plot(lim, lim, "k:", lw=1, label="law: response = injected")
    ax1.set(xscale="log", yscale="log", xlabel="injected offset (length)", ylabel="median response, quartiles")
    I = S["align_law"]["injected"]
    ax1.set_title(f"injected error: slope {I['slope']:.3f} [{I['ci'][0]:.3f}, {I['ci'][1]:.3f}]", fontsize=9)
    ax1.legend(fontsize=7)
    for i, k in enumerate(S["configs"]):
        a = A[f"modes{k}"]
        p, d, sm = a["predicted_offset"][-1], a["distance"][-1], a["smooth"]
        ax2.scatter(p[sm], d[sm], s=8, color=f"C{i}", label=f"{k} modes")
        ax2.scatter(p[~sm], d[~sm], s=8, facecolors="none", edgecolors=f"C{i}")
    lo = min(np.nanmin(A[f"modes{k}"]["predicted_offset"][-1]) for k in S["configs"])
    hi = max(np.nanmax(A[f"modes{k}"]["distance"][-1]) for k in S["configs"])
    ax2.plot([lo, hi], [lo, hi], "k:", lw=1)
    R = S["align_law"]["random_features"]
    ax2.set(xscale="log", yscale="log", xlabel="linearised prediction (model's own error)",
            ylabel="measured distance to the ridge")
    ax2.set_title(f"random features, t_end: R^2 {R['r2']:.2f} filled (foot off junctions), {R['r2_all']:.2f} all",
                  fontsize=9)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def reproduce_ridge_toy(out=None, *, quick: bool = False, seed: int = 0, progress: bool = True) -> dict:
    """Run the study; with ``out`` write ``ridge_toy_*.png``, ``modes{K}.npz`` and ``summary.json``.
    ``quick``: 100 samples, 128 features, 6000 loss samples, 60 sampler steps, 6 training times (CPU seconds)."""
    kw = (dict(n_samples=100, n_features=128, fit_samples=6000, steps=60, record=4, train_points=6, eval_points=60,
               align_records=24, align_n=24, align_steps=60, align_magnitudes=5) if quick else {})
    data = ridge_toy_data(seed=seed, **kw)
    s = data["summary"]
    s["quick"] = bool(quick)
    if out is not None:
        use_agg()
        write_artefacts(out, s, figures={f"ridge_toy_{k}": f for k, f in plot_ridge_toy(data).items()},
                        arrays=data["arrays"])
    return stamp(s)
