"""Options shared by the commands that measure a model specgap did not train: ``--diffusers DIR|ID``,
``--denoiser MODULE:FUNCTION`` (with ``--data-shape``, ``--sigma-data``), ``--class-label``, and the points as
``--images DIR`` (PNG/JPEG) beside ``--data X.npy``. The models come from :mod:`trained.adapters`.
"""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path

__all__ = ["add_pretrained_options", "load_pretrained", "model_points", "pretrained_name", "pretrained_needs"]


def _int_list(text):
    try:
        vals = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"expected positive integers, e.g. 3,32,32, got {text!r}")
    return vals


def add_pretrained_options(p, images: bool = True):
    """Add the options of a pretrained model (``--diffusers``, ``--denoiser``, ``--data-shape``,
    ``--sigma-data``, ``--class-label``, and ``--images`` unless ``images`` is False) to parser ``p``."""
    g = p.add_argument_group("pretrained model (a model specgap did not train)")
    g.add_argument("--diffusers", default=None, metavar="DIR|ID",
                   help="a diffusers UNet2DModel: a pipeline folder saved with save_pretrained (unet/ + scheduler/) "
                        "or a hub id; --t is then the training timestep (0..T-1)")
    g.add_argument("--denoiser", default=None, metavar="MODULE:FUNCTION",
                   help="an EDM/k-diffusion denoiser D(x, sigma) importable as MODULE:FUNCTION; --t is then sigma; "
                        "needs --data-shape")
    g.add_argument("--data-shape", type=_int_list, default=None, metavar="C,H,W",
                   help="--denoiser: shape of one data point, e.g. 3,32,32")
    g.add_argument("--sigma-data", type=float, default=None,
                   help="--denoiser: apply the EDM preconditioning with this sigma_data around a raw network")
    g.add_argument("--class-label", type=int, default=None, help="--diffusers: class label of a class-conditional UNet")
    if images:
        g.add_argument("--images", type=Path, default=None, metavar="DIR",
                       help="PNG/JPEG images as the points: centre-cropped, resized to the model's size, "
                            "scaled to [-1, 1]")


def pretrained_name(args) -> str | None:
    """``'diffusers'`` or ``'denoiser'``: the kind of pretrained model the options name; None for none."""
    if getattr(args, "diffusers", None) is not None:
        return "diffusers"
    if getattr(args, "denoiser", None) is not None:
        return "denoiser"
    return None


def pretrained_needs(args) -> tuple[str, ...]:
    """The optional modules the pretrained-model options ask for (beside torch): diffusers, pillow for --images."""
    return (("diffusers",) if getattr(args, "diffusers", None) is not None else ()) + \
        (("PIL",) if getattr(args, "images", None) is not None else ())


def _import_denoiser(spec: str):
    mod, sep, fn = str(spec).partition(":")
    if not sep or not mod or not fn:
        raise ValueError(f"--denoiser must be MODULE:FUNCTION, got {spec!r}")
    try:
        module = importlib.import_module(mod)
    except ImportError as e:
        raise ValueError(f"--denoiser: cannot import module {mod!r} ({e})") from None
    obj = module
    for part in fn.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"--denoiser: module {mod!r} has no attribute {fn!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"--denoiser: {spec!r} is not callable")
    return obj


def load_pretrained(args):
    """The :class:`trained.protocol.DiffusionModel` named by ``--diffusers`` / ``--denoiser``, or None."""
    if getattr(args, "diffusers", None) is not None and getattr(args, "denoiser", None) is not None:
        raise ValueError("--diffusers and --denoiser are exclusive")
    if getattr(args, "checkpoint", None) is not None and pretrained_name(args):
        raise ValueError(f"--checkpoint and --{pretrained_name(args)} are exclusive")
    device = getattr(args, "device", None)
    if device == "auto":
        from trained.nets import resolve_device
        device = str(resolve_device("auto"))
    if getattr(args, "diffusers", None) is not None:
        from trained.adapters import from_diffusers
        if args.sigma_data is not None or args.data_shape is not None:
            raise ValueError("--sigma-data and --data-shape belong to --denoiser; a diffusers folder has its own")
        return from_diffusers(args.diffusers, device=device, class_labels=args.class_label)
    if getattr(args, "denoiser", None) is not None:
        from trained.adapters import from_denoiser
        if args.data_shape is None:
            raise ValueError("--data-shape is required with --denoiser (e.g. 3,32,32)")
        if args.class_label is not None:
            raise ValueError("--class-label belongs to --diffusers")
        model = from_denoiser(_import_denoiser(args.denoiser), data_shape=args.data_shape, sigma_data=args.sigma_data)
        if model.module is not None and device is not None:
            model.module.to(device)
        return model
    for opt in ("data_shape", "sigma_data", "class_label"):
        if getattr(args, opt, None) is not None:
            raise ValueError(f"--{opt.replace('_', '-')} needs --diffusers or --denoiser")
    return None


def model_points(args, model, n: int | None = None, seed: int = 0):
    """Clean data points for ``model`` as float64 ``(N, prod(data_shape))``: ``--images DIR`` read at the
    model's size and channels, or ``--data X.npy`` (rows of ``prod(data_shape)`` values). ``n`` draws that many
    (without replacement, ``seed``)."""
    import numpy as np
    shape = tuple(model.data_shape)
    d = int(np.prod(shape))
    images = getattr(args, "images", None)
    data = getattr(args, "data", None)
    if images is not None and data is not None:
        raise ValueError("--images and --data are exclusive")
    if images is not None:
        from trained.images import read_image_folder
        if len(shape) != 3 or shape[1] != shape[2] or shape[0] not in (1, 3):
            raise ValueError(f"--images needs a model on square 1- or 3-channel images, this one has data shape {shape}")
        X = read_image_folder(images, shape[1], channels=shape[0])[0].reshape(-1, d).double().numpy()
    elif data is not None:
        from ._common import load_points
        X = load_points(data, min_points=1)
        if X.shape[1] != d:
            raise ValueError(f"--data: points have {X.shape[1]} values, the model's data shape {shape} has {d}")
    else:
        raise ValueError(f"--images DIR or --data X.npy is required with --{pretrained_name(args)} (the clean points "
                         "that are noised to each time)")
    if n is not None and n < len(X):
        X = X[np.sort(np.random.default_rng(seed).choice(len(X), size=n, replace=False))]
    return X
