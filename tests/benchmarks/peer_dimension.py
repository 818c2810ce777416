"""Peer benchmark of intrinsic-dimension estimators on scikit-dimension's ``BenchmarkManifolds`` (issue 16).

For every manifold of the suite, sample size ``n`` and seed: the truth, specgap's estimators (the
recommended manifold dimension ``manifold``, the largest gap ``gap``, ``D_eff``, FLIPD, the normal bundle) and
scikit-dimension's MLE, TwoNN, lPCA and DANCo (DANCo only where asked: it takes 10-30 s per fit); then the
mean absolute error per estimator and the time. No per-manifold tuning: every estimator runs with its
defaults.

specgap's ``gap`` and ``deff`` are read from the spectra of the ``manifold`` fit (the same query points and
per-point window scales: the window rule depends only on the manifold count); their time column is that fit's
time. The benchmark prints the time of ``manifold`` over MLE's per manifold, the worst and the total.

Usage::

    python tests/benchmarks/peer_dimension.py --n 1000,2500 --seeds 0,1,2 --danco 1000:0 [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import warnings

import numpy as np

SPECGAP = ["manifold", "gap", "deff", "flipd", "normal-bundle"]
SKDIM = ["MLE", "TwoNN", "lPCA", "DANCo"]


class _Timeout(Exception):
    pass


def _alarm(signum, frame):  # pragma: no cover - only on timeout
    raise _Timeout()


def specgap_estimates(X, seed=0):
    """{name: (dimension, seconds)} for specgap's estimators on the point cloud ``X``."""
    from rmt import readouts
    from trained.estimators import FLIPD, ManifoldGapDimension, NormalBundle
    out = {}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mg = ManifoldGapDimension(random_state=seed).fit(X)
    dt = time.perf_counter() - t0
    j = mg.tau_index_pw_
    v = mg.spectrum_.values[np.arange(j.size), j]
    med = lambda a: int(np.floor(np.median(a) + 0.5))  # noqa: E731
    out["manifold"] = (int(mg.dimension_), dt)
    out["gap"] = (med(readouts.largest_gap(v)[0]), dt)
    out["deff"] = (med(readouts.effective_dimension(v)), dt)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fl = FLIPD(random_state=seed).fit(X)
    out["flipd"] = (float(np.median(fl.dimension_pw_)), time.perf_counter() - t0)
    t0 = time.perf_counter()
    nb = NormalBundle(random_state=seed).fit(X)
    out["normal-bundle"] = (int(nb.dimension_), time.perf_counter() - t0)
    return out


def skdim_estimates(X, danco=False, danco_timeout=60):
    import skdim
    out = {}
    for name in SKDIM:
        if name == "DANCo" and not danco:
            continue
        est = getattr(skdim.id, name)()
        t0 = time.perf_counter()
        old = signal.signal(signal.SIGALRM, _alarm) if name == "DANCo" else None
        try:
            if name == "DANCo":
                signal.alarm(int(danco_timeout))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dim = float(est.fit(X).dimension_)
        except _Timeout:
            dim = float("nan")
        except Exception:  # noqa: BLE001 - a peer estimator failing is a result, not an error
            dim = float("nan")
        finally:
            if name == "DANCo":
                signal.alarm(0)
                signal.signal(signal.SIGALRM, old)
        out[name] = (dim, time.perf_counter() - t0)
    return out


def run(ns=(1000, 2500), seeds=(0, 1, 2), manifolds=None, danco=((1000, 0),), danco_timeout=60, progress=True):
    """Rows ``{manifold, n, seed, truth, ambient, estimates: {name: (dimension, seconds)}}``."""
    import skdim
    rows = []
    for n in ns:
        for seed in seeds:
            bm = skdim.datasets.BenchmarkManifolds(random_state=seed)
            truth = bm.truth
            names = list(truth.index) if manifolds is None else list(manifolds)
            for name in names:
                m, D = int(truth.loc[name, "Intrinsic Dimension"]), int(truth.loc[name, "Number of variables"])
                X = np.asarray(bm.generate(name, n=n, dim=D, d=m), dtype=float)
                est = specgap_estimates(X, seed)
                est.update(skdim_estimates(X, danco=(n, seed) in set(map(tuple, danco)), danco_timeout=danco_timeout))
                rows.append({"manifold": name, "n": n, "seed": seed, "truth": m, "ambient": D, "estimates": est})
                if progress:
                    print(f"  {name:18s} n={n} seed={seed} truth={m}: "
                          + " ".join(f"{k}={v[0]:.3g}" for k, v in est.items()), file=sys.stderr, flush=True)
    return rows


