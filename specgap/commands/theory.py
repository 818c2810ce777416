"""``specgap theory``: analytic spectra, edges, gaps, timescales, phase diagrams, formulas (package rmt)."""
from __future__ import annotations

import sys

from ._common import (OUT_SUMMARY, SCHEDULE_HELP, SCHEDULE_NAMES, add_common, emit, flags_for, float_list, save_arrays,
                      write_figure)


def _num(x, fmt=".6g") -> str:
    """A number for a text table; ``-`` where there is none (None or NaN: e.g. a gap that never opens)."""
    return "-" if x is None or x != x else format(x, fmt)


def table(header, rows, fmt=".6g") -> list[str]:
    """Right-aligned text table: ``header`` names, ``rows`` of numbers (formatted with ``fmt``) or strings."""
    cells = [[c if isinstance(c, str) else _num(c, fmt) for c in r] for r in rows]
    w = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    return ["  ".join(h.rjust(n) for h, n in zip(header, w))] + \
        ["  ".join(c.rjust(n) for c, n in zip(r, w)) for r in cells]


def add_model(p):
    """Add the model options (``--alpha``, ``--levels``, ``--fractions``, ``--multi``, ``--uniform``) to parser
    ``p``; :func:`manifold_from` reads them."""
    g = p.add_argument_group("model (docs/theory.md section 1)")
    g.add_argument("--alpha", type=float, required=True, help="m/d (> 0; values above 1 allowed)")
    g.add_argument("--levels", type=float_list, default=[1.0],
                   help="variance levels sigma_k^2, e.g. 1,0.01 (default 1: one level)")
    g.add_argument("--fractions", type=float_list, default=None,
                   help="fraction of columns at each level (sum 1; default equal)")
    g.add_argument("--multi", type=int, default=None, metavar="N",
                   help="the paper's multi-variance profile: N levels uniform in [1e-2, 1] (seeded by --seed)")
    g.add_argument("--uniform", type=float_list, default=None, metavar="LOW,HIGH",
                   help="continuous profile: levels uniform on [LOW, HIGH] (overrides --levels)")


def manifold_from(args):
    """The :class:`rmt.LinearManifold` of the model options (:func:`add_model`): ``--uniform``, else ``--multi``,
    else ``--levels``/``--fractions``, at ``--alpha``."""
    from rmt import ContinuousProfile, LinearManifold, VarianceProfile
    if args.uniform is not None:
        if len(args.uniform) != 2:
            raise ValueError(f"--uniform needs LOW,HIGH, got {args.uniform}")
        prof = ContinuousProfile.uniform(*args.uniform)
    elif args.multi is not None:
        with flags_for({"n": "--multi"}):
            prof = VarianceProfile.multi(args.multi, seed=args.seed)
    else:
        prof = VarianceProfile(args.levels, args.fractions)
    return LinearManifold(args.alpha, prof)


def _edges(args):
    from rmt import edges_report
    M = manifold_from(args)
    res = edges_report(M)
    lines = ["bulks of the covariance spectrum (eigenvalues of F F^T):"]
    lines += table(["lower", "upper", "mass"], [[b["lower"], b["upper"], b["mass"]] for b in res["bulks"]], ".8g")
    lines.append(f"atom at 0: mass {res['zero_mass']:.6f}")
    emit(args, res, "\n".join(lines))


def _spectrum(args):
    from rmt import spectrum_report
    res = spectrum_report(manifold_from(args), args.t, args.schedule, args.delta, args.convention)
    what = "-Jn (eta)" if args.convention == "eta" else "Jn"
    lines = [f"spectrum of {what} at t={res['t']:g} (tau={res['tau']:.6g}, {res['schedule']}): phase {res['phase']}"
             f" (Delta={args.delta:g})", "bulks:"]
    lines += ["  " + r for r in table(["lower", "upper", "mass"], [[b["lower"], b["upper"], b["mass"]]
                                                                  for b in res["bulks"]])]
    lines.append(f"spike at {res['spike']['position']:g}: mass {res['spike']['mass']:.6g}")
    if res["gaps"]:
        lines.append("gaps:")
        lines += ["  " + r for r in table(["lower", "upper", "width"], [[g["lower"], g["upper"], g["width"]]
                                                                       for g in res["gaps"]])]
    else:
        lines.append("gaps: none")
    emit(args, res, "\n".join(lines))


