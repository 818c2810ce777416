"""Study ridge-mnist (issue 15), quick mode: nearest-neighbour distances against scipy's k-d tree, the saved
ridge residuals against a torch-autograd Hessian of log p_t of the training latents, the notebook."""
import json

import numpy as np
import pytest

from specgap.reproduce.ridge_mnist import reproduce_ridge_mnist

from notebook_runner import run_notebook


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ridge_mnist")
    return out, reproduce_ridge_mnist(out, quick=True, progress=False)


def test_memorisation_distances_and_fractions(run):
    from scipy.spatial import cKDTree
    out, s = run
    z = np.load(out / "ridge_mnist.npz")
    Z, x = z["latents"], z["samples"]
    assert Z.shape == (1000, 16) and x.shape == (60, 16) and z["decoded"].shape == (60, 784)
    tree = cKDTree(Z)
    assert np.allclose(z["nn_samples"], tree.query(x)[0], rtol=1e-7)
    assert np.allclose(z["nn_train"], tree.query(Z, k=2)[0][:, 1], rtol=1e-7)
    assert s["spacing_median"] == pytest.approx(np.median(z["nn_train"]))
    for k in s["parameters"]["ks"]:
        R = z[f"residual_k{k}"]
        assert s["fraction_on_ridge"][str(k)] == np.mean(R[-1] < 0.05 * s["spacing_median"])
    assert s["vae"]["loss_last_epoch"] < s["vae"]["loss_first_epoch"]


def test_saved_residuals_against_autograd_hessian(run):
    import torch
    out, s = run
    z = np.load(out / "ridge_mnist.npz")
    Z = torch.as_tensor(z["latents"])
    checked = 0
    for r in range(len(z["times"])):
        t = float(z["times"][r])                                        # VE: s^2 = t
        for k in (1, 4):
            for q in range(3):
                def logp(u, t=t):
                    return torch.logsumexp(-((u - Z) ** 2).sum(1) / (2 * t), 0)
                v = torch.as_tensor(z["states"][r, q])
                g = torch.func.grad(logp)(v).numpy()
                w, V = np.linalg.eigh(torch.func.hessian(logp)(v).numpy())
                if w[-k] - w[-k - 1] > 1e-6 / t:                        # resolvable gap only
                    Vn = V[:, :-k]                                      # all but the top k eigenvectors
                    assert z[f"residual_k{k}"][r, q] == pytest.approx(t * np.linalg.norm(Vn.T @ g), rel=1e-6,
                                                                      abs=1e-12)
                    checked += 1
    assert checked >= 6


@pytest.mark.slow
def test_ridge_mnist_notebook_executes(tmp_path, monkeypatch):
    import os
    from pathlib import Path
    root = str(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    run_notebook("ridge_mnist.ipynb", quick=True, out=str(tmp_path / "r"))
    assert set(json.loads((tmp_path / "r" / "summary.json").read_text())["fraction_on_ridge"]) == {"1", "2", "4", "8"}
