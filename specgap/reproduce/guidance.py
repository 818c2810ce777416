"""Study ``guidance``: geometry-reward guidance of a latent diffusion model toward high (or low) local scaling
(docs/theory.md section 7; seed paper section 4).

1. A VAE (:mod:`trained.vae`) on the bundled MNIST digits; the training digits' encoder means are the latents.
2. ``psi`` of the decoder at every latent; five quantile bins of ``psi`` (the seed's five bins) label them.
3. A score network (:func:`trained.nets.build_model`, VE schedule) trained on the latents by
   :func:`trained.train.train`, and a noise-conditional classifier ``c(z_t, t)`` (MLP on ``z_t`` and
   ``log sigma``, cross-entropy) trained on noised latents ``z_t = z + sigma eps`` to predict the bin of ``z``.
4. Classifier guidance: the score ``s(z, t) + rho grad_z log c_b(z, t)`` toward bin ``b`` (top: 4, bottom: 0),
   sampled by the package's reverse SDE (:func:`simulate.samplers.sample_reverse`, common random numbers over
   ``rho``). Per ``rho``: ``psi`` of the decoder at the samples (mean, 95% interval), the Vendi score of the
   decoded images (cosine kernel, :func:`trained.diversity.vendi_score`) and a quality proxy - the mean top-class
   probability of a logistic-regression MNIST classifier on the decoded images.

The summary reports the Spearman correlation of the mean ``psi`` with ``rho`` for each direction.

Run (minutes on a CPU; the notebook of the same name and the study's test run it in quick mode)::

    s = reproduce_guidance("results/guidance", quick=True)
"""
from __future__ import annotations

import time

import numpy as np

from rmt.validation import positive_int

from ._artefacts import stamp, use_agg, write_artefacts

__all__ = ["GuidedScore", "guidance_data", "reproduce_guidance"]

N_BINS = 5


class GuidedScore:
    """A numpy score for :func:`simulate.samplers.sample_reverse`: ``s(z, t) + rho grad_z log c_target(z, t)``.

    ``base``: a :class:`trained.network_spectra.NetworkScore`; ``classifier(z, log_sigma) -> logits``; the
    schedule, ``d`` and scale come from ``base``."""

    def __init__(self, base, classifier, rho: float, target: int):
        self.base, self.classifier, self.rho, self.target = base, classifier, float(rho), int(target)
        self.d, self.schedule = base.d, base.schedule

    @property
    def max_variance(self):
        """The largest data variance of ``base`` (the sampler's prior scale)."""
        return self.base.max_variance

    def mean(self):
        """The data mean of ``base``, shape (d,)."""
        return self.base.mean()

    def score(self, x, t):
        """The guided score at points ``x`` (n, d) and time ``t``: ``base.score(x, t) + rho grad_z log
        softmax(classifier(z, log sigma_t))[target]``, with ``sigma_t = s(t)``; float64 array (n, d)."""
        import torch
        s = self.base.score(x, t)
        if self.rho == 0:
            return s
        z = torch.as_tensor(np.asarray(x), dtype=torch.float32).requires_grad_(True)
        ls = torch.full((z.shape[0], 1), 0.5 * float(np.log(self.schedule.s2(t))))
        logp = torch.log_softmax(self.classifier(torch.cat([z, ls], 1)), dim=1)[:, self.target]
        (g,) = torch.autograd.grad(logp.sum(), z)
        return s + self.rho * g.double().numpy()


