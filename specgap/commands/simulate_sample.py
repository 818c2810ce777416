"""``specgap simulate sample``: reverse-time samples from an exact model (package simulate).

Registered by :mod:`specgap.commands.simulate` through :func:`register_sample`. Writes
``DIR/samples.npz`` (``samples`` (n, d), ``denoised`` (n, d), ``grid``; ``trajectory``/``record_times``
and ``eta``/``spectrum_t`` when asked) and ``DIR/summary.json``.
"""
from __future__ import annotations

from pathlib import Path

from ._common import add_common, emit, flags_for, float_list, save_arrays

MODELS = ("linear", "mixture", "empirical", "subspaces")


#: the parameters of the exact models and of :func:`simulate.samplers.sample_reverse`, and the options that set them
MODEL_FLAGS = {"d": "--d", "n": "--train", "K": "--components", "dims": "--dims", "variances": "--variances",
               "variance": "--variance", "spread": "--spread", "alpha": "--alpha", "levels": "--levels",
               "fractions": "--fractions"}
#: the sampler's parameters as the command's flags (its errors name the flag)
SAMPLER_FLAGS = {"n": "--n", "steps": "--steps", "t_start": "--t-start", "t_end": "--t-end",
                 "record_times": "--record-times", "spectrum_times": "--spectrum-times",
                 "spectrum_points": "--spectrum-points"}


def int_list(text):
    """Parse ``1,3`` into integers (argparse ``type``; values are rounded)."""
    return [int(round(v)) for v in float_list(text)]


def register_sample(sub):
    """Add the ``sample`` command to the ``simulate`` group's subparsers."""
    p = sub.add_parser("sample", help="reverse-time samples (SDE or probability-flow ODE) from an exact model",
                       description=__doc__.splitlines()[0])
    g = p.add_argument_group("model")
    g.add_argument("--model", choices=MODELS, default="linear", help="exact model (default linear)")
    g.add_argument("--d", type=int, default=10, help="ambient dimension (default 10)")
    g.add_argument("--alpha", type=float, default=0.5, help="linear/empirical: m/d (default 0.5)")
    g.add_argument("--levels", type=float_list, default=[1.0], help="linear/empirical: variance levels, e.g. 1,0.01")
    g.add_argument("--fractions", type=float_list, default=None, help="linear/empirical: fractions (sum 1)")
    g.add_argument("--components", type=int, default=4, help="mixture: number of components K (default 4)")
    g.add_argument("--spread", type=float, default=1.0, help="mixture: means ~ N(0, spread^2 I) (default 1)")
    g.add_argument("--variance", type=float, default=0.05, help="mixture: component variance v (default 0.05)")
    g.add_argument("--train", type=int, default=50,
                   help="empirical: number of training points drawn from the linear model (default 50)")
    g.add_argument("--data", type=Path, default=None, help="empirical: training points from a (n, d) .npy file")
    g.add_argument("--dims", type=int_list, default=[1, 3], help="subspaces: dimensions, e.g. 1,3 (default)")
    g.add_argument("--variances", type=float_list, default=[1.0],
                   help="subspaces: variance along each subspace (one value or one per subspace)")
    s = p.add_argument_group("sampler")
    s.add_argument("--schedule", choices=("ve", "vp"), default="ve", help="forward process (default ve)")
    s.add_argument("--method", choices=("sde", "ode"), default="sde",
                   help="sde: Euler-Maruyama on the reverse SDE; ode: Heun on the probability flow")
    s.add_argument("--n", type=int, default=1000, help="number of samples (default 1000)")
    s.add_argument("--steps", type=int, default=500, help="time steps, uniform in log tau (default 500)")
    s.add_argument("--t-start", type=float, default=None, help="initial process time (default tau = 1e3 x data scale)")
    s.add_argument("--t-end", type=float, default=1e-3, help="final process time (default 1e-3)")
    s.add_argument("--init", choices=("prior", "marginal"), default="prior",
                   help="initial law: Gaussian prior (default) or the exact marginal at t-start")
    s.add_argument("--record-times", type=float_list, default=None, help="store the trajectory at these times")
    s.add_argument("--spectrum-times", type=float_list, default=None,
                   help="exact spectrum of -Jn at the particles at these times")
    s.add_argument("--spectrum-points", type=int, default=8, help="particles entering the spectrum (default 8)")
    add_common(p, out_help="directory for samples.npz and summary.json")
    p.set_defaults(handler=_sample, needs=())            # the core only
    return p


