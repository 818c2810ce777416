"""Jacobian-engine speed targets (issue 5); `make bench` prints the numbers, `make test` runs each once.

- exact Jacobian of a 3-layer MLP score at d = 784: >= 5x faster than a row-by-row autograd loop;
- top-50 singular values at d = 3072 by 'lanczos' (default solver, block Krylov) vs full Jacobian + SVD: >= 5x, same
  accuracy on those 50 (d = 1024 in quick mode, CI=true);
- accuracy against cost of 'finite-difference' with K = d, 2d, 4d probes (table).
Ratios are measured in the same run; nothing here asserts a wall-clock time.
"""
import time

import numpy as np
import pytest
import torch

from simulate.models import GaussianMixtureModel, SubspaceUnionModel
from trained.jacobian import jacobian, jacobian_spectrum

from benchutil import FULL, report

QUICK = not FULL


@pytest.fixture(autouse=True)
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(min(n, 2))
    yield
    torch.set_num_threads(n)


def mlp(d, width=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    layers = [torch.nn.Linear(d, width), torch.nn.SiLU(), torch.nn.Linear(width, width), torch.nn.SiLU(),
              torch.nn.Linear(width, d)]
    net = torch.nn.Sequential(*layers).double()
    for p in net.parameters():
        with torch.no_grad():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) / np.sqrt(p.shape[-1]))
    return net.eval()


def row_by_row(net, x, batch_points=False):
    """The naive route: one backward pass per output coordinate (retain_graph), point by point; with
    ``batch_points`` the rows of all points share each backward pass (a stronger baseline)."""
    if batch_points:
        xt = torch.as_tensor(x).requires_grad_(True)
        out = net(xt)
        rows = [torch.autograd.grad(out[:, i].sum(), xt, retain_graph=True)[0] for i in range(out.shape[1])]
        return torch.stack(rows, 1).numpy()
    J = []
    for b in range(x.shape[0]):
        xt = torch.as_tensor(x[b:b + 1]).requires_grad_(True)
        out = net(xt)[0]
        J.append(torch.stack([torch.autograd.grad(out[i], xt, retain_graph=True)[0][0]
                              for i in range(out.shape[0])]))
    return torch.stack(J).numpy()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_exact_mlp_784_vs_row_by_row(benchmark, dtype):
    d, B = 784, 8
    net = mlp(d).to(dtype)
    x = np.random.default_rng(0).standard_normal((B, d)).astype(np.float32 if dtype == torch.float32 else float)
    tol = 1e-4 if dtype == torch.float32 else 1e-12
    J = benchmark.pedantic(jacobian, args=(net, x), rounds=1, iterations=1)
    t0 = time.perf_counter()
    J = jacobian(net, x)
    t_engine = time.perf_counter() - t0
    t0 = time.perf_counter()
    J_fwd = jacobian(net, x, mode="forward")
    t_fwd = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = row_by_row(net, x)
    t_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref_b = row_by_row(net, x, batch_points=True)
    t_loop_b = time.perf_counter() - t0
    np.testing.assert_allclose(J, ref, atol=tol)
    np.testing.assert_allclose(J_fwd, ref, atol=tol)
    np.testing.assert_allclose(ref_b, ref, atol=tol)
    report(f"exact Jacobian, 3-layer MLP d={d}, {B} points, {str(dtype)[6:]}: engine vs row-by-row autograd",
           t_engine, t_loop, target=5)
    report("  ... vs rows batched over the points", t_engine, t_loop_b)
    report("  ... reverse (default) vs forward mode", t_engine, t_fwd)


def test_lanczos_top50_vs_full_svd(benchmark):
    d = 1024 if QUICK else 3072
    k = 50
    # denoiser of Gaussian data on a union of two subspaces (dims 40, 24): exact score, torch autodiff
    model = SubspaceUnionModel.random(d, [40, 24], [1.0, 0.3], seed=0)
    t = 1e-3
    x = model.sample_t(1, t, 0)
    r = benchmark.pedantic(jacobian_spectrum, args=(model, x),
                           kwargs=dict(method="lanczos", t=t, k=k, tol=1e-10), rounds=1, iterations=1)
    t0 = time.perf_counter()
    r = jacobian_spectrum(model, x, method="lanczos", t=t, k=k, tol=1e-10)
    t_lanczos = time.perf_counter() - t0
    t0 = time.perf_counter()
    full = jacobian_spectrum(model, x, method="exact", t=t, operator="denoiser")
    t_full = time.perf_counter() - t0
    a, s2 = model.coefficients(t)
    ref = np.linalg.svd((np.eye(d) + s2 * model.jacobian(x, t)[0]) / a, compute_uv=False)[:k]
    err_l = np.abs(r.singular_values[0, 0] - ref).max()
    err_f = np.abs(full.singular_values[0, 0, :k] - ref).max()
    assert err_l < 1e-6 and err_f < 1e-6
    report(f"top-{k} of the denoiser Jacobian at d={d}: lanczos (block Krylov, "
           f"{r.info['per_time'][0]['products'][0]} products) vs full Jacobian + SVD; max error vs closed form "
           f"{err_l:.1e} / {err_f:.1e}", t_lanczos, t_full, target=5)


