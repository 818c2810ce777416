"""Exact models: scores vs gradients of log-densities, Jacobians vs central differences and autodiff,
closed forms vs scipy, numpy vs JAX (docs/theory.md sections 2 and 6)."""
import numpy as np
import pytest
import scipy.special
import scipy.stats
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rmt import LinearManifold, VarianceProfile, get_schedule
from rmt.testing import schedules
from rmt.testing import times as positive_times
from simulate.models import (EmpiricalModel, GaussianMixtureModel, LinearGaussianModel,
                             SubspaceUnionModel)

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_model(kind, d, K, seed, schedule):
    rng = np.random.default_rng(seed)
    if kind == "linear":
        return LinearGaussianModel(rng.standard_normal((d, K)) / np.sqrt(d), schedule)
    if kind == "mixture":
        return GaussianMixtureModel(rng.standard_normal((K, d)), rng.uniform(0.0, 0.5, K),
                                    rng.uniform(0.2, 1.0, K), schedule)
    if kind == "empirical":
        return EmpiricalModel(rng.standard_normal((K, d)), schedule)
    dims = [int(rng.integers(0, d + 1)) for _ in range(K)]
    return SubspaceUnionModel.random(d, dims, rng.uniform(0.1, 2.0, K), weights=rng.uniform(0.2, 1, K),
                                     offset_scale=0.7, seed=seed, schedule=schedule)


VE_VP = schedules(names=("ve", "vp"))
models = st.builds(make_model, st.sampled_from(["linear", "mixture", "empirical", "subspaces"]),
                   st.integers(1, 6), st.integers(1, 5), st.integers(0, 10_000), VE_VP)
times = positive_times(0.05, 2.0)