def _train_classifier(z, labels, *, steps, sigma_min, sigma_max, seed):
    """The noise-conditional classifier ``c(z_t, log sigma) -> logits`` of the ``N_BINS`` bins, trained by
    cross-entropy on ``z_t = z + sigma eps`` with ``log sigma`` uniform in ``[log sigma_min, log sigma_max]``
    (Adam, batches of 256); returns the frozen network and the per-step losses (steps,)."""
    import torch
    from torch import nn
    k = z.shape[1]
    with torch.random.fork_rng(devices=[]):       # the weights from ``seed``; torch's global generator restored
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(k + 1, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, N_BINS))
    Z, Y = torch.as_tensor(z, dtype=torch.float32), torch.as_tensor(labels)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    lo, hi = np.log(sigma_min), np.log(sigma_max)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, Z.shape[0], (256,), generator=g)
        ls = lo + (hi - lo) * torch.rand((256, 1), generator=g)
        zt = Z[idx] + ls.exp() * torch.randn((256, k), generator=g)
        loss = nn.functional.cross_entropy(net(torch.cat([zt, ls], 1)), Y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return net.eval().requires_grad_(False), np.array(losses)


def guidance_data(*, vae_steps: int = 3000, score_steps: int = 3000, clf_steps: int = 2000, n_latents: int = 4000,
                  n_samples: int = 128, sampler_steps: int = 200, rhos=(0.0, 0.5, 1.0, 2.0, 4.0, 8.0), latent: int = 16,
                  n_judge: int = 4000, seed: int = 0, progress: bool = False) -> dict:
    """All the numbers of the ``guidance`` study (no plotting): train the VAE, the score network and the
    classifier on its latents (``_latent_models``), sample with guidance toward each end for every ``rho``
    (``_guided_rows``) and summarise.

    Parameters
    ----------
    vae_steps, score_steps, clf_steps : training steps of the VAE, the latent score network and the classifier
    n_latents : training digits encoded as the latents;  latent : latent dimension of the VAE
    n_samples, sampler_steps : guided samples per ``rho`` and reverse-SDE steps (common noise over ``rho``)
    rhos : guidance strengths;  n_judge : MNIST digits the logistic-regression quality judge is fitted on
    seed : seed of every part;  progress : progress bars

    Returns
    -------
    dict with ``summary`` (JSON-ready), ``samples`` (``(direction, rho) -> (z, psi, images)``), ``edges`` (the
    psi bin edges), ``psi_train`` (psi at the latents) and ``vae``.
    """
    from sklearn.linear_model import LogisticRegression
    t0 = time.perf_counter()
    n = {name: positive_int(name, value) for name, value in (
        ("vae_steps", vae_steps), ("score_steps", score_steps), ("clf_steps", clf_steps), ("n_latents", n_latents),
        ("n_samples", n_samples), ("sampler_steps", sampler_steps), ("n_judge", n_judge))}
    m = _latent_models(vae_steps=n["vae_steps"], score_steps=n["score_steps"], clf_steps=n["clf_steps"],
                       n_latents=n["n_latents"], latent=latent, seed=seed, progress=progress)
    xtr, ytr, xte, yte = m["mnist"]
    judge = LogisticRegression(max_iter=300).fit(xtr[:n["n_judge"]], ytr[:n["n_judge"]])
    judge_acc = float(judge.score(xte, yte))
    rows, samples = _guided_rows(m, judge, rhos, n_samples=n["n_samples"], sampler_steps=n["sampler_steps"],
                                 seed=seed)
    from scipy.stats import spearmanr
    trend = {d: float(spearmanr([r["rho"] for r in rows[d]], [r["psi_mean"] for r in rows[d]]).statistic)
             for d in rows}
    from trained.train import loss_summary
    psi, edges = m["psi"], m["edges"]
    summary = {
        "study": "guidance",
        "parameters": {"vae_steps": vae_steps, "score_steps": score_steps, "clf_steps": clf_steps,
                       "n_latents": int(m["Z"].shape[0]), "n_samples": n_samples, "sampler_steps": sampler_steps,
                       "rhos": [float(r) for r in rhos], "latent": latent, "seed": seed, "bins": N_BINS,
                       "n_judge": n_judge,
                       "sampler": "reverse SDE (simulate.samplers.sample_reverse), VE, t_end 1e-4, common noise"},
        "psi_bins": {"edges": edges.tolist(), "train_psi_mean": float(psi.mean()), "train_psi_std": float(psi.std())},
        "classifier": {"loss_final": loss_summary(m["clf_loss"])["loss_final"], "accuracy_at_sigma_0.01": m["acc0"]},
        "quality_judge": {"model": "logistic regression on MNIST pixels", "test_accuracy": judge_acc},
        "score_train": {"loss_final": loss_summary(m["score_loss"])["loss_final"]},
        "per_rho": rows,
        "spearman_psi_vs_rho": trend,
        "runtime_s": round(time.perf_counter() - t0, 2),
    }
    return {"summary": summary, "samples": samples, "edges": edges, "psi_train": psi, "vae": m["vae"]}


def _latent_models(*, vae_steps: int, score_steps: int, clf_steps: int, n_latents: int, latent: int, seed: int,
                   progress: bool) -> dict:
    """Steps 1-3 of the study: the VAE on MNIST, its latents ``Z`` (encoder means of ``n_latents`` digits), psi
    of the decoder there and its quantile bins, the latent score network (VE) and the classifier. Returns a dict
    of them (``mnist``, ``vae``, ``Z``, ``psi``, ``edges``, ``labels``, ``base``, ``clf``, ``acc0``,
    ``score_loss``, ``clf_loss``)."""
    import torch

    from trained.data import TensorData
    from trained.descriptors import local_scaling
    from trained.network_spectra import NetworkScore
    from trained.nets import build_model
    from trained.train import TrainConfig, train
    from trained.vae import VAE, mnist_pixels, train_vae
    mnist = mnist_pixels(seed=seed)
    xtr = mnist[0]
    vae = VAE({"latent": latent}, seed=seed)
    train_vae(vae, xtr, steps=vae_steps, seed=seed, progress=progress)
    vae.eval().requires_grad_(False)
    with torch.no_grad():
        Z = vae.encode(torch.as_tensor(xtr[:n_latents]))[0].double().numpy()
    psi = local_scaling(vae.decoder, Z)
    edges = np.quantile(psi, np.linspace(0, 1, N_BINS + 1)[1:-1])
    labels = np.searchsorted(edges, psi)
    sd = float(Z.std())
    data = TensorData(torch.as_tensor(Z, dtype=torch.float32), {"name": "vae-latents", "n": int(Z.shape[0])})
    model = build_model({"arch": "mlp", "net": {"d": latent, "width": 128, "depth": 2, "activation": "silu"},
                         "schedule": "ve", "sigma_data": sd}, seed=seed)
    res = train(model, data, TrainConfig(steps=score_steps, batch=256, lr=2e-3, seed=seed, sigma_min=0.01,
                                         sigma_max=10 * sd), None, device="cpu", progress=progress)
    clf, clf_loss = _train_classifier(Z, labels, steps=clf_steps, sigma_min=0.01, sigma_max=10 * sd, seed=seed)
    with torch.no_grad():
        acc0 = float((clf(torch.cat([torch.as_tensor(Z, dtype=torch.float32),
                                     torch.full((Z.shape[0], 1), float(np.log(0.01)))], 1)).argmax(1).numpy()
                      == labels).mean())
    return {"mnist": mnist, "vae": vae, "Z": Z, "psi": psi, "edges": edges, "labels": labels,
            "base": NetworkScore(res.ema.requires_grad_(False)), "clf": clf, "acc0": acc0,
            "score_loss": res.losses, "clf_loss": clf_loss}


def _guided_rows(m: dict, judge, rhos, *, n_samples: int, sampler_steps: int, seed: int):
    """Step 4: for each direction (``top``: the highest psi bin, ``bottom``: the lowest) and ``rho``, guided
    samples (common noise ``seed``), psi of the decoder there (mean, 95% interval, bin fractions), the Vendi score
    and the judge's mean confidence on the decoded images. Returns ``(rows, samples)``: ``rows[direction]`` one
    dict per ``rho``, ``samples[(direction, rho)] = (z, psi, images)``."""
    import torch

    from simulate.agreement import mean_sem
    from simulate.samplers import sample_reverse
    from trained.descriptors import local_scaling
    from trained.diversity import vendi_score
    vae, edges = m["vae"], m["edges"]
    rows, samples = {}, {}
    for direction, target in (("top", N_BINS - 1), ("bottom", 0)):
        rows[direction] = []
        for rho in rhos:
            if rho == 0 and direction == "bottom" and "top" in samples:      # the same unguided run
                rows[direction].append(rows["top"][0])
                samples[(direction, rho)] = samples[("top", 0.0)]
                continue
            out = sample_reverse(GuidedScore(m["base"], m["clf"], rho, target), n_samples, method="sde",
                                 steps=sampler_steps, t_end=1e-4, rng=seed)
            zs = out.denoised
            p = local_scaling(vae.decoder, zs)
            with torch.no_grad():
                imgs = vae.decoder(torch.as_tensor(zs, dtype=torch.float32)).clamp(0, 1).numpy()
            mu, se = mean_sem(p)
            rows[direction].append({"rho": float(rho), "psi_mean": float(mu),
                                    "psi_ci95": [float(mu - 1.96 * se), float(mu + 1.96 * se)],
                                    "top_bin_fraction": float(np.mean(p > edges[-1])),
                                    "bottom_bin_fraction": float(np.mean(p < edges[0])),
                                    "vendi": vendi_score(imgs.astype(np.float64) + 1e-9),
                                    "quality_confidence": float(judge.predict_proba(imgs).max(1).mean())})
            samples[(direction, float(rho))] = (zs, p, imgs)
    return rows, samples


def plot_guidance(data: dict) -> dict:
    """The figures of :func:`guidance_data`'s result: ``guidance`` (psi of the samples with its 95% interval, the
    Vendi score and the judge's confidence against ``rho``, toward each end) and ``guidance_samples`` (16 decoded
    samples per direction and ``rho``). Returns ``{name: Figure}``."""
    import matplotlib.pyplot as plt
    s = data["summary"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for d, c in (("top", "C3"), ("bottom", "C0")):
        R = s["per_rho"][d]
        x = [r["rho"] for r in R]
        m = np.array([r["psi_mean"] for r in R])
        lo, hi = np.array([r["psi_ci95"] for r in R]).T
        axes[0].plot(x, m, "o-", color=c, label=f"toward the {d} bin")
        axes[0].fill_between(x, lo, hi, color=c, alpha=0.25)
        axes[1].plot(x, [r["vendi"] for r in R], "o-", color=c)
        axes[2].plot(x, [r["quality_confidence"] for r in R], "o-", color=c)
    for e in data["edges"]:
        axes[0].axhline(e, color="0.8", lw=0.6)
    for ax, t, y in zip(axes, ("psi of the samples", "Vendi score (cosine)", "classifier confidence"),
                        (r"$\psi$", "Vendi score", "confidence")):
        ax.set_xlabel(r"guidance strength $\rho$")
        ax.set_ylabel(y)
        ax.set_title(t)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    figs = {"guidance": fig}
    rhos = sorted({k[1] for k in data["samples"]})
    fig, axes = plt.subplots(2, len(rhos), figsize=(1.6 * len(rhos), 3.4))
    for i, d in enumerate(("top", "bottom")):
        for j, r in enumerate(rhos):
            imgs = data["samples"][(d, r)][2][:16].reshape(-1, 28, 28)
            grid = np.vstack([np.hstack(list(imgs[k:k + 4])) for k in range(0, 16, 4)])
            axes[i, j].imshow(grid, cmap="gray")
            axes[i, j].set_axis_off()
            axes[i, j].set_title(f"{d} rho={r:g}", fontsize=7)
    fig.tight_layout()
    figs["guidance_samples"] = fig
    return figs


def reproduce_guidance(out=None, *, quick: bool = False, seed: int = 0, progress: bool = True) -> dict:
    """Run ``guidance``; with ``out`` write ``guidance*.png``, ``samples.npz``, ``vae.pt`` and ``summary.json``.
    ``quick``: short training, 600 latents, 32 samples, 40 sampler steps, rho in {0, 2, 8}."""
    kw = (dict(vae_steps=300, score_steps=400, clf_steps=400, n_latents=600, n_samples=32, sampler_steps=40,
               n_judge=1500, rhos=(0.0, 2.0, 8.0)) if quick else {})
    data = guidance_data(seed=seed, progress=progress, **kw)
    s = data["summary"]
    s["quick"] = bool(quick)
    if out is not None:
        from pathlib import Path

        from trained.vae import save_vae
        use_agg()
        Path(out).mkdir(parents=True, exist_ok=True)
        save_vae(data["vae"], Path(out) / "vae.pt")
        arrays = {f"{k}_{d}_rho{r:g}": v for (d, r), vals in data["samples"].items()
                  for k, v in zip(("z", "psi", "images"), vals)}
        write_artefacts(out, s, figures=plot_guidance(data), arrays={"samples": arrays}, extra_files=["vae.pt"])
    return stamp(s)
