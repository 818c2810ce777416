"""Study ``relu-partition``: the linear regions of a small ReLU generator ``G: R^2 -> R^3``, the local scaling
``psi`` of each region, and the density of generated samples against ``psi`` (docs/theory.md section 7).

On each linear region ``R`` (one activation pattern) ``G`` is affine with a ``3 x 2`` Jacobian ``J_R``; by the
area formula the generated density on the image surface is ``p_x(G(z)) = p_z(z) / exp(psi_R)`` with
``psi_R = sum log sigma_i(J_R)``. The study

1. enumerates the regions met by a grid on ``[-L, L]^2`` (activation patterns of every grid point);
2. computes ``psi_R`` at one point per region through the Jacobian engine (:mod:`trained.descriptors`);
3. draws ``z ~ N(0, I_2)``, pushes it through ``G`` and estimates the output density of each region as
   (fraction of samples in ``R``) / (image area of ``R``) with image area = ``area_z(R) exp(psi_R)``;
4. reports the rank correlation between ``psi_R`` and that density (the paper's finding: negative, density
   is inversely related to local scaling) and the local complexity ``delta`` over the grid.

Run (minutes on a CPU; the notebook of the same name and the study's test run it in quick mode)::

    summary = reproduce_relu_partition("results/relu-partition", quick=True)
"""
from __future__ import annotations

import time

import numpy as np

from rmt.validation import positive, positive_int

from ._artefacts import stamp, use_agg, write_artefacts

__all__ = ["relu_generator", "activation_patterns", "relu_partition_data", "plot_relu_partition",
           "reproduce_relu_partition"]


def relu_generator(widths=(16, 16), seed: int = 0, scale: float = 1.0):
    """A ReLU MLP ``R^2 -> R^3`` (float64) with Gaussian weights ``N(0, scale^2/fan_in)`` and biases ``N(0, 0.3^2)``."""
    import torch
    g = torch.Generator().manual_seed(positive_int("seed", seed, minimum=0))
    layers, d = [], 2
    for w in widths:
        lin = torch.nn.Linear(d, positive_int("widths", w)).double()
        with torch.no_grad():
            lin.weight.copy_(scale * torch.randn(w, d, generator=g, dtype=torch.float64) / np.sqrt(d))
            lin.bias.copy_(0.3 * torch.randn(w, generator=g, dtype=torch.float64))
        layers += [lin, torch.nn.ReLU()]
        d = w
    out = torch.nn.Linear(d, 3).double()
    with torch.no_grad():
        out.weight.copy_(torch.randn(3, d, generator=g, dtype=torch.float64) / np.sqrt(d))
        out.bias.zero_()
    return torch.nn.Sequential(*layers, out).eval().requires_grad_(False)


def activation_patterns(net, z) -> np.ndarray:
    """Boolean activation pattern of every hidden unit at the points ``z`` (n, 2): (n, units)."""
    import torch
    h, pats = torch.as_tensor(np.asarray(z, dtype=float)), []
    with torch.no_grad():
        for layer in net:
            h = layer(h)
            if isinstance(layer, torch.nn.Linear) and layer is not net[-1]:
                pats.append((h > 0).numpy())
    return np.concatenate(pats, axis=1)