def summary(rows):
    """{n: {estimator: {"mae": .., "time": .., "count": ..}}} over the rows that have the estimator."""
    out = {}
    for n in sorted({r["n"] for r in rows}):
        sub = [r for r in rows if r["n"] == n]
        out[n] = {}
        for name in SPECGAP + SKDIM:
            errs = [abs(r["estimates"][name][0] - r["truth"]) for r in sub
                    if name in r["estimates"] and np.isfinite(r["estimates"][name][0])]
            times = [r["estimates"][name][1] for r in sub if name in r["estimates"]]
            if times:
                out[n][name] = {"mae": float(np.mean(errs)) if errs else float("nan"),
                                "time": float(np.sum(times)), "count": len(errs), "fits": len(times)}
    return out


def table(rows) -> str:
    """Markdown: per manifold and n the truth and the seed-mean estimate of each estimator; then MAE and time."""
    names = [k for k in SPECGAP + SKDIM if any(k in r["estimates"] for r in rows)]
    lines = ["| manifold | n | truth | " + " | ".join(names) + " |", "|---" * (3 + len(names)) + "|"]
    keys = sorted({(r["n"], r["manifold"]) for r in rows}, key=lambda k: (k[0], [r["manifold"] for r in rows].index(k[1])))
    for n, man in keys:
        sub = [r for r in rows if r["n"] == n and r["manifold"] == man]
        cells = []
        for k in names:
            v = [r["estimates"][k][0] for r in sub if k in r["estimates"]]
            cells.append(f"{np.nanmean(v):.1f}" if v and np.any(np.isfinite(v)) else "-")
        lines.append(f"| {man} | {n} | {sub[0]['truth']} | " + " | ".join(cells) + " |")
    for n, per in summary(rows).items():
        lines.append(f"| **MAE** | {n} | | " + " | ".join(f"**{per[k]['mae']:.2f}**" if k in per else "-"
                                                          for k in names) + " |")
        lines.append(f"| time (s) | {n} | | " + " | ".join(f"{per[k]['time']:.1f}" if k in per else "-"
                                                           for k in names) + " |")
    return "\n".join(lines)


def time_ratios(rows, ours="manifold", peer="MLE"):
    """Per manifold (summed over n and seeds) the time of ``ours`` over ``peer``'s; the worst and the total."""
    per = {}
    for r in rows:
        e = r["estimates"]
        if ours in e and peer in e:
            a, b = per.get(r["manifold"], (0.0, 0.0))
            per[r["manifold"]] = (a + e[ours][1], b + e[peer][1])
    ratios = {k: a / b for k, (a, b) in per.items() if b > 0}
    tot_a, tot_b = sum(a for a, _ in per.values()), sum(b for _, b in per.values())
    worst = max(ratios, key=ratios.get) if ratios else None
    return {"per_manifold": ratios, "worst": (worst, ratios.get(worst)), "total": (tot_a, tot_b, tot_a / max(tot_b, 1e-300))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", default="1000,2500", help="sample sizes, comma-separated")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--manifolds", default=None, help="comma-separated subset of the suite (default: all)")
    p.add_argument("--danco", default="1000:0", help="n:seed pairs where DANCo runs ('' for none)")
    p.add_argument("--danco-timeout", type=float, default=60)
    p.add_argument("--json", default=None, help="write the rows and the summary to this file")
    a = p.parse_args(argv)
    ns = [int(v) for v in a.n.split(",") if v]
    seeds = [int(v) for v in a.seeds.split(",") if v]
    danco = [tuple(int(x) for x in v.split(":")) for v in a.danco.split(",") if v]
    t0 = time.perf_counter()
    rows = run(ns, seeds, a.manifolds.split(",") if a.manifolds else None, danco, a.danco_timeout)
    print(table(rows))
    tr = time_ratios(rows)
    print("\ntime specgap manifold / skdim MLE per manifold: "
          + ", ".join(f"{k} {v:.1f}x" for k, v in tr["per_manifold"].items()))
    print(f"worst {tr['worst'][0]} {tr['worst'][1]:.1f}x; total {tr['total'][0]:.2f} s / {tr['total'][1]:.2f} s = "
          f"{tr['total'][2]:.1f}x (goal <= 10x on every manifold: "
          f"{'met' if tr['worst'][1] <= 10 else 'NOT met'})")
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"rows": rows, "summary": {str(k): v for k, v in summary(rows).items()}}, fh, indent=1)


if __name__ == "__main__":
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))     # this checkout's packages first
    main()
