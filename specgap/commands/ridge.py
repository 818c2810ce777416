"""``specgap ridge residual|project``: the ridge of the smoothed empirical density of a point cloud.

``residual``: ``|V V^T grad log p_t(x)|`` at the query points with the Hessian's top eigenvalues, the eigengap
and the curvature condition; ``project``: subspace-constrained mean shift onto the ridge with a convergence
report per point (:mod:`simulate.ridge`, docs/theory.md section 8).
"""
from __future__ import annotations

from pathlib import Path

from ._common import add_common, check_out, emit, save_arrays


def _inputs(args):
    import numpy as np

    from .spectra import load_points
    X = load_points(args.data, "--data", min_points=1)
    x = load_points(args.points, "--points", min_points=1)
    if x.shape[1] != X.shape[1]:
        raise ValueError(f"--points: {str(args.points)!r} has dimension {x.shape[1]}, --data has {X.shape[1]}")
    if not (np.isfinite(args.t) and args.t > 0):
        raise ValueError(f"--t must be a finite process time > 0, got {args.t}")
    if not 1 <= args.k < X.shape[1]:
        raise ValueError(f"--k must satisfy 1 <= k < D={X.shape[1]}, got {args.k}")
    if not 0 < args.cutoff < 1:
        raise ValueError(f"--cutoff must lie in (0, 1), got {args.cutoff}")
    check_out(args)
    return X, x


def _frame_fields(F):
    return {"residual": F.residual.tolist(), "eigengap": F.eigengap.tolist(),
            "curvature_ok": F.curvature_ok.tolist(), "gap_closed": F.gap_closed.tolist(),
            "eigenvalues": F.eigenvalues.tolist(), "support": F.support.tolist()}


def _residual(args):
    from simulate.ridge import ridge_frame
    X, x = _inputs(args)
    F = ridge_frame(X, x, args.t, args.k, schedule=args.schedule, method=args.method, cutoff=args.cutoff)
    out = {"n": int(X.shape[0]), "D": int(X.shape[1]), "m": int(x.shape[0]), **_frame_fields(F)}
    if args.out is not None:
        out["files"] = [save_arrays(args, "ridge_frame.npz", residual=F.residual, eigenvalues=F.eigenvalues,
                                    tangent=F.tangent, score=F.score, support=F.support)]
    r = F.residual
    emit(args, out, f"ridge residual (k={args.k}, t={args.t:g}) at {x.shape[0]} points: median {float(_median(r)):.4g}, "
                    f"max {float(r.max()):.4g}; curvature l_(k+1) < 0 at {int(F.curvature_ok.sum())}, "
                    f"gap closed at {int(F.gap_closed.sum())}")


def _median(v):
    import numpy as np
    return np.median(v)


def _project(args):
    from simulate.ridge import project_to_ridge
    X, x = _inputs(args)
    if not args.tol > 0:
        raise ValueError(f"--tol must be > 0, got {args.tol}")
    if args.max_iter < 1:
        raise ValueError(f"--max-iter must be >= 1, got {args.max_iter}")
    p = project_to_ridge(X, x, args.t, args.k, tol=args.tol, max_iter=args.max_iter, schedule=args.schedule,
                         method=args.method, cutoff=args.cutoff, progress=not args.json)
    out = {"n": int(X.shape[0]), "D": int(X.shape[1]), "m": int(x.shape[0]), "report": p.report(),
           "iterations": p.iterations.tolist(), "final_step": p.final_step.tolist(),
           "converged": p.converged.tolist(), "stalled": p.stalled.tolist(), "distance": p.distance.tolist(),
           **_frame_fields(p.frame), "gap_closed": p.gap_closed.tolist()}
    if args.out is not None:
        out["files"] = [save_arrays(args, "projection.npz", points=p.points, start=p.start, iterations=p.iterations,
                                    final_step=p.final_step, converged=p.converged, residual=p.residual,
                                    eigenvalues=p.frame.eigenvalues)]
    rep = p.report()
    emit(args, out, f"projected {rep['points']} points onto the k={args.k} ridge at t={args.t:g}: "
                    f"{rep['converged']} converged, {rep['stalled']} stalled, {rep['gap_closed']} with a closed gap; "
                    f"median distance {rep['distance_median']:.4g}, max residual {rep['residual_max']:.3g}")


def register(sub, help_text):
    """Add the ``ridge`` group and its commands to the subparsers ``sub``; ``help_text`` is its one-line help."""
    p = sub.add_parser("ridge", help=help_text, description=__doc__.splitlines()[0])
    cmds = p.add_subparsers(dest="command", metavar="<command>")
    cmds.required = True
    for name, fn, help_ in (("residual", _residual, "ridge residual, Hessian eigenvalues and eigengap at points"),
                            ("project", _project, "project points onto the ridge (subspace-constrained mean shift)")):
        c = cmds.add_parser(name, help=help_, description=help_)
        c.add_argument("--data", type=Path, required=True, help="training points, .npy of shape (n, D)")
        c.add_argument("--points", type=Path, required=True, help="query points, .npy of shape (m, D)")
        c.add_argument("--t", type=float, required=True, help="process time (VE: the noise variance)")
        c.add_argument("--k", type=int, required=True, help="ridge dimension, 1 <= k < D")
        c.add_argument("--schedule", choices=["ve", "vp"], default="ve",
                       help="forward process: ve (tau = t) or vp (default ve)")
        c.add_argument("--method", choices=["lowrank", "dense"], default="lowrank",
                       help="lowrank: SVD of the weighted posterior rows (default); dense: D x D Hessian + eigh")
        c.add_argument("--cutoff", type=float, default=1e-20,
                       help="relative posterior weight below which a training point is dropped (default 1e-20)")
        if name == "project":
            c.add_argument("--tol", type=float, default=1e-10, help="step length at convergence (default 1e-10)")
            c.add_argument("--max-iter", type=int, default=1000, help="most mean-shift steps per point")
        add_common(c)
        c.set_defaults(handler=fn, needs=())            # the core only
