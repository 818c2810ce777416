"""Gaps, timescales, phases and dimension curves; checked against sympy, brute force and simulation."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmt import (JacobianLaw, LinearManifold, VarianceProfile, intermediate_gaps, manifold_gap,
                 theory_effective_dimension, theory_largest_gap_dimension, phase_at, phase_boundaries, phases, spectrum_report,
                 theory_spectrum, timescales)
from rmt.gaps import IntermediateGap
from rmt.symbolic import formulas, open_close_times

FIG2 = LinearManifold(0.5, VarianceProfile([1, 0.01], [0.75, 0.25]))

edges_st = st.tuples(st.floats(-3, 1), st.floats(0.05, 3)).map(lambda p: (10 ** p[0] * 10 ** p[1], 10 ** p[0]))


@settings(max_examples=60, deadline=None)
@given(edges_st, st.floats(0.01, 0.49))
def test_open_close_product_and_maximum(lu, delta):
    l, u = lu
    g = IntermediateGap(1, l, u, 0.5)
    taus = np.geomspace(u * 1e-4, l * 1e4, 20001)
    w = g.width(taus)
    # tau* is the maximum (brute force on a fine grid) and the width there is the closed form
    assert g.width(g.tau_star) == pytest.approx(g.max_width, rel=1e-12)
    assert w.max() <= g.max_width * (1 + 1e-12)
    assert taus[np.argmax(w)] == pytest.approx(g.tau_star, rel=2e-3)
    op, cl = g.window(delta)
    if g.max_width < delta:
        assert op is None and cl is None and w.max() < delta
    else:
        assert op * cl == pytest.approx(l * u, rel=1e-9)
        assert op >= g.tau_star >= cl
        assert g.width(op) == pytest.approx(delta, rel=1e-7) and g.width(cl) == pytest.approx(delta, rel=1e-7)


def test_symbolic_formulas_agree_with_numeric_code():
    f = formulas()
    for alpha, s in [(0.3, 1.0), (2.0, 0.5)]:
        b = LinearManifold(alpha, VarianceProfile.single(s)).support()[0]
        assert f["mp_lower_edge"](alpha, s) == pytest.approx(b.lower, rel=1e-10)
        assert f["mp_upper_edge"](alpha, s) == pytest.approx(b.upper, rel=1e-10)
    for g in intermediate_gaps(FIG2):
        tau = np.geomspace(1e-4, 10, 7)
        np.testing.assert_allclose(f["intermediate_gap"](g.l, g.u, tau), g.width(tau), rtol=1e-12)
        assert f["tau_star"](g.l, g.u) == pytest.approx(g.tau_star, rel=1e-12)
        assert f["max_width"](g.l, g.u) == pytest.approx(g.max_width, rel=1e-12)
        assert f["open_close_product"](g.l, g.u, 0.1) == pytest.approx(np.prod(g.window(0.1)), rel=1e-10)
        op, cl = open_close_times()
        assert op(g.l, g.u, 0.1) == pytest.approx(g.window(0.1)[0], rel=1e-10)
        assert cl(g.l, g.u, 0.1) == pytest.approx(g.window(0.1)[1], rel=1e-10)
    lmin = FIG2.support()[0].lower
    assert f["manifold_gap"](lmin, 0.3) == pytest.approx(manifold_gap(FIG2, 0.3), rel=1e-12)
    assert "\\sqrt" in f["tau_star"].latex


def test_gaps_against_the_eta_support():
    """Intermediate and manifold gaps equal the distances between eta-bulks of the pushforward."""
    M = LinearManifold(0.4, VarianceProfile([3.0, 0.2, 0.004], [0.3, 0.3, 0.4]))
    gs = intermediate_gaps(M)
    assert len(gs) == 2
    for tau in (1e-3, 0.05, 2.0):
        js = JacobianLaw(M, tau)
        eg = js.gaps()
        widths = sorted(g.width(tau).item() for g in gs) + [manifold_gap(M, tau).item()]
        assert sorted(x.width for x in eg) == pytest.approx(sorted(widths), rel=1e-10)


def test_limits_in_tau():
    js0 = JacobianLaw(FIG2, 1e-9)
    assert max(b.upper for b in js0.support()) < 1e-5          # tangent eigenvalues -> 0
    assert manifold_gap(FIG2, 1e-9) == pytest.approx(1.0, abs=1e-5)
    js_inf = JacobianLaw(FIG2, 1e9)
    assert min(b.lower for b in js_inf.support()) > 1 - 1e-8   # everything -> 1
    for g in intermediate_gaps(FIG2):
        assert g.width(1e-12) < 1e-9 and g.width(1e12) < 1e-9
    assert phase_at(FIG2, 1e-9) == "consolidation" and phase_at(FIG2, 1e9) == "trivial"


def test_pushforward_density_integrates_and_has_spike():
    js = JacobianLaw(FIG2, 0.05)
    eta = np.linspace(0, 1, 400001)
    assert np.trapezoid(js.density(eta), eta) == pytest.approx(0.5, abs=2e-4)
    assert js.spike_mass == 0.5
    # cdf: the eta distribution is the pushforward of the lambda distribution
    assert js.cdf(np.array([0.999999]))[0] == pytest.approx(0.5, abs=1e-6)
    assert js.cdf(np.array([1.0]))[0] == 1.0


def test_phase_boundaries_against_readouts_on_classical_locations():
    """Independent route: phase of the d classical eigenvalue locations (rmt.readouts)."""
    d = 4000
    pb = phase_boundaries(FIG2, 0.1)
    assert pb["trivial_coverage"] == pytest.approx(2.601002672 * 9, rel=1e-6)
    assert pb["coverage_consolidation"] == pytest.approx(0.0018983387 / 9, rel=1e-6)
    for tau in (pb["trivial_coverage"] * 1.05, pb["trivial_coverage"] * 0.95, 0.05,
                pb["coverage_consolidation"] * 1.05, pb["coverage_consolidation"] * 0.95):
        q = JacobianLaw(FIG2, tau).quantiles(d)
        assert phases(q, 0.1) == phase_at(FIG2, tau)
    assert phase_at(FIG2, pb["trivial_coverage"] * 1.01) == "trivial"
    assert phase_at(FIG2, pb["coverage_consolidation"] * 0.99) == "consolidation"
    # widely separated variances: the high-variance bulk consolidates while the low one is still
    # inside the spike cluster -> an intermediate 'consolidation' window of the spectral definition
    M = LinearManifold(0.5, VarianceProfile([1, 1e-3], [0.75, 0.25]))
    assert phase_at(M, 0.014) == "consolidation" and phases(JacobianLaw(M, 0.014).quantiles(d)) == "consolidation"
    assert phase_at(M, 0.005) == "coverage"
    # alpha >= 1: no spike, so no consolidation phase
    assert phase_boundaries(LinearManifold(1.5, VarianceProfile.single()), 0.1)["coverage_consolidation"] is None


def test_timescales_fig2_and_swap():
    ts = timescales(FIG2, 0.1)
    (g,) = ts["gaps"]
    assert g["tau_max"] == pytest.approx(np.sqrt(0.15153823 * 0.01301025), rel=1e-6)
    assert g["tau_open"] * g["tau_close"] == pytest.approx(0.15153823 * 0.01301025, rel=1e-6)
    assert g["tau_close"] < g["tau_max"] < g["tau_open"]
    # swapping the two variances swaps which subspace separates first
    sw = LinearManifold(0.5, VarianceProfile([1, 0.01], [0.75, 0.25]).swapped())
    assert list(sw.profile.fractions) == [0.25, 0.75]
    (g2,) = timescales(sw, 0.1)["gaps"]
    assert g2["dimension_fraction"] == pytest.approx(0.125, abs=1e-6)
    assert g["dimension_fraction"] == pytest.approx(0.375, abs=1e-6)
    vp = timescales(FIG2, 0.1, "vp")
    assert vp["gaps"][0]["t_max"] == pytest.approx(0.5 * np.log1p(g["tau_max"]), rel=1e-12)


def test_dimension_curves_against_simulation():
    d = 2000
    rng = np.random.default_rng(5)
    m = 1000
    F = rng.standard_normal((d, m)) * np.sqrt(FIG2.profile.column_variances(m)) / np.sqrt(d)
    lam = np.concatenate([np.linalg.eigvalsh(F.T @ F), np.zeros(d - m)])
    for tau in (1e-3, 0.05, 1.0):
        eta = tau / (lam + tau)
        assert theory_effective_dimension(FIG2, tau) * d == pytest.approx(np.sum(eta < 0.5), abs=0.01 * d)
    # at tau* the largest gap reveals the high-variance subspace (f m = 375), later the manifold (m = 500)
    tstar = intermediate_gaps(FIG2)[0].tau_star
    assert theory_largest_gap_dimension(FIG2, tstar)[0] == pytest.approx(0.375, abs=1e-6)
    assert theory_largest_gap_dimension(FIG2, 1e-5)[0] == pytest.approx(0.5, abs=1e-6)
    eta = np.sort(tstar / (lam + tstar))
    assert np.argmax(np.diff(eta)) + 1 == 750      # 0.375 d at d = 2000


def test_theory_spectrum_container_and_report():
    sp = theory_spectrum(FIG2, [0.01, 0.1, 1.0], n=200)
    assert sp.values.shape == (1, 3, 200) and sp.source == "theory"
    assert np.sum(sp.values[0, 0] == 1.0) == 100
    rep = spectrum_report(FIG2, 0.05, convention="jacobian")
    assert rep["spike"]["position"] == -1.0 and all(b["upper"] <= 0 for b in rep["bulks"])


@pytest.mark.parametrize("bad", [0.0, 0.5, -0.1, 0.7])
def test_bad_delta(bad):
    with pytest.raises(ValueError, match="delta"):
        timescales(FIG2, bad)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan])
def test_bad_tau(bad):
    with pytest.raises(ValueError, match="tau"):
        manifold_gap(FIG2, bad)
    with pytest.raises(ValueError, match="tau"):
        JacobianLaw(FIG2, bad)


@pytest.mark.parametrize("tau", [0.005, 0.3, 1.0])
def test_effective_dimension_readout_tracks_the_counting_function_where_it_moves(tau):
    """D_eff = #{eta < 1/2} of n = 20000 classical eigenvalue locations equals n N(tau) (eigenvalues of C above
    tau) to within one value, at tau inside a bulk where N moves fast: a 1% error in the threshold 1/2 moves
    the count by n rho(tau) 0.02 tau (~20-60 values here)."""
    from rmt.readouts import effective_dimension
    n = 20000
    q = JacobianLaw(FIG2, tau).quantiles(n)
    assert abs(int(effective_dimension(q)) - n * FIG2.counting(tau)) <= 1.5
    moves = n * (FIG2.counting(0.98 * tau) - FIG2.counting(tau))
    assert moves > 15
    # the analytic curve D_eff(tau)/d against a quadrature of the density above tau
    from scipy import integrate
    above = sum(integrate.quad(lambda x: FIG2.density(np.array([x]))[0], max(b.lower, tau), b.upper, limit=200,
                               epsabs=1e-12)[0] for b in FIG2.support() if b.upper > tau)
    assert theory_effective_dimension(FIG2, tau)[()] == pytest.approx(above, abs=2e-6)


@pytest.mark.parametrize("tau", [0.045, 2.0])
def test_codimension_readout_counts_the_spike_cluster(tau):
    """codimension = #{eta > 1 - delta}: the spike (1 - alpha) plus the eigenvalues lambda < tau delta/(1-delta)."""
    from rmt.readouts import codimension
    n, delta = 20000, 0.1
    q = JacobianLaw(FIG2, tau).quantiles(n)
    expect = n * (FIG2.zero_mass + FIG2.alpha - FIG2.counting(tau * delta / (1 - delta)))
    assert abs(int(codimension(q, delta)) - expect) <= 1.5
