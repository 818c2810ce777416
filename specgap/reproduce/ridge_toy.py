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

>>> summary = reproduce_ridge_toy("results/ridge-toy", quick=True)
"""
from __future__ import annotations

import time

import numpy as np

from rmt._validate import positive_int

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


def _one(K, *, n_samples, n_features, fit_samples, train_time, train_grid, steps, record, tau_range, eval_points,
         seed):
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
    rec = sch.t_of_tau(np.geomspace(tau_range[0], tau_range[1], record + 1)[:-1])
    dyn = reach_align_slide(Y, net, 1, n=n_samples, record_times=rec, steps=steps, t_start=t_start, t_end=t_end,
                            rng=seed + 2, radius=0.05 * spacing)
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
            e = error_split(rf, Y, xe, float(t), s=float(s), k=1)
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
        "dynamics": dyn.summary(),
        "loss_vs_training_time": {"s": list(map(float, train_grid)), **losses},
    }
    arrays = {"modes": Y, "samples": x, "times": dyn.times, "states": dyn.states, "distance": dyn.distance,
              "residual": resid,
              "phase": dyn.phase, "train_time": np.asarray(train_grid, float),
              **{f"loss_{k}": np.asarray(v) for k, v in losses.items()}}
    return summ, arrays


def ridge_toy_data(*, n_samples=400, n_features=512, fit_samples=40000, train_time=None, steps=200, record=8,
                   tau_range=(1e-3, 10.0), train_points=11, eval_points=200, seed=0, configs=CONFIGS) -> dict:
    """Run the study for each mode count in ``configs`` (no plotting). ``train_time`` (``s``) defaults to the
    largest of the training-time grid (``train_points`` values in ``10^-1 .. 10^4``); the losses are averaged
    over ``eval_points`` noised training points at each of 4 times."""
    t0 = time.perf_counter()
    grid = np.geomspace(1e-1, 1e4, positive_int("train_points", train_points))
    train_time = float(grid[-1] if train_time is None else train_time)
    kw = dict(n_samples=positive_int("n_samples", n_samples), n_features=positive_int("n_features", n_features),
              fit_samples=positive_int("fit_samples", fit_samples), train_time=train_time, train_grid=grid,
              steps=positive_int("steps", steps), record=positive_int("record", record),
              tau_range=tuple(tau_range), eval_points=positive_int("eval_points", eval_points), seed=int(seed))
    per, arrays = {}, {}
    for K in configs:
        per[str(K)], arrays[f"modes{K}"] = _one(int(K), **kw)
    summary = {"study": "ridge-toy",
               "parameters": {**{k: v for k, v in kw.items() if k != "train_grid"}, "train_grid": grid.tolist(),
                              "configs": list(configs)},
               "configs": per, "runtime_s": round(time.perf_counter() - t0, 2)}
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
    fig.tight_layout()
    figs["counts"] = fig
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4))
    for ax, k in zip(np.atleast_1d(axes), keys):
        a = A[f"modes{k}"]
        for r, t in enumerate(a["times"]):
            v = np.log10(np.maximum(a["distance"][r], 1e-12))
            ax.hist(v, bins=30, histtype="step", label=f"t={t:.2g}", color=plt.cm.viridis(r / len(a["times"])))
        ax.set_xlabel("log10 distance to the ridge")
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
        ax.set_title(f"{k} modes: s^2 |score error|^2", fontsize=9)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    figs["losses"] = fig
    return figs


def reproduce_ridge_toy(out=None, *, quick: bool = False, seed: int = 0, progress: bool = True) -> dict:
    """Run the study; with ``out`` write ``ridge_toy_*.png``, ``modes{K}.npz`` and ``summary.json``.
    ``quick``: 100 samples, 128 features, 6000 loss samples, 60 sampler steps, 6 training times (CPU seconds)."""
    kw = (dict(n_samples=100, n_features=128, fit_samples=6000, steps=60, record=4, train_points=6, eval_points=60)
          if quick else {})
    data = ridge_toy_data(seed=seed, **kw)
    s = data["summary"]
    s["quick"] = bool(quick)
    if out is not None:
        use_agg()
        write_artefacts(out, s, figures={f"ridge_toy_{k}": f for k, f in plot_ridge_toy(data).items()},
                        arrays=data["arrays"])
    return stamp(s)