def build_model(args):
    """The exact model described by the command-line options; the models' errors name the options
    (:data:`MODEL_FLAGS`)."""
    with flags_for(MODEL_FLAGS):
        return _exact_model(args)


def _exact_model(args):
    """:func:`build_model` without the mapping of errors to options."""
    import numpy as np

    from rmt import LinearManifold, VarianceProfile
    from simulate.models import (
        EmpiricalModel,
        GaussianMixtureModel,
        LinearGaussianModel,
        SubspaceUnionModel,
    )
    if args.model in ("linear", "empirical") and args.data is None:
        lin = LinearGaussianModel.from_manifold(
            args.d, LinearManifold(args.alpha, VarianceProfile(args.levels, args.fractions)),
            seed=args.seed, schedule=args.schedule)
        if args.model == "linear":
            return lin
    if args.model == "empirical":
        if args.data is not None:
            try:
                pts = np.load(args.data, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise ValueError(f"--data could not be read as a .npy array: {args.data} ({e})") from None
            if pts.ndim != 2:
                raise ValueError(f"--data must hold an (n, d) array, got shape {pts.shape}")
        else:
            pts = lin.sample(args.train, args.seed + 1)
        return EmpiricalModel(pts, args.schedule)
    if args.model == "mixture":
        return GaussianMixtureModel.random(args.d, args.components, args.spread, args.variance, args.seed,
                                           args.schedule)
    var = args.variances if len(args.variances) > 1 else args.variances * len(args.dims)
    if len(var) != len(args.dims):
        raise ValueError(f"--variances needs one value or one per subspace ({len(args.dims)}), got {len(var)}")
    return SubspaceUnionModel.random(args.d, args.dims, var, seed=args.seed, schedule=args.schedule)


def _sample(args):
    import numpy as np

    from simulate.samplers import sample_reverse
    model = build_model(args)
    with flags_for(SAMPLER_FLAGS):
        r = sample_reverse(model, args.n, method=args.method, steps=args.steps, t_start=args.t_start,
                           t_end=args.t_end, rng=args.seed, init=args.init, record_times=args.record_times,
                           spectrum_times=args.spectrum_times, spectrum_points=args.spectrum_points, progress=True)
    t_end = float(r.grid[-1])
    Sigma = model.covariance(t_end)
    mu = model.coefficients(t_end)[0] * model.mean()
    x = r.x
    C = np.cov(x.T).reshape(model.d, model.d)
    nf = np.linalg.norm(Sigma)
    res = {
        "model": model.describe(), **r.info, "n": int(args.n), "d": model.d, "tau_end": model.tau(t_end),
        "mean_error": float(np.linalg.norm(x.mean(0) - mu)),
        # relative Frobenius error of the sample covariance of x_{t_end} against the exact one, and its
        # Monte-Carlo scale for Gaussian data: E|C_hat - Sigma|_F^2 = (tr Sigma^2 + (tr Sigma)^2) / n
        "cov_rel_error": float(np.linalg.norm(C - Sigma) / nf),
        "cov_rel_error_mc": float(np.sqrt((nf ** 2 + np.trace(Sigma) ** 2) / args.n) / nf),
    }
    if args.model == "empirical":
        idx, dist = model.nearest(r.denoised)
        scale = float(np.sqrt(np.mean(np.sum((model.points - model.points.mean(0)) ** 2, 1))))
        res["memorised_fraction"] = float(np.mean(dist < 1e-3 * max(scale, 1e-300)))
        res["distinct_training_points"] = int(np.unique(idx).size)
        res["n_train"] = model.n
    arrays = {"samples": x, "denoised": r.denoised, "grid": r.grid}
    if r.trajectory is not None:
        arrays.update(trajectory=r.trajectory, record_times=r.record_times)
    if r.spectrum is not None:
        arrays.update(eta=r.spectrum.values, spectrum_t=r.spectrum.t)
        res["spectrum"] = {"t": r.spectrum.t.tolist(),
                           "largest_gap_dimension": r.spectrum.largest_gap_dimension().tolist(),
                           "phase": r.spectrum.phases().tolist()}
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        save_arrays(args, "samples.npz", **arrays)
        res["files"] = [str(args.out / "samples.npz"), str(args.out / "summary.json")]
    text = (f"{args.n} samples of {res['model']['model']} (d={model.d}) by reverse {args.method} "
            f"({res['steps']} steps, {args.schedule}) to t={t_end:g}: covariance rel. error "
            f"{res['cov_rel_error']:.3g} (Monte-Carlo scale {res['cov_rel_error_mc']:.3g})")
    emit(args, res, text)
