"""Agreement measures: against scipy, against closed-form Marchenko-Pastur, edges, gaps, finite-size study."""
import numpy as np
import pytest
from hypothesis import given, settings
from scipy import integrate, stats

from rmt import JacobianLaw, LinearManifold, MPSolver, VarianceProfile, theory_spectrum
from rmt.testing import spectra
from simulate.agreement import (agreement, bulk_counts, empirical_edges, finite_size_study, ks_distance,
                                ks_distances, mean_sem, theory_edges, wasserstein1)
from simulate.spectra import simulate_spectra

FIG2 = LinearManifold(0.5, VarianceProfile([1, 0.01], [0.75, 0.25]))

samples_st = spectra(max_size=40, low=-2.9, high=2.9, grid=1 / 7)      # multiples of 1/7 in [-20/7, 20/7]: ties


@settings(max_examples=60, deadline=None)
@given(samples_st, samples_st)
def test_two_sample_distances_equal_scipy(a, b):
    """Ties included (integer grid): KS = scipy ks_2samp statistic, W1 = scipy wasserstein_distance."""
    assert ks_distance(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
    assert wasserstein1(a, b) == pytest.approx(stats.wasserstein_distance(a, b), abs=1e-12)
    assert ks_distance(a, a) == 0.0 and wasserstein1(a, a) == 0.0


def _mp_cdf(alpha, s):
    """Closed-form MP (alpha > 1, no atom): CDF by quadrature of sqrt((hi-x)(x-lo))/x, normalised."""
    lo, hi = s * (1 - np.sqrt(alpha)) ** 2, s * (1 + np.sqrt(alpha)) ** 2
    f = lambda x: np.sqrt(max((hi - x) * (x - lo), 0.0)) / x  # noqa: E731
    norm = integrate.quad(f, lo, hi)[0]

    def cdf(x):
        x = np.atleast_1d(x)
        return np.array([0.0 if v <= lo else 1.0 if v >= hi else integrate.quad(f, lo, v)[0] / norm for v in x])
    return lo, hi, cdf


def test_theory_distances_against_closed_form_mp():
    alpha, s = 2.0, 0.7
    M = LinearManifold(alpha, VarianceProfile.single(s))
    lo, hi, cdf = _mp_cdf(alpha, s)
    _, lam = simulate_spectra(M, 150, [1.0], 2, seed=3, return_eigenvalues=True)
    x = lam.ravel()
    assert ks_distance(M, x) == pytest.approx(stats.kstest(x, cdf).statistic, abs=2e-4)
    # one theory-CDF call for many rows: each row against scipy's one-sample KS with the closed-form CDF
    rows = lam.reshape(2, -1)
    np.testing.assert_allclose(ks_distances(M, rows), [stats.kstest(r, cdf).statistic for r in rows], atol=2e-4)
    # W1 against a dense sample of the closed-form law (inverse CDF on a fine grid)
    grid = lo + (hi - lo) * 0.5 * (1 - np.cos(np.linspace(0, np.pi, 4001)))
    Fg = cdf(grid)
    q = np.interp((np.arange(20000) + 0.5) / 20000, Fg, grid)
    assert wasserstein1(MPSolver(M), x) == pytest.approx(stats.wasserstein_distance(x, q), rel=0.02, abs=2e-4)


def test_ks_is_invariant_under_the_eta_map():
    """eta = tau/(lambda + tau) is monotone: KS in eta units equals KS in covariance units (atom included)."""
    spec, lam = simulate_spectra(FIG2, 200, [0.02, 0.7], 1, seed=5, return_eigenvalues=True)
    lam_all = np.concatenate([lam[0], np.zeros(100)])
    k_lam = ks_distance(MPSolver(FIG2), lam_all)
    for i, tau in enumerate(spec.tau):
        assert ks_distance(JacobianLaw(FIG2, tau), spec.values[0, i]) == pytest.approx(k_lam, abs=1e-4)


def test_classical_locations_are_at_distance_half_over_n():
    """The n theory quantiles at (i - 1/2)/n have KS = 1/(2n) (spike included) and tiny W1."""
    n = 400
    q = theory_spectrum(FIG2, [0.05], n).values[0, 0]
    js = JacobianLaw(FIG2, 0.05)
    assert ks_distance(js, q) == pytest.approx(0.5 / n, abs=2e-4)
    assert wasserstein1(js, q) < 2e-3
    # shifting all values by 0.1 moves W1 by ~0.1 (the W1 of a translation)
    assert wasserstein1(js, np.clip(q[:200] + 0.1, 0, 1)) > 0.05


def test_bulk_counts_and_edges():
    assert bulk_counts(FIG2, 100).tolist() == [38, 12]
    assert bulk_counts(FIG2, 1000).tolist() == [375, 125]
    M3 = LinearManifold(0.6, VarianceProfile([4.0, 0.1, 0.002], [0.2, 0.3, 0.5]))
    assert len(M3.support()) == 3
    assert bulk_counts(M3, 500).tolist() == [60, 90, 150]
    v = np.arange(10.0)[None, None]
    np.testing.assert_array_equal(empirical_edges(v, [3, 4]), [[[[0, 2], [3, 6]]]])
    with pytest.raises(ValueError, match="counts"):
        empirical_edges(v, [5, 6])


def test_agreement_numbers_at_d800():
    t = [0.005, 0.0444, 1.0]
    spec = simulate_spectra(FIG2, 800, t, 6, seed=2)
    a = agreement(FIG2, spec)
    assert a["spike_mass"] == {"simulated": 0.5, "theory": 0.5}
    assert a["counts"] == [300, 100]
    for i in range(3):
        assert a["ks"]["mean"][i] < 0.02 and a["ks"]["sem"][i] > 0
        assert a["ks"]["pooled"][i] <= a["ks"]["mean"][i] + 1e-12
        assert 0 < a["w1"]["mean"][i] < 5e-3
        th = theory_edges(FIG2, spec.tau[i])
        np.testing.assert_allclose(a["edges"]["theory"][i], th)
        # edges within a few percent of the bulk widths (finite-size shifts ~ d^{-2/3})
        err = np.abs(np.array(a["edges"]["error"][i]))
        assert np.all(err <= 0.06 * (th[:, 1:] - th[:, :1]) + 2e-4)
        # gap widths: theory formula W_1 and manifold gap l_min/(l_min + tau)
        lmin = FIG2.support()[0].lower
        l1, u2 = FIG2.support()[1].lower, FIG2.support()[0].upper
        tau = spec.tau[i]
        np.testing.assert_allclose(a["gaps"]["theory"][i],
                                   [tau * (l1 - u2) / ((u2 + tau) * (l1 + tau)), lmin / (lmin + tau)], rtol=1e-6)
        assert np.all(np.abs(a["gaps"]["error"][i]) < 0.02)


def test_finite_size_error_shrinks():
    fs = finite_size_study(FIG2, ds=(40, 80, 160, 320), t=(0.01, 0.3), draws=8, seed=1)
    for key in ("ks", "w1", "edge_error"):
        m = np.array(fs[key]["mean"])
        assert m[-1] < 0.5 * m[0], key
        assert fs["slope"][key] < -0.4, key
    assert np.all(np.diff(fs["ks"]["mean"]) < 0)


def test_mean_sem():
    m, s = mean_sem(np.array([[1.0, 2.0], [3.0, 6.0]]))
    np.testing.assert_allclose(m, [2.0, 4.0])
    np.testing.assert_allclose(s, [1.0, 2.0])
    assert mean_sem(np.ones((1, 3)))[1].tolist() == [0, 0, 0]


def test_bad_input():
    with pytest.raises(ValueError, match="theory"):
        ks_distance(object(), [1.0])
    with pytest.raises(ValueError, match="samples"):
        wasserstein1(FIG2, [])
    with pytest.raises(ValueError, match="samples"):
        ks_distance(FIG2, [np.nan])
    with pytest.raises(ValueError, match="spectrum"):
        agreement(FIG2, np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="ds"):
        finite_size_study(FIG2, ds=(10,))


def test_mean_sem_skips_undefined_entries_on_request():
    x = np.array([[1.0, np.nan, np.nan], [3.0, 2.0, np.nan], [5.0, np.nan, np.nan]])
    m, s = mean_sem(x, skip_nan=True)
    np.testing.assert_allclose(m[:2], [3.0, 2.0])
    np.testing.assert_allclose(s[:2], [2.0 / np.sqrt(3), 0.0])                # std(1,3,5) = 2; one value: 0
    assert np.isnan(m[2]) and np.isnan(s[2])