def central_grad(f, x, h):
    """(B, d) -> stack over coordinates of (f(x + h e_i) - f(x - h e_i)) / 2h; last axis = i."""
    cols = [(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(x.shape[1])]
    return np.stack(cols, axis=-1)


@SETTINGS
@given(models, times, st.integers(1, 4), st.integers(0, 100))
def test_score_is_gradient_of_log_density(model, t, B, seed):
    x = model.sample_t(B, t, seed)
    s = model.score(x, t)
    fd = central_grad(lambda z: model.log_density(z, t), x, 1e-5)
    assert s.shape == (B, model.d)
    np.testing.assert_allclose(s, fd, rtol=1e-6, atol=1e-6 * (1 + np.abs(s).max()))


@SETTINGS
@given(models, times, st.integers(1, 4), st.integers(0, 100))
def test_jacobian_symmetric_and_matches_central_differences(model, t, B, seed):
    x = model.sample_t(B, t, seed)
    J = model.jacobian(x, t)
    assert J.shape == (B, model.d, model.d)
    np.testing.assert_allclose(J, np.swapaxes(J, 1, 2), atol=1e-12 * (1 + np.abs(J).max()))
    fd = central_grad(lambda z: model.score(z, t), x, 1e-5)
    np.testing.assert_allclose(J, fd, rtol=1e-6, atol=1e-6 * (1 + np.abs(J).max()))


@SETTINGS
@given(st.integers(1, 8), st.integers(1, 10), times, VE_VP, st.integers(0, 1000))
def test_linear_jacobian_closed_form(d, m, t, schedule, seed):
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((d, m)) / np.sqrt(d)
    model = LinearGaussianModel(F, schedule)
    sch = get_schedule(schedule)
    a, s2 = float(sch.a(t)), float(sch.s2(t))
    Sigma = a * a * F @ F.T + s2 * np.eye(d)
    x = rng.standard_normal((3, d))
    J = model.jacobian(x, t)
    np.testing.assert_allclose(J, np.broadcast_to(-np.linalg.inv(Sigma), J.shape), rtol=1e-10, atol=1e-10 / s2)
    np.testing.assert_allclose(model.score(x, t), -np.linalg.solve(Sigma, x.T).T, rtol=1e-10, atol=1e-10 / s2)
    # spectrum of -Jn: tau / (lambda + tau) with lambda the eigenvalues of C (zeros included)
    tau = s2 / a ** 2
    lam = np.clip(np.linalg.eigvalsh(F @ F.T), 0, None)
    np.testing.assert_allclose(model.eta(x, t), np.broadcast_to(np.sort(tau / (lam + tau)), (3, d)), atol=1e-10)
    ref = scipy.stats.multivariate_normal(np.zeros(d), Sigma).logpdf(x)
    np.testing.assert_allclose(model.log_density(x, t), np.atleast_1d(ref), rtol=1e-10)


def test_linear_from_manifold_matches_profile():
    M = LinearManifold(0.5, VarianceProfile([1.0, 0.01], [0.75, 0.25]))
    model = LinearGaussianModel.from_manifold(400, M, seed=3)
    assert model.F.shape == (400, 200)
    from simulate.fmatrix import sample_F  # same F as draw 0 of the spectrum simulator
    np.testing.assert_array_equal(model.F, sample_F(M, 400, 1, seed=3)[0])
    # column j has variance sigma_j^2: sum_i F_ij^2 ~ sigma_j^2 (chi^2_400 / 400, sd 0.07 relative)
    colvar = np.sum(model.F ** 2, axis=0)
    np.testing.assert_allclose(colvar[:150].mean(), 1.0, rtol=0.02)
    np.testing.assert_allclose(colvar[150:].mean(), 0.01, rtol=0.02)
    # min nonzero eigenvalue near the theory lower edge 0.001898 (docs/theory.md reference numbers, d=2000: 0.001896)
    lam = model.eigenvalues
    assert np.sum(lam == 0) == 200 and lam[200] == pytest.approx(0.0019, rel=0.25)


@SETTINGS
@given(st.integers(1, 5), st.integers(1, 6), times, VE_VP, st.integers(0, 1000))
def test_mixture_log_density_matches_scipy(d, K, t, schedule, seed):
    model = make_model("mixture", d, K, seed, schedule)
    sch = get_schedule(schedule)
    a, s2 = float(sch.a(t)), float(sch.s2(t))
    x = model.sample_t(4, t, seed)
    comps = np.stack([scipy.stats.multivariate_normal(a * mu, (a * a * v + s2) * np.eye(d)).logpdf(x).reshape(-1)
                      for mu, v in zip(model.means, model.variances)], axis=1)
    ref = scipy.special.logsumexp(comps + np.log(model.weights), axis=1)
    np.testing.assert_allclose(model.log_density(x, t), ref, rtol=1e-10)


@SETTINGS
@given(st.integers(1, 5), st.integers(1, 4), times, VE_VP, st.integers(0, 1000))
def test_subspace_union_log_density_matches_scipy(d, K, t, schedule, seed):
    model = make_model("subspaces", d, K, seed, schedule)
    sch = get_schedule(schedule)
    a, s2 = float(sch.a(t)), float(sch.s2(t))
    x = model.sample_t(4, t, seed)
    comps = np.stack([scipy.stats.multivariate_normal(a * mu, a * a * B @ B.T + s2 * np.eye(d)).logpdf(x).reshape(-1)
                      for mu, B in zip(model.means, model.factors)], axis=1)
    ref = scipy.special.logsumexp(comps + np.log(model.weights), axis=1)
    np.testing.assert_allclose(model.log_density(x, t), ref, rtol=1e-10)


@SETTINGS
@given(st.integers(1, 6), st.integers(1, 30), positive_times(0.01, 3.0), VE_VP,
       st.integers(0, 1000))
def test_empirical_jacobian_is_posterior_covariance_identity(d, n, t, schedule, seed):
    rng = np.random.default_rng(seed)
    pts = rng.standard_normal((n, d))
    model = EmpiricalModel(pts, schedule)
    sch = get_schedule(schedule)
    a, s2 = float(sch.a(t)), float(sch.s2(t))
    x = model.sample_t(3, t, seed)
    # independent route: explicit distances, scipy softmax, weighted covariance by a python loop
    D2 = ((x[:, None, :] - a * pts[None]) ** 2).sum(-1)
    gam = scipy.special.softmax(-D2 / (2 * s2), axis=1)
    for b in range(3):
        mu = sum(gam[b, i] * a * pts[i] for i in range(n))
        Sig = sum(gam[b, i] * np.outer(a * pts[i] - mu, a * pts[i] - mu) for i in range(n))
        J_ref = Sig / s2 ** 2 - np.eye(d) / s2
        np.testing.assert_allclose(model.jacobian(x[b], t), J_ref, rtol=1e-9, atol=1e-9 / s2)
        np.testing.assert_allclose(model.score(x[b], t), (mu - x[b]) / s2, rtol=1e-9, atol=1e-9 / s2)
        np.testing.assert_allclose(model.posterior_covariance(x[b], t), Sig, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.posterior(x, t), gam, rtol=1e-9, atol=1e-15)
    # -Jn = I - Sigma_gamma / s^2
    np.testing.assert_allclose(-model.normalized_jacobian(x, t),
                               np.eye(d) - model.posterior_covariance(x, t) / s2, atol=1e-9)


def test_empirical_log_sum_exp_stable_at_tiny_noise():
    pts = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 40.0]])
    model = EmpiricalModel(pts)
    t = 1e-10  # exp(-|x - x_i|^2 / 2t) underflows for every i
    x = np.array([[2.9, 0.1], [0.0, 39.0]])
    s = model.score(x, t)
    np.testing.assert_allclose(s, (pts[[1, 2]] - x) / t, rtol=1e-12)
    np.testing.assert_allclose(model.log_density(x, t),
                               -np.sum((x - pts[[1, 2]]) ** 2, 1) / (2 * t) - np.log(3) - np.log(2 * np.pi * t),
                               rtol=1e-12)
    J = model.jacobian(x, t)
    np.testing.assert_allclose(J, np.broadcast_to(-np.eye(2) / t, J.shape), rtol=1e-12)
    assert np.all(model.eta(x, t) == pytest.approx(1.0))  # memorisation: every direction looks orthogonal


