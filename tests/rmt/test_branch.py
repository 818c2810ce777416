"""The real branch of z(g) (rmt.branch): the gaps of the support and the Stieltjes transform in a gap, for the
many-level profiles (more than 12 levels, continuous profiles) whose g comes from a continuation in Im z. Found by
the rmt.testing oracles (issue 29): below the lowest edge at alpha > 1 the continuation ran off to 1e300, the
support reported its lower edge as 0 and stieltjes(x) was garbage there."""
import numpy as np
import pytest

from rmt import ContinuousProfile, LinearManifold, VarianceProfile
from rmt.testing import oracles


def _sample_eigenvalues(M, d, seed):
    prof = M.solver.profile                                  # the discretised levels the solver uses
    rng = np.random.default_rng(seed)
    m = int(round(M.alpha * d))
    counts = np.round(prof.fractions * m).astype(int)
    sig = np.repeat(prof.levels, counts)
    F = rng.standard_normal((d, sig.size)) * np.sqrt(sig / d)
    return np.linalg.eigvalsh(F @ F.T)


FOUND = LinearManifold(3.0505278902670256, ContinuousProfile(lambda s: s ** 0.25, 0.1, 1.0))


def test_lower_edge_above_alpha_one_is_positive_and_matches_the_oracle():
    (b,) = FOUND.support()
    assert b.lower == pytest.approx(0.28527803054301726, rel=1e-6)               # the oracle's value (quadrature)
    assert b.lower == pytest.approx(oracles.edges(FOUND)[0, 0], rel=oracles.CONTINUOUS_EDGE_RTOL)
    assert b.mass == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("M", [
    FOUND,
    LinearManifold(2.0, VarianceProfile(np.geomspace(1.0, 0.2, 16))),          # 16 levels: the continuation route
    LinearManifold(0.5, VarianceProfile(np.geomspace(1.0, 0.3, 14))),          # alpha < 1: atom at 0, gap above it
], ids=["continuous-alpha3", "16-levels-alpha2", "14-levels-alpha0.5"])
def test_stieltjes_in_the_gaps_matches_a_sampled_covariance(M):
    """g(x) = (1/d) tr (C - x)^{-1} of one d = 2000 draw, at real x below the lowest edge and above the highest
    (the atom at 0 of alpha < 1 counts: its mass 1 - alpha contributes -(1 - alpha)/x)."""
    (lo, hi) = M.support()[0].lower, M.support()[-1].upper
    ev = _sample_eigenvalues(M, 2000, seed=0)
    x = np.array([0.3 * lo, 0.8 * lo, 1.3 * hi, 3.0 * hi])
    g = M.stieltjes(x)
    assert np.all(np.abs(g.imag) == 0)
    empirical = np.array([np.mean(1.0 / (ev - v)) for v in x])
    assert g.real == pytest.approx(empirical, rel=0.01)


def test_gaps_are_outside_and_bulks_inside():
    """Every point of a bulk has density > 0 and every gap point has none (the classification no longer reads
    the imaginary part of a root it may have picked wrongly)."""
    M = LinearManifold(0.8, VarianceProfile(np.concatenate([np.geomspace(1.0, 0.5, 8), np.geomspace(1e-3, 5e-4, 8)])))
    bulks = M.support()
    assert len(bulks) == 2
    gap_mid = 0.5 * (bulks[0].upper + bulks[1].lower)
    assert M.density(np.array([gap_mid]))[0] == 0 and M.stieltjes(np.array([gap_mid]))[0].imag == 0
    for b in bulks:
        assert M.density(np.array([0.5 * (b.lower + b.upper)]))[0] > 0
    assert sum(b.mass for b in bulks) == pytest.approx(0.8, abs=1e-6)


@pytest.mark.parametrize("alpha,ratio", [(0.05, 0.1), (0.3, 0.05)])
def test_a_continuous_profile_has_one_bulk(alpha, ratio):
    """A profile on one interval of levels gives one bulk (the increasing pieces of z lie outside [-1/a, -1/b]):
    the discretised solver found 85 bulks for density s^2 on [0.1, 1] at alpha = 0.05, gaps of its nodes'."""
    M = LinearManifold(alpha, ContinuousProfile(lambda s: s ** 2, ratio, 1.0))
    (b,) = M.support()
    assert [b.lower, b.upper] == pytest.approx(oracles.edges(M)[0], rel=1e-5)
    assert b.mass == pytest.approx(alpha, abs=1e-9)
    x = b.lower + (b.upper - b.lower) * 0.5 * (1 - np.cos(np.linspace(0, np.pi, 301)[1:-1]))
    assert np.trapezoid(M.density(x), x) == pytest.approx(alpha, rel=2e-3)
