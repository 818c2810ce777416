"""``specgap descriptors``: local scaling psi, local rank nu and local complexity delta per point (trained.descriptors).

    specgap descriptors --checkpoint runs/lin/checkpoint.pt --data X.npy --t 0.5 --map sampler --radius 0.1 --json
    specgap descriptors --model linear --d 50 --points 8 --t 1 --map step --json

The map is the deterministic reverse sampler from ``--t`` to ``--t-end`` (``--map sampler``, Heun, ``--steps``),
one reverse step ``t -> t/2`` (``--map step``) or the score itself (``--map score``). ``delta`` needs a torch
network (a checkpoint); for exact models it is null. With ``--vae``: the decoder at the encoder means of
``--data`` (``--map decoder``, the default) or the reconstruction map ``x -> G(mu(x))`` at ``--data`` itself
(``--map reconstruction``).
"""
from __future__ import annotations

from pathlib import Path

from ._common import OUT_SUMMARY, TORCH, add_common, emit, flags_for, float_list  # noqa: F401
from ._pretrained import add_pretrained_options, load_pretrained, model_points, pretrained_needs
from .spectra import add_exact_model_options, build_exact_model, load_points


def _run(args):
    from trained.descriptors import local_complexity, local_geometry, sampler_map

    pretrained = load_pretrained(args)
    if args.t is None:
        n_steps = getattr(getattr(pretrained, "schedule", None), "n_steps", None)
        args.t = float(round(0.1 * (n_steps - 1))) if n_steps else 0.5
    if pretrained is None and args.t <= 0:
        raise ValueError(f"--t must be > 0, got {args.t}")
    if args.points < 1:
        raise ValueError(f"--points must be >= 1, got {args.points}")
    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    if args.radius is not None and args.radius <= 0:
        raise ValueError(f"--radius must be > 0, got {args.radius}")
    if args.directions is not None and args.directions < 1:     # the library reads 0 as its default
        raise ValueError(f"--directions must be >= 1, got {args.directions}")
    if args.vae is not None:
        if pretrained is not None:
            raise ValueError("--vae excludes --diffusers/--denoiser (a VAE decoder or a score model)")
        return _run_vae(args)
    if args.map in ("decoder", "reconstruction"):
        raise ValueError(f"--map {args.map} reads a VAE: pass --vae")
    args.map = args.map or "sampler"
    model, sch, d = _model(args, pretrained)
    X = _points(args, model, sch, d, pretrained)
    t_end = args.t_end if args.t_end is not None else args.t / 100
    if args.map == "sampler":
        f, t_arg = sampler_map(model, args.t, t_end, steps=args.steps), None
    elif args.map == "step":
        f, t_arg = sampler_map(model, args.t), None
    else:
        f, t_arg = model, args.t
    with flags_for({"P": "--projection"}):
        g = local_geometry(f, X, projection=args.projection, seed=args.seed, t=t_arg)
    grid = getattr(f, "grid", None)
    res = {"map": args.map, "t": args.t, "t_end": float(grid[-1]) if grid is not None else None,
           "schedule": sch.name, "schedule_parameters": sch.to_dict(), "points": int(X.shape[0]), "d": d,
           "projection": args.projection, "psi": g["psi"].tolist(), "nu": g["nu"].tolist(), "rank": g["rank"].tolist(),
           "delta": None, "delta_per_layer": None, "radius": args.radius}
    if args.radius is not None:
        if pretrained is not None and args.map == "score":
            raise ValueError("--radius: read the local complexity of a pretrained model through --map sampler or step")
        net = f if args.map != "score" else model
        if hasattr(net, "parameters") and any(True for _ in net.parameters()) and (
                args.checkpoint is not None or pretrained is not None):
            with flags_for({"P": "--directions", "radius": "--radius"}):
                lc = local_complexity(net, X, radius=args.radius, n_directions=args.directions, seed=args.seed,
                                      per_layer=True, t=t_arg)
            res["delta"] = lc["delta"].tolist()
            res["delta_per_layer"] = {k: v.tolist() for k, v in lc["per_layer"].items()}
    text = "\n".join(f"  point {i}: psi {p:9.3f}  nu {n:7.2f}" + (f"  delta {res['delta'][i]}" if res["delta"] else "")
                     for i, (p, n) in enumerate(zip(res["psi"], res["nu"])))
    emit(args, res, f"descriptors of the {args.map} map at t={args.t:g} ({res['points']} points, d={d}):\n" + text)