def _density(args):
    import numpy as np

    from rmt import JacobianLaw, get_schedule
    if args.points < 2:
        raise ValueError(f"--points must be >= 2, got {args.points}")
    from rmt.budget import check_memory
    check_memory("--points", 8.0 * 12 * args.points, f"the density at {args.points} points")
    M = manifold_from(args)
    tau = float(get_schedule(args.schedule).tau(args.t))
    js = JacobianLaw(M, tau)
    try:
        eta = js.grid(args.points)       # uniform plus nodes inside each bulk (narrow at extreme t)
    except ValueError as e:
        raise ValueError(f"--t {args.t:g}: {e}") from None
    dens = js.density(eta)
    bulks, warnings = [], []
    for b in js.support():
        inside = (eta >= b.lower) & (eta <= b.upper)
        ok = js.resolved(b)
        bulks.append({"lower": b.lower, "upper": b.upper, "mass": b.mass, "resolved": ok,
                      "integral": float(np.trapezoid(dens[inside], eta[inside])) if ok else None})
        if not ok:
            warnings.append(f"the bulk of mass {b.mass:.4g} at eta in [{b.lower!r}, {b.upper!r}] is narrower than "
                            "float64 resolves; it is left out of the grid (see its lambda units in theory edges)")
    for w in warnings:
        sys.stderr.write(f"specgap: warning: {w}\n")
    res = {"t": args.t, "tau": tau, "eta": eta.tolist(), "density": dens.tolist(), "spike_mass": js.spike_mass, "bulks": bulks,
           "warnings": warnings}
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        save_arrays(args, "density.npz", eta=eta, density=dens)
        from ._figures import theory_density_figure
        fig = theory_density_figure(eta, dens, bulks, js.spike_mass,
                                    f"theory density of the spectrum of $-J_n$ at t = {args.t:g} "
                                    f"(tau = {tau:.4g}, {args.schedule}, alpha = {M.alpha:g})")
        res["files"] = ["density.npz", write_figure(args, "density.png", fig, "the density curve"), "summary.json"]
    head = (f"density of -Jn at t={args.t:g} (tau={tau:.6g}, {args.schedule}) at {eta.size} points in [0, 1] "
            f"({args.points} uniform plus 64 inside each bulk); bulks "
            + ", ".join(f"[{b['lower']:.4g}, {b['upper']:.4g}] mass {b['mass']:.4g}" for b in bulks)
            + f"; spike at 1: mass {js.spike_mass:g}")
    if args.out is not None:
        emit(args, res, head + f"; the values are in {args.out / 'density.npz'}")
    else:
        emit(args, res, "\n".join([head] + table(["eta", "density"], zip(eta.tolist(), dens.tolist()))))


def _timescales(args):
    from rmt import timescales
    res = timescales(manifold_from(args), args.delta, args.schedule)
    ve = res["schedule"] == "ve"                         # t = tau: one column each
    unit = "tau" if ve else "tau (t)"
    lines = [f"timescales at resolution Delta={res['delta']:g}, {res['schedule']} schedule; gap k lies between "
             f"bulks k and k+1 (covariance units):"]
    if res["gaps"]:
        cols = ["tau_open", "tau_max", "tau_close"]
        rows = [[g["k"]] + [g[c] if ve else f"{_num(g[c], '.4g')} ({_num(g['t' + c[3:]], '.4g')})" for c in cols]
                + [g["max_width"], g["dimension_fraction"]] for g in res["gaps"]]
        t = "" if ve else " (t)"
        lines += table(["gap", f"opens at tau{t}", f"widest at tau*{t}", f"closes at tau{t}", "max width",
                        "dim. fraction"],
                       [[str(r[0])] + r[1:] for r in rows], ".4g")
    else:
        lines.append("no intermediate gap (the covariance spectrum has a single bulk)")
    pb, pt = res["phase_boundaries"], res["phase_boundaries_t"]
    def at(tau, t):
        return f"{unit} = {_num(tau, '.4g')}" + ("" if ve else f" ({_num(t, '.4g')})")
    for name, key in (("trivial | coverage", "trivial_coverage"),
                      ("coverage | consolidation", "coverage_consolidation")):
        lines.append(f"phase boundary {name}: {at(pb[key], pt[key])}")
    mg = res["manifold_gap"]
    lines.append(f"the manifold gap opens at {at(mg['tau_open'], mg['t_open'])}")
    emit(args, res, "\n".join(lines))


