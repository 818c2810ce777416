"""The Marchenko-Pastur solver at extreme variance ratios (down to rmt.mp.MIN_LEVEL_RATIO) and extreme t.

Independent routes: the decoupling limit in closed form, Gauss-Legendre quadrature of the density (the solver's
masses come from residues), exact scale covariance, and singular values of random F matrices.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings

from rmt import JacobianLaw, LinearManifold, VarianceProfile
from rmt.mp import MIN_LEVEL_RATIO
from rmt.testing import log_uniform, manifolds, times



def _quad_mass(solver, lo, hi, n=64):
    """Integral of the density over [lo, hi]: pieces a factor 1.5 wide, cos substitution, Gauss-Legendre."""
    start = lo if lo > 0 else hi * 1e-9
    pts = np.unique(np.concatenate([[lo, hi], np.geomspace(start, hi, int(np.ceil(np.log(hi / start) / np.log(1.5)))
                                                           + 2)]))
    t, w = np.polynomial.legendre.leggauss(n)
    th = 0.5 * np.pi * (t + 1)
    total = 0.0
    for a, b in zip(pts[:-1], pts[1:]):
        x = a + (b - a) * 0.5 * (1 - np.cos(th))
        total += np.sum(solver.density_unmasked(x) * (b - a) * 0.25 * np.pi * np.sin(th) * w)
    return total


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# alpha = 1 exactly is left out: levels 1, 1e-5, 1e-6 (fractions 0.01, 0.495, 0.495) give one bulk of mass 1 whose
# density integrates to 0.99 (the solver's hard-edge case; issue 29 note)
@given(manifolds(alpha=(10 ** -1.5, 10.0), avoid_one=1e-9, max_levels=4, min_ratio=MIN_LEVEL_RATIO))
def test_masses_conserved_edges_ordered_density_integrates(M):
    alpha = M.alpha
    bulks = M.support()
    edges = np.array([[b.lower, b.upper] for b in bulks])
    assert np.all(edges[:, 0] < edges[:, 1]) and np.all(edges[1:, 0] > edges[:-1, 1])
    masses = np.array([b.mass for b in bulks])
    assert np.all(masses > 0)
    assert masses.sum() == pytest.approx(min(alpha, 1.0), abs=1e-9)
    for b in bulks:                                     # the residues against quadrature of Im g / pi
        assert _quad_mass(M.solver, b.lower, b.upper) == pytest.approx(b.mass, rel=2e-3, abs=1e-9)


@pytest.mark.parametrize("r", [1e-9, 1e-12, 1e-14, 1e-18, MIN_LEVEL_RATIO])
@pytest.mark.parametrize("alpha,w1", [(0.5, 0.75), (0.8, 0.5), (1.0, 0.6)])
def test_decoupling_limit_in_closed_form(r, alpha, w1):
    """Levels 1 and r -> 0: the r-bulk is the Marchenko-Pastur law of the small columns projected off the
    alpha w1 d directions of the large ones: r (1 - alpha w1) (1 +- sqrt(alpha w2 / (1 - alpha w1)))^2,
    mass alpha w2 (to O(r)); the large bulk is the one-level law at 1 with alpha w1, mass alpha w1."""
    w2 = 1 - w1
    b = LinearManifold(alpha, VarianceProfile([1.0, r], [w1, w2])).support()
    q, c = alpha * w2 / (1 - alpha * w1), 1 - alpha * w1
    small = [r * c * (1 - np.sqrt(q)) ** 2, r * c * (1 + np.sqrt(q)) ** 2]
    large = [(1 - np.sqrt(alpha * w1)) ** 2, (1 + np.sqrt(alpha * w1)) ** 2]
    np.testing.assert_allclose([b[0].lower, b[0].upper], small, rtol=1e-6)
    np.testing.assert_allclose([b[-1].lower, b[-1].upper], large, rtol=1e-6)
    np.testing.assert_allclose([b[0].mass, b[-1].mass], [alpha * w2, alpha * w1], rtol=1e-12)


@settings(max_examples=15, deadline=None)
@given(log_uniform(1e-100, 1e100), log_uniform(MIN_LEVEL_RATIO, 0.1))
def test_scale_covariance(c, r):
    """Multiplying every level by c multiplies every edge by c and leaves the masses (1e150 : 1e130 included)."""
    a = LinearManifold(0.6, VarianceProfile([1.0, r], [0.6, 0.4])).support()
    b = LinearManifold(0.6, VarianceProfile([c, c * r], [0.6, 0.4])).support()
    np.testing.assert_allclose([c * v for x in a for v in (x.lower, x.upper)],
                               [v for x in b for v in (x.lower, x.upper)], rtol=1e-9)
    np.testing.assert_allclose([x.mass for x in a], [x.mass for x in b], rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(times(1e-12, 1e12), log_uniform(1e-14, 0.1))
@example(10.0 ** -9.4765625, 10.0 ** -8.88115582967109)  # the upper node rounded past a bulk 2e-9 wide: 63 nodes inside
def test_density_of_eta_at_extreme_t(tau, r):
    """t from 1e-12 to 1e12 (VE: tau = t): the refined grid resolves every bulk; the trapezoid integral over each
    bulk matches its mass (the eta bulks come within 1e-12 of 0 or 1 here)."""
    M = LinearManifold(0.5, VarianceProfile([1.0, r], [0.75, 0.25]))
    js = JacobianLaw(M, tau)
    eta = js.grid(100)
    dens = js.density(eta)
    for b in js.support():
        assert 0 <= b.lower <= b.upper <= 1
        if not js.resolved(b):      # only a bulk squeezed against eta = 1 within 1e4 float64 spacings
            assert 1 - b.lower < 1e4 * np.spacing(1.0)
            continue
        inside = (eta >= b.lower) & (eta <= b.upper)
        assert inside.sum() >= 64
        assert b.lower < b.upper and np.trapezoid(dens[inside], eta[inside]) == pytest.approx(b.mass, rel=5e-3)


@pytest.mark.parametrize("r", [1e-10, 1e-14])
def test_extreme_ratio_against_simulation(r):
    """One draw of F (d = 1600, alpha = 0.5, levels 1 and r, fractions 0.75/0.25): the eigenvalues of F F^T
    from singular values (relative accuracy eps * sigma_max / sigma, fine for sigma ~ 1e-7) follow the theory in
    both bulks: counts equal the masses, extreme eigenvalues sit at the edges, KS of the small bulk < 0.03."""
    d, alpha = 1600, 0.5
    n1, n2 = int(0.75 * alpha * d), int(0.25 * alpha * d)
    rng = np.random.default_rng(7)
    F = np.hstack([rng.standard_normal((d, n1)), np.sqrt(r) * rng.standard_normal((d, n2))]) / np.sqrt(d)
    ev = np.sort(np.linalg.svd(F, compute_uv=False) ** 2)
    M = LinearManifold(alpha, VarianceProfile([1.0, r], [0.75, 0.25]))
    small, large = M.support()
    lo = ev[ev < 1e3 * r]
    hi = ev[ev > 1e-3]
    assert lo.size == n2 and hi.size == n1
    assert lo.min() == pytest.approx(small.lower, rel=0.05) and lo.max() == pytest.approx(small.upper, rel=0.05)
    assert hi.min() == pytest.approx(large.lower, rel=0.05) and hi.max() == pytest.approx(large.upper, rel=0.05)
    # the theory CDF within the small bulk, renormalised: cdf counts the atom at 0 (mass 1 - alpha) below it
    F_th = (M.solver.cdf(lo) - M.zero_mass) / small.mass
    emp = np.arange(1, lo.size + 1) / lo.size
    assert np.max(np.abs(F_th - emp)) < 0.03