def test_lanczos_solvers_compared():
    """Measure the three matrix-free solvers on the same operator (the choice of the default)."""
    d, k = (512, 20) if QUICK else (1024, 50)
    model = SubspaceUnionModel.random(d, [40, 24], [1.0, 0.3], seed=0)
    t = 1e-3
    x = model.sample_t(1, t, 0)
    a, s2 = model.coefficients(t)
    ref = np.linalg.svd((np.eye(d) + s2 * model.jacobian(x, t)[0]) / a, compute_uv=False)[:k]
    rows = []
    # scipy's LOBPCG route was measured too (d=1024, k=50: 412 s, 200,450 products) and is left out here
    for solver in ("krylov", "arpack"):
        t0 = time.perf_counter()
        r = jacobian_spectrum(model, x, method="lanczos", t=t, k=k, solver=solver, tol=1e-10)
        rows.append((solver, time.perf_counter() - t0, r.info["per_time"][0]["products"][0],
                     np.abs(r.singular_values[0, 0] - ref).max()))
    print(f"\n[jacobian] matrix-free solvers, top-{k} at d={d}:")
    for s, sec, prods, err in rows:
        print(f"  {s:<7} {sec:7.2f} s  {prods:6d} products  max error {err:.1e}")
    report(f"top-{k} at d={d}: block Krylov (default) vs ARPACK", rows[0][1], rows[1][1])
    assert max(r[3] for r in rows) < 1e-6


def test_reverse_vs_forward_mode_on_a_small_unet():
    """Why reverse mode is the default for square maps: one forward pass serves all output rows."""
    from trained.nets import build_model
    R = 16 if FULL else 8
    model = build_model({"arch": "unet", "net": {"in_channels": 1, "resolution": R, "width": 16,
                                                 "channel_mult": [1, 2], "num_res_blocks": 1}}, seed=0).eval()
    x = np.random.default_rng(0).standard_normal((2, R * R)).astype(np.float32)
    t0 = time.perf_counter()
    Jr = jacobian(model, x, t=0.1, mode="reverse")
    t_rev = time.perf_counter() - t0
    t0 = time.perf_counter()
    Jf = jacobian(model, x, t=0.1, mode="forward")
    t_fwd = time.perf_counter() - t0
    np.testing.assert_allclose(Jr, Jf, rtol=1e-3, atol=1e-3 * np.abs(Jr).max())
    report(f"exact Jacobian of a small UNet ({R}x{R}, 2 points): reverse vs forward mode", t_rev, t_fwd)


def test_finite_difference_accuracy_vs_cost():
    d = 32 if QUICK else 64
    # overlapping components (posterior max ~0.4-0.9): a genuinely nonlinear score
    model = GaussianMixtureModel.random(d, 6, spread=0.2, variance=0.2, seed=1)
    t = 0.3
    x = model.sample_t(4, t, 0)
    ref = np.stack([np.linalg.svd(t * J, compute_uv=False) for J in model.jacobian(x, t)])
    print(f"\n[jacobian] finite differences, mixture d={d}, 4 points, t={t}: max |sigma - sigma_exact|")
    print(f"  {'K':>5} {'central':>8} {'sigma/s':>8} {'evals':>7} {'seconds':>8} {'error':>9}")
    for K in (d, 2 * d, 4 * d):
        for central in (False, True):
            for rel in (1e-2, 1e-3):
                sigma = rel * np.sqrt(t)
                t0 = time.perf_counter()
                r = jacobian_spectrum(model, x, method="finite-difference", t=t, probes=K, central=central,
                                      sigma=sigma)
                sec = time.perf_counter() - t0
                err = np.abs(r.singular_values[:, 0] - ref).max()
                evals = K * (2 if central else 1) + (0 if central else 1)
                print(f"  {K:>5} {str(central):>8} {rel:>8.0e} {evals:>7} {sec:>8.3f} {err:>9.2e}")
                assert err < (1e-2 if not central else 1e-4)
