"""Descriptor studies (issue 13), quick mode: numbers against independent routes."""
import json

import numpy as np
import pytest
import torch

from specgap.cli import main
from specgap.reproduce.relu_partition import activation_patterns, relu_generator, reproduce_relu_partition
from specgap.reproduce.toy_ddpm import auroc, reproduce_toy_ddpm

from findings_ledger import check_study
from notebook_runner import run_notebook


def test_relu_partition_regions_and_psi_against_the_masked_weight_product(tmp_path):
    s = reproduce_relu_partition(tmp_path, quick=True, progress=False)
    assert check_study("relu-partition", s) == 1                    # docs/findings.md D1
    z = np.load(tmp_path / "regions.npz")
    net = relu_generator((16, 16), 0)
    ax = z["grid_axis"]
    Z = np.stack(np.meshgrid(ax, ax, indexing="xy"), -1).reshape(-1, 2)
    # independent: numpy forward pass for the patterns, J_R = W3 D2 W2 D1 W1 on each region
    W = [m.weight.numpy() for m in net if isinstance(m, torch.nn.Linear)]
    b = [m.bias.numpy() for m in net if isinstance(m, torch.nn.Linear)]
    h1 = Z @ W[0].T + b[0]
    h2 = np.maximum(h1, 0) @ W[1].T + b[1]
    pats = np.concatenate([h1 > 0, h2 > 0], axis=1)
    assert np.array_equal(pats, activation_patterns(net, Z))
    assert len(np.unique(pats, axis=0)) == s["regions"]
    for r in np.random.default_rng(0).choice(s["regions"], size=25, replace=False):
        i = np.flatnonzero(z["region"] == r)[0]
        J = W[2] @ np.diag(pats[i, 16:]) @ W[1] @ np.diag(pats[i, :16]) @ W[0]
        assert z["psi_region"][r] == pytest.approx(np.log(np.linalg.svd(J, compute_uv=False)).sum(), abs=1e-10)
    # the paper's finding: generated density falls as local scaling grows
    assert s["spearman_psi_vs_density"] < -0.4                       # measured -0.60 (quick)
    assert s["specgap_version"] and (tmp_path / "relu_partition_regions.png").stat().st_size > 0


def test_auroc_equals_scikit_learn():
    from sklearn.metrics import roc_auc_score
    rng = np.random.default_rng(1)
    pos, neg = rng.normal(0.5, 1, 40), rng.normal(0, 1, 60)
    pos[:5] = neg[:5]                                                # ties count half
    y = np.r_[np.ones(40), np.zeros(60)]
    assert auroc(pos, neg) == pytest.approx(roc_auc_score(y, np.r_[pos, neg]), abs=1e-12)


@pytest.mark.slow
def test_toy_ddpm_separates_on_and_off_manifold(tmp_path):
    s = reproduce_toy_ddpm(tmp_path, quick=True, progress=False)
    assert check_study("toy-ddpm", s) == 1                          # docs/findings.md D2
    z = np.load(tmp_path / "fields.npz")
    # the per-t AUROC from the saved fields, recomputed with scikit-learn
    from sklearn.metrics import roc_auc_score
    on, off = z["on"], z["off"]
    for j, row in enumerate(s["per_t"]):
        v = z["psi"][j]
        y = np.r_[np.ones(on.sum()), np.zeros(off.sum())]
        assert row["psi"]["auroc_on_vs_off"] == pytest.approx(roc_auc_score(y, np.r_[v[on], v[off]]), abs=1e-12)
    # at small t the step map contracts the normal direction near the circle: psi lower on the manifold,
    # and more ReLU knots there (measured AUROC 0.00 and 0.999 at t = 1e-3)
    assert s["per_t"][0]["psi"]["auroc_on_vs_off"] < 0.1
    assert s["per_t"][0]["delta"]["auroc_on_vs_off"] > 0.8
    assert s["train"]["loss_final"] < 0.7 * s["train"]["loss_initial"]


def test_cli_studies(tmp_path, capsys):
    assert main(["reproduce", "relu-partition", "--quick", "--out", str(tmp_path / "r"), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["regions"] > 100 and r["inputs"]["quick"] is True
    assert main(["reproduce", "toy-ddpm", "--quick"]) == 2                   # --out is required
    assert "--out" in capsys.readouterr().err


@pytest.mark.slow
def test_study_notebooks_execute(tmp_path):
    from notebook_runner import assert_text_matches_stored
    nb = run_notebook("relu_partition.ipynb", quick=True, out=str(tmp_path / "r"))
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["regions"] > 100
    assert_text_matches_stored(nb, "relu_partition.ipynb")
    nb = run_notebook("toy_ddpm.ipynb", quick=True, out=str(tmp_path / "t"))
    assert len(json.loads((tmp_path / "t" / "summary.json").read_text())["per_t"]) == 7
    assert_text_matches_stored(nb, "toy_ddpm.ipynb")
