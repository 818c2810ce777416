"""Adapters for models people already have (trained.adapters), checked against exact linear Gaussian scores
dressed as real diffusers models / EDM denoisers, and on a random attention UNet saved as a pipeline folder.
No network access: every model is built here and saved to a temporary folder."""
import json
import warnings

import numpy as np
import pytest
import torch

diffusers = pytest.importorskip("diffusers")
from diffusers import ConfigMixin, DDIMScheduler, DDPMScheduler, ModelMixin, UNet2DModel  # noqa: E402
from diffusers.configuration_utils import register_to_config  # noqa: E402

from rmt.schedules import DDPM, EDM, TabulatedVP, get_schedule  # noqa: E402
from rmt.spectrum import Spectrum  # noqa: E402
from trained.adapters import from_denoiser, from_diffusers, from_score  # noqa: E402
from trained.jacobian import jacobian_spectrum  # noqa: E402
from trained.protocol import DiffusionModel, is_diffusion_model  # noqa: E402

SHAPE = (1, 3, 3)
D = 9


def _covariance(seed=0):
    """A covariance with a 4-dimensional range (the 'manifold') and distinct eigenvalues."""
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((D, 4)) * np.array([1.5, 1.0, 0.3, 0.05])
    return F @ F.T


class ExactLinearUNet(ModelMixin, ConfigMixin):
    """The exact eps/v/x0 prediction of x0 ~ N(0, C) under x_k = a_k x0 + s_k eps, with UNet2DModel's call
    signature and config (sample_size, in/out channels): what a perfectly trained DDPM would output."""

    @register_to_config
    def __init__(self, sample_size=3, in_channels=1, out_channels=1, covariance=None, alphas_cumprod=None,
                 prediction_type="epsilon"):
        super().__init__()
        self.register_buffer("C", torch.tensor(covariance, dtype=torch.float64))
        self.register_buffer("ab", torch.tensor(alphas_cumprod, dtype=torch.float64))

    def forward(self, sample, timestep, class_labels=None, return_dict=True):
        B = sample.shape[0]
        x = sample.reshape(B, -1)
        ab = self.ab[timestep.long()].to(x.dtype)[:, None, None]                 # (B, 1, 1)
        a, s = ab.sqrt(), (1 - ab).sqrt()
        Sigma = a * a * self.C.to(x.dtype) + s * s * torch.eye(x.shape[1], dtype=x.dtype)
        eps = s[:, :, 0] * torch.linalg.solve(Sigma, x[:, :, None])[:, :, 0]      # s (a^2 C + s^2)^-1 x
        x0 = (x - s[:, :, 0] * eps) / a[:, :, 0]
        out = {"epsilon": eps, "v_prediction": a[:, :, 0] * eps - s[:, :, 0] * x0, "sample": x0}[
            self.config.prediction_type]
        out = out.reshape(sample.shape)
        return type("Out", (), {"sample": out})() if return_dict else (out,)


def _points(n=3, seed=1):
    return np.random.default_rng(seed).standard_normal((n, D))


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction", "sample"])
def test_exact_model_dressed_as_diffusers_gives_eta(prediction):
    sch = DDPMScheduler(num_train_timesteps=1000, prediction_type=prediction)
    C = _covariance()
    unet = ExactLinearUNet(covariance=C.tolist(), alphas_cumprod=sch.alphas_cumprod.double().tolist(),
                           prediction_type=prediction)
    model = from_diffusers(unet, sch, dtype="float64")
    assert is_diffusion_model(model) and isinstance(model, DiffusionModel)
    assert model.data_shape == SHAPE and isinstance(model.schedule, TabulatedVP)
    lam = np.linalg.eigvalsh(C)
    ab = sch.alphas_cumprod.double().numpy()
    steps = [0, 1, 250, 999]
    res = jacobian_spectrum(model, _points(), t=steps, method="exact")
    tau = (1 - ab[steps]) / ab[steps]
    np.testing.assert_allclose(res.spectrum.tau, tau, rtol=1e-12)
    expect = np.sort(tau[:, None] / (lam[None, :] + tau[:, None]), axis=-1)
    np.testing.assert_allclose(res.spectrum.values, np.broadcast_to(expect, res.spectrum.values.shape), atol=1e-8)


