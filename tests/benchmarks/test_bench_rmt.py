"""rmt speed targets (run `make bench`; in `make test` each runs once with timing disabled).

Measured and printed (no timed assertion): the density of a two-level profile, vectorised solver against a
point-by-point fixed-point iteration of the same equation on the same points with the same repetitions
(2,000 points under ``make bench``, 200 otherwise), and the solver alone at 100,000 points; edges of a
20-level profile; a 200 x 200 phase diagram (the benchmarked call is the one printed).
"""
import numpy as np

from rmt import LinearManifold, MPSolver, VarianceProfile
from rmt.diagram import phase_diagram

from benchutil import FULL, report, timed

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


def test_density_vectorised_vs_fixed_point(benchmark):
    x = np.linspace(1e-4, 3.0, 100_000)
    sol = MPSolver(FIG2)
    sol.support()                      # edges once (cached), then the vectorised density
    dens = benchmark(sol.density, x)
    _, t_100k = timed(sol.density, x, repeats=3)
    sub = x[::50] if FULL else x[::500]              # the same points for both routes
    naive, t_naive = timed(fixed_point_density, sub, FIG2, repeats=1)
    _, t_vec = timed(sol.density, sub, repeats=1)
    inside = dens[::50 if FULL else 500] > 1e-3
    np.testing.assert_allclose(naive[inside], sol.density(sub)[inside], rtol=2e-3)
    report(f"density at {sub.size} points, vectorised vs fixed point", t_vec, t_naive)
    print(f"[bench] density at 100,000 points (vectorised): {t_100k:.3f} s (median of 3)")


def test_edges_20_levels(benchmark):
    M = LinearManifold(0.4, VarianceProfile.multi(20, seed=3))

    def edges():
        return MPSolver(M).support()

    bulks = benchmark(edges)
    _, sec = timed(edges, repeats=3)
    print(f"\n[bench] edges + masses of a 20-level profile: {sec:.3f} s (median of 3), {len(bulks)} bulks")
    assert sum(b.mass for b in bulks) == __import__("pytest").approx(0.4, abs=1e-3)


def test_phase_diagram_200x200(benchmark):
    vals = np.geomspace(1e-3, 0.9, 200)
    tau = np.geomspace(1e-5, 1e2, 200)
    D = benchmark.pedantic(phase_diagram, args=("ratio", vals, tau), rounds=1, iterations=1)
    _, sec = timed(phase_diagram, "ratio", vals, tau, repeats=1)
    print(f"\n[bench] 200 x 200 phase diagram (ratio): {sec:.2f} s")
    assert D.labels.shape == (200, 200)
