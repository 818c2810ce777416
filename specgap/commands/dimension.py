"""``specgap dimension``: intrinsic dimension of a point cloud from score-Jacobian spectra.

Without ``--checkpoint`` the score is the exact finite-sample score of the points (closed-form
diffusion, no training); with ``--checkpoint`` the trained network's score is used at the same points.
"""
from __future__ import annotations

from pathlib import Path

from ._common import add_common, emit, float_list


def _run(args):
    import numpy as np

    from trained.estimators import ESTIMATORS

    from .spectra import load_points
    X = load_points(args.data)
    if args.points < 1:
        raise ValueError(f"--points must be >= 1, got {args.points}")
    tau = None
    if args.tau is not None:
        if any(t <= 0 for t in args.tau):
            raise ValueError(f"--tau must be > 0, got {args.tau}")
        tau = args.tau[0] if len(args.tau) == 1 else np.asarray(args.tau)
    score = None
    if args.checkpoint is not None:
        from trained.train import load_model
        if not Path(args.checkpoint).exists():
            raise ValueError(f"--checkpoint: no such file {str(args.checkpoint)!r}")
        score = load_model(args.checkpoint, device=args.device)
    results = {}
    names = list(ESTIMATORS) if args.estimator == "all" else [args.estimator]
    for name in names:
        cls = ESTIMATORS[name]
        kw = dict(n_points=args.points, seed=args.seed)
        if tau is not None:
            kw["tau"] = tau
        est = cls(**kw).fit(X, score=score)
        r = {"dimension": int(est.dimension_)}
        if hasattr(est, "tau_"):
            r["tau"] = float(est.tau_)
        if hasattr(est, "phase_"):
            r["phase"] = str(est.phase_)
        if hasattr(est, "dimensions_"):
            r["per_point"] = np.asarray(est.dimensions_).tolist()
        results[name] = r
    out = {"data": str(args.data), "n": int(X.shape[0]), "d": int(X.shape[1]),
           "score": "checkpoint" if score is not None else "exact finite-sample", "estimators": results}
    if len(names) == 1:
        out["dimension"] = results[names[0]]["dimension"]
    text = "\n".join(f"{k:>14}: dimension {v['dimension']}" + (f" (tau={v['tau']:.3g})" if "tau" in v else "")
                     for k, v in results.items())
    emit(args, out, text)


def register(sub, help_text):
    p = sub.add_parser("dimension", help=help_text, description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="point cloud, .npy of shape (n, d)")
    p.add_argument("--estimator", choices=["gap", "codim", "deff", "normal-bundle", "all"], default="codim",
                   help="codim: d minus the spike cluster at the widest manifold gap (default); gap: index of "
                        "the largest gap (may show a high-variance subspace); deff: #{eta < 1/2}; "
                        "normal-bundle: Stanczuk et al.")
    p.add_argument("--tau", type=float_list, default=None,
                   help="effective noise (one value, or a grid to choose from); default: an automatic grid")
    p.add_argument("--points", type=int, default=16, help="number of query points")
    p.add_argument("--checkpoint", type=Path, default=None, help="use a trained score instead of the exact one")
    p.add_argument("--device", default="cpu")
    add_common(p)
    p.set_defaults(handler=_run)
