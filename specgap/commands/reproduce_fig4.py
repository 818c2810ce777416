"""``specgap reproduce fig4``: the double-variance network spectrum against the theory density (:mod:`specgap.reproduce.fig34`).

    specgap reproduce fig4 --quick --out results/fig4 [--runs results/fig3/runs]   # reuse Fig. 3's panel (a)

Registered in the ``reproduce`` group by :mod:`specgap.commands.reproduce`.
"""
from __future__ import annotations

from ._common import emit, float_list
from .reproduce_fig3 import add_fig34_options, settings_from


def register(cmds):
    """Add ``reproduce fig4`` to the subparsers ``cmds`` of the ``reproduce`` group."""
    c = cmds.add_parser(
        "fig4", help="Fig. 4: double-variance network spectrum vs theory density at t = 0.45, 0.3, 0.11",
        description="The network of Fig. 3 (a) (trained into --runs/a, reused when present): singular values of "
                    "t J at noised training points against the theory density; KS of the m smallest values to the "
                    "theory's tangent law, codimension and largest-gap dimension, network and theory.")
    add_fig34_options(c, "CPU quick mode: 1200 training steps, 16 points",
                      "directory for fig4_density.png, spectra.npz, theory.npz, summary.json and (without --runs) "
                      "the trained network in OUT/runs (required)")
    c.add_argument("--t", type=float_list, default=None, help="times (default 0.45,0.3,0.11)")
    c.set_defaults(handler=_fig4)


def _fig4(args):
    settings = settings_from(args, {"points": "fig4_points"})
    from ..reproduce.fig34 import FIG4_TIMES, reproduce_fig4
    times = FIG4_TIMES if args.t is None else tuple(args.t)
    if any(t <= 0 for t in times):
        raise ValueError(f"--t must be > 0, got {args.t}")
    s = reproduce_fig4(args.out, quick=args.quick, seed=args.seed, runs=args.runs, times=times,
                       progress=not (args.json or args.no_progress), settings=settings)
    lines = [f"fig4 ({'quick' if args.quick else 'full'}, d={s['d']}, m={s['m']}, {s['points']} points):"]
    for r in s["per_time"]:
        lines.append(f"  t={r['t']:g}: KS(m smallest vs tangent law) {r['ks_tangent']['pooled']:.3f} (exact score of "
                     f"the same F {r['ks_tangent']['exact_same_F']:.3f}); codimension {r['codimension']['network_mean']:.1f}"
                     f" (theory {r['codimension']['theory']}); largest-gap dimension "
                     f"{r['largest_gap_dimension']['network_mean']:.1f} (theory {r['largest_gap_dimension']['theory']:.0f})")
    lines.append(f"  files in {args.out}")
    emit(args, s, "\n".join(lines))
