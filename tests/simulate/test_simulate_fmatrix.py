"""F sampling and Gram eigenvalues: column variances, seeds, backends (numpy / numba / JAX)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rmt import ContinuousProfile, LinearManifold, VarianceProfile
from simulate.fmatrix import (BACKENDS, column_variances, covariance_eigenvalues, draw_seeds, gram_eigenvalues,
                              sample_F)

FIG2 = LinearManifold(0.5, VarianceProfile([1, 0.01], [0.75, 0.25]))


def test_column_variances_of_the_samples():
    """E F_ij^2 = sigma_j^2 / d, per level, for every backend, to a tolerance from the known standard error.

    With N entries of one level, mean(d F_ij^2 / sigma_j^2) has mean 1 and standard error sqrt(2/N)
    (g^2 is chi2_1). d = 400, m = 200 (100 columns per level), 40 draws: N = 1.6e6, s.e. 0.0011; the
    tolerance is 4 s.e. (0.45%), so a 1% error in the variance (9 s.e.) fails."""
    M = LinearManifold(0.5, VarianceProfile([2.0, 0.01], [0.5, 0.5]))
    d, R = 400, 40
    sig2 = column_variances(M, d)
    assert sig2.size == 200 and np.count_nonzero(sig2 == 2.0) == 100 and np.count_nonzero(sig2 == 0.01) == 100
    for backend in BACKENDS:
        F = sample_F(M, d, R, seed=3, backend=backend)
        assert F.shape == (R, d, 200)
        for level in (2.0, 0.01):
            x = d * F[:, :, sig2 == level] ** 2 / level
            se = np.sqrt(2.0 / x.size)
            assert abs(x.mean() - 1.0) < 4 * se, (backend, level, x.mean(), se)


@settings(max_examples=15, deadline=None)
@given(st.integers(3, 40), st.floats(0.1, 2.0), st.integers(0, 2 ** 31), st.integers(1, 3))
def test_numba_draws_bit_for_bit_the_numpy_reference(d, alpha, seed, draws):
    M = LinearManifold(alpha, VarianceProfile([1.0, 0.1], [0.5, 0.5]))
    if M.latent_dim(d) < 1:
        return
    a = sample_F(M, d, draws, seed, "numpy")
    b = sample_F(M, d, draws, seed, "numba")
    assert np.array_equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_seeds_reproducible_and_draw_independent_of_batch(backend):
    F = sample_F(FIG2, 30, 5, seed=7, backend=backend)
    assert np.array_equal(F, sample_F(FIG2, 30, 5, seed=7, backend=backend))
    # draw r depends only on (seed, r): the last three draws alone, via start
    assert np.array_equal(F[2:], sample_F(FIG2, 30, 3, seed=7, backend=backend, start=2))
    G = sample_F(FIG2, 30, 5, seed=8, backend=backend)
    assert np.max(np.abs(F - G)) > 0.1
    # different draws differ
    assert np.max(np.abs(F[0] - F[1])) > 0.1


def test_jax_stream_is_standard_normal():
    """JAX uses its own generator: the normalised entries g = F sqrt(d)/sigma are N(0, 1)."""
    d = 100
    F = sample_F(FIG2, d, 4, seed=1, backend="jax")
    g = (F * np.sqrt(d) / np.sqrt(column_variances(FIG2, d))).ravel()
    assert stats.kstest(g, "norm").pvalue > 1e-3
    assert abs(g.mean()) < 5 / np.sqrt(g.size) and abs(g.var() - 1) < 5 * np.sqrt(2 / g.size)


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 30), st.integers(1, 40), st.integers(0, 1000))
def test_gram_eigenvalues_equal_the_covariance_eigenvalues(d, m, seed):
    """Nonzero spectrum of C = F F^T (d x d, numpy eigvalsh) from the smaller Gram matrix, all backends."""
    F = np.random.default_rng(seed).standard_normal((2, d, m)) / np.sqrt(d)
    ref = np.stack([np.sort(np.linalg.eigvalsh(f @ f.T))[::-1][:min(d, m)] for f in F])
    for backend in BACKENDS:
        lam = gram_eigenvalues(F, backend)
        assert lam.shape == (2, min(d, m))
        np.testing.assert_allclose(lam, np.maximum(ref, 0), atol=1e-10 * max(1.0, ref.max()))
        assert np.all(np.diff(lam, axis=-1) <= 0) and np.all(lam >= 0)
    # a single matrix keeps its shape
    assert gram_eigenvalues(F[0]).shape == (min(d, m),)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("alpha", [0.5, 1.5])
def test_streaming_eigenvalues_equal_sampled_F(backend, alpha):
    M = LinearManifold(alpha, VarianceProfile([1, 0.01], [0.75, 0.25]))
    lam = covariance_eigenvalues(M, 40, 4, seed=5, backend=backend)
    ref = gram_eigenvalues(sample_F(M, 40, 4, seed=5, backend=backend), "numpy")
    np.testing.assert_allclose(lam, ref, rtol=1e-10, atol=1e-13)


def test_continuous_profile_columns():
    M = LinearManifold(0.5, ContinuousProfile.uniform(0.01, 1.0))
    s = column_variances(M, 400)
    assert s.size == 200 and s.min() >= 0.01 and s.max() <= 1.0
    # mean level of the discretised uniform profile ~ 0.505
    assert abs(s.mean() - 0.505) < 0.01


def test_draw_seeds_are_distinct_32_bit():
    s = draw_seeds(0, 1000)
    assert s.dtype == np.uint32 and np.unique(s).size == 1000
    assert np.array_equal(draw_seeds(0, 3, start=5), s[5:8])


@pytest.mark.parametrize("call, name", [
    (lambda: sample_F(FIG2, 10, backend="torch"), "backend"),
    (lambda: sample_F(FIG2, 0), "d"),
    (lambda: sample_F(FIG2, 10, draws=0), "draws"),
    (lambda: sample_F(FIG2, 10, seed=-1), "seed"),
    (lambda: sample_F(FIG2, 1), "alpha"),
    (lambda: sample_F("fig2", 10), "manifold"),
    (lambda: gram_eigenvalues(np.ones(3)), "F"),
    (lambda: gram_eigenvalues(np.full((3, 2), np.nan)), "F"),
    (lambda: covariance_eigenvalues(FIG2, 10, backend="cuda"), "backend"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