def _model(args, pretrained):
    """(model, schedule, d): the pretrained model, the checkpoint's network or the exact model; fixes a
    pretrained model's ``args.t`` to a timestep and its default ``args.t_end``."""
    import numpy as np

    from rmt import get_schedule
    if pretrained is not None:
        sch = pretrained.schedule
        args.t = float(sch.check_times(args.t, "--t")[0])
        if args.t_end is None:                              # two decades of tau below t (t/100 under VE)
            args.t_end = float(sch.t_of_tau(float(sch.tau(args.t)) / 100)[()])
        return pretrained, sch, int(np.prod(pretrained.data_shape))
    if args.checkpoint is not None:
        from trained.train import load_model
        if not Path(args.checkpoint).exists():
            raise ValueError(f"--checkpoint: no such file {str(args.checkpoint)!r}")
        model = load_model(args.checkpoint, device=args.device).requires_grad_(False)
        return model, get_schedule(model.schedule), int(np.prod(model.data_shape))
    model, _ = build_exact_model(args, args.schedule)
    return model, get_schedule(args.schedule), model.d


def _points(args, model, sch, d, pretrained):
    """The query points x_t (P, d): ``--data``, else ``--points`` clean points (images, the checkpoint's
    training points, or the exact model's samples) noised to ``t``."""
    import numpy as np
    if args.data is not None:
        X = load_points(args.data, "--data", min_points=1)
        if X.shape[1] != d:
            raise ValueError(f"--data: points must have d={d} coordinates, got {X.shape[1]}")
        return X
    from trained.network_spectra import noised_points
    if pretrained is not None:                              # clean --images noised to x_t
        return noised_points(model_points(args, model, args.points, args.seed), [args.t], sch, seed=args.seed)[:, 0]
    if args.checkpoint is None:
        return model.sample_t(args.points, args.t, int(np.random.default_rng(args.seed).integers(2 ** 31)))
    from trained.network_spectra import training_points   # training points noised to x_t (one definition)
    from trained.train import checkpoint_dataset
    data = checkpoint_dataset(args.checkpoint)
    x0 = training_points(data, min(args.points, data.n), seed=args.seed)
    return noised_points(x0, [args.t], sch, seed=args.seed)[:, 0]


