"""``specgap reproduce fig3``: spectra of MLPs trained on linear manifolds, gap-opening order (:mod:`specgap.reproduce.fig34`).

    specgap reproduce fig3 --quick --out results/fig3          # CPU, about a minute per panel
    specgap reproduce fig3 --out results/fig3                  # full setting (see specgap.reproduce.fig34.FULL)

Registered in the ``reproduce`` group by :mod:`specgap.commands.reproduce`. The
networks are trained into ``--runs`` (default ``OUT/runs``) and reused or resumed when the command is rerun.
"""
from __future__ import annotations

from ._common import add_common, emit, flags_for, require_out


def add_fig34_options(c, quick_help, out_help=None):
    """Add the options Figs. 3 and 4 share (``--quick`` with ``quick_help``, ``--runs``, ``--steps``,
    ``--points``, ``--no-progress`` and the common ones, ``--out`` described by ``out_help``) to parser ``c``."""
    c.add_argument("--quick", action="store_true", help=quick_help)
    c.add_argument("--runs", default=None, metavar="DIR",
                   help="directory of the trained networks (DIR/<panel>/checkpoint.pt; default OUT/runs)")
    c.add_argument("--steps", type=int, default=None, help="training steps per network")
    c.add_argument("--points", type=int, default=None, help="points the spectra are averaged over")
    c.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_common(c, out_help=out_help)


def settings_from(args, keys):
    """Validated :func:`specgap.reproduce.fig34.fig34_settings` from the options; ``keys`` maps option names to settings."""
    require_out(args, "the figures, summary.json and the networks")
    if args.steps is not None and args.steps < 1:         # fig34_settings checks every setting but the training's
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    from ..reproduce.fig34 import fig34_settings
    over = {key: getattr(args, name) for name, key in keys.items() if getattr(args, name, None) is not None}
    if args.steps is not None:
        over["train"] = {"steps": args.steps}
    with flags_for({key: "--" + name.replace("_", "-") for name, key in keys.items()}):
        return fig34_settings(args.quick, **over)


def register(cmds):
    """Add ``reproduce fig3`` to the subparsers ``cmds`` of the ``reproduce`` group."""
    c = cmds.add_parser(
        "fig3", help="Fig. 3: spectra of networks trained on linear manifolds; order in which subspaces separate",
        description="d=100, m=40; (a) levels 1, 0.01 with f=0.75; (b) swapped; (c) n levels uniform in [0.01, 1]. "
                    "Trains a residual MLP per panel, measures the singular values of t J over time at noised "
                    "training points and along reverse trajectories, and the time each subspace's gap opens "
                    "(network, exact score of the same F, theory).")
    add_fig34_options(c, "CPU quick mode: 1200 training steps, 8 points, 5 times per decade",
                      "directory for fig3_spectra.png, fig3_gaps.png, the spectra per panel (.npz), summary.json and "
                      "(without --runs) the trained networks in OUT/runs (required)")
    c.add_argument("--panels", default="a,b,c", help="comma-separated subset of a,b,c (default all)")
    c.add_argument("--n-levels", type=int, default=None, help="panel (c): number of variance levels (default 10)")
    c.set_defaults(handler=_fig3)


def _fig3(args):
    settings = settings_from(args, {"points": "points", "n_levels": "n_levels"})
    panels = tuple(p.strip() for p in args.panels.split(",") if p.strip())
    bad = [p for p in panels if p not in ("a", "b", "c")]
    if bad or not panels:
        raise ValueError(f"--panels must be a comma-separated subset of a,b,c, got {args.panels!r}")
    from ..reproduce.fig34 import reproduce_fig3
    s = reproduce_fig3(args.out, quick=args.quick, seed=args.seed, runs=args.runs, panels=panels,
                       progress=not (args.json or args.no_progress), settings=settings)
    lines = [f"fig3 ({'quick' if args.quick else 'full'}, d={settings['d']}, alpha={settings['alpha']}): "
             f"gap opens (Delta={settings['delta']}) at t ="]
    for p, v in s["panels"].items():
        subs = "; ".join(f"{x['label']}: network {_fmt(x['t_open']['network'])}, theory {_fmt(x['t_open']['theory'])}"
                         for x in v["subspaces"])
        lines.append(f"  ({p}) {subs}; high variance first: network {v['order']['network']['high_variance_first']}, "
                     f"theory {v['order']['theory']['high_variance_first']}; codimension at t="
                     f"{v['codimension_small_t']['t']:g}: {v['codimension_small_t']['network_mean']:.1f} "
                     f"(d - m = {v['codimension_small_t']['d_minus_m']})")
    if "order_reverses_when_swapped" in s:
        r = s["order_reverses_when_swapped"]
        lines.append(f"  order reverses when swapped: network {r['network']}, theory {r['theory']}")
    lines.append(f"  files in {args.out}")
    emit(args, s, "\n".join(lines))


def _fmt(x):
    return "never" if x is None else f"{x:.3g}"