@pytest.mark.parametrize("kind", ["linear", "mixture", "empirical", "subspaces"])
def test_sample_moments_match_exact_mean_and_covariance(kind):
    model = make_model(kind, 4, 3, 7, "ve")
    n = 40_000
    x = model.sample(n, 1)
    mu, C = model.mean(), model.data_covariance()
    # mean: standard error sqrt(C_ii / n); covariance entries: sqrt((C_ii C_jj + C_ij^2) / n); 5 sigma
    se_mu = np.sqrt(np.diag(C) / n)
    assert np.all(np.abs(x.mean(0) - mu) < 5 * se_mu + 1e-12)
    se_C = np.sqrt((np.outer(np.diag(C), np.diag(C)) + C ** 2) / n)
    assert np.all(np.abs(np.cov(x.T) - C) < 6 * se_C + 1e-12)
    xt = model.sample_t(n, 0.3, 2)
    np.testing.assert_allclose(np.cov(xt.T), model.covariance(0.3), atol=6 * np.sqrt(
        (np.max(np.diag(model.covariance(0.3))) ** 2 * 2) / n))


def test_subspace_union_samples_lie_in_their_subspaces():
    model = SubspaceUnionModel.random(7, [1, 3], [1.0, 0.5], seed=4)
    x = model.sample(500, 0)
    P = [U @ U.T for U in model.U]
    resid = np.minimum(*[np.linalg.norm(x - x @ Pk, axis=1) for Pk in P])
    assert resid.max() < 1e-12
    assert model.dims == [1, 3]


def test_denoiser_is_tweedie_posterior_mean_for_linear_model():
    rng = np.random.default_rng(0)
    F = rng.standard_normal((5, 2))
    model = LinearGaussianModel(F, "vp")
    t = 0.4
    a, s2 = model.coefficients(t)
    C = F @ F.T
    x = rng.standard_normal((3, 5))
    # E[x0 | x_t] = a C (a^2 C + s^2 I)^{-1} x  (Gaussian conditioning)
    ref = (a * C @ np.linalg.solve(a * a * C + s2 * np.eye(5), x.T)).T
    np.testing.assert_allclose(model.denoiser(x, t), ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["linear", "mixture", "empirical", "subspaces"])