def test_exact_model_dressed_as_edm_denoiser_gives_eta():
    C = torch.tensor(_covariance(2))

    def D_exact(x, sigma):                              # E[x0 | x] = C (C + sigma^2 I)^-1 x, sigma (B,)
        B = x.shape[0]
        xf = x.reshape(B, -1)
        S = C + (sigma ** 2)[:, None, None] * torch.eye(D, dtype=x.dtype)
        return (C @ torch.linalg.solve(S, xf[:, :, None]))[:, :, 0].reshape(x.shape)

    model = from_denoiser(D_exact, data_shape=SHAPE)
    assert model.schedule == EDM()
    sig = [0.01, 0.3, 2.0, 40.0]
    res = jacobian_spectrum(model, _points(), t=sig, method="exact", dtype="float64")
    tau = np.square(sig)
    np.testing.assert_allclose(res.spectrum.tau, tau, rtol=1e-14)
    lam = np.linalg.eigvalsh(C.numpy())
    expect = np.sort(tau[:, None] / (lam[None, :] + tau[:, None]), axis=-1)
    np.testing.assert_allclose(res.spectrum.values, np.broadcast_to(expect, res.spectrum.values.shape), atol=1e-8)


def test_edm_preconditioning_with_sigma_data():
    """With sigma_data the adapter wraps a raw network F(c_in x, c_noise) in c_skip x + c_out F: an F that is
    zero must give the pure skip denoiser, whose Jacobian is c_skip I."""
    model = from_denoiser(lambda x, c: torch.zeros_like(x), data_shape=(4,), sigma_data=0.5)
    x = torch.randn(2, 4, dtype=torch.float64)
    sigma = 0.7
    c_skip = 0.25 / (0.49 + 0.25)
    torch.testing.assert_close(model.denoiser(x, sigma), c_skip * x)
    torch.testing.assert_close(model.score(x, sigma), (c_skip - 1) * x / sigma ** 2)


def test_every_kind_of_score_model_is_a_diffusion_model():
    """The one protocol (simulate.protocol, re-exported by trained.protocol): the three adapters, specgap's own
    ScoreModel and the numpy wrapper NetworkScore all satisfy it; the Tweedie denoiser of each is
    Schedule.denoise of its score."""
    import simulate.protocol
    from trained.nets import build_model
    from trained.network_spectra import NetworkScore
    assert DiffusionModel is simulate.protocol.DiffusionModel
    sch = DDPMScheduler(num_train_timesteps=1000)
    unet = ExactLinearUNet(covariance=_covariance().tolist(), alphas_cumprod=sch.alphas_cumprod.double().tolist())
    net = build_model({"arch": "mlp", "net": {"d": 3, "width": 8, "depth": 1}, "schedule": "vp"}).double()
    models = [from_diffusers(unet, sch, dtype="float64"),
              from_denoiser(lambda x, sigma: 0.5 * x, data_shape=(3,)),
              from_score(lambda x, t: -x, schedule="ve", data_shape=(3,)), net]
    for model in models + [NetworkScore(m) for m in models]:
        assert isinstance(model, DiffusionModel) and is_diffusion_model(model), type(model).__name__
    for model, t in zip(models, [250, 0.7, 0.3, 0.3]):
        x = torch.randn((2,) + tuple(model.data_shape), dtype=torch.float64)
        torch.testing.assert_close(model.denoiser(x, t), model.schedule.denoise(x, t, model.score(x, t)))


