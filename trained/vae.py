"""A small MLP variational autoencoder for latent diffusion studies (docs/theory.md section 8).

Encoder ``x (D) -> 256 -> (mu, log var)`` (latent ``L``), decoder ``z -> 256 -> D`` with ``tanh`` output (data
in ``[-1, 1]``). Loss per image: ``|x - decoder(z)|^2 / (2 sigma_x^2) + KL(N(mu, var) || N(0, I))``, ``z`` by the
reparametrisation trick, ``sigma_x`` fixed (default 0.3). The latent codes used downstream are the encoder
means.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rmt._validate import positive, positive_int

__all__ = ["VAE", "train_vae"]


class VAE(nn.Module):
    """MLP VAE on flat inputs of size ``d`` with latent size ``latent``."""

    def __init__(self, d: int, latent: int = 16, width: int = 256):
        super().__init__()
        self.d, self.latent = positive_int("d", d), positive_int("latent", latent)
        width = positive_int("width", width)
        self.enc = nn.Sequential(nn.Linear(self.d, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                                 nn.Linear(width, 2 * self.latent))
        self.dec = nn.Sequential(nn.Linear(self.latent, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                                 nn.Linear(width, self.d), nn.Tanh())

    def encode(self, x):
        """``(mu, log var)`` of ``q(z | x)``, each (B, latent)."""
        h = self.enc(x.reshape(x.shape[0], -1))
        return h[:, :self.latent], h[:, self.latent:].clamp(-12, 8)

    def decode(self, z):
        return self.dec(z)

    def loss(self, x, sigma_x: float = 0.3):
        x = x.reshape(x.shape[0], -1)
        mu, logv = self.encode(x)
        z = mu + torch.exp(0.5 * logv) * torch.randn_like(mu)
        rec = ((x - self.decode(z)) ** 2).sum(1) / (2 * sigma_x ** 2)
        kl = 0.5 * (mu ** 2 + logv.exp() - 1 - logv).sum(1)
        return (rec + kl).mean()


def train_vae(x, latent: int = 16, epochs: int = 20, batch: int = 128, lr: float = 1e-3, sigma_x: float = 0.3,
              seed: int = 0) -> tuple[VAE, np.ndarray]:
    """Train a :class:`VAE` on ``x`` (tensor (n, ...) in ``[-1, 1]``) with Adam; returns (model in eval mode,
    per-epoch mean losses)."""
    torch.manual_seed(int(seed))
    x = torch.as_tensor(x, dtype=torch.float32).reshape(len(x), -1)
    model = VAE(x.shape[1], latent)
    opt = torch.optim.Adam(model.parameters(), lr=positive("lr", lr))
    g = torch.Generator().manual_seed(int(seed))
    losses = []
    for _ in range(positive_int("epochs", epochs)):
        perm = torch.randperm(len(x), generator=g)
        tot = 0.0
        for i in range(0, len(x), positive_int("batch", batch)):
            loss = model.loss(x[perm[i:i + batch]], sigma_x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(perm[i:i + batch])
        losses.append(tot / len(x))
    return model.eval().requires_grad_(False), np.asarray(losses)
