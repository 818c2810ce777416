"""``specgap dimension``: intrinsic dimension of a point cloud from score-Jacobian spectra.

Without ``--checkpoint`` the score is the exact finite-sample score of the points (closed-form
diffusion, no training); with ``--checkpoint`` the trained network's score is used at the same points.
"""
from __future__ import annotations

from pathlib import Path

from ._common import OUT_SUMMARY, TORCH, add_common, emit, float_list
from ._pretrained import add_pretrained_options, load_pretrained, model_points, pretrained_name, pretrained_needs


def _run(args):
    import sys
    import warnings

    import numpy as np

    from trained.score_dimension import ESTIMATOR_NAMES, RECOMMENDED, SparseSampleWarning, estimate_dimension

    from .spectra import load_points
    pretrained = load_pretrained(args)
    if pretrained is not None:
        X = model_points(args, pretrained)
    elif args.images is not None:
        raise ValueError("--images needs --diffusers or --denoiser (a model that defines the image size)")
    elif args.data is None:
        raise ValueError("--data is required (a point cloud .npy), or --images with a pretrained model")
    else:
        X = load_points(args.data)
    if args.points < 1:
        raise ValueError(f"--points must be >= 1, got {args.points}")
    tau = None
    if args.tau is not None:
        if any(t <= 0 for t in args.tau):
            raise ValueError(f"--tau must be > 0, got {args.tau}")
        tau = args.tau[0] if len(args.tau) == 1 else np.asarray(args.tau)
    score = pretrained
    if args.checkpoint is not None:
        from trained.train import load_model
        if not Path(args.checkpoint).exists():
            raise ValueError(f"--checkpoint: no such file {str(args.checkpoint)!r}")
        score = load_model(args.checkpoint, device=args.device)
    results, all_warnings = {}, []
    names = list(ESTIMATOR_NAMES) if args.estimator == "all" else [args.estimator]
    if score is None:
        # the exact empirical score costs ~ n x points x d^2 per scale (posterior covariances over the n points):
        # 200,000 points in R^20 took 250 s on the 2-core reference machine (5e-8 s per unit)
        from rmt.budget import check_time
        n, d = X.shape
        est_s = 5e-8 * n * min(args.points, n) * d * d * len(names)
        check_time("--data", est_s, f"the exact empirical score of {n} points in R^{d} at {args.points} query points",
                   "use fewer --points, a subsample of --data, or a --checkpoint score")
        if est_s > 10:
            sys.stderr.write(f"dimension: {n} points in R^{d}, {args.points} query points: about {est_s:.0f} s\n")
    for name in names:
        kw = dict(n_points=args.points, random_state=args.seed)
        if name != "normal-bundle":
            kw["min_points"] = args.points         # the command queries exactly --points (the library adapts)
        if tau is not None:
            kw["tau"] = tau
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SparseSampleWarning)
            est = estimate_dimension(name, X, score=score, **kw)
        r = {"dimension": int(est.dimension_), "min_samples": int(est.min_samples_)}
        for key in ("interval_", "tau_", "plateau_", "agreement_", "substructure_"):
            if hasattr(est, key):
                r[key.rstrip("_")] = getattr(est, key)
        if hasattr(est, "phase_"):
            r["phase"] = str(est.phase_)
        r["per_point"] = np.asarray(est.dimension_pw_).tolist()
        prof = getattr(est, "profile_", None)
        if prof is not None:
            r["profile"] = {k: (None if v is None else np.asarray(v).tolist()) for k, v in prof.items()}
        r["warnings"] = list(getattr(est, "warnings_", []))
        for w in r["warnings"]:
            sys.stderr.write(f"warning ({name}): {w}\n")
            all_warnings.append(f"{name}: {w}")
        results[name] = r
    out = {"data": str(args.images if args.images is not None else args.data), "n": int(X.shape[0]),
           "d": int(X.shape[1]),
           "score": pretrained_name(args) or ("checkpoint" if score is not None else "exact finite-sample"), "recommended": RECOMMENDED,
           "estimators": results, "warnings": all_warnings}
    if len(names) == 1:
        out["dimension"] = results[names[0]]["dimension"]
        if "interval" in results[names[0]]:
            out["interval"] = results[names[0]]["interval"]
    text = "\n".join(f"{k:>14}: dimension {v['dimension']}"
                     + (f" (90% interval {v['interval'][0]:g}-{v['interval'][1]:g})" if "interval" in v else "")
                     + (f" (tau={v['tau']:.3g})" if "tau" in v else "")
                     for k, v in results.items())
    emit(args, out, text)


def register(sub, help_text):
    """Add ``specgap dimension`` to the subcommands ``sub`` (``help_text``: its line in ``specgap --help``)."""
    p = sub.add_parser("dimension", help=help_text, description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None, help="point cloud, .npy of shape (n, d) (required unless --images)")
    p.add_argument("--estimator", choices=["manifold", "gap", "deff", "flipd", "normal-bundle", "all"],
                   default="manifold",
                   help="manifold: the manifold dimension, directions above the noise floor at the window scale "
                        "(default, recommended); gap: index of the largest gap (may show a high-variance "
                        "subspace); deff: #{eta < 1/2}; flipd: d + tr Jn (Kamkari et al.); normal-bundle: "
                        "Stanczuk et al.")
    p.add_argument("--tau", type=float_list, default=None,
                   help="effective noise (one value, or a grid to choose from); default: an automatic grid")
    p.add_argument("--points", type=int, default=64,
                   help="number of query points (per-point estimates, bootstrap interval)")
    p.add_argument("--checkpoint", type=Path, default=None, help="use a trained score instead of the exact one")
    add_pretrained_options(p)
    p.add_argument("--device", default="cpu",
                   help="auto | cpu | cuda (--checkpoint and pretrained models; default cpu)")
    add_common(p, out_help=OUT_SUMMARY)
    p.set_defaults(handler=_run, needs=_needs)


def _needs(args):
    """A point cloud needs numpy and scikit-learn only (the exact empirical score); torch only for a network:
    ``--checkpoint`` or a pretrained model."""
    if args.checkpoint is None and pretrained_name(args) is None:
        return ("sklearn",) + pretrained_needs(args)
    return TORCH + pretrained_needs(args)
