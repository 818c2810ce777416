"""``specgap simulate``: random F matrices and exact-score spectra (package simulate).

``specgap simulate spectra --d D --alpha A --levels .. --fractions .. --t t1,t2,.. --draws R
[--backend numpy|numba|jax] [--schedule ve|vp] --out DIR`` writes ``DIR/spectra.npz`` (``eta`` (R, T, d),
``t``, ``tau``), ``DIR/histogram.npz``, ``DIR/density.png`` (the histogram of eta at each time with the theory
density over it) and ``DIR/summary.json``.
"""
from __future__ import annotations

from ._common import (BACKEND_HELP, SCHEDULE_HELP, SCHEDULE_NAMES, add_common, emit, flags_for, float_list, save_arrays,
                      write_figure)


def _spectra(args):
    import numpy as np

    from rmt.gaps import edges_report
    from rmt.mp import JacobianLaw
    from rmt.readouts import codimension, effective_dimension, largest_gap_dimension
    from simulate.agreement import agreement, bulk_counts, empirical_edges
    from simulate.spectra import simulate_spectra

    from .theory import manifold_from
    M = manifold_from(args)
    if args.bins < 1:
        raise ValueError(f"--bins must be >= 1, got {args.bins}")
    # d and draws are checked by simulate_spectra; these three are checked here first because the library checks
    # the seed only once the draws start and words the other two for arrays and products
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    t = np.asarray(args.t, dtype=float)
    if np.any(~np.isfinite(t)) or np.any(t <= 0):
        raise ValueError(f"--t must be finite and > 0, got {args.t}")
    if args.d >= 1 and M.latent_dim(args.d) < 1:
        raise ValueError(f"--alpha times --d must round to at least 1 latent direction, got {args.alpha} * {args.d}")
    with flags_for({"d": "--d", "draws": "--draws"}):
        spec, lam = simulate_spectra(M, args.d, t, args.draws, args.seed, args.backend, args.schedule,
                                     progress=not args.json, return_eigenvalues=True)
    v = spec.values
    res = {"d": args.d, "m": M.latent_dim(args.d),
           "alpha": M.alpha, "profile": M.profile.as_dict(), "draws": args.draws, "seed": args.seed,
           "backend": args.backend, "schedule": spec.schedule.name, "t": spec.t.tolist(), "tau": spec.tau.tolist(),
           "spike_mass": float(np.mean(v == 1.0)), "spike_mass_theory": M.zero_mass,
           "covariance": {"min_nonzero_mean": float(np.mean(lam.min(axis=1))),
                          "max_mean": float(np.mean(lam.max(axis=1))),
                          "theory": edges_report(M)}}
    counts = bulk_counts(M, args.d)
    res["bulk_counts"] = counts.tolist()
    e_sim = empirical_edges(v, counts)                               # (R, T, B, 2)
    agr = agreement(M, spec) if args.agreement else None
    bins = np.linspace(0.0, 1.0, args.bins + 1)
    hist = np.empty((spec.n_times, args.bins))
    times = []
    for i in range(spec.n_times):
        x = v[:, i].ravel()
        h, _ = np.histogram(x[x < 1.0], bins=bins)
        hist[i] = h / (x.size * np.diff(bins))
        js = JacobianLaw(M, float(spec.tau[i]))
        entry = {"t": float(spec.t[i]), "tau": float(spec.tau[i]),
                 "spike_mass": float(np.mean(v[:, i] == 1.0)),
                 "edges_mean": e_sim[:, i].mean(axis=0).tolist(),
                 "edges_theory": [[b.lower, b.upper] for b in js.support()],
                 "largest_gap_dimension_mean": float(np.mean(largest_gap_dimension(v[:, i]))),
                 "effective_dimension_mean": float(np.mean(effective_dimension(v[:, i]))),
                 "codimension_mean": float(np.mean(codimension(v[:, i], args.delta)))}
        if agr is not None:
            entry["ks"] = {k: agr["ks"][k][i] for k in ("mean", "sem", "pooled")}
            entry["w1"] = {k: agr["w1"][k][i] for k in ("mean", "sem", "pooled")}
        times.append(entry)
    res["times"] = times
    res["histogram"] = {"bin_edges": bins.tolist(), "note": "density per unit d of eta < 1 pooled over draws; "
                        "the spike (eta == 1) is excluded and reported as spike_mass",
                        "density": hist.tolist()}
    if args.out is not None:
        res["files"] = _write(args, M, spec, bins=bins, density=hist, eigenvalues=lam)
    lines = [f"{args.draws} draws, d={args.d}, {spec.n_times} times ({args.backend}); spike mass "
             f"{res['spike_mass']:.4f} (theory {M.zero_mass:.4f})"]
    for e in times:
        ed = ", ".join(f"[{a:.4g}, {b:.4g}]" for a, b in e["edges_mean"])
        lines.append(f"t={e['t']:<10.4g} edges {ed}" + (f"  KS {e['ks']['mean']:.4f}" if "ks" in e else ""))
    emit(args, res, "\n".join(lines))


