"""The engine on the architecture everybody uses: a diffusers attention UNet (random weights) through
``trained.adapters.from_diffusers``; `make bench` prints, at 3x32x32 (3x16x16 under `make test`):

- the exact route against vmapped ``torch.func.jacrev`` / ``jacfwd`` (which fail on the fused attention kernels:
  then against torch's row-by-row ``autograd.functional.jacobian``), and on an MLP 784-512-512-784 against
  vmapped ``jacrev``;
- Lanczos top-50 against the full Jacobian + SVD;
- the descriptors psi, nu with a projection ``P = 64`` against the full Jacobian.
Every ratio is measured in the same run; nothing here asserts a wall-clock time.
"""
import time

import numpy as np
import pytest
import torch

from trained.jacobian import jacobian_spectrum

from benchutil import FULL, report

diffusers = pytest.importorskip("diffusers")


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _model():
    from diffusers import DDPMScheduler, UNet2DModel

    from trained.adapters import from_diffusers
    size = 32 if FULL else 16
    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=size, in_channels=3, out_channels=3, layers_per_block=1,
                       block_out_channels=(16, 32), down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=8, attention_head_dim=8)
    return from_diffusers(unet, DDPMScheduler(num_train_timesteps=1000)), 3 * size * size


def _torch_func(model, x, k, kind):
    """``torch.func.jacrev``/``jacfwd`` (vmapped over basis vectors) of the flat score at one point."""
    from torch.func import jacfwd, jacrev
    f = (jacrev if kind == "jacrev" else jacfwd)(
        lambda z: model.score(z.reshape((1,) + model.data_shape), k).reshape(-1))
    return f(torch.as_tensor(x, dtype=torch.float32)).detach()


def test_exact_route_on_attention_unet_vs_torch_func():
    from trained.jacobian import jacobian
    model, d = _model()
    x = np.random.default_rng(0).standard_normal((1, d))
    t0 = time.perf_counter()
    r = jacobian_spectrum(model, x, t=100, method="exact")
    t_spectrum = time.perf_counter() - t0
    t0 = time.perf_counter()
    jacobian(model, x, t=100)                         # the Jacobian alone (route remembered from the call above)
    t_engine = time.perf_counter() - t0
    print(f"\n[bench] engine exact spectrum (first call: route search, Jacobian, SVD of {d}x{d}): {t_spectrum:.2f} s")
    s2 = float(model.schedule.s2(100))
    for kind in ("jacrev", "jacfwd"):
        t0 = time.perf_counter()
        try:
            J = _torch_func(model, x[0], 100, kind)
        except (RuntimeError, NotImplementedError) as e:
            print(f"\n[bench] torch.func.{kind} on the attention UNet fails: {str(e).splitlines()[0][:100]}")
            continue
        report(f"exact score Jacobian (no SVD), attention UNet d={d}: engine ({r.info['per_time'][0]['route'][:14]}) "
               f"vs vmapped torch.func.{kind}", t_engine, time.perf_counter() - t0)
        np.testing.assert_allclose(r.singular_values[0, 0], np.linalg.svd(s2 * J.numpy().astype(float),
                                                                          compute_uv=False), rtol=1e-3, atol=1e-5)
    t0 = time.perf_counter()
    J = torch.autograd.functional.jacobian(
        lambda z: model.score(z.reshape((1,) + model.data_shape), 100).reshape(-1),
        torch.as_tensor(x[0], dtype=torch.float32))
    t_loop = time.perf_counter() - t0
    S = np.linalg.svd(s2 * J.numpy().astype(float), compute_uv=False)
    np.testing.assert_allclose(r.singular_values[0, 0], S, rtol=1e-3, atol=1e-5)
    report(f"exact score Jacobian (no SVD), attention UNet d={d}: engine vs torch.autograd.functional.jacobian (rows)",
           t_engine, t_loop)


def test_exact_route_on_mlp_vs_vmapped_jacrev():
    from torch.func import jacrev, vmap
    torch.manual_seed(0)
    d = 784
    net = torch.nn.Sequential(torch.nn.Linear(d, 512), torch.nn.SiLU(), torch.nn.Linear(512, 512), torch.nn.SiLU(),
                              torch.nn.Linear(512, d)).eval()
    x = np.random.default_rng(0).standard_normal((8 if FULL else 2, d)).astype(np.float32)
    from trained.jacobian import jacobian
    jacobian(net, x[:1])                                            # warm-up of both routes
    vmap(jacrev(net))(torch.as_tensor(x[:1]))
    t0 = time.perf_counter()
    J = jacobian(net, x)
    t_engine = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.no_grad():
        ref = vmap(jacrev(net))(torch.as_tensor(x)).numpy()
    t_jacrev = time.perf_counter() - t0
    np.testing.assert_allclose(J, ref, atol=1e-5)
    report(f"exact Jacobian, MLP 784-512-512-784, {len(x)} points, float32, 1 thread: engine vs vmap(jacrev)",
           t_engine, t_jacrev)


def test_lanczos_top50_vs_full_on_attention_unet():
    model, d = _model()
    k = 50 if FULL else 20
    x = np.random.default_rng(1).standard_normal((1, d))
    t0 = time.perf_counter()
    rf = jacobian_spectrum(model, x, t=100, method="exact")
    t_f = time.perf_counter() - t0
    for tol in (1e-10, 1e-4) if FULL else (1e-4,):     # 1e-10 is floored at 32 eps_float32 (float32 model)
        t0 = time.perf_counter()
        rl = jacobian_spectrum(model, x, t=100, method="lanczos", operator="score", k=k, tol=tol)
        t_l = time.perf_counter() - t0
        err = float(np.max(np.abs(rl.singular_values[0, 0] - rf.singular_values[0, 0, :k])
                           / rf.singular_values[0, 0, 0]))
        assert err < 10 * max(tol, 4e-6)
        report(f"top-{k} singular values of Jn, attention UNet d={d}: lanczos tol {rl.info['per_time'][0]['tol']:.1e} "
               f"({rl.info['per_time'][0]['products'][0]} products, route {rl.info['per_time'][0]['route']}) vs full "
               f"Jacobian + SVD; max error / sigma_1 {err:.1e}", t_l, t_f)


def test_projected_descriptors_vs_full_on_attention_unet():
    from trained.descriptors import ddim_map, local_geometry
    model, d = _model()
    f = ddim_map(model, 100)
    x = np.random.default_rng(2).standard_normal((1, d))
    t0 = time.perf_counter()
    gp = local_geometry(f, x, projection=64)
    t_p = time.perf_counter() - t0
    t0 = time.perf_counter()
    gf = local_geometry(f, x)
    t_f = time.perf_counter() - t0
    assert np.isfinite(gp["psi"]).all() and np.isfinite(gf["psi"]).all()
    report(f"psi, nu of one DDIM step, attention UNet d={d}: projection P=64 (psi {gp['psi'][0]:.2f}) vs full "
           f"Jacobian (psi {gf['psi'][0]:.2f})", t_p, t_f)
