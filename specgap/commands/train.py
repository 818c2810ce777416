"""``specgap train``: train a score network by denoising score matching (package trained).

    specgap train --data linear --d 100 --alpha 0.4 --levels 1,0.01 --fractions 0.75,0.25 --n 20000 \\
        --steps 2000 --batch 256 --schedule ve --out runs/lin [--resume] [--checkpoint-every 500] --json

``--data`` names a dataset of the registry in :mod:`trained.data` (``linear`` built in; plug-ins such as
image datasets register more). Options of the built-in linear data are below; any dataset also takes
``--data-arg KEY=VALUE`` (repeatable, values parsed as JSON when possible) passed to its factory.
"""
from __future__ import annotations

import argparse
import json

from ._common import TORCH, add_common, dataset_needs, emit, flags_for, float_list, write_figure

#: default architecture per dataset name (anything else: unet)
DEFAULT_ARCH = {"linear": "mlp"}


def _key_value(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    try:
        v = json.loads(v)
    except json.JSONDecodeError:
        pass
    return k.strip(), v


#: the parameters of TrainConfig, the linear data and the networks, and the options of ``train`` that set them
TRAIN_FLAGS = {"steps": "--steps", "batch": "--batch", "lr": "--lr", "weight_decay": "--weight-decay",
               "warmup": "--warmup", "grad_clip": "--grad-clip", "ema": "--ema", "sigma_min": "--sigma-min",
               "sigma_max": "--sigma-max", "checkpoint_every": "--checkpoint-every", "n": "--n", "d": "--d",
               "alpha": "--alpha", "levels": "--levels", "fractions": "--fractions", "width": "--width",
               "depth": "--depth", "threads": "--threads", "device": "--device"}


def register(sub, help):
    """Add the ``train`` command to the subparsers ``sub``; ``help`` is its one-line help."""
    p = sub.add_parser("train", help=help, description=__doc__.splitlines()[0])
    add_common(p, out_help="directory for checkpoint.pt, loss.png (the training loss against step, and the score "
                           "error on linear data) and summary.json (required)")
    g = p.add_argument_group("data")
    g.add_argument("--data", default="linear", help="dataset name from the registry (default linear)")
    g.add_argument("--n", type=int, default=None, help="number of training points (linear default 20000)")
    g.add_argument("--data-arg", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="extra keyword for the dataset factory (repeatable)")
    g = p.add_argument_group("linear-manifold data (docs/theory.md section 1; --data linear)")
    g.add_argument("--d", type=int, default=100, help="ambient dimension (default 100)")
    g.add_argument("--alpha", type=float, default=0.4, help="m/d (default 0.4)")
    g.add_argument("--levels", type=float_list, default=[1.0, 0.01], help="variance levels (default 1,0.01)")
    g.add_argument("--fractions", type=float_list, default=None, help="fractions of columns per level (default equal)")
    g.add_argument("--multi", type=int, default=None, metavar="N",
                   help="the paper's multi-variance profile: N levels uniform in [1e-2, 1] (seeded by --seed)")
    g.add_argument("--data-seed", type=int, default=None, help="seed of F and of the points (default --seed)")
    g = p.add_argument_group("model")
    g.add_argument("--arch", choices=["mlp", "unet"], default=None, help="network (default: mlp for linear data)")
    g.add_argument("--width", type=int, default=256, help="MLP width / UNet base channels (default 256)")
    g.add_argument("--depth", type=int, default=2, help="MLP residual blocks (default 2)")
    g.add_argument("--attention", action="store_true", help="UNet: self-attention at the lowest resolution")
    g.add_argument("--time-embedding", choices=["sinusoidal", "fourier"], default="sinusoidal",
                   help="embedding of the noise level log(tau)/4: sinusoidal (geometric frequencies; default) or "
                        "fourier (random Gaussian frequencies)")
    g.add_argument("--activation", choices=["silu", "relu", "leaky_relu", "gelu", "tanh", "softplus"], default="silu",
                   help="nonlinearity (relu: piecewise linear, local complexity counts exact knots)")
    g.add_argument("--schedule", choices=["ve", "vp"], default="ve", help="forward process (default ve)")
    g = p.add_argument_group("training")
    g.add_argument("--steps", type=int, default=2000, help="optimiser steps (default 2000)")
    g.add_argument("--batch", type=int, default=256, help="batch size (default 256)")
    g.add_argument("--lr", type=float, default=2e-3, help="learning rate (default 2e-3)")
    g.add_argument("--optimizer", choices=["adamw", "radam"], default="adamw", help="optimiser (default adamw)")
    g.add_argument("--weight-decay", type=float, default=0.0, help="weight decay of the optimiser (default 0)")
    g.add_argument("--warmup", type=int, default=100, help="linear warm-up steps (default 100)")
    g.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm, 0 = off (default 1)")
    g.add_argument("--ema", type=float, default=0.999, help="EMA decay (default 0.999)")
    g.add_argument("--sigma-min", type=float, default=0.01, help="smallest sqrt(tau) (VE: noise std; default 0.01)")
    g.add_argument("--sigma-max", type=float, default=10.0, help="largest sqrt(tau) (default 10)")
    g.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto)")
    g.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    g.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: 1 for the MLP - small matrices, and far faster than 2 "
                        "threads on a busy machine - torch's default otherwise)")
    g.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt if present")
    g.add_argument("--checkpoint-every", type=int, default=0, metavar="K",
                   help="write OUT/checkpoint.pt every K steps (default: only at the end)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_train, needs=_needs)


def _needs(args) -> tuple[str, ...]:
    """torch, and for ``--data images`` what ``--data-arg name=...`` (and ``data_dir=...``) is read with."""
    if args.data != "images":
        return TORCH
    kw = dict(args.data_arg)
    return dataset_needs(str(kw.get("name", "")).lower(), kw.get("data_dir"))


def _dataset(args):
    from trained.data import make_dataset
    kw = dict(args.data_arg)
    seed = args.seed if args.data_seed is None else args.data_seed
    if args.data == "linear":
        if args.multi is not None:
            from rmt import VarianceProfile
            with flags_for({"n": "--multi"}):
                kw.setdefault("profile", VarianceProfile.multi(args.multi, seed=seed))
        else:
            kw.setdefault("levels", args.levels)
            kw.setdefault("fractions", args.fractions)
        kw.setdefault("d", args.d)
        kw.setdefault("alpha", args.alpha)
        kw.setdefault("n", 20000 if args.n is None else args.n)
    elif args.n is not None:
        kw.setdefault("n", args.n)
    kw.setdefault("seed", seed)
    return make_dataset(args.data, **kw)


def _train(args):
    """Train the network of the options and report; errors of the library name the options (:data:`TRAIN_FLAGS`)."""
    if args.out is None:
        raise ValueError("--out is required (the checkpoint is written there)")
    from trained.nets import torch_threads
    from trained.train import TrainConfig
    with flags_for(TRAIN_FLAGS):
        cfg = TrainConfig(steps=args.steps, batch=args.batch, lr=args.lr, optimizer=args.optimizer,
                          weight_decay=args.weight_decay, warmup=args.warmup, grad_clip=args.grad_clip,
                          ema=args.ema, sigma_min=args.sigma_min, sigma_max=args.sigma_max, seed=args.seed,
                          checkpoint_every=args.checkpoint_every, amp=args.amp)
        data = _dataset(args)
        arch = args.arch or DEFAULT_ARCH.get(args.data, "unet")
        # torch's CPU threads for this run, restored afterwards: --threads, else 1 for the MLP (small matrices: far
        # faster than 2 threads on a busy machine), else torch's default
        with torch_threads(args.threads if args.threads is not None else 1 if arch == "mlp" else None):
            _fit(args, cfg, data, arch)


def _fit(args, cfg, data, arch):
    """Build the network for ``data`` (``arch``), train it with ``cfg`` into ``--out``, measure the score error of
    linear data and emit the result."""
    from trained.nets import ScoreModel, build_model
    from trained.train import loss_summary, score_error, train

    if arch == "mlp":
        if len(data.shape) != 1:
            raise ValueError(f"--arch mlp needs vector data, got points of shape {data.shape}")
        net = {"d": data.shape[0], "width": args.width, "depth": args.depth, "time_embedding": args.time_embedding,
               "activation": args.activation}
    else:
        if len(data.shape) != 3 or data.shape[1] != data.shape[2]:
            raise ValueError(f"--arch unet needs square images (C, R, R), got points of shape {data.shape}")
        net = {"in_channels": data.shape[0], "resolution": data.shape[1], "width": args.width,
               "attention": args.attention, "time_embedding": args.time_embedding,
               "activation": args.activation}
    model: ScoreModel = build_model({"arch": arch, "net": net, "schedule": args.schedule,
                                     "sigma_data": data.sigma_data}, seed=args.seed)
    res = train(model, data, cfg, args.out, resume=args.resume, device=args.device,
                progress=not args.no_progress)
    L = res.losses
    result = {"out": str(args.out), "checkpoint": str(res.checkpoint), "data": data.config,
              "model": model.config, "train": cfg.__dict__, "device": res.info["device"],
              "parameters": res.info["params"], "step": res.step, "resumed_from": res.resumed_from,
              "seconds": round(res.seconds, 3), **loss_summary(L)}
    if hasattr(data, "exact_model"):
        exact = data.exact_model(args.schedule)
        ts = [float(exact.schedule.t_of_tau(v)) for v in (0.01, 0.1, 0.3, 0.5)]
        result["score_relative_error"] = {
            "t": ts, "ema": [score_error(res.ema.cpu(), exact, t, 2048, seed=args.seed) for t in ts],
            "definition": "sqrt(E|s_hat - s|^2 / E|s|^2), x ~ p_t, exact population score"}
    from ._figures import loss_figure
    fig = loss_figure(L, f"{arch} on {args.data} data, {res.step} steps, batch {args.batch}, lr {args.lr:g}",
                      result.get("score_relative_error"))
    result["files"] = ["checkpoint.pt", write_figure(args, "loss.png", fig, "the training loss against step"
                                                     + (" and the score error" if "score_relative_error" in result
                                                        else "")), "summary.json"]
    text = (f"trained {res.step} steps in {res.seconds:.1f} s on {result['device']}: loss "
            f"{result['loss_initial']:.4f} -> {result['loss_final']:.4f}; checkpoint {res.checkpoint}")
    if "score_relative_error" in result:
        e = result["score_relative_error"]
        text += "\nscore relative error (EMA): " + ", ".join(f"t={t:g}: {v:.3f}" for t, v in zip(e["t"], e["ema"]))
    emit(args, result, text)
