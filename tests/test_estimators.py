"""Dimension estimators: recovery on linear manifolds and unions of subspaces of known dimension,
through the exact finite-sample score and through exact models (issue 5)."""
import numpy as np
import pytest

from simulate.models import LinearGaussianModel, SubspaceUnionModel
from trained.estimators import EffectiveDimension, GapDimension, NormalBundle, default_tau_grid


def flat_cloud(d, m, n, seed=0):
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((d, m)))[0]
    return rng.standard_normal((n, m)) @ U.T


@pytest.mark.parametrize("m", [2, 5])
def test_spectral_estimators_recover_linear_manifold_dimension_from_point_cloud(m):
    X = flat_cloud(16, m, 800, seed=m)
    gap = GapDimension(n_points=8).fit(X)
    assert gap.dimension_ == m
    # the chosen tau lies between the condensation scale 1/(2 ln n) ~ 0.075 and the variance 1
    assert 0.05 < gap.tau_ < 1.0
    assert gap.spectrum_.values.shape == (8, default_tau_grid(X).size, 16)


@pytest.mark.parametrize("m", [2, pytest.param(5, marks=pytest.mark.xfail(
    strict=True, reason="known failure: 800 points are sparse in 5 dimensions, the empirical posterior condenses "
                        "before #{eta < 1/2} reaches m, so D_eff underestimates (issue 16: scale selection)"))])
def test_effective_dimension_of_a_flat_cloud(m):
    X = flat_cloud(16, m, 800, seed=m)
    assert EffectiveDimension(n_points=8).fit(X).dimension_ == m


def test_gap_phase_readouts_on_exact_linear_model():
    # exact linear model with levels 1 and 0.01: at tau* = sqrt(l_1 u_2) the visible dimension is f m
    # (high-variance subspace); at small tau the manifold gap shows m (docs/theory.md section 4)
    from rmt import LinearManifold, VarianceProfile, timescales
    M = LinearManifold(0.5, VarianceProfile([1.0, 0.01], [0.75, 0.25]))
    d = 40
    model = LinearGaussianModel.from_manifold(d, M, seed=0)
    X = model.sample(200, 1)
    tau_star = timescales(M)["gaps"][0]["tau_max"]
    est = GapDimension(tau=[tau_star, 1e-5], n_points=3).fit(X, score=model)
    dims = est.dimensions_
    assert np.all(dims[:, 0] == 15) and np.all(dims[:, 1] == 20)
    assert np.all(est.phases_[:, 1] == "consolidation") and np.all(est.phases_[:, 0] == "coverage")


def test_union_of_subspaces_local_dimension_per_point():
    model = SubspaceUnionModel.random(20, [3, 7], [1.0, 1.0], seed=1)
    X = model.sample(400, 0)
    # which component each query point lies in (residual to its subspace is 0)
    for est in (GapDimension(tau=1e-3, n_points=12), EffectiveDimension(tau=1e-3, n_points=12),
                NormalBundle(tau=1e-3, n_points=12)):
        est.fit(X, score=model)
        rng = np.random.default_rng(est.seed)
        query = X[rng.permutation(X.shape[0])[:12]]
        comp = np.array([int(np.argmin([np.linalg.norm(q - U @ (U.T @ q)) for U in model.U])) for q in query])
        truth = np.array(model.dims)[comp]
        got = est.dimensions_[:, 0] if est.dimensions_.ndim == 2 else est.dimensions_
        np.testing.assert_array_equal(got, truth)


def test_normal_bundle_on_exact_linear_model():
    rng = np.random.default_rng(0)
    d, m = 30, 6
    F = np.linalg.qr(rng.standard_normal((d, m)))[0]
    model = LinearGaussianModel(F)
    X = model.sample(300, 1)
    est = NormalBundle(tau=1e-4, n_points=5).fit(X, score=model)
    assert est.dimension_ == m and est.singular_values_.shape == (5, d)


def test_failure_mode_memorisation_is_reported_by_small_tau():
    """At tau far below the condensation scale the empirical score memorises: every direction is normal and
    the spectral estimators see dimension 0 (docs/theory.md section 6) - the reason tau is chosen from a grid."""
    X = flat_cloud(10, 3, 200)
    est = EffectiveDimension(tau=1e-6, n_points=4).fit(X)
    assert est.dimension_ == 0


def test_bad_input():
    with pytest.raises(ValueError, match="X must"):
        GapDimension().fit(np.zeros(5))
    with pytest.raises(ValueError, match="delta"):
        GapDimension(delta=0.7).fit(flat_cloud(4, 1, 20))
    with pytest.raises(ValueError, match="tau"):
        NormalBundle(tau=-1.0).fit(flat_cloud(4, 1, 20))
