"""``specgap reproduce <figure>``: reproduce a figure of the paper (figures, summary.json, arrays).

``fig2`` is defined here (package simulate). Other figures plug in as optional modules
``specgap.commands.reproduce_<fig>`` exposing ``register(cmds)`` (``cmds`` is the subparsers object of
this group); a missing module leaves the figure listed as not yet available.
"""
from __future__ import annotations

import importlib

from ..cli import add_common, emit

OPTIONAL = ("fig3", "fig4", "fig5")


def _fig2(args):
    from simulate.fig2 import reproduce_fig2
    for name in ("d", "draws"):
        if getattr(args, name) is not None and getattr(args, name) < (2 if name == "draws" else 4):
            raise ValueError(f"--{name} must be >= {2 if name == 'draws' else 4}, got {getattr(args, name)}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    if args.out is None:
        raise ValueError("--out is required (directory for the figures and summary.json)")
    s = reproduce_fig2(args.out, d=args.d or 100, draws=args.draws or 100, seed=args.seed,
                       backend=args.backend, quick=args.quick, progress=not args.json)
    text = (f"fig2 (d={s['parameters']['d']}, {s['parameters']['draws']} draws): t_max theory "
            f"{s['theory']['t_max']:.5g}, simulation argmax {s['simulation']['t_max']:.5g}; "
            + "; ".join(f"t={a['t']:.3g} KS {a['ks']['mean']:.4f}" for a in s["agreement"])
            + f"; files in {args.out}")
    emit(args, s, text)


def add_reproduce_options(c, quick_help="quick mode (fewer draws/steps)", draws_help="number of draws",
                          d_help="ambient dimension"):
    """The options every ``reproduce`` figure shares: ``--quick --draws --d`` and ``--json --out --seed``."""
    c.add_argument("--quick", action="store_true", help=quick_help)
    c.add_argument("--draws", type=int, default=None, help=draws_help)
    c.add_argument("--d", type=int, default=None, help=d_help)
    add_common(c)


def _unavailable(fig):
    def handler(args):
        from ..cli import UsageError
        raise UsageError(f"specgap reproduce {fig}: not available in this version")
    return handler


def register(sub, help_text):
    p = sub.add_parser("reproduce", help=help_text, description=help_text)
    cmds = p.add_subparsers(dest="command", metavar="<figure>")
    cmds.required = True

    c = cmds.add_parser("fig2", help="Fig. 2: double-variance spectra, theory vs simulation, dimension drop",
                        description="alpha=0.5, levels 1 and 0.01, f=0.75, d=100, 100 draws of F (VE).")
    add_reproduce_options(c, quick_help="41 times, at most 20 draws", draws_help="number of F draws (default 100)",
                          d_help="ambient dimension (default 100)")
    c.add_argument("--backend", choices=["numpy", "numba", "jax"], default="numpy")
    c.set_defaults(handler=_fig2)

    for fig in OPTIONAL:
        mod_name = f"specgap.commands.reproduce_{fig}"
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:
            if e.name != mod_name:
                raise
            mod = None
        if mod is not None:
            mod.register(cmds)
        else:
            u = cmds.add_parser(fig, help=f"{fig} [not yet available]")
            add_reproduce_options(u)
            u.set_defaults(handler=_unavailable(fig))
