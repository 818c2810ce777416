"""Study ridge-mnist (issues 15 and 25), quick mode: nearest-neighbour distances against scipy's k-d tree, the
saved normalised ridge residuals of every population against a torch-autograd Hessian of log p_t of the
training latents, the calibrated on-ridge criterion (threshold, fractions, the s(t) scale), the notebook."""
import json

import numpy as np
import pytest

from specgap.reproduce.ridge_mnist import POPULATIONS, QUANTILE, reproduce_ridge_mnist

from findings_ledger import check_study
from notebook_runner import run_notebook


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ridge_mnist")
    return out, reproduce_ridge_mnist(out, quick=True, progress=False)


def test_findings_ledger_rows(run):
    assert check_study("ridge-mnist", run[1]) == 3                  # docs/findings.md D5, R8, R9


def test_memorisation_distances_and_split(run):
    from scipy.spatial import cKDTree
    out, s = run
    z = np.load(out / "ridge_mnist.npz")
    Z, H, x = z["latents"], z["held_out"], z["samples"]
    assert Z.shape == (1000, 16) and H.shape == (200, 16) and x.shape == (60, 16) and z["decoded"].shape == (60, 784)
    tree = cKDTree(Z)
    assert np.allclose(z["nn_samples"], tree.query(x)[0], rtol=1e-7)
    assert np.allclose(z["nn_held_out"], tree.query(H)[0], rtol=1e-7)
    assert np.allclose(z["nn_train"], tree.query(Z, k=2)[0][:, 1], rtol=1e-7)
    assert z["nn_held_out"].min() > 1e-3                                # held-out digits are not training digits
    assert not set(z["index_evaluated"]) & set(z["index_calibration"])  # calibration draw is disjoint
    assert s["spacing_median"] == pytest.approx(np.median(z["nn_train"]))
    assert s["vae"]["loss_last_epoch"] < s["vae"]["loss_first_epoch"]


def _logp_grad_hessian(Z, v, t):
    import torch

    def logp(u):
        return torch.logsumexp(-((u - Z) ** 2).sum(1) / (2 * t), 0)
    v = torch.as_tensor(v)
    return torch.func.grad(logp)(v).numpy(), torch.func.hessian(logp)(v).numpy()


def test_saved_residuals_against_autograd_hessian(run):
    """``rho = sqrt(t) |V V^T grad log p_t|`` (VE, s^2 = t) for the noised training and held-out latents and the
    sampler's states, and ``residual_k = s^2 |V V^T grad log p_t|`` for the states, against autograd."""
    import torch
    out, s = run
    z = np.load(out / "ridge_mnist.npz")
    Z = torch.as_tensor(z["latents"])
    ks = list(z["ks"])
    pts = {"training": z["points_training"], "held_out": z["points_held_out"], "generated": z["states"]}
    checked = 0
    for r, t in enumerate(map(float, z["times"])):
        for p, P in pts.items():
            for q in range(2):
                g, Hs = _logp_grad_hessian(Z, P[r, q], t)
                w, V = np.linalg.eigh(Hs)
                for j, k in ((0, 1), (2, 4)):
                    if w[-k] - w[-k - 1] > 1e-6 / t:                    # resolvable gap only
                        normal = np.linalg.norm(V[:, :-k].T @ g)        # all but the top k eigenvectors
                        assert z[f"rho_{p}"][r, q, ks.index(k)] == pytest.approx(np.sqrt(t) * normal, rel=1e-6,
                                                                                 abs=1e-12)
                        if p == "generated":
                            assert z[f"residual_k{k}"][r, q] == pytest.approx(t * normal, rel=1e-6, abs=1e-12)
                        checked += 1
    assert checked >= 24