@pytest.mark.parametrize("schedule", ["ve", "vp"])
def test_jax_agrees_with_numpy_and_autodiff(kind, schedule):
    import jax
    import jax.numpy as jnp
    model = make_model(kind, 5, 3, 11, schedule)
    jm = model.to_jax()
    t = 0.37
    x = model.sample_t(4, t, 5)
    np.testing.assert_allclose(np.asarray(jm.score(x, t)), model.score(x, t), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(np.asarray(jm.log_density(x, t)), model.log_density(x, t), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(jm.denoiser(x, t)), model.denoiser(x, t), rtol=1e-11, atol=1e-11)
    # JAX autodiff: grad of log-density = closed-form score; jacfwd of the score = closed-form Jacobian.
    # The pure functions need float64 switched on by the caller; without it they say so.
    with pytest.raises(ValueError, match="float64"):
        jm.score_fn(t)(jnp.asarray(x, dtype=jnp.float32))
    with jax.enable_x64(True):
        logp = jm.log_density_fn(t)
        g = jax.vmap(jax.grad(logp))(jnp.asarray(x))
        np.testing.assert_allclose(np.asarray(g), model.score(x, t), rtol=1e-10, atol=1e-10)
        J = jax.vmap(jax.jacfwd(jm.score_fn(t)))(jnp.asarray(x))
        np.testing.assert_allclose(np.asarray(J), model.jacobian(x, t), rtol=1e-10, atol=1e-10)
    assert not jax.config.read("jax_enable_x64")            # the switch was local
    # single point (d,) in and out
    assert jm.score(x[0], t).shape == (5,)
    # float32 on request: agrees to float32 precision, no switch needed
    j32 = model.to_jax("float32")
    np.testing.assert_allclose(j32.score(x, t), model.score(x, t), rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("bad, match", [
    (dict(x=np.zeros((2, 3))), "x must have last dimension"),
    (dict(x=np.full((1, 4), np.nan)), "x must be finite"),
    (dict(t=0.0), "t must be finite and > 0"),
    (dict(t=-1.0), "t must be finite and > 0"),
    (dict(t=[0.1, 0.2]), "t must be a scalar"),
    (dict(x=np.zeros((1, 1, 4))), r"x must have shape \(B, d\)"),
])
def test_bad_input_names_argument(bad, match):
    model = make_model("mixture", 4, 2, 0, "ve")
    kw = {"x": np.zeros((2, 4)), "t": 0.5, **bad}
    with pytest.raises(ValueError, match=match):
        model.score(kw["x"], kw["t"])


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="variances"):
        GaussianMixtureModel(np.zeros((2, 3)), [-1.0, 0.5])
    with pytest.raises(ValueError, match="weights"):
        GaussianMixtureModel(np.zeros((2, 3)), 0.1, [1.0, 0.0])
    with pytest.raises(ValueError, match="means"):
        SubspaceUnionModel([np.eye(3)], means=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="F"):
        LinearGaussianModel(np.zeros(3))
    with pytest.raises(ValueError, match="schedule"):
        EmpiricalModel(np.zeros((2, 3)), schedule="cosine")


@pytest.mark.parametrize("kind", ["linear", "mixture", "empirical", "subspace"])
def test_exact_models_are_diffusion_models_and_denoise_through_the_schedule(kind):
    """Every exact model (and its JAX mirror, and a PerturbedScore around it) satisfies the one score-model
    protocol, and its Tweedie denoiser and noised samples are Schedule.denoise / Schedule.noise."""
    from simulate.protocol import DiffusionModel, is_diffusion_model
    from simulate.ridge_dynamics import PerturbedScore
    model = make_model(kind, 4, 3, 0, "vp")
    assert isinstance(model, DiffusionModel) and is_diffusion_model(model) and model.data_shape == (4,)
    perturbed = PerturbedScore(model, lambda x, t: np.zeros_like(x))
    assert isinstance(perturbed, DiffusionModel) and perturbed.data_shape == (4,)
    x, t = np.random.default_rng(1).standard_normal((5, 4)), 0.3
    a, s2 = model.coefficients(t)
    np.testing.assert_array_equal(model.denoiser(x, t), model.schedule.denoise(x, t, model.score(x, t)))
    np.testing.assert_allclose(model.denoiser(x, t), (x + s2 * model.score(x, t)) / a, rtol=1e-14)
    x0, eps = model.sample(5, 2), np.random.default_rng(3).standard_normal((5, 4))
    np.testing.assert_allclose(model.schedule.noise(x0, t, eps), a * x0 + np.sqrt(s2) * eps, rtol=1e-14)
    ts = np.array([0.1, 0.2, 0.3, 0.4, 0.5])                             # one time per point
    np.testing.assert_allclose(model.schedule.noise(x0, ts, eps),
                               model.schedule.a(ts)[:, None] * x0 + model.schedule.s(ts)[:, None] * eps, rtol=1e-14)


def test_jax_model_is_a_diffusion_model():
    pytest.importorskip("jax")
    from simulate.protocol import DiffusionModel
    model = make_model("linear", 4, 2, 0, "ve")
    assert isinstance(model.to_jax(), DiffusionModel)
