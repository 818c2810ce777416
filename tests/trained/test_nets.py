"""Score networks: shapes, attention, time embedding, and the eps -> score conventions of docs/theory.md."""
import math

import numpy as np
import pytest
import torch

from trained.nets import ResMLP, ScoreModel, TimeEmbedding, UNet, build_model, resolve_device


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("resolution", [28, 32])
@pytest.mark.parametrize("attention", [False, True])
def test_unet_forward_shapes(channels, resolution, attention):
    net = UNet(channels, resolution, width=16, attention=attention)
    assert any(type(m).__name__ == "_Attention" for m in net.modules()) == attention
    x = torch.randn(3, channels, resolution, resolution)
    model = ScoreModel(net, "ve", sigma_data=0.5)
    # zero-initialised output layer: eps_hat = 0 exactly; perturb it to check shapes of a generic net
    torch.nn.init.normal_(net.out.weight, std=0.1)
    for t in (0.3, torch.tensor([0.1, 1.0, 5.0])):
        y = model(x, t)
        assert y.shape == x.shape and torch.isfinite(y).all()
    single = model(x[0], 0.3)
    assert single.shape == x[0].shape
    torch.testing.assert_close(single, model(x, 0.3)[0], rtol=1e-4, atol=1e-4)


def test_unet_rejects_bad_resolution_and_channels():
    with pytest.raises(ValueError, match="resolution"):
        UNet(1, 30, channel_mult=(1, 2, 2))
    with pytest.raises(ValueError, match="in_channels"):
        UNet(0, 28)


