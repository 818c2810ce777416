"""``specgap spectra``: Jacobian spectra of a score model through the one engine (trained.jacobian).

The model is an exact model from :mod:`simulate` (``--model``) or a trained checkpoint
(``--checkpoint``). For exact models the closed-form spectrum (``eigvalsh`` of ``-Jn`` of the model) is
reported beside the measured one with their distance, so a method can be validated in one command.
"""
from __future__ import annotations

from pathlib import Path

from ._common import (TORCH, add_common, emit, flags_for, float_list,  # noqa: F401 (load_points: re-export)
                      load_points, save_arrays, write_figure)
from ._pretrained import add_pretrained_options, load_pretrained, model_points, pretrained_name, pretrained_needs

MODELS = ("linear", "mixture", "subspaces", "empirical")


#: the parameters of the exact models' constructors and the options of :func:`add_exact_model_options`
EXACT_MODEL_FLAGS = {"d": "--d", "n": "--n-train", "K": "--components", "dims": "--dims", "variance": "--variance",
                     "alpha": "--alpha", "levels": "--levels", "fractions": "--fractions"}


def add_exact_model_options(p, data_option: bool = True):
    """Add the options of an exact model (``--model``, ``--d``, ``--alpha``, ... ``--n-train``, and ``--data``
    unless ``data_option`` is False) to parser ``p``; :func:`build_exact_model` reads them."""
    g = p.add_argument_group("exact model (when no --checkpoint is given)")
    g.add_argument("--model", choices=MODELS, default="linear",
                   help="linear (Gaussian on a linear manifold; default), mixture (Gaussian mixture), subspaces "
                        "(union of subspaces) or empirical (the exact score of finitely many training points)")
    g.add_argument("--d", type=int, default=100, help="ambient dimension")
    g.add_argument("--alpha", type=float, default=0.5, help="linear/empirical: m/d")
    g.add_argument("--levels", type=float_list, default=[1.0, 0.01], help="linear/empirical: variance levels")
    g.add_argument("--fractions", type=float_list, default=[0.75, 0.25], help="linear/empirical: fractions")
    g.add_argument("--components", type=int, default=4, help="mixture: number of components")
    g.add_argument("--variance", type=float, default=0.1, help="mixture: component variance")
    g.add_argument("--dims", type=float_list, default=[3, 7], help="subspaces: dimensions, e.g. 3,7")
    g.add_argument("--n-train", type=int, default=200, help="empirical: number of training points")
    if data_option:
        g.add_argument("--data", type=Path, default=None, help="empirical: training points (.npy, shape (n, d))")


def build_exact_model(args, schedule):
    """``(model, manifold)``: the exact model described by the command-line options (on ``schedule``) and its
    :class:`rmt.LinearManifold` (None unless linear or empirical without ``--data``); the constructors' errors
    name the options (:data:`EXACT_MODEL_FLAGS`)."""
    with flags_for(EXACT_MODEL_FLAGS):
        return _exact_model(args, schedule)


def _exact_model(args, schedule):
    """:func:`build_exact_model` without the mapping of errors to options."""
    import numpy as np

    from rmt import LinearManifold, VarianceProfile
    from simulate import (
        EmpiricalModel,
        GaussianMixtureModel,
        LinearGaussianModel,
        SubspaceUnionModel,
    )
    M = None
    data = getattr(args, "data", None)
    if args.model in ("linear", "empirical") and data is None:
        M = LinearManifold(args.alpha, VarianceProfile(args.levels, args.fractions))
    if args.model == "linear":
        return LinearGaussianModel.from_manifold(args.d, M, seed=args.seed, schedule=schedule), M
    if args.model == "mixture":
        return GaussianMixtureModel.random(args.d, args.components, variance=args.variance, seed=args.seed,
                                           schedule=schedule), None
    if args.model == "subspaces":
        dims = [int(v) for v in args.dims]
        if any(v != int(v) or v < 1 for v in args.dims):
            raise ValueError(f"--dims must be positive integers, got {args.dims}")
        return SubspaceUnionModel.random(args.d, dims, seed=args.seed, schedule=schedule), None
    if data is not None:
        pts = load_points(data)
    else:
        lin = LinearGaussianModel.from_manifold(args.d, M, seed=args.seed)
        pts = lin.sample(args.n_train, np.random.default_rng(args.seed + 1))
    return EmpiricalModel(pts, schedule=schedule), None


