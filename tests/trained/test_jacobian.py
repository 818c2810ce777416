"""The Jacobian engine against exact scores (closed-form Jacobians), independent autodiff routes,
attention layers and fallbacks (issue 5)."""
import numpy as np
import pytest
import torch

from rmt import LinearManifold, VarianceProfile
from simulate.models import EmpiricalModel, GaussianMixtureModel, LinearGaussianModel, SubspaceUnionModel
from trained.jacobian import jacobian, jacobian_spectrum, krylov_svd


def models(schedule="ve"):
    rng = np.random.default_rng(0)
    return {
        "linear": LinearGaussianModel.from_manifold(
            24, LinearManifold(0.5, VarianceProfile([1, 0.01], [0.75, 0.25])), seed=1, schedule=schedule),
        "empirical": EmpiricalModel(rng.standard_normal((30, 12)), schedule),
        "mixture": GaussianMixtureModel(rng.standard_normal((5, 12)), rng.uniform(0, 0.3, 5), None, schedule),
        "subspaces": SubspaceUnionModel.random(12, [2, 5], [1.0, 0.3], offset_scale=0.5, seed=2, schedule=schedule),
    }


@pytest.mark.parametrize("name", ["linear", "empirical", "mixture", "subspaces"])
@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_exact_matches_closed_form_jacobian(name, backend, mode):
    model = models("vp" if mode == "reverse" else "ve")[name]
    t = 0.3
    x = model.sample_t(5, t, 1)
    J = jacobian(model, x, t=t, backend=backend, mode=mode)
    s2 = model.coefficients(t)[1]
    np.testing.assert_allclose(s2 * J, s2 * model.jacobian(x, t), atol=1e-10)
    # spectra: singular values of Jn = |eigenvalues| = eta for the exact symmetric score
    r = jacobian_spectrum(model, x, method="exact", t=[t, 0.05], backend=backend, mode=mode)
    ref = np.stack([model.eta(x, t), model.eta(x, 0.05)], axis=1)
    assert r.spectrum.values.shape == (5, 2, model.d)
    np.testing.assert_allclose(r.spectrum.values, ref, atol=1e-10)


@pytest.mark.parametrize("name", ["linear", "empirical", "mixture"])
@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("solver", ["krylov", "arpack"])
def test_lanczos_top_k_denoiser_matches_closed_form(name, backend, solver):
    model = models()[name]
    t, k = 0.05, 6
    x = model.sample_t(2, t, 3)
    r = jacobian_spectrum(model, x, method="lanczos", t=t, k=k, backend=backend, solver=solver,
                          return_vectors=True)
    a, s2 = model.coefficients(t)
    for p in range(2):
        D = (np.eye(model.d) + s2 * model.jacobian(x[p], t)) / a
        S = np.linalg.svd(D, compute_uv=False)[:k]
        np.testing.assert_allclose(r.singular_values[p, 0], S, atol=1e-6)
        # singular vectors: D v = sigma u
        V, U = r.right_vectors[p, 0], r.left_vectors[p, 0]
        np.testing.assert_allclose(D @ V, U * r.singular_values[p, 0], atol=1e-6)
    # the container holds 1 - a sigma = the k smallest eta (tangent directions)
    np.testing.assert_allclose(r.spectrum.values[:, 0], model.eta(x, t)[:, :k], atol=1e-6)


def test_lanczos_score_operator_top_k():
    model = models()["mixture"]
    x = model.sample_t(1, 0.2, 0)
    r = jacobian_spectrum(model, x, method="lanczos", t=0.2, k=4, operator="score")
    Jn = 0.2 * model.jacobian(x, 0.2)[0]
    np.testing.assert_allclose(r.singular_values[0, 0], np.linalg.svd(Jn, compute_uv=False)[:4], atol=1e-6)


def _fd_error(model, x, t, sigma, central):
    J = jacobian(model, x, t=t, method="finite-difference", sigma=sigma, central=central)
    return np.abs(J - model.jacobian(x, t)).max() * model.coefficients(t)[1]


@pytest.mark.parametrize("central, order", [(False, 1), (True, 2)])
def test_finite_difference_error_order(central, order):
    model = models()["mixture"]
    t = 0.2
    x = model.sample_t(3, t, 4)
    sigmas = np.sqrt(t) * np.array([4e-2, 2e-2, 1e-2])
    errs = np.array([_fd_error(model, x, t, s, central) for s in sigmas])
    slopes = np.diff(np.log(errs)) / np.diff(np.log(sigmas))
    assert np.all(np.abs(slopes - order) < 0.25), (errs, slopes)