def test_attention_block_equals_softmax_attention():
    """The SDPA-based block against attention written out with an explicit softmax."""
    from trained.nets import _Attention
    torch.manual_seed(1)
    blk = _Attention(16, heads=4)
    torch.nn.init.normal_(blk.proj.weight, std=0.2)
    x = torch.randn(2, 16, 5, 5)
    B, C, H, W = x.shape
    qkv = blk.qkv(blk.norm(x)).reshape(B, 3, 4, C // 4, H * W)
    q, k, v = (qkv[:, i].transpose(-1, -2) for i in range(3))            # (B, heads, HW, c)
    w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(C // 4), dim=-1)
    ref = x + blk.proj((w @ v).transpose(-1, -2).reshape(B, C, H, W))
    torch.testing.assert_close(blk(x), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["sinusoidal", "fourier"])
def test_time_embedding(kind):
    emb = TimeEmbedding(32, kind)
    c = torch.tensor([-1.0, 0.0, 1.0])
    out = emb(c)
    assert out.shape == (3, 32)
    assert not torch.allclose(out[0], out[2])               # distinguishes noise levels
    with pytest.raises(ValueError, match="time_embedding"):
        TimeEmbedding(32, "learned")
    with pytest.raises(ValueError, match="dim"):
        TimeEmbedding(31, kind)


def test_resmlp_zero_init_and_config_roundtrip():
    model = build_model({"arch": "mlp", "net": {"d": 12, "width": 32, "depth": 2}, "schedule": "vp",
                         "sigma_data": 0.7}, seed=3)
    x = torch.randn(4, 12)
    assert torch.equal(model.eps(x, 0.2), torch.zeros(4, 12))
    again = build_model(model.config, seed=3)
    assert again.config == model.config
    for p, q in zip(model.parameters(), again.parameters()):
        assert torch.equal(p, q)
    other = build_model(model.config, seed=4)
    assert not all(torch.equal(p, q) for p, q in zip(model.parameters(), other.parameters()))
    with pytest.raises(ValueError, match="arch"):
        build_model({"arch": "transformer", "net": {}})


def test_build_model_leaves_global_rng_alone():
    torch.manual_seed(11)
    a = torch.rand(3)
    torch.manual_seed(11)
    build_model({"arch": "mlp", "net": {"d": 8, "width": 16, "depth": 1}}, seed=0)
    assert torch.equal(torch.rand(3), a)


class _ExactEps(torch.nn.Module):
    """The exact eps-predictor E[eps | x_t] = s (a^2 C + s^2 I)^{-1} x for data N(0, C), written from docs/theory.md
    section 2 directly, undoing ScoreModel's input scaling ``c_in`` and noise code ``c = log(tau)/4``."""

    def __init__(self, C, schedule, sigma_data):
        super().__init__()
        self.C, self.schedule, self.sd = torch.as_tensor(C), schedule, sigma_data
        self.data_shape = (C.shape[0],)

    def coef(self, c):
        tau = torch.exp(4 * c.double())
        if self.schedule == "ve":                 # a = 1, s^2 = t = tau
            a, s2 = torch.ones_like(tau), tau
        else:                                     # tau = e^{2t} - 1: a^2 = 1/(1 + tau), s^2 = tau/(1 + tau)
            a, s2 = torch.rsqrt(1 + tau), tau / (1 + tau)
        return a, s2

    def forward(self, x_in, c):
        a, s2 = self.coef(c)
        x = x_in.double() * torch.sqrt(a ** 2 * self.sd ** 2 + s2)[:, None]
        out = []
        for i in range(x.shape[0]):
            M = a[i] ** 2 * self.C + s2[i] * torch.eye(self.C.shape[0], dtype=torch.float64)
            out.append(torch.sqrt(s2[i]) * torch.linalg.solve(M, x[i]))
        return torch.stack(out)


@pytest.mark.parametrize("schedule", ["ve", "vp"])
def test_exact_eps_gives_exact_score_denoiser_and_eta(schedule):
    rng = np.random.default_rng(0)
    d, m = 10, 4
    F = rng.standard_normal((d, m)) / np.sqrt(d)
    C = F @ F.T
    model = ScoreModel(_ExactEps(C, schedule, 0.8), schedule, sigma_data=0.8)
    x = rng.standard_normal((5, d))
    for t in (0.05, 0.4, 2.0):
        if schedule == "ve":
            a, s2 = 1.0, t
        else:
            a, s2 = np.exp(-t), 1 - np.exp(-2 * t)
        P = np.linalg.inv(a * a * C + s2 * np.eye(d))
        score = model.score(torch.tensor(x), t).numpy()
        np.testing.assert_allclose(score, -x @ P, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(model.denoiser(torch.tensor(x), t).numpy(), a * x @ P @ C, rtol=1e-8, atol=1e-12)
        # the score is linear: its Jacobian is score(I); -Jn = -s^2 J has eigenvalues tau/(lambda + tau)
        J = model.score(torch.eye(d, dtype=torch.float64), t).numpy().T
        tau = s2 / a ** 2
        lam = np.linalg.eigvalsh(C)
        np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(-s2 * (J + J.T) / 2)), np.sort(tau / (lam + tau)),
                                   rtol=1e-8, atol=1e-10)
    # per-sample times
    ts = torch.tensor([0.05, 0.4, 2.0, 0.1, 1.0])
    rows = torch.stack([model.score(torch.tensor(x[i]), float(ts[i])) for i in range(5)])
    torch.testing.assert_close(model.score(torch.tensor(x), ts), rows)


def test_score_model_input_checks():
    model = ScoreModel(ResMLP(6, 16, 1), "ve")
    with pytest.raises(ValueError, match="t must be"):
        model(torch.randn(2, 6), 0.0)
    with pytest.raises(ValueError, match="t must"):
        model(torch.randn(2, 6), torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="x must have shape"):
        model(torch.randn(2, 7), 0.1)
    torch.nn.init.normal_(model.net.out.weight, std=0.1)
    x = torch.randn(3, 6)
    y64 = model(x.double(), 0.2)                 # float64 points through float32 weights: cast and back
    assert y64.dtype == torch.float64
    torch.testing.assert_close(y64.float(), model(x, 0.2))
    with pytest.raises(ValueError, match="sigma_data"):
        ScoreModel(ResMLP(6, 16, 1), "ve", sigma_data=-1)
    with pytest.raises(ValueError, match="schedule"):
        ScoreModel(ResMLP(6, 16, 1), "cosine")


def test_resolve_device(monkeypatch):
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


def test_torch_threads_sets_and_restores():
    """The one thread-count context of the package (fig3/fig4, fig5, the network sweep task): set for the block,
    restored afterwards even when the block raises; None leaves the count alone; 0 is refused."""
    import torch

    from trained.nets import torch_threads
    before = torch.get_num_threads()
    target = 2 if before == 1 else 1
    with torch_threads(target):
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="inside"):
        with torch_threads(target):
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        with torch_threads(0):
            pass
    assert torch.get_num_threads() == before