def _phase_diagram(args):
    import numpy as np

    from rmt.diagram import phase_diagram, plot_phase_diagram
    from rmt.validation import positive_int
    n_values, n_tau = positive_int("--n-values", args.n_values), positive_int("--n-tau", args.n_tau)
    lo, hi = (args.range or {"ratio": [1e-3, 0.9], "sigma2": [1e-3, 0.9], "alpha": [0.05, 0.95],
                             "f": [0.05, 0.95]}[args.parameter])
    valid = {"ratio": "(0, 1]", "sigma2": "(0, 1]", "alpha": "(0, inf)", "f": "(0, 1)"}[args.parameter]
    upper = {"ratio": 1.0, "sigma2": 1.0, "alpha": float("inf"), "f": 1.0}[args.parameter]
    if not (0 < lo < hi) or hi > upper or (args.parameter == "f" and hi >= 1):
        raise ValueError(f"--range must be LOW,HIGH with 0 < LOW < HIGH inside {valid} for --parameter "
                         f"{args.parameter}, got {lo},{hi}")
    if len(args.tau_range) != 2 or not 0 < args.tau_range[0] < args.tau_range[1]:
        raise ValueError(f"--tau-range must be LOW,HIGH with 0 < LOW < HIGH, got {args.tau_range}")
    log = args.parameter in ("ratio", "sigma2")
    values = np.geomspace(lo, hi, n_values) if log else np.linspace(lo, hi, n_values)
    tau = np.geomspace(*args.tau_range, n_tau)
    with flags_for({"values x tau": "--n-values x --n-tau", "delta": "--delta"}):
        D = phase_diagram(args.parameter, values, tau, alpha=args.alpha, levels=args.levels,
                          fractions=args.fractions or [1.0 / len(args.levels)] * len(args.levels), delta=args.delta)
    res = D.as_dict()
    res["grid"] = {"parameter": args.parameter, "range": [lo, hi], "n_values": args.n_values,
                   "spacing": "log" if log else "linear", "tau_range": list(args.tau_range), "n_tau": args.n_tau}
    res["fixed"] = _held_fixed(args)
    if args.out is not None:
        from ..reproduce._artefacts import use_agg
        use_agg()
        import matplotlib.pyplot as plt
        args.out.mkdir(parents=True, exist_ok=True)
        fig = plot_phase_diagram(D)
        fig.savefig(args.out / "phase_diagram.png", dpi=150, bbox_inches="tight")
        fig.savefig(args.out / "phase_diagram.pdf", bbox_inches="tight")
        plt.close(fig)
        save_arrays(args, "phase_diagram.npz", tau=D.tau, values=D.values, labels=D.labels,
                 trivial_coverage=D.trivial_coverage, coverage_consolidation=D.coverage_consolidation,
                 tau_star=D.tau_star)
        res["files"] = ["phase_diagram.png", "phase_diagram.pdf", "phase_diagram.npz"]
    emit(args, res, f"phase diagram over {_PARAMETERS[args.parameter]} in [{lo:g}, {hi:g}] ({args.n_values} values, "
                    f"{'log-spaced' if log else 'evenly spaced'}) x tau in [{args.tau_range[0]:g}, "
                    f"{args.tau_range[1]:g}] ({args.n_tau} values, log-spaced)\nheld fixed: "
                    + ", ".join(f"{k}={v:g}" for k, v in res["fixed"].items())
                    + "\nphase fractions of the grid: " + ", ".join(f"{k} {v:.3f}" for k, v in res["fractions"].items())
                    + (f"\nfiles in {args.out}" if args.out is not None else ""))


#: the swept parameter of ``theory phase-diagram`` in words
_PARAMETERS = {"ratio": "ratio = sigma_2^2 / sigma_1^2", "sigma2": "sigma_2^2", "alpha": "alpha = m/d",
               "f": "f (fraction of the first level)"}


def _held_fixed(args) -> dict:
    """The model quantities ``theory phase-diagram`` holds fixed while its ``--parameter`` varies (the swept one
    replaces its own: --parameter ratio and sigma2 read sigma_1^2 from --levels, f from --fractions)."""
    if args.parameter == "alpha":
        fixed = {**{f"sigma_{k + 1}^2": v for k, v in enumerate(args.levels)},
                 **{f"f_{k + 1}": v for k, v in enumerate(args.fractions)}}
    else:
        fixed = {"alpha": args.alpha, "sigma_1^2": args.levels[0]}
        if args.parameter == "f":
            fixed["sigma_2^2"] = args.levels[1]
        else:
            fixed["f"] = args.fractions[0]
    return {**fixed, "Delta": args.delta}


def _formulas(args):
    from rmt.symbolic import formulas
    fs = formulas()
    res = {k: {"expr": str(f.expr), "latex": f.latex, "args": [str(a) for a in f.args],
               "description": f.description} for k, f in fs.items()}
    text = "\n".join(f"{k}: {v['latex'] if args.latex else v['expr']}" for k, v in res.items())
    emit(args, res, text)


