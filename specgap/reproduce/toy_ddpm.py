"""Study ``toy-ddpm``: local geometry descriptors of a 2-D diffusion model trained on a circle, on and off the
data manifold, against the noise level (docs/theory.md section 7).

A ReLU score network (:class:`trained.nets.ResMLP`, exact local complexity) is trained by denoising score
matching on points of the unit circle. At noise levels ``t`` the descriptors ``psi``, ``nu`` and ``delta`` of the
one-step reverse map ``x_t -> x_{t/2}`` (:func:`trained.descriptors.sampler_map`) are measured on a grid of
inputs; a grid point is *on* the manifold when it lies within ``band`` (0.05) of the circle and *off* when it
lies farther than ``3 band``. The separation of the two groups is the AUROC of each descriptor (Mann-Whitney
``U / (n_on n_off)``, ties counted half), reported per ``t`` with the level of maximal separation
``max |AUROC - 1/2|``.

Run (minutes on a CPU; the notebook of the same name and the study's test run it in quick mode)::

    summary = reproduce_toy_ddpm("results/toy-ddpm", quick=True)
"""
from __future__ import annotations

import time

import numpy as np

from rmt.validation import positive, positive_int

from ._artefacts import stamp, use_agg, write_artefacts

__all__ = ["circle_data", "auroc", "separation", "toy_ddpm_data", "plot_toy_ddpm", "reproduce_toy_ddpm"]


def circle_data(n: int = 4000, seed: int = 0):
    """``n`` points on the unit circle (uniform angle) as a :class:`trained.data.TensorData`."""
    import torch

    from trained.data import TensorData
    n = positive_int("n", n)
    a = np.random.default_rng([seed, 23]).uniform(0, 2 * np.pi, n)
    x = torch.as_tensor(np.stack([np.cos(a), np.sin(a)], 1), dtype=torch.float32)
    return TensorData(x, {"name": "circle", "n": n, "seed": seed})


def separation(a: float) -> dict:
    """An AUROC of on- against off-manifold points read both ways: ``separation = max(a, 1 - a)`` (1 = perfect,
    0.5 = none) and the side the descriptor is larger on (``on_manifold``: ``higher``, ``lower`` or ``equal``)."""
    return {"auroc": a, "separation": max(a, 1.0 - a),
            "on_manifold": "higher" if a > 0.5 else "lower" if a < 0.5 else "equal"}


