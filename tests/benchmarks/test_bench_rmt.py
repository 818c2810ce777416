"""rmt speed targets (run `make bench`; in `make test` each runs once with timing disabled).

Targets (issue 3): density of a two-level profile at 100,000 points < 1 s, with the ratio against a
point-by-point fixed-point iteration of the same equation measured in the same run; edges of a 20-level
profile < 0.1 s; a 200 x 200 phase diagram < 10 s.
"""
import time

import numpy as np

from rmt import LinearManifold, MPSolver, VarianceProfile
from rmt.diagram import phase_diagram

FIG2 = LinearManifold(0.5, VarianceProfile([1, 0.01], [0.75, 0.25]))


def fixed_point_density(x, M, eta=1e-6, tol=1e-12, maxiter=200_000):
    """The naive route: per point, iterate g <- 1/(-z + alpha sum w s/(1 + s g)) at z = x + i eta."""
    s, w, a = M.profile.levels, M.profile.fractions, M.alpha
    out = np.empty(len(x))
    for i, xi in enumerate(x):
        z = complex(xi, eta)
        g = -1.0 / z
        for _ in range(maxiter):
            g_new = 1.0 / (-z + a * np.sum(w * s / (1 + s * g)))
            g_new = 0.5 * (g + g_new)
            if abs(g_new - g) < tol * abs(g_new):
                g = g_new
                break
            g = g_new
        out[i] = g.imag / np.pi
    return out


def test_density_100k_points(benchmark):
    x = np.linspace(1e-4, 3.0, 100_000)
    sol = MPSolver(FIG2)
    sol.support()                      # edges once (cached), then the vectorised density
    dens = benchmark(sol.density, x)
    t0 = time.perf_counter()
    sol.density(x)
    t_vec = time.perf_counter() - t0
    sub = x[::500]                     # 200 points of the same grid for the naive route
    t0 = time.perf_counter()
    naive = fixed_point_density(sub, FIG2)
    t_naive = (time.perf_counter() - t0) * (x.size / sub.size)
    inside = dens[::500] > 1e-3
    np.testing.assert_allclose(naive[inside], dens[::500][inside], rtol=2e-3)
    print(f"\n[rmt] density at 100k points: {t_vec:.3f} s; naive fixed point (extrapolated from 200 pts): "
          f"{t_naive:.1f} s; ratio {t_naive / t_vec:.0f}x")


def test_edges_20_levels(benchmark):
    M = LinearManifold(0.4, VarianceProfile.multi(20, seed=3))

    def edges():
        return MPSolver(M).support()

    bulks = benchmark(edges)
    t0 = time.perf_counter()
    edges()
    print(f"\n[rmt] edges + masses of a 20-level profile: {time.perf_counter() - t0:.3f} s, {len(bulks)} bulks")
    assert sum(b.mass for b in bulks) == __import__("pytest").approx(0.4, abs=1e-3)


def test_phase_diagram_200x200(benchmark):
    vals = np.geomspace(1e-3, 0.9, 200)
    tau = np.geomspace(1e-5, 1e2, 200)
    D = benchmark.pedantic(phase_diagram, args=("ratio", vals, tau), rounds=1, iterations=1)
    t0 = time.perf_counter()
    phase_diagram("alpha", np.linspace(0.05, 0.95, 200), tau)
    print(f"\n[rmt] 200 x 200 phase diagram (alpha): {time.perf_counter() - t0:.2f} s")
    assert D.labels.shape == (200, 200)