def relu_partition_data(*, widths=(16, 16), seed: int = 0, L: float = 3.0, grid: int = 400, samples: int = 200_000,
                        radius: float = 0.05, progress: bool = False) -> dict:
    """All numbers of the study (no plotting); see the module docstring."""
    from scipy import stats

    from trained.descriptors import local_complexity, local_geometry
    t0 = time.perf_counter()
    L, grid, samples = positive("L", L), positive_int("grid", grid, minimum=10), positive_int("samples", samples)
    net = relu_generator(widths, seed)
    ax = np.linspace(-L, L, grid)
    Z = np.stack(np.meshgrid(ax, ax, indexing="xy"), -1).reshape(-1, 2)
    pat = activation_patterns(net, Z)
    keys, region, cells = np.unique(pat, axis=0, return_inverse=True, return_counts=True)
    region = region.ravel()
    rep = np.array([np.flatnonzero(region == r)[0] for r in range(len(keys))])
    psi = local_geometry(net, Z[rep])["psi"]                                  # engine, one point per region
    cell = (2 * L / (grid - 1)) ** 2
    area_z = cells * cell
    # generated samples: which region each z ~ N(0, I) falls in (the regions seen on the grid; outside -> dropped)
    zs = np.random.default_rng([seed, 17]).standard_normal((samples, 2))
    inside = np.all(np.abs(zs) <= L, axis=1)
    lookup = {k.tobytes(): i for i, k in enumerate(keys)}
    pz = activation_patterns(net, zs[inside])
    idx = np.array([lookup.get(p.tobytes(), -1) for p in pz])
    counts = np.bincount(idx[idx >= 0], minlength=len(keys))
    # keep regions with enough samples and grid cells for the density to be estimated
    ok = (counts >= 20) & (cells >= 20)
    dens = counts[ok] / samples / (area_z[ok] * np.exp(psi[ok]))             # per unit image area
    rho = stats.spearmanr(psi[ok], dens).statistic
    sub = np.random.default_rng([seed, 19]).choice(len(Z), size=min(len(Z), 4000), replace=False)
    lc = local_complexity(net, Z[sub], radius=radius, n_directions=2, seed=seed)
    summary = {
        "study": "relu-partition", "parameters": {"widths": list(widths), "seed": seed, "L": L, "grid": grid,
                                                  "samples": samples, "radius": radius},
        "regions": int(len(keys)), "regions_used": int(ok.sum()),
        "psi": {"min": float(psi.min()), "max": float(psi.max()), "median": float(np.median(psi))},
        "spearman_psi_vs_density": float(rho),
        "delta": {"mean": float(lc["delta"].mean()), "max": int(lc["delta"].max()), "radius": radius,
                  "points": int(sub.size)},
        "runtime_s": round(time.perf_counter() - t0, 2),
    }
    return {"net": net, "Z": Z, "grid_axis": ax, "region": region, "psi_region": psi, "cells": cells,
            "counts": counts, "used": ok, "density": dens, "delta_points": Z[sub], "delta": lc["delta"],
            "summary": summary}


def plot_relu_partition(data: dict) -> dict:
    """``regions`` (psi over the input grid, region boundaries visible as colour jumps) and ``density``
    (region density of generated samples against psi, log scale)."""
    import matplotlib.pyplot as plt
    n = data["grid_axis"].size
    psi_grid = data["psi_region"][data["region"]].reshape(n, n)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    L = data["grid_axis"][-1]
    im = axes[0].imshow(psi_grid, origin="lower", extent=(-L, L, -L, L), cmap="viridis")
    fig.colorbar(im, ax=axes[0], label=r"$\psi$ of the region")
    axes[0].set_title(f"{data['summary']['regions']} linear regions of G: R^2 -> R^3")
    axes[0].set_xlabel("$z_1$")
    axes[0].set_ylabel("$z_2$")
    sc = axes[1].scatter(data["delta_points"][:, 0], data["delta_points"][:, 1], c=data["delta"], s=3, cmap="magma")
    fig.colorbar(sc, ax=axes[1], label=r"local complexity $\delta$")
    axes[1].set_title(f"delta at r = {data['summary']['delta']['radius']}")
    axes[1].set_xlabel("$z_1$")
    axes[1].set_ylabel("$z_2$")
    fig.tight_layout(pad=1.2)                   # the default pad clips z_1 under the equal-aspect image
    figs = {"regions": fig}
    fig, ax = plt.subplots(figsize=(5, 4))
    ok = data["used"]
    ax.scatter(data["psi_region"][ok], data["density"], s=8)
    ax.set_yscale("log")
    ax.set_xlabel(r"local scaling $\psi$ of the region")
    ax.set_ylabel("generated density per unit image area")
    ax.set_title(f"Spearman correlation of psi and density: {data['summary']['spearman_psi_vs_density']:.2f}",
                 fontsize=10)
    fig.tight_layout()
    figs["density"] = fig
    return figs


def reproduce_relu_partition(out=None, *, quick: bool = False, seed: int = 0, progress: bool = True) -> dict:
    """Run the study; with ``out`` write ``relu_partition_*.png``, ``regions.npz`` and ``summary.json``.
    ``quick``: a 150 x 150 grid and 50,000 samples (seconds)."""
    kw = dict(grid=150, samples=50_000) if quick else dict(grid=400, samples=200_000)
    data = relu_partition_data(seed=seed, progress=progress, **kw)
    s = data["summary"]
    s["quick"] = bool(quick)
    if out is not None:
        use_agg()
        write_artefacts(out, s, figures={f"relu_partition_{k}": f for k, f in plot_relu_partition(data).items()},
                        arrays={"regions": {"grid_axis": data["grid_axis"], "region": data["region"],
                                            "psi_region": data["psi_region"], "cells": data["cells"],
                                            "counts": data["counts"]}})
    return stamp(s)