def auroc(pos, neg) -> float:
    """Area under the ROC curve of scores ``pos`` against ``neg``: ``P(pos > neg) + P(pos = neg)/2``
    (the Mann-Whitney statistic divided by ``n_pos n_neg``), by ranks."""
    from scipy.stats import rankdata
    pos, neg = np.asarray(pos, float).ravel(), np.asarray(neg, float).ravel()
    if pos.size == 0 or neg.size == 0:
        raise ValueError("pos and neg must both be non-empty")
    r = rankdata(np.concatenate([pos, neg]))
    return float((r[:pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def toy_ddpm_data(*, steps: int = 4000, n_train: int = 4000, grid: int = 61, times=None, band: float = 0.05,
                  radius: float = 0.05, seed: int = 0, progress: bool = False) -> dict:
    """Train the network and measure the descriptors (no plotting)."""
    from trained.descriptors import local_complexity, local_geometry, sampler_map
    from trained.nets import build_model
    from trained.train import TrainConfig, loss_summary, train
    t0 = time.perf_counter()
    band, radius = positive("band", band), positive("radius", radius)
    data = circle_data(n_train, seed)
    model = build_model({"arch": "mlp", "net": {"d": 2, "width": 64, "depth": 2, "activation": "relu"},
                         "schedule": "ve", "sigma_data": data.sigma_data}, seed=seed)
    res = train(model, data, TrainConfig(steps=positive_int("steps", steps), batch=256, lr=2e-3, seed=seed,
                                         sigma_min=0.01, sigma_max=3.0), None, device="cpu", progress=progress)
    net = res.ema.requires_grad_(False)
    times = np.geomspace(1e-3, 1.0, 7) if times is None else np.asarray(times, dtype=float)
    ax = np.linspace(-1.6, 1.6, positive_int("grid", grid, minimum=5))
    X = np.stack(np.meshgrid(ax, ax, indexing="xy"), -1).reshape(-1, 2)
    dist = np.abs(np.linalg.norm(X, axis=1) - 1.0)
    on, off = dist < band, dist > 3 * band
    per_t, fields = [], {}
    for t in times:
        f = sampler_map(net, float(t))
        g = local_geometry(f, X)
        lc = local_complexity(f, X, radius=radius, n_directions=2, seed=seed)
        vals = {"psi": g["psi"], "nu": g["nu"], "delta": lc["delta"].astype(float)}
        row = {"t": float(t)}
        for k, v in vals.items():
            row[k] = {"on_mean": float(v[on].mean()), "off_mean": float(v[off].mean()),
                      "auroc_on_vs_off": auroc(v[on], v[off])}
            fields.setdefault(k, []).append(v)
        per_t.append(row)
    best = {k: max(per_t, key=lambda r: abs(r[k]["auroc_on_vs_off"] - 0.5)) for k in ("psi", "nu", "delta")}
    L = res.losses
    summary = {
        "study": "toy-ddpm",
        "parameters": {"steps": steps, "n_train": n_train, "grid": int(ax.size), "times": times.tolist(), "band": band,
                       "radius": radius, "seed": seed, "net": net.config},
        "train": loss_summary(L),
        "points": {"on": int(on.sum()), "off": int(off.sum())},
        "per_t": per_t,
        "max_separation": {k: {"t": b["t"], **separation(b[k]["auroc_on_vs_off"])} for k, b in best.items()},
        "runtime_s": round(time.perf_counter() - t0, 2),
    }
    return {"X": X, "axis": ax, "on": on, "off": off, "times": times,
            "fields": {k: np.stack(v) for k, v in fields.items()}, "net": net, "summary": summary}


def plot_toy_ddpm(data: dict) -> dict:
    """``fields`` (psi, nu, delta over the grid at three noise levels) and ``separation`` (AUROC against t)."""
    import matplotlib.pyplot as plt
    n, ts = data["axis"].size, data["times"]
    cols = [0, len(ts) // 2, len(ts) - 1]
    fig, axes = plt.subplots(3, 3, figsize=(10, 9))
    L = data["axis"][-1]
    th = np.linspace(0, 2 * np.pi, 200)
    for i, k in enumerate(("psi", "nu", "delta")):
        for j, c in enumerate(cols):
            im = axes[i, j].imshow(data["fields"][k][c].reshape(n, n), origin="lower", extent=(-L, L, -L, L))
            axes[i, j].plot(np.cos(th), np.sin(th), "w--", lw=0.6)
            axes[i, j].set_title(f"{k}, t = {ts[c]:.3g}", fontsize=9)
            fig.colorbar(im, ax=axes[i, j], fraction=0.046)
    fig.tight_layout()
    figs = {"fields": fig}
    fig, ax = plt.subplots(figsize=(5, 3.8))
    s = data["summary"]
    for k in ("psi", "nu", "delta"):
        ax.plot(ts, [r[k]["auroc_on_vs_off"] for r in s["per_t"]], "o-", label=k)
    ax.axhline(0.5, color="0.6", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("noise level t")
    ax.set_ylabel("AUROC on- vs off-manifold")
    ax.legend()
    fig.tight_layout()
    figs["separation"] = fig
    return figs


def reproduce_toy_ddpm(out=None, *, quick: bool = False, seed: int = 0, progress: bool = True) -> dict:
    """Run the study; with ``out`` write ``toy_ddpm_*.png``, ``fields.npz`` and ``summary.json``.
    ``quick``: 1500 training steps and a 41 x 41 grid (CPU seconds)."""
    kw = dict(steps=1500, grid=41) if quick else dict(steps=6000, grid=81, times=np.geomspace(1e-3, 1.0, 13))
    data = toy_ddpm_data(seed=seed, progress=progress, **kw)
    s = data["summary"]
    s["quick"] = bool(quick)
    if out is not None:
        use_agg()
        write_artefacts(out, s, figures={f"toy_ddpm_{k}": f for k, f in plot_toy_ddpm(data).items()},
                        arrays={"fields": {"x": data["X"], "t": data["times"], "on": data["on"], "off": data["off"],
                                           **data["fields"]}})
    return stamp(s)
