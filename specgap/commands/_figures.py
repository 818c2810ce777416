"""The figures of the commands that are not reproductions (``theory density``, ``spectra``, ``train``).

Each function returns a matplotlib Figure (the caller writes it with :func:`._common.write_figure`); the density
panels of ``simulate spectra`` are those of Fig. 2 (:func:`specgap.reproduce.fig2.plot_density_panels`).
"""
from __future__ import annotations

import numpy as np

__all__ = ["theory_density_figure", "sorted_spectra_figure", "loss_figure"]


def _pyplot():
    from ..reproduce._artefacts import use_agg
    use_agg()
    import matplotlib.pyplot as plt
    return plt


def theory_density_figure(eta, density, bulks, spike_mass: float, title: str):
    """The density of ``eta`` (the spectrum of ``-Jn``), one curve per bulk (``bulks``: dicts with ``lower``,
    ``upper``, ``mass``, ``resolved``), log scale, the spike at 1 as a dashed line; ``title`` names t and tau.
    Where a bulk is squeezed against 1 (narrower than 2% of [0, 1], above 0.9) a second panel shows the
    density against ``1 - eta`` on a log scale."""
    from ..reproduce.fig2 import bulk_place
    plt = _pyplot()
    eta, density = np.asarray(eta, float), np.asarray(density, float)
    shown = [(k, b, (eta >= b["lower"]) & (eta <= b["upper"]) & (density > 0)) for k, b in enumerate(bulks)]
    shown = [(k, b, m) for k, b, m in shown if b["resolved"] and m.sum() >= 2]
    zoom = any(b["upper"] - b["lower"] < 0.02 and b["lower"] > 0.9 for _, b, _ in shown)
    fig, axes = plt.subplots(1, 2 if zoom else 1, figsize=(11.5 if zoom else 6.4, 4.2), squeeze=False)
    top = max([1.0] + [float(density[m].max()) for _, _, m in shown])
    for j, ax in enumerate(axes[0]):
        x = eta if j == 0 else 1.0 - eta
        for k, b, m in shown:
            ok = m & (x > 0)
            ax.plot(x[ok], density[ok], color=f"C{k}", lw=1.6, zorder=3,
                    label=f"bulk {bulk_place(b['lower'], b['upper'])}, mass {b['mass']:.3g}")
        ax.set_yscale("log")
        ax.set_ylim(1e-2, top * 2)
        ax.set_ylabel("density (per unit d)")
    ax = axes[0, 0]
    if spike_mass > 0:
        ax.vlines(1.0, 1e-2, top, color="0.5", lw=1.2, ls="--", zorder=2,
                  label=f"spike at 1, mass {spike_mass:.3g} (an atom: height not to scale)")
    ax.set_xlim(0.0, 1.02)
    ax.set_xlabel(r"$\eta$ (eigenvalue of $-J_n$)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper center")
    if zoom:
        axes[0, 1].set_xscale("log")
        axes[0, 1].invert_xaxis()                         # eta grows to the right, as in the first panel
        axes[0, 1].set_xlabel(r"$1 - \eta$ (log scale, reversed: $\eta$ grows to the right)")
        axes[0, 1].set_title("the same density near 1", fontsize=10)
    fig.tight_layout()
    return fig


def sorted_spectra_figure(t, tau, measured, closed=None, ylabel: str = r"$\eta$", title: str = ""):
    """The sorted spectrum at each time, the mean over points (``measured`` (P, T, n)) as dots, the closed form
    (``closed`` (P, T, n'), e.g. an exact model's) as a line of the same colour."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.4, 4.4))
    for i, (ti, taui) in enumerate(zip(t, tau)):
        m = np.sort(measured[:, i, :], axis=-1).mean(0)
        ax.plot(np.arange(1, m.size + 1), m, ".", ms=3, color=f"C{i % 10}", label=f"t = {ti:.3g} (tau {taui:.3g})")
        if closed is not None:
            c = np.sort(closed[:, i, :], axis=-1).mean(0)
            ax.plot(np.arange(1, c.size + 1), c, "-", lw=0.9, color=f"C{i % 10}", alpha=0.8)
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("index i (sorted, ascending)")
    ax.set_ylabel(ylabel + " (mean over points)")
    lines = "\ndots: measured; lines: the exact score in closed form" if closed is not None else ""
    ax.set_title(title + lines, fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))          # beside: spectra fill the axes
    fig.tight_layout()
    return fig


def loss_figure(losses, title: str, score_error: dict | None = None):
    """Training loss against step (raw and a running mean), and where known the score's relative error
    against t (``score_error``: ``{"t": [...], "ema": [...]}``)."""
    plt = _pyplot()
    L = np.asarray(losses, float)
    fig, axes = plt.subplots(1, 2 if score_error else 1, figsize=(11 if score_error else 6.4, 4.2), squeeze=False)
    ax = axes[0, 0]
    step = np.arange(1, L.size + 1)
    ok = np.isfinite(L)
    ax.plot(step[ok], L[ok], lw=0.5, color="C0", alpha=0.4, label="loss per step")
    k = max(1, min(100, L.size // 20))
    if ok.all() and L.size >= 2 * k:
        ax.plot(step[k - 1:], np.convolve(L, np.ones(k) / k, "valid"), color="C0", label=f"running mean of {k}")
    ax.set_yscale("log")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("denoising score-matching loss")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    if score_error:
        a = axes[0, 1]
        a.plot(score_error["t"], score_error["ema"], "o-", color="C1")
        a.set_xscale("log")
        a.set_xlabel("t")
        a.set_ylabel("relative score error (EMA weights)")
        a.set_title(r"$\sqrt{E|\hat s - s|^2 / E|s|^2}$, exact score", fontsize=10)
    fig.tight_layout()
    return fig
