"""``specgap reproduce <figure>``: reproduce a figure or study of the papers (figures, summary.json, arrays).

The reproductions live in :mod:`specgap.reproduce`; ``fig2`` and the studies are registered here, ``fig3``/``fig4``/
``fig5`` in :mod:`specgap.commands.reproduce_fig3` etc. (their options differ).
"""
from __future__ import annotations

from ._common import BACKEND_HELP, TORCH, add_common, dataset_needs, emit, flags_for, require_out


def _fig2(args):
    """``reproduce fig2``: the options mapped to :func:`specgap.reproduce.fig2.reproduce_fig2`, which checks them."""
    from ..reproduce.fig2 import reproduce_fig2
    require_out(args)
    with flags_for({"d": "--d", "draws": "--draws", "backend": "--backend"}):
        s = reproduce_fig2(args.out, d=100 if args.d is None else args.d, draws=100 if args.draws is None else args.draws,
                           seed=args.seed, backend=args.backend, quick=args.quick, progress=not args.json)
    text = (f"fig2 (d={s['parameters']['d']}, {s['parameters']['draws']} draws): t_max theory "
            f"{s['theory']['t_max']:.5g}, simulation argmax {s['simulation']['t_max']:.5g}; "
            + f"KS {s['ks']['mean']:.4f} (the same at every t); "
            + "; ".join(f"t={a['t']:.3g} W1 {a['w1_eta']['mean']:.4f}" for a in s["agreement"])
            + f"; files in {args.out}")
    emit(args, s, text)


def add_reproduce_options(c, quick_help="quick mode (fewer draws/steps)", draws_help="number of draws",
                          d_help="ambient dimension", out_help=None):
    """The options every ``reproduce`` figure shares: ``--quick --draws --d`` and ``--json --out --seed``."""
    c.add_argument("--quick", action="store_true", help=quick_help)
    c.add_argument("--draws", type=int, default=None, help=draws_help)
    c.add_argument("--d", type=int, default=None, help=d_help)
    add_common(c, out_help=out_help)


#: the optional modules of each study (beside its data)
def _reads(*names):
    """``needs`` of a study that reads the bundled copies of the data sets ``names`` (looked up when it runs)."""
    return lambda args: sum((dataset_needs(n) for n in names), ())


_STUDY_NEEDS = {"relu-partition": TORCH, "toy-ddpm": TORCH, "vae-dynamics": _reads("mnist"),
                "ood": _reads("mnist", "photo-patches"), "guidance": _reads("mnist"),
                "ridge-toy": TORCH, "ridge-mnist": _reads("mnist")}


def register(sub, help_text):
    """Add the ``reproduce`` group and its commands to the subparsers ``sub``; ``help_text`` is its one-line help."""
    p = sub.add_parser("reproduce", help=help_text)
    cmds = p.add_subparsers(dest="command", metavar="<figure>")
    cmds.required = True

    c = cmds.add_parser("fig2", help="Fig. 2: double-variance spectra, theory vs simulation, dimension drop",
                        description="alpha=0.5, levels 1 and 0.01, f=0.75, d=100, 100 draws of F (VE).")
    add_reproduce_options(c, quick_help="41 times, at most 20 draws", draws_help="number of F draws (default 100)",
                          d_help="ambient dimension (default 100)",
                          out_help="directory for fig2_density.png, fig2_spectra.png, fig2_dimension.png, spectra.npz, "
                                   "curves.npz and summary.json (required)")
    c.add_argument("--backend", choices=["numpy", "numba", "jax"], default="numpy", help=BACKEND_HELP)
    from .simulate import backend_needs
    c.set_defaults(handler=_fig2, needs=backend_needs)

    from . import reproduce_fig3, reproduce_fig4, reproduce_fig5
    for mod in (reproduce_fig3, reproduce_fig4, reproduce_fig5):
        mod.register(cmds)
    cmds.choices["fig3"].set_defaults(needs=TORCH)
    cmds.choices["fig4"].set_defaults(needs=TORCH)

    for name, help_, fn in (
            ("relu-partition", "linear regions of a ReLU generator R^2 -> R^3, psi per region, density vs psi",
             _relu_partition),
            ("toy-ddpm", "psi, nu, delta of a 2-D diffusion model on a circle, on vs off the manifold, against t",
             _toy_ddpm),
            ("vae-dynamics", "psi, nu, delta of a VAE decoder on MNIST over training, for several input-noise levels",
             _vae_dynamics),
            ("ood", "AUROC of psi, nu, delta (and the ELBO) separating MNIST from 8x8 digits, photo patches, noise",
             _ood),
            ("guidance", "classifier guidance of a latent diffusion model toward high / low local scaling psi",
             _guidance),
            ("ridge-toy", "random-feature model on 2-D Dirac mixtures (2, 3, 9 modes) against the density ridge",
             _ridge_toy),
            ("ridge-mnist", "latent diffusion on MNIST (VAE, latent 16) against the ridge of the training latents",
             _ridge_mnist)):
        c = cmds.add_parser(name, help=help_, description=help_)
        c.add_argument("--quick", action="store_true", help="CPU seconds (smaller grid / training)")
        add_common(c, out_help=f"directory for the study's figures ({name.replace('-', '_')}*.png), arrays (.npz) "
                               "and summary.json (required)")
        c.set_defaults(handler=fn, needs=_STUDY_NEEDS[name])
    p.description = (f"Reproduce one of the papers' {len(cmds.choices)} figures and studies (below): each writes "
                     "its figures, arrays and summary.json into --out; --quick runs a CPU-sized version.")


