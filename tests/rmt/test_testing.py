"""rmt.testing: its strategies honour their arguments, its oracles hold their stated tolerances (against rmt and
closed forms), and a property written only with it tells a right formula from one off by 1%."""
import doctest
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings

import rmt.testing
from rmt import ContinuousProfile, LinearManifold, VarianceProfile, intermediate_gaps, phase_boundaries
from rmt.mp import MIN_LEVEL_RATIO
from rmt.schedules import DDPM, EDM, VE, VP, GeometricVE
from rmt.testing import manifolds, oracles, profiles, schedules, spectra, times

SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- (a) a property written only with rmt.testing finds a formula off by 1% and passes the right one -------------
def tau_star_property(formula):
    """The user's tau*(l_k, u_{k+1}) against the oracle, on random manifolds of 2 to 4 levels."""
    @settings(max_examples=25, deadline=None, derandomize=True, database=None)
    @given(manifolds(min_levels=2, max_levels=4, min_ratio=1e-8))
    def prop(M):
        e = oracles.edges(M)[::-1]                                   # high variance first
        for k, t in enumerate(oracles.tau_stars(M)):
            assert formula(e[k, 0], e[k + 1, 1]) == pytest.approx(t, rel=oracles.TAU_STAR_RTOL)
    return prop


def edge_property(formula):
    """The user's one-level Marchenko-Pastur upper edge against the oracle."""
    @settings(max_examples=25, deadline=None, derandomize=True, database=None)
    @given(manifolds(max_levels=1, top=(1e-3, 1e3)))
    def prop(M):
        s = M.profile.levels[0]
        assert formula(M.alpha, s) == pytest.approx(oracles.edges(M)[-1, 1], rel=oracles.EDGE_RTOL)
    return prop


def test_a_property_finds_tau_star_off_by_one_percent():
    tau_star_property(lambda l, u: np.sqrt(l * u))()
    with pytest.raises(AssertionError):
        tau_star_property(lambda l, u: 1.01 * np.sqrt(l * u))()


def test_a_property_finds_an_edge_off_by_one_percent():
    edge_property(lambda a, s: s * (1 + np.sqrt(a)) ** 2)()
    with pytest.raises(AssertionError):
        edge_property(lambda a, s: 1.01 * s * (1 + np.sqrt(a)) ** 2)()


def test_the_module_example_runs_under_doctest():
    res = doctest.testmod(rmt.testing, optionflags=doctest.ELLIPSIS)
    assert res.attempted >= 6 and res.failed == 0