def _run_vae(args):
    """Descriptors of a VAE decoder (trained.vae) at the encoder means of --data, or at prior draws z ~ N(0, I)."""
    import numpy as np
    import torch

    from trained.descriptors import local_complexity, local_geometry
    from trained.vae import load_vae
    if args.checkpoint is not None:
        raise ValueError("--vae and --checkpoint exclude each other (a VAE decoder or a score model)")
    if not Path(args.vae).is_file():
        raise ValueError(f"--vae: no such file {str(args.vae)!r}")
    try:
        vae = load_vae(args.vae)
    except ValueError as e:
        raise ValueError(f"--vae: {e}") from None
    k, D = vae.config.latent, vae.config.d
    kind = args.map or "decoder"
    if kind not in ("decoder", "reconstruction"):
        raise ValueError(f"--map: a VAE is read as 'decoder' or 'reconstruction', got {kind!r}")
    if kind == "reconstruction":
        if args.data is None:
            raise ValueError("--map reconstruction reads the VAE at its inputs: pass --data")
        X = load_points(args.data, "--data", min_points=1)
        if X.shape[1] != D:
            raise ValueError(f"--data: points must have D={D} coordinates (the VAE's input), got {X.shape[1]}")
        if args.projection is not None:
            raise ValueError("--projection: the reconstruction map is read with its exact Jacobian")
        from ..reproduce.vae_studies import reconstruction_descriptors
        r = reconstruction_descriptors(vae, X, radius=args.radius, seed=args.seed)   # delta only with --radius
        res = {"map": "vae-reconstruction", "latent": k, "d": D, "points": int(X.shape[0]), "at": "--data",
               "projection": None, "psi": r["psi_rec"].tolist(), "nu": r["nu_rec"].tolist(),
               "delta": None if r["delta_rec"] is None else r["delta_rec"].tolist(), "radius": args.radius}
        text = "\n".join(f"  point {i}: psi {p:9.3f}  nu {n:7.2f}" + (f"  delta {res['delta'][i]}" if res["delta"]
                                                                     else "")
                         for i, (p, n) in enumerate(zip(res["psi"], res["nu"])))
        return emit(args, res, f"descriptors of the VAE reconstruction map R^{D} -> R^{D} (rank <= {k}) at "
                               f"{res['points']} points of --data:\n" + text)
    if args.data is not None:
        X = load_points(args.data, "--data", min_points=1)
        if X.shape[1] != D:
            raise ValueError(f"--data: points must have D={D} coordinates (the VAE's input), got {X.shape[1]}")
        with torch.no_grad():
            z = vae.encode(torch.as_tensor(X, dtype=torch.float32))[0].double().numpy()
        where = "encoder means of --data"
    else:
        z = np.random.default_rng(args.seed).standard_normal((args.points, k))
        where = "prior draws z ~ N(0, I)"
    g = local_geometry(vae.decoder, z, projection=args.projection, seed=args.seed)
    res = {"map": "vae-decoder", "latent": k, "d": D, "points": int(z.shape[0]), "at": where,
           "projection": args.projection, "psi": g["psi"].tolist(), "nu": g["nu"].tolist(), "rank": g["rank"].tolist(),
           "delta": None, "radius": args.radius}
    if args.radius is not None:
        res["delta"] = local_complexity(vae.decoder, z, radius=args.radius, n_directions=args.directions,
                                        seed=args.seed)["delta"].tolist()
    text = "\n".join(f"  point {i}: psi {p:9.3f}  nu {n:7.2f}" + (f"  delta {res['delta'][i]}" if res["delta"] else "")
                     for i, (p, n) in enumerate(zip(res["psi"], res["nu"])))
    emit(args, res, f"descriptors of the VAE decoder R^{k} -> R^{D} at {res['points']} {where}:\n" + text)


def register(sub, help_text):
    """Add the ``descriptors`` command to the subparsers ``sub``; ``help_text`` is its one-line help."""
    p = sub.add_parser("descriptors", help=help_text, description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=None, help="trained model (checkpoint.pt of specgap train)")
    add_pretrained_options(p)
    p.add_argument("--vae", type=Path, default=None,
                   help="a VAE (vae.pt of 'reproduce ood'): descriptors of its decoder at the encoder means of "
                        "--data, or at --points prior draws")
    add_exact_model_options(p, data_option=False)
    p.add_argument("--data", type=Path, default=None, help="query points x_t (.npy, shape (n, d)); default: "
                                                           "--points points of p_t")
    p.add_argument("--points", type=int, default=8, help="number of points of p_t when --data is not given")
    p.add_argument("--t", type=float, default=None,
                   help="process time of the points (default 0.5; --diffusers: a training timestep, default 10%% of T)")
    p.add_argument("--map", choices=["sampler", "step", "score", "decoder", "reconstruction"], default=None,
                   help="score models: sampler (default) | step | score; --vae: decoder (default) | reconstruction")
    p.add_argument("--t-end", type=float, default=None,
                   help="sampler: final time (default t/100; pretrained models: where tau is tau(t)/100)")
    p.add_argument("--steps", type=int, default=20, help="sampler: Heun steps (DDIM steps on a diffusers schedule)")
    p.add_argument("--projection", type=int, default=None, metavar="P", help="use J B with a random D x P frame")
    p.add_argument("--radius", type=float, default=None, help="local complexity: cross-polytope radius")
    p.add_argument("--directions", type=int, default=None, help="local complexity: number of directions P")
    p.add_argument("--schedule", choices=["ve", "vp"], default="ve", help="exact models only")
    p.add_argument("--device", default="cpu", help="auto | cpu | cuda (checkpoints)")
    add_common(p, out_help=OUT_SUMMARY)
    p.set_defaults(handler=_run, needs=lambda args: TORCH + pretrained_needs(args))