def test_finite_difference_exact_on_linear_model_and_probe_counts():
    model = models()["linear"]
    t = 0.1
    x = model.sample_t(2, t, 0)
    ref = model.jacobian(x, t)
    for K in (model.d, 2 * model.d, 4 * model.d):
        J = jacobian(model, x, t=t, method="finite-difference", probes=K, central=False, sigma=0.3)
        np.testing.assert_allclose(J * t, ref * t, atol=1e-9)   # the score is linear: any sigma is exact
    # K < d: the least-squares fit is J restricted to the probed subspace, J Q^T Q
    J = jacobian(model, x, t=t, method="finite-difference", probes=5, seed=3)
    from trained.jacobian.engine import _probe_matrix
    Q = _probe_matrix(model.d, 5, 3)
    np.testing.assert_allclose(J * t, ref @ Q.T @ Q * t, atol=1e-9)


def test_numpy_black_box_through_finite_differences():
    model = models()["empirical"]
    x = model.sample_t(2, 0.5, 0)
    r = jacobian_spectrum(lambda X: model.score(X, 0.5), x, method="finite-difference", t=0.5, backend="numpy")
    np.testing.assert_allclose(r.spectrum.values[:, 0], model.eta(x, 0.5), atol=1e-7)
    with pytest.raises(ValueError, match="finite-difference"):
        jacobian_spectrum(lambda X: model.score(X, 0.5), x, method="exact", t=0.5, backend="numpy")


class Attention(torch.nn.Module):
    """Tokens of the input, one self-attention layer with scaled_dot_product_attention, a readout."""

    def __init__(self, d=12, tokens=4, width=6, dtype=torch.float64):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.tokens, self.e = tokens, d // tokens
        self.inp = torch.nn.Parameter(torch.randn(self.e, width, generator=g, dtype=dtype))
        self.qkv = torch.nn.Parameter(torch.randn(3, width, width, generator=g, dtype=dtype) / width ** 0.5)
        self.out = torch.nn.Parameter(torch.randn(width, self.e, generator=g, dtype=dtype) / width ** 0.5)

    def forward(self, x):
        h = x.reshape(x.shape[0], self.tokens, self.e) @ self.inp
        q, k, v = (h @ self.qkv[i] for i in range(3))
        a = torch.nn.functional.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
        return (torch.tanh(a + h) @ self.out).reshape(x.shape[0], -1) - 0.5 * x


def _autograd_reference(f, x):
    xt = torch.as_tensor(x)
    return np.stack([torch.autograd.functional.jacobian(lambda z: f(z[None])[0], xt[b]).numpy()
                     for b in range(xt.shape[0])])


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_attention_module_through_every_method(mode):
    f = Attention()
    x = np.random.default_rng(0).standard_normal((3, 12))
    ref = _autograd_reference(f, x)                        # row-by-row autograd: the independent route
    J = jacobian(f, x, mode=mode)
    np.testing.assert_allclose(J, ref, atol=1e-12)
    S_ref = np.linalg.svd(ref, compute_uv=False)
    r = jacobian_spectrum(f, x, method="exact", mode=mode)
    np.testing.assert_allclose(r.singular_values[:, 0], S_ref, atol=1e-12)
    r = jacobian_spectrum(f, x, method="lanczos", k=4)
    np.testing.assert_allclose(r.singular_values[:, 0], S_ref[:, :4], atol=1e-6)
    r = jacobian_spectrum(f, x, method="finite-difference", sigma=1e-4)
    np.testing.assert_allclose(r.singular_values[:, 0], S_ref, atol=1e-6)


def test_attention_float32():
    import copy
    f64 = Attention()
    f32 = copy.deepcopy(f64).float()
    x = np.random.default_rng(1).standard_normal((2, 12))
    J64 = jacobian(f64, x)
    J32 = jacobian(f32, x)
    np.testing.assert_allclose(J32, J64, rtol=1e-4, atol=1e-5)