def test_import_rmt_does_not_import_hypothesis():
    out = subprocess.run([sys.executable, "-c", "import sys, rmt; print('hypothesis' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- (b) each strategy honours its keyword arguments and its documented ranges --------------------------------
@settings(max_examples=60, deadline=None)
@given(profiles(min_levels=2, max_levels=3, top=(0.5, 2.0), min_ratio=1e-6, max_ratio=1e-2, min_fraction=0.05))
def test_profiles_honour_their_arguments(p):
    assert isinstance(p, VarianceProfile) and 2 <= p.K <= 3
    assert 0.5 <= p.levels[0] <= 2.0
    r = p.levels[1:] / p.levels[0]
    assert np.all(r >= 1e-6) and np.all(r <= 1e-2 * (1 + 1e-12))
    assert np.all(p.fractions >= 0.05 - 1e-12) and p.fractions.sum() == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(profiles())
def test_default_profiles_span_the_solver_range(p):
    assert 1 <= p.K <= 4 and p.levels[0] == pytest.approx(1.0, rel=1e-9) and p.levels[-1] >= MIN_LEVEL_RATIO


@settings(max_examples=30, deadline=None)
@given(profiles(kind="continuous", top=(1.0, 10.0), continuous_min_ratio=0.3))
def test_continuous_profiles_honour_their_arguments(p):
    assert isinstance(p, ContinuousProfile) and 1.0 <= p.high <= 10.0
    assert 0.3 * (1 - 1e-12) <= p.low / p.high <= 0.5 * (1 + 1e-12)
    s = np.linspace(p.low, p.high, 5)
    assert np.all(np.isfinite(p.density(s))) and np.all(p.density(s) > 0)


@settings(max_examples=40, deadline=None)
@given(manifolds(alpha=(0.2, 0.7), kind="any", max_levels=2), times(1e-3, 1e3))
def test_manifolds_and_times_honour_their_ranges(M, tau):
    assert isinstance(M, LinearManifold) and 0.2 <= M.alpha <= 0.7
    assert isinstance(M.profile, (VarianceProfile, ContinuousProfile))
    assert 1e-3 <= tau <= 1e3


@settings(max_examples=40, deadline=None)
@given(manifolds(alpha=(0.5, 2.0), avoid_one=0.1, max_levels=1))
def test_manifolds_avoid_one(M):
    assert abs(M.alpha - 1) > 0.1


@settings(max_examples=40, deadline=None)
@given(schedules(), times(1e-3, 1.0))
def test_schedules_are_valid(sch, t):
    assert isinstance(sch, (VE, VP, DDPM, EDM, GeometricVE))
    tau = float(sch.tau(t))
    assert np.isfinite(tau) and tau > 0
    assert float(sch.t_of_tau(tau)) == pytest.approx(t, rel=1e-8)


@settings(max_examples=20, deadline=None)
@given(schedules(names=("ddpm",)))
def test_schedules_narrow_by_name(sch):
    assert isinstance(sch, DDPM) and 1e-3 <= sch.beta_min <= 1 <= sch.beta_max <= 50


@settings(max_examples=60, deadline=None)
@given(spectra(min_size=3, max_size=9, low=0.0, high=1.5, grid=0.1), spectra(batch=3, max_size=5))
def test_spectra_honour_their_arguments(v, b):
    assert v.ndim == 1 and 3 <= v.size <= 9 and np.all(np.diff(v) >= 0)
    assert np.all((v >= 0) & (v <= 1.5)) and np.allclose(v / 0.1, np.round(v / 0.1), atol=1e-9)
    assert b.ndim == 2 and b.shape[0] == 3 and 1 <= b.shape[1] <= 5
    assert np.all(np.diff(b, axis=-1) >= 0) and np.all((b >= 0) & (b <= 1))


# ---- (c) the oracles at their stated tolerances ---------------------------------------------------------------
# alpha = 1 exactly with levels 1e-12 .. 1e-19 apart is left out: there the solver refuses some profiles (masses
# not conserved at the hard edge) and oracle and solver disagreed on the number of bulks (issue 29 note)
@SLOW
@given(manifolds(avoid_one=1e-3))
def test_oracles_agree_with_rmt_at_their_tolerances(M):
    try:
        bulks = M.support()
    except ValueError:              # rmt refuses (test_solver_refuses_two_tiny_levels): nothing to compare
        reject()
    ref = np.array([[b.lower, b.upper] for b in bulks])
    e = oracles.edges(M)
    assert e.shape == ref.shape
    np.testing.assert_allclose(e, ref, rtol=oracles.EDGE_RTOL, atol=0)
    np.testing.assert_allclose(oracles.masses(M), [b.mass for b in bulks], rtol=0, atol=oracles.MASS_ATOL)
    x = np.concatenate([np.linspace(lo, hi, 9)[1:-1] for lo, hi in ref])
    d = M.density(x)
    np.testing.assert_allclose(oracles.density(M, x), d, rtol=oracles.DENSITY_RTOL,
                               atol=oracles.DENSITY_RTOL * d.max())
    gaps = intermediate_gaps(M)
    ts = oracles.tau_stars(M)
    np.testing.assert_allclose(ts, [g.tau_star for g in gaps], rtol=oracles.TAU_STAR_RTOL)
    for tau in np.outer([0.1, 1.0, 10.0], ts[:1]).ravel():
        np.testing.assert_allclose(oracles.gap_widths(M, tau), [g.width(tau) for g in gaps],
                                   rtol=0, atol=oracles.WIDTH_ATOL)
    pb, ref_pb = oracles.phase_boundaries(M, 0.1), phase_boundaries(M, 0.1)
    for key in pb:
        assert (pb[key] is None) == (ref_pb[key] is None)
        if pb[key] is not None:
            assert pb[key] == pytest.approx(ref_pb[key], rel=oracles.BOUNDARY_RTOL)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# alpha within 10% of 1 left out: at alpha = 1.0045 (uniform on [0.1, 1]) the solver gave the lower edge 0 where
# the oracle finds 2e-6 (issue 29 note)
@given(manifolds(kind="continuous", alpha=(0.1, 10.0), avoid_one=0.1))
def test_continuous_edges_agree_with_rmt(M):
    (b,) = M.support()
    lo, hi = oracles.edges(M)[0]
    assert hi == pytest.approx(b.upper, rel=oracles.CONTINUOUS_EDGE_RTOL)
    assert lo == pytest.approx(b.lower, rel=oracles.CONTINUOUS_EDGE_RTOL, abs=1e-300)
    assert oracles.masses(M)[0] == pytest.approx(b.mass, abs=oracles.MASS_ATOL)
    assert oracles.tau_stars(M).size == 0 and oracles.gap_widths(M, 1.0).shape == (0,)
    with pytest.raises(ValueError, match="continuous"):
        oracles.density(M, [1.0])


def test_solver_refuses_two_tiny_levels_the_oracle_answers():
    """Found by the oracle property above: levels 1, 2.9e-19, 1.4e-19 (inside MIN_LEVEL_RATIO) at alpha = 1.44. The
    solver loses the top bulk (masses 0.9856 of 1) and refuses, naming the levels, instead of answering: allowed,
    but a limitation (issue 29 note). When it answers one day, this test fails and becomes an agreement test."""
    M = LinearManifold(1.437703043773944, VarianceProfile([1.0, 2.94272718e-19, 1.38237223e-19], [0.01, 0.495, 0.495]))
    np.testing.assert_allclose(oracles.masses(M), [0.98562297, 0.01437703], atol=oracles.MASS_ATOL)
    with pytest.raises(ValueError, match="levels: the solver could not resolve the support"):
        M.support()


def test_continuous_lower_edge_above_alpha_one():
    """Found by the continuous-profile property above (rmt reported 0; fixed in 4cbf5d2): m > d, so C has no zero
    eigenvalue and the edge is > 0."""
    M = LinearManifold(3.0505278902670256, ContinuousProfile(lambda s: s ** 0.25, 0.1, 1.0))
    assert oracles.edges(M)[0, 0] == pytest.approx(0.28527803054301726, rel=oracles.CONTINUOUS_EDGE_RTOL)
    assert M.support()[0].lower == pytest.approx(oracles.edges(M)[0, 0], rel=oracles.CONTINUOUS_EDGE_RTOL)


@SLOW
@given(manifolds(max_levels=1, top=(1e-6, 1e6), alpha=(0.01, 100.0)))
def test_oracles_against_closed_form_marchenko_pastur(M):
    a, s = M.alpha, M.profile.levels[0]
    ((lo, hi),) = oracles.edges(M)
    assert hi == pytest.approx(s * (1 + np.sqrt(a)) ** 2, rel=oracles.EDGE_RTOL)
    assert lo == pytest.approx(s * (1 - np.sqrt(a)) ** 2, rel=oracles.EDGE_RTOL, abs=1e-14 * s)
    assert oracles.masses(M)[0] == pytest.approx(min(a, 1.0), abs=oracles.MASS_ATOL)
    x = np.linspace(lo, hi, 41)[1:-1]
    mp = np.sqrt((hi - x) * (x - lo)) / (2 * np.pi * s * x)
    np.testing.assert_allclose(oracles.density(M, x), mp, rtol=oracles.DENSITY_RTOL,
                               atol=oracles.DENSITY_RTOL * mp.max())


# ---- (d) bad arguments ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, name", [
    (lambda: profiles(kind="mixed"), "kind"),
    (lambda: profiles(max_levels=0), "max_levels"),
    (lambda: profiles(min_levels=3, max_levels=2), "max_levels"),
    (lambda: profiles(max_levels=13), "max_levels"),
    (lambda: profiles(min_ratio=1e-30), "min_ratio"),
    (lambda: profiles(min_ratio=1e-3, max_ratio=1e-4), "max_ratio"),
    (lambda: profiles(top=(2.0, 1.0)), "top"),
    (lambda: profiles(top=(0.0, 1.0)), "top"),
    (lambda: profiles(max_levels=4, min_fraction=0.3), "min_fraction"),
    (lambda: profiles(continuous_min_ratio=1e-4), "continuous_min_ratio"),
    (lambda: manifolds(alpha=(-1.0, 2.0)), "alpha"),
    (lambda: manifolds(alpha=(0.5,)), "alpha"),
    (lambda: manifolds(profile="x"), "profile"),
    (lambda: manifolds(avoid_one=-0.1), "avoid_one"),
    (lambda: profiles(min_separation=2.0), "min_separation"),
    (lambda: times(0.0, 1.0), "low"),
    (lambda: times(2.0, 1.0), "low"),
    (lambda: schedules(names=("ve", "cosine")), "names"),
    (lambda: schedules(names=()), "names"),
    (lambda: spectra(min_size=0), "min_size"),
    (lambda: spectra(min_size=5, max_size=2), "max_size"),
    (lambda: spectra(low=1.0, high=0.0), "low"),
    (lambda: spectra(grid=-0.1), "grid"),
    (lambda: spectra(low=0.11, high=0.19, grid=0.1), "grid"),
    (lambda: spectra(batch=0), "batch"),
    (lambda: oracles.edges("not a manifold"), "manifold"),
    (lambda: oracles.edges(LinearManifold(0.5, VarianceProfile(np.geomspace(1, 1e-3, 13)))), "manifold"),
    (lambda: oracles.gap_widths(LinearManifold(0.5, VarianceProfile.double()), -1.0), "tau"),
    (lambda: oracles.phase_boundaries(LinearManifold(0.5, VarianceProfile.double()), 0.7), "delta"),
])
def test_bad_arguments_raise_value_error_naming_them(call, name):
    with pytest.raises(ValueError, match=name):
        call()
