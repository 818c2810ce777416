"""Speed of the exact-score spectrum simulator (issue 4). No timed assertions: ratios are printed and
stored in the benchmark's ``extra_info``.

- fast route (one Gram eigendecomposition per draw) vs the naive route (form ``J_t`` and ``eigvalsh`` at
  every time), d = 1000, alpha = 0.5, 50 times, 10 draws, both measured in the same run;
- d = 2000, 100 draws, 100 times with the numpy, numba and JAX backends.

``make bench`` (``SPECGAP_BENCH=full``) runs the full sizes; otherwise the sizes are reduced so the suite
stays fast. Both routes are timed once per draw (the same repetitions on both sides). ``python tests/benchmarks/test_bench_simulate.py``
runs the full sizes and prints the table.
"""
import sys
import time

import numpy as np

from rmt import LinearManifold, VarianceProfile
from simulate.fmatrix import chunk_size, covariance_eigenvalues, sample_F
from simulate.spectra import eta_from_eigenvalues, simulate_spectra

from benchutil import report

FIG2 = LinearManifold(0.5, VarianceProfile([1, 0.01], [0.75, 0.25]))


def naive_route(F, t):
    """Per draw and time: C = F F^T, J_t = -(C + t I)^{-1} (VE), eigvalsh of -Jn = -t J_t."""
    d = F.shape[1]
    out = np.empty((F.shape[0], len(t), d))
    eye = np.eye(d)
    for r, f in enumerate(F):
        C = f @ f.T
        for i, ti in enumerate(t):
            J = -np.linalg.inv(C + ti * eye)
            out[r, i] = np.linalg.eigvalsh(-ti * J)
    return out


def fast_route(F, t):
    from simulate.spectra import spectra_from_F
    return spectra_from_F(F, t).values


def fast_vs_naive(d=1000, T=50, R=10, repeats=1):
    """Both routes on the same F, interleaved draw by draw so that load from other processes hits both
    alike; each route of each draw is timed ``repeats`` times (median summed over draws)."""
    t = np.geomspace(1e-4, 1e2, T)
    F = sample_F(FIG2, d, R, seed=0)
    fast_route(F[:1], t[:2])                                   # warm-up
    fast_med, fast_min, naive_s, err = 0.0, 0.0, 0.0, 0.0
    for r in range(R):
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fast = fast_route(F[r:r + 1], t)
            ts.append(time.perf_counter() - t0)
        fast_med += float(np.median(ts))
        fast_min += min(ts)
        tn = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            naive = naive_route(F[r:r + 1], t)
            tn.append(time.perf_counter() - t0)
        naive_s += float(np.median(tn))
        err = max(err, float(np.max(np.abs(fast - naive))))
    t0 = time.perf_counter()
    fast_route(F, t)                                           # all draws in one call, for reference
    batch = time.perf_counter() - t0
    return {"d": d, "times": T, "draws": R, "fast_s": fast_med, "fast_min_s": fast_min, "fast_batch_s": batch,
            "naive_s": naive_s, "ratio": naive_s / fast_med, "ratio_min": naive_s / fast_min, "max_abs_diff": err}


def backends_large(d=2000, R=100, T=100, backends=("numpy", "numba", "jax")):
    t = np.geomspace(1e-4, 1e2, T)
    res = {}
    for b in backends:
        t0 = time.perf_counter()
        # import / compile (JAX: the chunk shape of the timed run), excluded below
        simulate_spectra(FIG2, d, t[:2], chunk_size(d, FIG2.latent_dim(d), R), seed=0, backend=b)
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        lam = covariance_eigenvalues(FIG2, d, R, seed=0, backend=b)
        t1 = time.perf_counter()
        eta = eta_from_eigenvalues(lam, t, d, b)
        t2 = time.perf_counter()
        print(f"  {b}: {t2 - t0:.1f} s", file=sys.stderr, flush=True)
        res[b] = {"total_s": t2 - t0, "eigen_s": t1 - t0, "eta_s": t2 - t1, "warmup_s": warm,
                  "shape": list(eta.shape)}
        del eta
    for b in res:
        res[b]["speed_vs_numpy"] = res["numpy"]["total_s"] / res[b]["total_s"]
    return res


def test_bench_fast_vs_naive(benchmark, full):
    size = dict(d=1000, T=50, R=10) if full else dict(d=150, T=10, R=3)
    res = benchmark.pedantic(fast_vs_naive, kwargs=size, rounds=1, iterations=1)
    benchmark.extra_info.update(res)
    report(f"exact-score spectra d={size['d']}, {size['T']} times, {size['R']} draws: one Gram "
           f"eigendecomposition vs J_t + eigvalsh per time", res["fast_s"], res["naive_s"])
    assert res["max_abs_diff"] < 1e-9                         # the two routes compute the same spectra


def test_bench_backends_large(benchmark, full):
    size = dict(d=2000, R=100, T=100) if full else dict(d=200, R=4, T=10)
    res = benchmark.pedantic(backends_large, kwargs=size, rounds=1, iterations=1)
    benchmark.extra_info.update(res)
    print(f"\nbackends at {size}: {res}")
    assert all(r["shape"] == [size["R"], size["T"], size["d"]] for r in res.values())


if __name__ == "__main__":
    a = fast_vs_naive()
    print(f"fast vs naive (d=1000, 50 times, 10 draws): fast {a['fast_s']:.3f} s (median of 3 per draw; min "
          f"{a['fast_min_s']:.3f} s; one batched call {a['fast_batch_s']:.3f} s), naive {a['naive_s']:.1f} s, "
          f"ratio {a['ratio']:.0f}x (vs min {a['ratio_min']:.0f}x), max |diff| {a['max_abs_diff']:.1e}", flush=True)
    b = backends_large()
    for k, v in b.items():
        print(f"d=2000, 100 draws, 100 times, {k:5s}: total {v['total_s']:.1f} s (eigen {v['eigen_s']:.1f} s, "
              f"eta {v['eta_s']:.2f} s, warm-up {v['warmup_s']:.1f} s), speed vs numpy {v['speed_vs_numpy']:.2f}x")
    sys.exit(0)