def _write(args, manifold, spec, **histogram) -> list[str]:
    """``OUT/spectra.npz``, ``histogram.npz`` and ``density.png`` (histograms against the theory density)."""
    from ..reproduce.fig2 import plot_density_panels
    args.out.mkdir(parents=True, exist_ok=True)
    spec.save(args.out / "spectra.npz")
    save_arrays(args, "histogram.npz", bin_edges=histogram["bins"], density=histogram["density"],
                eigenvalues=histogram["eigenvalues"])
    fig = plot_density_panels(manifold, spec, bins=args.bins)
    png = write_figure(args, "density.png", fig, "the simulated spectra against the theory density")
    return ["spectra.npz", "histogram.npz", png, "summary.json"]


def backend_needs(args) -> tuple[str, ...]:
    """``--backend jax`` needs jax (numpy and numba are in the core)."""
    return ("jax", "jaxlib") if getattr(args, "backend", None) == "jax" else ()


def register(sub, help_text):
    """Add the ``simulate`` group and its commands to the subparsers ``sub``; ``help_text`` is its one-line help."""
    from .theory import add_model
    p = sub.add_parser("simulate", help=help_text, description=help_text)
    cmds = p.add_subparsers(dest="command", metavar="<command>")
    cmds.required = True

    c = cmds.add_parser("spectra", help="exact-score Jacobian spectra of random F draws at many times",
                        description="eta = tau/(lambda + tau) for the eigenvalues lambda of C = F F^T "
                                    "(one small Gram eigendecomposition per draw); d - m values at 1.")
    add_model(c)
    c.add_argument("--d", type=int, required=True, help="ambient dimension")
    c.add_argument("--t", type=float_list, required=True, help="process times t1,t2,.. (VE: t = tau)")
    c.add_argument("--draws", type=int, default=10, help="number of F draws R (default 10)")
    c.add_argument("--backend", choices=["numpy", "numba", "jax"], default="numpy", help=BACKEND_HELP)
    c.add_argument("--schedule", choices=SCHEDULE_NAMES, default="ve", help=SCHEDULE_HELP)
    c.add_argument("--bins", type=int, default=50,
                   help="histogram bins (default 50): on [0, 1] in summary.json, over the bulks in density.png")
    c.add_argument("--delta", type=float, default=0.1, help="resolution for the codimension readout")
    c.add_argument("--no-agreement", dest="agreement", action="store_false",
                   help="skip the KS / W1 comparison with the theory")
    add_common(c, out_help="directory for density.png (the histogram of eta at each time with the theory density "
                           "over it), spectra.npz, histogram.npz and summary.json")
    c.set_defaults(handler=_spectra, needs=backend_needs)

    from .simulate_sample import register_sample
    register_sample(cmds)