def test_from_score_schedule_and_time_convention():
    sch = DDPM(beta_min=0.05, beta_max=5.0)
    lam = np.array([2.0, 0.5, 0.0])
    seen = {}

    def fn(x, t):                                       # exact score of N(0, diag(lam)) under the DDPM schedule
        seen["t"] = t
        tt = float(t[0])
        a2, s2 = float(sch.a(tt)) ** 2, float(sch.s2(tt))
        return -x / torch.as_tensor(a2 * lam + s2, dtype=x.dtype)

    model = from_score(fn, schedule=sch, data_shape=(3,))
    res = jacobian_spectrum(model, np.ones((1, 3)), t=[0.1, 0.3], dtype="float64")
    assert torch.is_tensor(seen["t"]) and seen["t"].shape == (1,)
    tau = sch.tau(np.array([0.1, 0.3]))
    assert abs(tau[1] - 0.268) < 1e-3                   # not the default DDPM's 1.52
    np.testing.assert_allclose(res.spectrum.tau, tau)
    expect = np.sort(tau[:, None] / (lam[None] + tau[:, None]), axis=-1)
    np.testing.assert_allclose(res.spectrum.values[0], expect, atol=1e-12)


def _attention_unet(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = dict(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 16),
               down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
               norm_num_groups=4, attention_head_dim=4)
    cfg.update(kw)
    return UNet2DModel(**cfg)


@pytest.fixture(scope="module")
def pipeline_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipe")
    unet = _attention_unet()
    sch = DDIMScheduler(num_train_timesteps=100, prediction_type="v_prediction")
    unet.save_pretrained(root / "unet")
    sch.save_pretrained(root / "scheduler")
    (root / "model_index.json").write_text(json.dumps({"_class_name": "DDIMPipeline",
                                                        "unet": ["diffusers", "UNet2DModel"],
                                                        "scheduler": ["diffusers", "DDIMScheduler"]}))
    return root, unet, sch


