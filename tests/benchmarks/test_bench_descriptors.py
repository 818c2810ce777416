"""Descriptor speed (issue 13): psi and nu through a projection ``J B`` (P = 64) against the full Jacobian on
MNIST-sized inputs through a small UNet, with the rank correlation of the two psi; local complexity of all
points in one batched pass against a per-point loop. Ratios printed, nothing timed is asserted."""
import numpy as np
from scipy import stats

from trained.descriptors import local_complexity, local_geometry
from trained.nets import build_model

from benchutil import FULL, report, timed


def _unet(R):
    import torch
    m = build_model({"arch": "unet", "net": {"in_channels": 1, "resolution": R, "width": 16, "channel_mult": [1, 2],
                                              "num_res_blocks": 1, "activation": "relu"}}, seed=0).eval()
    with torch.no_grad():                        # the read-out starts at zero (eps_hat = 0): give it weights
        torch.nn.init.normal_(m.net.out.weight, std=0.05, generator=torch.Generator().manual_seed(1))
    return m.requires_grad_(False)


def test_projected_psi_vs_full_jacobian():
    R, n, P = (28, 64, 64) if FULL else (12, 8, 16)
    model = _unet(R)
    X = np.random.default_rng(0).standard_normal((n, R * R)).astype(np.float32)
    full, t_full = timed(local_geometry, model, X, t=0.5)
    proj, t_proj = timed(local_geometry, model, X, t=0.5, projection=P, seed=1)
    rho = stats.spearmanr(full["psi"], proj["psi"]).statistic
    report(f"psi + nu of {n} points at d={R * R} through a UNet: projection P={P} vs full Jacobian "
           f"(rank correlation of psi {rho:.2f}, goal >= 0.9)", t_proj, t_full, target=5)
    assert np.all(np.isfinite(proj["psi"])) and full["psi"].shape == (n,)


def test_local_complexity_batched_vs_per_point():
    R, n = (28, 64) if FULL else (12, 16)
    model = _unet(R)
    X = np.random.default_rng(0).standard_normal((n, R * R)).astype(np.float32)
    batched, t_b = timed(local_complexity, model, X, radius=0.05, n_directions=8, t=0.5)
    loop, t_l = timed(lambda: np.concatenate([local_complexity(model, X[i:i + 1], radius=0.05, n_directions=8,
                                                               t=0.5)["delta"] for i in range(n)]))
    np.testing.assert_array_equal(batched["delta"], loop)
    report(f"local complexity of {n} points at d={R * R} (16 vertices each): batched vs per-point loop "
           f"({n / t_b:.0f} points/s)", t_b, t_l, target=10)