class NoForwardAD(torch.autograd.Function):
    """x -> sin(x) with a backward rule only: forward-mode AD must fail and the engine must fall back."""

    @staticmethod
    def forward(x):
        return torch.sin(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.cos(x)


def test_fallback_to_other_mode_when_a_kernel_lacks_forward_ad():
    W = torch.randn(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    class M(torch.nn.Module):
        def forward(self, x):
            return NoForwardAD.apply(x @ W)
    x = np.random.default_rng(0).standard_normal((2, 6))
    from trained.jacobian import as_backend
    be = as_backend(M(), mode="forward")
    J = be.jacobian(x)
    assert be.route.startswith(("reverse", "loop")) and "forward" in be.route
    xt = torch.as_tensor(x)
    ref = np.stack([(torch.cos(xt[b] @ W)[:, None] * W.T).numpy() for b in range(2)])
    np.testing.assert_allclose(J, ref, atol=1e-12)


def test_time_dependent_callable_and_normalisation():
    lam = torch.tensor([2.0, 0.5, 0.0, 0.0], dtype=torch.float64)

    def score(x, t):  # exact score of N(0, diag(lam)) under VE: -x / (lam + t); t is a float
        return -x / (lam + t)
    x = np.random.default_rng(0).standard_normal((3, 4))
    times = [1.0, 0.1]
    r = jacobian_spectrum(score, x, method="exact", t=times, backend="torch")
    for j, t in enumerate(times):
        eta = np.sort(t / (lam.numpy() + t))
        np.testing.assert_allclose(r.spectrum.values[:, j], np.broadcast_to(eta, (3, 4)), atol=1e-14)


def test_memory_budget_chunks_give_identical_results():
    model = models()["mixture"]
    x = model.sample_t(7, 0.3, 0)
    big = jacobian(model, x, t=0.3)
    small = jacobian(model, x, t=0.3, chunk_bytes=1)    # one (point, basis vector) pair per chunk
    np.testing.assert_allclose(small, big, atol=1e-13)


def test_krylov_svd_on_a_dense_matrix():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((80, 60)) @ np.diag(np.linspace(1, 0.01, 60) ** 2) @ rng.standard_normal((60, 60))
    U, S, V, info = krylov_svd(lambda V: A @ V, lambda U: A.T @ U, 60, 8, tol=1e-12)
    np.testing.assert_allclose(S, np.linalg.svd(A, compute_uv=False)[:8], rtol=1e-10)
    assert info["residual"] <= 1e-12


@pytest.mark.parametrize("kw, match", [
    (dict(method="svd"), "method"),
    (dict(method="lanczos"), "k must be given"),
    (dict(method="exact", k=100), "k must be <= d"),
    (dict(method="exact", operator="jacobian"), "operator"),
    (dict(method="exact", t=None), "t must be given"),
    (dict(method="lanczos", k=2, solver="qr"), "solver"),
    (dict(method="exact", x=np.zeros((2, 3, 4))), "x must have shape"),
])
def test_bad_input(kw, match):
    model = models()["mixture"]
    args = {"t": 0.2, "x": model.sample_t(2, 0.2, 0), **kw}
    x = args.pop("x")
    with pytest.raises(ValueError, match=match):
        jacobian_spectrum(model, x, **args)


def test_score_network_with_attention_unet_time_and_image_shape():
    """trained.nets.ScoreModel (UNet with self-attention on 1x4x4 images) at two times: exact (both modes)
    against row-by-row autograd on the flattened map, lanczos and finite differences against exact."""
    from trained.nets import ScoreModel, UNet
    torch.manual_seed(0)
    net = UNet(in_channels=1, resolution=4, width=8, channel_mult=(1, 2), num_res_blocks=1, attention=True).double()
    for p in net.parameters():                       # move off the zero initialisation of the output layer
        torch.nn.init.normal_(p, std=0.2)
    model = ScoreModel(net, "vp").eval()
    x = np.random.default_rng(0).standard_normal((2, 16))
    t = 0.4
    s2 = float(model.schedule.s2(t))
    ref = np.stack([torch.autograd.functional.jacobian(
        lambda z: model(z.reshape(1, 1, 4, 4), t).reshape(-1), torch.as_tensor(x[b])).numpy() for b in range(2)])
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(jacobian(model, x, t=t, mode=mode), ref, atol=1e-10)
    S = np.linalg.svd(s2 * ref, compute_uv=False)
    r = jacobian_spectrum(model, x, method="exact", t=[t, 1.0])
    assert r.spectrum.schedule == "vp" and r.spectrum.values.shape == (2, 2, 16)
    np.testing.assert_allclose(r.singular_values[:, 0], S, atol=1e-10)
    r = jacobian_spectrum(model, x, method="lanczos", t=t, k=5, operator="score")
    np.testing.assert_allclose(r.singular_values[:, 0], S[:, :5], atol=1e-6)
    r = jacobian_spectrum(model, x, method="finite-difference", t=t, sigma=1e-5)
    np.testing.assert_allclose(r.singular_values[:, 0], S, atol=1e-6)