def test_attention_unet_folder_equals_object_and_lanczos_equals_exact(pipeline_folder):
    root, unet, sch = pipeline_folder
    assert (root / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    m_folder = from_diffusers(root, dtype="float64")
    m_object = from_diffusers(unet, sch, dtype="float64")
    assert m_folder.prediction_type == "v_prediction" and m_folder.schedule == m_object.schedule
    x = np.random.default_rng(3).standard_normal((2, 64))
    r1 = jacobian_spectrum(m_folder, x, t=[10, 90], method="exact")
    r2 = jacobian_spectrum(m_object, x, t=[10, 90], method="exact")
    np.testing.assert_allclose(r1.singular_values, r2.singular_values, rtol=1e-12)
    # the exact route against torch's own per-point autograd Jacobian (an independent route)
    xt = torch.tensor(x[0]).reshape(1, 1, 8, 8)
    J = torch.autograd.functional.jacobian(lambda z: m_object.score(z.reshape(1, 1, 8, 8), 10).reshape(-1), xt)
    s2 = float(m_object.schedule.s2(10))
    S_ref = np.linalg.svd(s2 * J.reshape(64, 64).numpy(), compute_uv=False)
    np.testing.assert_allclose(r1.singular_values[0, 0], S_ref, rtol=1e-9, atol=1e-12)
    # matrix-free top-k on the attention UNet (kernels without vmap rules: the batch-axis route)
    rl = jacobian_spectrum(m_folder, x, t=[10], method="lanczos", operator="score", k=6)
    np.testing.assert_allclose(rl.singular_values[:, 0], r1.singular_values[:, 0, :6], rtol=1e-7)


def test_tabulated_and_nondefault_schedules_survive_save_load(tmp_path):
    ab = DDPMScheduler(num_train_timesteps=50).alphas_cumprod.double().numpy()
    for sch, t in ((TabulatedVP(tuple(ab)), [0, 7, 49]), (DDPM(beta_min=0.05, beta_max=5.0), [0.3])):
        spec = Spectrum(np.full((1, len(t), 3), 0.5), t, schedule=sch)
        spec.save(tmp_path / "s.npz")
        back = Spectrum.load(tmp_path / "s.npz")
        assert back.schedule == sch
        np.testing.assert_array_equal(back.tau, sch.tau(np.asarray(t, dtype=float)))
    assert abs(float(Spectrum(np.ones((1, 1, 2)), [0.3], schedule=DDPM(0.05, 5.0)).tau[0]) - 0.26843) < 1e-4
    assert get_schedule(TabulatedVP(tuple(ab)).to_dict()).tau(49) == pytest.approx((1 - ab[49]) / ab[49], rel=1e-15)


def test_fractional_timestep_is_rounded_with_a_warning(pipeline_folder):
    _, unet, sch = pipeline_folder
    model = from_diffusers(unet, sch)
    x = np.zeros((1, 64))
    with pytest.warns(UserWarning, match="rounded to the nearest training timesteps"):
        res = jacobian_spectrum(model, x, t=[10.4], method="finite-difference", probes=4)
    assert res.spectrum.t.tolist() == [10.0]
    with pytest.raises(ValueError, match="timesteps in 0..99"):
        jacobian_spectrum(model, x, t=[150])


def test_refusals(pipeline_folder, tmp_path):
    root, unet, sch = pipeline_folder
    with pytest.raises(ValueError, match="scheduler must be given"):
        from_diffusers(unet)
    with pytest.raises(ValueError, match="class_labels given"):
        from_diffusers(unet, sch, class_labels=3)
    cond = _attention_unet(num_class_embeds=10)
    with pytest.raises(ValueError, match="class_labels must be given"):
        from_diffusers(cond, sch)
    m = from_diffusers(cond, sch, class_labels=3)
    assert m.score(torch.zeros(2, 1, 8, 8), 5).shape == (2, 1, 8, 8)
    # a pipeline naming code outside diffusers is refused, not run
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model_index.json").write_text(json.dumps({"_class_name": "MyPipe", "unet": ["my_module", "Net"]}))
    with pytest.raises(ValueError, match="not a diffusers class"):
        from_diffusers(bad)
    # a pickled (non-weights-only) checkpoint is refused with one line
    pk = tmp_path / "pk" / "unet"
    pk.mkdir(parents=True)
    (pk / "config.json").write_text((root / "unet" / "config.json").read_text())

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    torch.save({"x": Evil()}, pk / "diffusion_pytorch_model.bin")
    sch.save_pretrained(tmp_path / "pk" / "scheduler")
    with pytest.raises(ValueError, match="cannot load the UNet weights safely"):
        from_diffusers(tmp_path / "pk")
    with pytest.raises(ValueError, match="neither a folder nor a hub id"):
        from_diffusers(str(tmp_path / "missing" / "x" / "y"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="no alphas_cumprod"):
            from_diffusers(unet, object())


def test_ddim_map_of_exact_model_matches_closed_form():
    """DDIM on the exact linear model is linear: per covariance eigenvalue lambda one step k -> k' multiplies by
    (a_k' a_k lambda + s_k' s_k) / (a_k^2 lambda + s_k^2); psi is the sum of the logs over eigenvalues and steps."""
    from trained.descriptors import ddim_map, local_geometry
    sch = DDPMScheduler(num_train_timesteps=1000)
    C = _covariance(4)
    unet = ExactLinearUNet(covariance=C.tolist(), alphas_cumprod=sch.alphas_cumprod.double().tolist())
    model = from_diffusers(unet, sch, dtype="float64")
    f = ddim_map(model, 600, 20, steps=4)
    grid = f.grid.astype(int)
    assert grid[0] == 600 and grid[-1] == 20 and len(grid) == 5
    lam = np.linalg.eigvalsh(C)
    ab = sch.alphas_cumprod.double().numpy()
    gain = np.ones_like(lam)
    for k, k2 in zip(grid[:-1], grid[1:]):
        a, s, a2, s2 = np.sqrt(ab[k]), np.sqrt(1 - ab[k]), np.sqrt(ab[k2]), np.sqrt(1 - ab[k2])
        gain *= (a2 * a * lam + s2 * s) / (a * a * lam + s * s)
    g = local_geometry(f, _points(2), dtype="float64")
    np.testing.assert_allclose(g["psi"], np.sum(np.log(gain)), rtol=1e-10)
    np.testing.assert_allclose(g["singular_values"][0], np.sort(gain)[::-1], rtol=1e-10)


def test_every_product_route_equals_the_full_jacobian(pipeline_folder):
    """vmapped products (J V by a double backward: the fused attention has no forward AD), the batch-axis products
    and the batch-axis full Jacobian all equal torch's per-point autograd Jacobian of the attention UNet."""
    from trained.jacobian import as_backend
    _, unet, sch = pipeline_folder
    model = from_diffusers(unet, sch, dtype="float64")
    be = as_backend(model, t=30)
    rng = np.random.default_rng(5)
    x = rng.standard_normal(64)
    J = torch.autograd.functional.jacobian(lambda z: model.score(z.reshape(1, 1, 8, 8), 30).reshape(-1),
                                           torch.tensor(x)).numpy()
    V, U = rng.standard_normal((64, 7)), rng.standard_normal((64, 5))
    for mm, rmm in (be._vmap_ops(x), be._batched_ops(x)):
        np.testing.assert_allclose(mm(V), J @ V, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(rmm(U), J.T @ U, rtol=1e-10, atol=1e-10)
    Jb = be._jacobian_batched(torch.tensor(x[None]), "reverse", 17, 64)[0]
    np.testing.assert_allclose(Jb, J, rtol=1e-10, atol=1e-12)


def test_full_jacobian_beyond_the_memory_budget_is_refused(monkeypatch):
    monkeypatch.setenv("SPECGAP_MAX_MEMORY", "1M")
    model = from_score(lambda x, t: -x, schedule="ve", data_shape=(3, 16, 16))
    with pytest.raises(ValueError, match=r"x: full Jacobians of 2 point\(s\) at d=768 .* method='lanczos'"):
        jacobian_spectrum(model, np.zeros((2, 768)), t=[1.0])
    r = jacobian_spectrum(model, np.zeros((1, 768)), t=[1.0], method="lanczos", operator="score", k=3,
                          dtype="float64")
    np.testing.assert_allclose(r.singular_values[0, 0], 1.0)     # Jn = -tau I / tau at tau = 1: all ones


def test_samplers_run_an_edm_denoiser_through_the_protocol():
    """The probability-flow ODE of an exact EDM denoiser (through NetworkScore and the EDM SDE coefficients
    f = 0, g^2 = 2 sigma) maps N(0, sigma_start^2 I) onto N(0, diag(lam) + sigma_end^2 I): the map of the basis
    vectors A carries the exact marginal covariance diag(lam) + sigma_start^2 I to diag(lam) + sigma_end^2 I, up to
    the integrator's error."""
    from simulate.samplers import sample_reverse
    from trained.network_spectra import NetworkScore
    lam = torch.tensor([2.0, 0.5, 0.05], dtype=torch.float64)
    model = from_denoiser(lambda x, sigma: x * lam / (lam + (sigma ** 2)[:, None]), data_shape=(3,))
    f = NetworkScore(model)
    assert f.d == 3 and f.schedule == EDM() and f.max_variance == 1.0
    r = sample_reverse(f, 3, method="ode", steps=400, x_init=np.eye(3), t_start=20.0, t_end=0.01)
    A = r.x.T
    cov = A @ np.diag(lam.numpy() + 20.0 ** 2) @ A.T
    np.testing.assert_allclose(np.diag(cov), lam.numpy() + 0.01 ** 2, rtol=1e-4)
    assert np.abs(cov - np.diag(np.diag(cov))).max() < 1e-10