def _run(args):
    import numpy as np

    if args.points < 1:
        raise ValueError(f"--points must be >= 1, got {args.points}")
    if args.method == "lanczos" and args.k is None:
        raise ValueError("--k is required with --method lanczos")
    rng = np.random.default_rng(args.seed)
    pretrained = load_pretrained(args)
    f, sch, x0, exact, shape = _model(args, pretrained, rng)
    meas, cl = _measure(args, f, sch, x0, exact, shape, rng)
    out = _report(args, sch, meas, cl, pretrained)
    if args.out is not None:
        out["files"] = _write(args, out, meas, cl)
    lines = [f"{args.method} spectra of the normalised score Jacobian ({out['model']}, {out['points']} points):"]
    for r in out["times"]:
        s = (f"  t={r['t']:<8g} tau={r['tau']:<9.3g} phase={max(set(r['phase']), key=r['phase'].count):<13} "
             f"largest-gap dim={int(np.median(r['largest_gap_dimension']))}")
        if "max_abs_error" in r:
            s += f"  |measured - closed form|max={r['max_abs_error']:.2e}"
        lines.append(s)
    emit(args, out, "\n".join(lines))


def _model(args, pretrained, rng):
    """(score model, schedule, clean points x0 (P, d), exact model or None, the network's input shape or None);
    fills in ``args.t`` when not given (timesteps for a pretrained model)."""
    from rmt import get_schedule
    if args.t is None:
        n_steps = getattr(getattr(pretrained, "schedule", None), "n_steps", None)
        args.t = [float(round(q * (n_steps - 1))) for q in (0.01, 0.1, 0.5)] if n_steps else [0.01, 0.1, 1.0]
    if pretrained is None and any(t <= 0 for t in args.t):
        raise ValueError(f"--t must be > 0, got {args.t}")
    if pretrained is not None:
        sch = pretrained.schedule
        args.t = sch.check_times(args.t, "--t").tolist()      # timesteps: integers (fractions rounded, warned)
        return pretrained, sch, model_points(args, pretrained, args.points, args.seed), None, None
    if args.checkpoint is not None:
        from trained.train import checkpoint_dataset, load_model
        if not Path(args.checkpoint).exists():
            raise ValueError(f"--checkpoint: no such file {str(args.checkpoint)!r}")
        f = load_model(args.checkpoint, device=args.device)
        sch = get_schedule(f.schedule)
        data = checkpoint_dataset(args.checkpoint)
        idx = rng.choice(len(data.x), size=min(args.points, len(data.x)), replace=False)
        x0 = data.x[idx].reshape(len(idx), -1).double().numpy()
        exact = data.exact_model(sch) if hasattr(data, "exact_model") else None
        return f, sch, x0, exact, tuple(data.x.shape[1:])
    sch = get_schedule(args.schedule)
    exact, _ = build_exact_model(args, sch.name)
    return exact, sch, exact.sample(args.points, rng), exact, None


def _measure(args, f, sch, x0, exact, shape, rng):
    """The measured spectra ``(P, T, n)`` at noised points of p_t for each ``args.t``, and the closed form of the
    exact model at the same points (``None`` without one)."""
    import numpy as np

    from trained.jacobian import jacobian_spectrum
    measured, closed = [], []
    for t in args.t:
        a, s2 = float(sch.a(t)), float(sch.s2(t))
        xt = a * x0 + np.sqrt(s2) * rng.standard_normal(x0.shape)     # points of p_t
        if shape is not None:                 # a checkpoint's network takes its data's shape, in float32
            import torch
            xin = torch.as_tensor(xt, dtype=torch.float32).reshape((len(xt),) + shape)
        else:
            xin = xt
        kw = dict(method=args.method, t=float(t), seed=args.seed)
        if args.method == "lanczos":
            kw.update(k=args.k)      # top-k of the denoiser Jacobian = the k smallest eta (tangent space)
        if args.method == "finite-difference" and args.probes is not None:
            kw.update(probes=args.probes)
        with flags_for({"k": "--k", "probes": "--probes"}):
            measured.append(jacobian_spectrum(f, xin, **kw).spectrum.values[:, 0, :])
        if exact is not None:
            eta = exact.eta(xt.reshape(len(xt), -1), float(t))       # eigenvalues of -Jn (symmetric)
            if args.method == "lanczos":
                # top-k singular values |1 - eta|/a of the denoiser Jacobian, stored as 1 - a sigma = 1 - |1 - eta|
                # (= eta unless a mixture's eta < 0): the k smallest such values
                eta = np.sort(1.0 - np.abs(1.0 - eta), axis=-1)[:, :args.k]
            else:                            # singular values of Jn = |eigenvalues|
                eta = np.sort(np.abs(eta), axis=-1)
            closed.append(eta)
    return np.stack(measured, axis=1), (np.stack(closed, axis=1) if closed else None)