def _relu_partition(args):
    require_out(args)
    from ..reproduce.relu_partition import reproduce_relu_partition
    s = reproduce_relu_partition(args.out, quick=args.quick, seed=args.seed, progress=not args.json)
    emit(args, s, f"relu-partition: {s['regions']} regions ({s['regions_used']} with enough samples); Spearman "
                  f"(psi, generated density) {s['spearman_psi_vs_density']:.3f}; files in {args.out}")


def _toy_ddpm(args):
    require_out(args)
    from ..reproduce.toy_ddpm import reproduce_toy_ddpm
    s = reproduce_toy_ddpm(args.out, quick=args.quick, seed=args.seed, progress=not args.json)
    best = "; ".join((f"{k} {v['on_manifold']} on the manifold" if v["on_manifold"] != "equal" else
                      f"{k} alike on and off the manifold") + f": separation {v['separation']:.3f} at t={v['t']:.3g}"
                     for k, v in s["max_separation"].items())
    emit(args, s, f"toy-ddpm: largest on- vs off-manifold separation max(AUROC, 1 - AUROC) over t: {best}; "
                  f"files in {args.out}")


def _vae_dynamics(args):
    require_out(args)
    from ..reproduce.vae_studies import reproduce_vae_dynamics
    s = reproduce_vae_dynamics(args.out, quick=args.quick, seed=args.seed, progress=not args.json)
    rows = "; ".join(f"noise {r['noise_std']:g}: " + ", ".join(f"{k} {r[k]['spearman_log_step']:+.2f}"
                                                                for k in ("psi", "nu", "delta"))
                     for r in s["per_noise"])
    emit(args, s, f"vae-dynamics: Spearman of each descriptor with log(step): {rows}; files in {args.out}")


def _ood(args):
    require_out(args)
    from ..reproduce.vae_studies import reproduce_ood
    s = reproduce_ood(args.out, quick=args.quick, seed=args.seed, progress=not args.json)
    rows = "; ".join(f"{name}: " + ", ".join(f"{k} {v['auroc']:.2f}" for k, v in t.items())
                     for name, t in s["auroc"].items())
    emit(args, s, f"ood: AUROC (OOD positive) {rows}; files in {args.out}")


def _guidance(args):
    require_out(args)
    from ..reproduce.guidance import reproduce_guidance
    s = reproduce_guidance(args.out, quick=args.quick, seed=args.seed, progress=not args.json)
    rows = "; ".join(f"toward {d}: psi " + " -> ".join(f"{r['psi_mean']:.2f}" for r in R)
                     for d, R in s["per_rho"].items())
    emit(args, s, f"guidance (rho {s['parameters']['rhos']}): {rows}; Spearman {s['spearman_psi_vs_rho']}; "
                  f"files in {args.out}")


def _ridge_toy(args):
    require_out(args)
    from ..reproduce.ridge_toy import reproduce_ridge_toy
    s = reproduce_ridge_toy(args.out, quick=args.quick, seed=args.seed, progress=not args.json)
    per = "; ".join(f"{k} modes: {v['inter_mode']} inter-mode, {v['inter_mode_on_ridge']} on a segment, settled "
                    f"distance {v['dynamics']['slope']['settled_median']:.3g}" for k, v in s["configs"].items())
    inj, rf = s["align_law"]["injected"], s["align_law"]["random_features"]
    law = (f"align law: injected slope {inj['slope']:.3f} [{inj['ci'][0]:.3f}, {inj['ci'][1]:.3f}], random "
           f"features R^2 {rf['r2']:.2f} off ridge junctions ({rf['r2_all']:.2f} all), slide R^2 "
           f"{rf['slide']['r2']:.2f}")
    emit(args, s, f"ridge-toy: {per}; {law}; files in {args.out}")


def _ridge_mnist(args):
    require_out(args)
    from ..reproduce.ridge_mnist import reproduce_ridge_mnist
    s = reproduce_ridge_mnist(args.out, quick=args.quick, seed=args.seed, progress=not args.json)
    o = s["on_ridge"]
    on = "; ".join(f"k={k} (tau {o['threshold'][k]:.2f}): training {o['training'][k][-1]:.2f}, held-out "
                   f"{o['held_out'][k][-1]:.2f}, generated {o['generated'][k][-1]:.2f}" for k in o["threshold"])
    emit(args, s, f"ridge-mnist: on the ridge at t={o['times'][-1]:.3g} (s |V V^T score| < tau_k, tau_k calibrated on "
                  f"noised training latents) {on}; nearest-training-latent distance median: samples "
                  f"{s['memorisation']['nn_sample_median']:.3g}, held-out {s['memorisation']['nn_held_out_median']:.3g}"
                  f" (training spacing {s['spacing_median']:.3g}); files in {args.out}")