def test_threshold_is_the_calibration_quantile_and_matches_chi(run):
    """tau_k: the 0.95 quantile of the calibration draw (training latents noised to the smallest time); near a
    condensed posterior rho^2 is chi-squared with D - k degrees of freedom, so tau_k is close to its quantile."""
    out, s = run
    z = np.load(out / "ridge_mnist.npz")
    o = s["on_ridge"]
    assert o["calibration"]["t"] == min(s["times"]) and o["calibration"]["quantile"] == QUANTILE == 0.95
    assert o["calibration"]["n"] == 200
    for j, k in enumerate(s["parameters"]["ks"]):
        tau = o["threshold"][str(k)]
        assert tau == pytest.approx(np.quantile(z["rho_calibration"][:, j], QUANTILE))
        assert tau == pytest.approx(o["threshold_chi"][str(k)], rel=0.1)


def test_on_ridge_fractions_recomputed_from_arrays(run):
    out, s = run
    z = np.load(out / "ridge_mnist.npz")
    o = s["on_ridge"]
    assert o["times"] == s["times"] and set(POPULATIONS) <= set(o)
    for j, k in enumerate(s["parameters"]["ks"]):
        for p in POPULATIONS:
            on = (z[f"rho_{p}"][:, :, j] < o["threshold"][str(k)]) & z[f"concave_{p}"][:, :, j]
            assert o[p][str(k)] == pytest.approx(on.mean(1).tolist())
        assert s["fraction_on_ridge"][str(k)] == o["generated"][str(k)][-1]


def test_calibrated_criterion_reads_training_on_and_held_out_off(run):
    """At the smallest time (t = 1e-4, s = 0.01, training spacing ~1) noised training latents read on the ridge and
    held-out ones (about one spacing from the nearest training latent, rho ~ spacing / s) off it; the training
    latents themselves sit on it (rho = 0). At t = 10 (s = 3.2) noised training latents still read on the ridge.
    Without the s(t) normalisation (residual in length units against tau_k) held-out latents would read on the
    ridge at t = 1e-4 and training latents off it at t = 10; in score units (rho / s) training latents would read
    off it at t = 1e-4: each fails one of the assertions below."""
    out, s = run
    o = s["on_ridge"]
    assert o["times"][0] == 10.0 and o["times"][-1] == 1e-4
    for k in map(str, s["parameters"]["ks"]):
        assert o["training"][k][-1] >= 0.9 and o["training"][k][0] >= 0.9
        assert o["training_clean"][k][-1] == 1.0 and o["normalised_residual_median"]["training_clean"][k][-1] < 1e-6
        assert o["held_out"][k][-1] <= 0.1


def test_wrong_scale_criteria_fail_the_calibration(run):
    """The assertions of the test above bite: the same saved residuals compared with tau_k in length units
    (rho s) or in score units (rho / s) do not read training on and held-out off the ridge."""
    out, s = run
    z = np.load(out / "ridge_mnist.npz")
    o = s["on_ridge"]
    sq = np.sqrt(z["times"])[:, None]
    for j, k in enumerate(s["parameters"]["ks"]):
        tau = o["threshold"][str(k)]
        length = {p: (z[f"rho_{p}"][:, :, j] * sq < tau).mean(1) for p in ("training", "held_out")}
        assert length["held_out"][-1] > 0.9 and length["training"][0] < 0.1
        score = (z["rho_training"][:, :, j] / sq < tau).mean(1)
        assert score[-1] < 0.1


@pytest.mark.slow
def test_ridge_mnist_notebook_executes(tmp_path, monkeypatch):
    import os
    from pathlib import Path
    root = str(Path(__file__).resolve().parents[2])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    from notebook_runner import assert_text_matches_stored
    nb = run_notebook("ridge_mnist.ipynb", quick=True, out=str(tmp_path / "r"))
    assert_text_matches_stored(nb, "ridge_mnist.ipynb")
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert set(summary["fraction_on_ridge"]) == {"1", "2", "4", "8"}
    assert set(summary["on_ridge"]["generated"]) == {"1", "2", "4", "8"}
