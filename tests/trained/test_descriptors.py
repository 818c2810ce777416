"""Local geometry descriptors (psi, nu, delta) against closed forms and brute force (docs/theory.md section 7)."""
import numpy as np
import pytest
import torch

from trained.descriptors import (descriptors_from_singular_values, local_complexity, local_geometry, local_rank,
                                 local_scaling, orthonormal_directions, sampler_map)


def linear_map(D, N, sv, seed=0):
    """``x -> A x`` with singular values ``sv`` (float64), and ``A``."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((N, N)))[0][:, :len(sv)]
    V = np.linalg.qr(rng.standard_normal((D, D)))[0][:, :len(sv)]
    A = U @ np.diag(sv) @ V.T
    lin = torch.nn.Linear(D, N, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(A))
    return lin, A


def test_psi_and_nu_of_a_linear_map_equal_their_closed_forms():
    sv = np.array([3.0, 1.5, 0.7, 0.2, 0.05])
    f, _ = linear_map(12, 9, sv)
    z = np.random.default_rng(1).standard_normal((4, 12))
    g = local_geometry(f, z)
    p = sv / sv.sum()
    np.testing.assert_allclose(g["psi"], np.log(sv).sum(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(g["nu"], np.exp(-(p * np.log(p)).sum()), rtol=1e-10)
    assert list(g["rank"]) == [5] * 4                               # the zero singular values are left out
    np.testing.assert_allclose(local_scaling(f, z), g["psi"])
    np.testing.assert_allclose(local_rank(f, z), g["nu"])


def test_projection_equals_the_full_jacobian_at_P_D_and_converges():
    D, sv = 16, np.linspace(2.0, 0.1, 16)
    f, A = linear_map(D, D, sv, seed=2)
    z = np.zeros((1, D))
    full = local_geometry(f, z)
    np.testing.assert_allclose(local_geometry(f, z, projection=D, seed=5)["psi"], full["psi"], atol=1e-9)
    np.testing.assert_allclose(local_geometry(f, z, projection=D, seed=5)["nu"], full["nu"], rtol=1e-9)
    # J B for a random orthonormal B: an independent SVD of A B
    B = orthonormal_directions(D, 6, seed=3)
    ref = descriptors_from_singular_values(np.linalg.svd(A @ B, compute_uv=False)[None])
    np.testing.assert_allclose(local_geometry(f, z, directions=B)["nu"], ref["nu"], rtol=1e-10)
    # the projected nu approaches the full one as P -> D (mean over frames)
    err = {P: np.mean([abs(local_geometry(f, z, projection=P, seed=s)["nu"][0] - full["nu"][0]) for s in range(6)])
           for P in (4, 10, 15)}
    assert err[15] < err[10] < err[4]


def test_descriptor_bad_input():
    f, _ = linear_map(4, 4, [1.0, 1.0])
    with pytest.raises(ValueError, match="P must be <= D"):
        local_geometry(f, np.zeros((1, 4)), projection=5)
    with pytest.raises(ValueError, match="radius"):
        local_complexity(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU()), np.zeros((1, 4)), radius=0)
    with pytest.raises(ValueError, match="activation modules"):
        local_complexity(f, np.zeros((1, 4)), radius=0.1)


def relu_mlp(D, widths, seed=0, leaky=False):
    g = torch.Generator().manual_seed(seed)
    layers, d = [], D
    for w in widths:
        lin = torch.nn.Linear(d, w).double()
        with torch.no_grad():
            lin.weight.copy_(torch.randn(w, d, generator=g, dtype=torch.float64) / np.sqrt(d))
            lin.bias.copy_(0.3 * torch.randn(w, generator=g, dtype=torch.float64))
        layers += [lin, torch.nn.LeakyReLU(0.1) if leaky else torch.nn.ReLU()]
        d = w
    layers.append(torch.nn.Linear(d, 3).double())
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("leaky", [False, True])
def test_local_complexity_first_layer_is_the_exact_hyperplane_count_and_total_is_brute_force(leaky):
    D, r = 6, 0.4
    net = relu_mlp(D, [32, 24, 16], seed=4, leaky=leaky)
    z = np.random.default_rng(7).standard_normal((20, D))
    V = orthonormal_directions(D, 5, seed=11)
    lc = local_complexity(net, z, radius=r, directions=V, per_layer=True)
    # first layer: the hyperplane w.x + b = 0 meets the cross-polytope conv{z +/- r v_p} iff
    # |w.z + b| < r max_p |v_p . w| (the extreme values of w.x + b over the vertices)
    W, b = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    first = np.sum(np.abs(z @ W.T + b) < r * np.max(np.abs(W @ V), axis=1), axis=1)
    np.testing.assert_array_equal(lc["per_layer"]["1"], first)
    # every layer: a plain numpy forward pass over the same vertices, no hooks
    verts = z[:, None, :] + r * np.concatenate([V.T, -V.T])[None]
    h, brute = verts, np.zeros(len(z), int)
    for layer in net:
        if isinstance(layer, torch.nn.Linear):
            h = h @ layer.weight.detach().numpy().T + layer.bias.detach().numpy()
        else:
            s = h > 0
            brute += np.sum(np.any(s != s[:, :1], axis=1), axis=1)
            h = np.where(s, h, 0.1 * h if leaky else 0.0)
    np.testing.assert_array_equal(lc["delta"], brute)
    assert lc["delta"].max() > 0 and lc["delta"].min() < lc["delta"].max()


def test_psi_of_the_unrolled_sampler_of_a_linear_gaussian_equals_its_closed_form():
    """VE probability-flow map from t to t_end for N(0, C): x -> diag(sqrt((lambda_i + t_end)/(lambda_i + t))) x
    in the eigenbasis of C, so psi = (1/2) sum_i log((lambda_i + t_end)/(lambda_i + t)), nu from those scales."""
    from rmt import LinearManifold, VarianceProfile
    from simulate import LinearGaussianModel
    M = LinearManifold(0.5, VarianceProfile([1.0, 0.01], [0.75, 0.25]))
    model = LinearGaussianModel.from_manifold(20, M, seed=0)
    lam = np.clip(np.linalg.eigvalsh(model.data_covariance()), 0, None)
    t, t_end = 1.0, 0.01
    scales = np.sqrt((lam + t_end) / (lam + t))
    ref = descriptors_from_singular_values(scales[None])
    f = sampler_map(model, t, t_end, steps=400)
    x = model.sample_t(3, t, 0)
    g = local_geometry(f, x)
    np.testing.assert_allclose(g["psi"], ref["psi"][0], rtol=2e-4)
    np.testing.assert_allclose(g["nu"], ref["nu"][0], rtol=2e-4)
    # one Heun step t -> t/2 of dx/dt = a(t) x, a = 1/(2 (lambda + t)): the factor 1 + h/2 (a1 + a2 (1 + h a1))
    one = local_geometry(sampler_map(model, t), x)["psi"]
    h, a1, a2 = -t / 2, 0.5 / (lam + t), 0.5 / (lam + t / 2)
    np.testing.assert_allclose(one, np.sum(np.log(1 + h / 2 * (a1 + a2 * (1 + h * a1)))), rtol=1e-10)


def test_cli_descriptors_on_a_relu_checkpoint_and_an_exact_model(tmp_path, capsys):
    import json

    from rmt import LinearManifold, VarianceProfile
    from simulate import LinearGaussianModel
    from specgap.cli import main
    from trained.train import load_model
    run = tmp_path / "run"
    assert main(["train", "--data", "linear", "--d", "6", "--alpha", "0.5", "--n", "256", "--width", "16",
                 "--depth", "1", "--activation", "relu", "--steps", "20", "--batch", "32", "--out", str(run),
                 "--json"]) == 0
    capsys.readouterr()
    X = np.random.default_rng(0).standard_normal((4, 6))
    np.save(tmp_path / "x.npy", X)
    assert main(["descriptors", "--checkpoint", str(run / "checkpoint.pt"), "--data", str(tmp_path / "x.npy"),
                 "--t", "0.5", "--map", "step", "--radius", "0.2", "--directions", "3", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    # independent routes on the loaded network: psi from torch.autograd.functional.jacobian + numpy SVD of the
    # one-step map; delta from the signs of every ReLU input at the 6 vertices, read with plain hooks
    model = load_model(run / "checkpoint.pt")
    f = sampler_map(model, 0.5)
    for i, x in enumerate(X):
        J = torch.autograd.functional.jacobian(lambda v: f(v[None])[0], torch.as_tensor(x, dtype=torch.float32))
        sv = np.linalg.svd(J.double().numpy(), compute_uv=False)
        assert r["psi"][i] == pytest.approx(np.log(sv[sv > 1e-6 * sv.max()]).sum(), abs=1e-4)
    delta, _ = _relu_sign_changes(model, f, X, orthonormal_directions(6, 3, seed=0), 0.2)
    assert r["delta"] == delta.tolist()
    assert [sum(v[i] for v in r["delta_per_layer"].values()) for i in range(4)] == r["delta"]
    assert r["inputs"]["radius"] == 0.2 and r["schema_version"] == 1
    # exact linear model, sampler map: psi equals the closed form of the flow (see the test above)
    assert main(["descriptors", "--model", "linear", "--d", "20", "--points", "2", "--t", "1", "--t-end", "0.01",
                 "--steps", "200", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    lin = LinearGaussianModel.from_manifold(20, LinearManifold(0.5, VarianceProfile([1.0, 0.01], [0.75, 0.25])), seed=0)
    lam = np.clip(np.linalg.eigvalsh(lin.data_covariance()), 0, None)
    np.testing.assert_allclose(r["psi"], 0.5 * np.sum(np.log((lam + 0.01) / (lam + 1.0))), rtol=1e-3)
    assert r["delta"] is None
    assert main(["descriptors", "--model", "linear", "--radius", "-1"]) == 2


def test_local_complexity_counts_every_call_of_a_module_in_an_unrolled_map():
    """A sampler map calls the network twice per Heun step: the units of both calls count (brute force on
    the two evaluations, written out here)."""
    from trained.nets import build_model
    model = build_model({"arch": "mlp", "net": {"d": 3, "width": 8, "depth": 1, "activation": "relu"}}, seed=0)
    with torch.no_grad():
        for p_ in model.parameters():
            p_.copy_(torch.randn(p_.shape, generator=torch.Generator().manual_seed(p_.numel())) * 0.5)
    z = np.random.default_rng(2).standard_normal((5, 3))
    V = orthonormal_directions(3, 2, seed=1)
    f = sampler_map(model, 0.5)                                   # one Heun step: score at t and at t/2
    got = local_complexity(f, z, radius=0.3, directions=V)["delta"]
    delta, calls = _relu_sign_changes(model, f, z, V, 0.3)
    assert calls == 2 * 2 and np.array_equal(got, delta)


def test_local_complexity_refuses_zero_directions():
    """n_directions=0 is refused naming it (it used to fall back to the default 32 silently)."""
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3))
    with pytest.raises(ValueError, match="n_directions must be >= 1"):
        local_complexity(net, np.zeros((1, 3)), radius=0.1, n_directions=0)
    assert local_complexity(net, np.zeros((1, 3)), radius=0.1)["directions"].shape == (3, 3)


def _relu_sign_changes(model, f, z, V, radius):
    """Brute force, written out here: the sign of every ReLU input of ``model`` while ``f`` runs on the 2P
    vertices ``z +/- radius v_p`` of each point; returns the units that change sign per point (B,) and the number
    of ReLU calls seen."""
    B, D = z.shape
    verts = torch.as_tensor((z[:, None, :] + radius * np.concatenate([V.T, -V.T])[None]).reshape(-1, D),
                            dtype=torch.float32)
    signs = []
    hooks = [m.register_forward_hook(lambda m_, i_, o_: signs.append((i_[0] > 0).reshape(len(verts), -1)))
             for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    with torch.no_grad():
        f(verts)
    for h in hooks:
        h.remove()
    S = torch.cat(signs, 1).reshape(B, 2 * V.shape[1], -1).numpy()
    return np.sum(np.any(S != S[:, :1], axis=1), axis=1), len(signs)