def register(sub, help_text):
    """Add the ``theory`` group and its commands to the subparsers ``sub``; ``help_text`` is its one-line help."""
    p = sub.add_parser("theory", help=help_text, description=help_text)
    cmds = p.add_subparsers(dest="command", metavar="<command>")
    cmds.required = True

    def cmd(name, fn, helptext, model=True, out_help=OUT_SUMMARY):
        c = cmds.add_parser(name, help=helptext, description=helptext)
        if model:
            add_model(c)
        add_common(c, out_help=out_help)
        c.set_defaults(handler=fn, needs=())            # the core only
        return c

    cmd("edges", _edges, "bulks of the covariance spectrum: edges and masses (covariance units)")
    for name, fn, helptext in (("spectrum", _spectrum, "bulks, spike, gaps and phase of -Jn at time t"),
                               ("density", _density, "density of the -Jn spectrum on [0, 1] at time t")):
        c = cmd(name, fn, helptext, out_help=OUT_SUMMARY if name == "spectrum" else
                "directory for density.png (the density curve), density.npz and summary.json")
        c.add_argument("--t", type=float, required=True, help="process time (VE: t = tau = noise variance)")
        c.add_argument("--schedule", choices=SCHEDULE_NAMES, default="ve", help=SCHEDULE_HELP)
        if name == "spectrum":
            c.add_argument("--delta", type=float, default=0.1, help="resolution Delta in (0, 0.5)")
            c.add_argument("--convention", choices=["eta", "jacobian"], default="eta",
                           help="eta: spectrum of -Jn (default); jacobian: of Jn itself (negated)")
        else:
            c.add_argument("--points", type=int, default=201, help="number of grid points on [0, 1]")
    c = cmd("timescales", _timescales, "tau*, maximal widths, opening/closing times, phase boundaries")
    c.add_argument("--delta", type=float, default=0.1, help="resolution Delta in (0, 0.5) (default 0.1)")
    c.add_argument("--schedule", choices=SCHEDULE_NAMES, default="ve", help=SCHEDULE_HELP + "; adds the times t")
    c = cmds.add_parser(
        "phase-diagram", help="phases on a (tau, parameter) grid with boundaries and tau*",
        description="Phase (trivial, coverage, consolidation) of the two-level linear model on a grid of one model "
                    "parameter x tau, with the phase boundaries and tau* of each gap. The other parameters are held "
                    "at --alpha, --levels, --fractions (printed with the result); --out writes phase_diagram.png, "
                    ".pdf and .npz.")
    c.add_argument("--parameter", choices=["ratio", "alpha", "f", "sigma2"], default="ratio",
                   help="the parameter on the vertical axis: ratio = sigma_2^2/sigma_1^2 (default), alpha = m/d, "
                        "f = fraction of the first level, sigma2 = sigma_2^2")
    c.add_argument("--range", type=float_list, default=None, metavar="LOW,HIGH",
                   help="its range (default: ratio and sigma2 1e-3,0.9 log-spaced; alpha and f 0.05,0.95 linear)")
    c.add_argument("--n-values", type=int, default=200, help="number of parameter values (default 200)")
    c.add_argument("--tau-range", type=float_list, default=[1e-5, 1e2], metavar="LOW,HIGH",
                   help="range of tau, log-spaced (default 1e-5,100)")
    c.add_argument("--n-tau", type=int, default=200, help="number of tau values (default 200)")
    c.add_argument("--alpha", type=float, default=0.5, help="m/d where --parameter is not alpha (default 0.5)")
    c.add_argument("--levels", type=float_list, default=[1.0, 0.01],
                   help="variance levels sigma_1^2,sigma_2^2 (default 1,0.01); --parameter ratio and sigma2 set "
                        "sigma_2^2 from the grid")
    c.add_argument("--fractions", type=float_list, default=[0.75, 0.25],
                   help="fractions of the levels (default 0.75,0.25); --parameter f sets them from the grid")
    c.add_argument("--delta", type=float, default=0.1, help="resolution Delta in (0, 0.5) of the phases (default 0.1)")
    add_common(c, out_help="directory for phase_diagram.png, .pdf (the phases with their boundaries), "
                           "phase_diagram.npz and summary.json")
    c.set_defaults(handler=_phase_diagram, needs=())            # the core only
    c = cmd("formulas", _formulas, "sympy-derived closed forms (edges, gaps, tau*, widths)", model=False)
    c.add_argument("--latex", action="store_true", help="print LaTeX")