def _report(args, sch, meas, cl, pretrained) -> dict:
    """The result: per time, the mean sorted spectrum, phases, largest-gap dimension and codimension, and the
    closed form's where known."""
    import numpy as np

    from rmt import readouts
    model_name = pretrained_name(args) or ("checkpoint" if args.checkpoint else args.model)
    out = {"model": model_name, "method": args.method, "schedule": sch.name, "schedule_parameters": sch.to_dict(),
           "t": list(args.t), "points": int(meas.shape[0]), "times": []}
    if pretrained is not None:
        out["model_info"] = pretrained.describe()
    for i, t in enumerate(args.t):
        v = meas[:, i, :]
        row = {"t": t, "tau": float(sch.tau(t)), "mean_sorted": v.mean(0).tolist(),
               "phase": [str(p) for p in readouts.phases(v)],
               "largest_gap_dimension": readouts.largest_gap_dimension(v).tolist(),
               "codimension": readouts.codimension(v).tolist()}
        if cl is not None:
            c = cl[:, i, :]
            row["closed_form_mean_sorted"] = c.mean(0).tolist()
            row["max_abs_error"] = float(np.max(np.abs(np.sort(v, -1) - c)))
            row["closed_form_largest_gap_dimension"] = readouts.largest_gap_dimension(c).tolist()
        out["times"].append(row)
    if cl is not None:
        out["max_abs_error"] = max(r["max_abs_error"] for r in out["times"])
    return out


def _write(args, out: dict, measured, closed) -> list[str]:
    """``OUT/spectra.npz`` and ``spectra.png`` (the sorted spectrum at each time, with the closed form where known)."""
    import numpy as np

    from ._figures import sorted_spectra_figure
    args.out.mkdir(parents=True, exist_ok=True)
    arrays = {"measured": measured, "t": np.asarray(args.t)}
    if closed is not None:
        arrays["closed_form"] = closed
    save_arrays(args, "spectra.npz", **arrays)
    lanczos = args.method == "lanczos"
    what = r"$1 - a\,\sigma$" if lanczos else r"singular values of $J_n = s_t^2 \nabla s$"
    title = f"{args.method} spectra, {out['model']}, {out['points']} points, {out['schedule']} schedule" + (
        f"\n$\\sigma$: the top {args.k} singular values of the denoiser Jacobian" if lanczos else "")
    fig = sorted_spectra_figure(args.t, [r["tau"] for r in out["times"]], measured, closed, what, title)
    png = write_figure(args, "spectra.png", fig, "the sorted spectrum at each time" +
                       (" with the closed form" if closed is not None else ""))
    return ["spectra.npz", png, "summary.json"]


def register(sub, help_text):
    """Add the ``spectra`` command to the subparsers ``sub``; ``help_text`` is its one-line help."""
    p = sub.add_parser("spectra", help=help_text, description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=None, help="trained model (checkpoint.pt of specgap train)")
    add_pretrained_options(p)
    add_exact_model_options(p)
    p.add_argument("--method", choices=["exact", "lanczos", "finite-difference"], default="exact",
                   help="exact: the full Jacobian by autodiff (default); lanczos: its top --k singular values; "
                        "finite-difference: differences of the score along --probes orthonormal directions")
    p.add_argument("--t", type=float_list, default=None,
                   help="process times, e.g. 0.01,0.1 (default 0.01,0.1,1; --diffusers: training timesteps, default "
                        "1%%,10%%,50%% of T; --denoiser: sigma)")
    p.add_argument("--points", type=int, default=4, help="points of p_t at which to measure")
    p.add_argument("--k", type=int, default=None, help="lanczos: number of top singular values")
    p.add_argument("--probes", type=int, default=None, help="finite-difference: number of probes K")
    p.add_argument("--schedule", choices=["ve", "vp"], default="ve", help="exact models only")
    p.add_argument("--device", default="cpu", help="auto | cpu | cuda (checkpoints)")
    add_common(p, out_help="directory for spectra.png (the sorted spectrum at each time, with the closed form of an "
                           "exact model), spectra.npz and summary.json")
    p.set_defaults(handler=_run, needs=lambda args: TORCH + pretrained_needs(args))
