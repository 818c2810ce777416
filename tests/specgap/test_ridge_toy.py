"""Study ridge-toy (issue 15), quick mode: counts and segment fractions recomputed from the saved samples,
the saved residuals against a torch-autograd Hessian, the CLI and the notebook."""
import json

import numpy as np
import pytest

from specgap.cli import main
from specgap.reproduce.ridge_toy import reproduce_ridge_toy, toy_modes

from findings_ledger import check_study
from notebook_runner import run_notebook


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ridge_toy")
    return out, reproduce_ridge_toy(out, quick=True, progress=False)


def test_counts_and_segments_from_the_saved_samples(run):
    out, s = run
    assert s["specgap_version"] and s["quick"] is True and s["parameters"]["configs"] == [2, 3, 9]
    for K in (2, 3, 9):
        z = np.load(out / f"modes{K}.npz")
        c = s["configs"][str(K)]
        x, Y = z["samples"], z["modes"]
        assert np.array_equal(Y, toy_modes(K)) and len(x) == s["parameters"]["n_samples"]
        # independent: brute-force distances to dense point sets on the nearest-neighbour segments
        D = np.linalg.norm(Y[:, None] - Y[None], axis=-1)
        h = D[D > 0].min()
        dm = np.linalg.norm(x[:, None] - Y[None], axis=-1)
        at = dm.min(1) < 0.15 * h
        assert sum(c["counts"]) == at.sum() and c["inter_mode"] == (~at).sum()
        assert c["counts"] == np.bincount(dm.argmin(1)[at], minlength=K).tolist()
        lam = np.linspace(0, 1, 4001)
        dseg = np.full(len(x), np.inf)
        for i, j in [(a, b) for a in range(K) for b in range(a + 1, K) if D[a, b] <= 1.01 * h]:
            pts = Y[i] + lam[:, None] * (Y[j] - Y[i])
            dseg = np.minimum(dseg, np.min(np.linalg.norm(x[:, None] - pts[None], axis=-1), axis=1))
        on = (~at) & (dseg < 0.05 * h)
        assert abs(c["inter_mode_on_ridge"] - int(on.sum())) <= 1          # grid spacing 2.5e-4 h at the border
        assert len(c["residual_median"]) == len(z["times"]) == z["distance"].shape[0]


def test_saved_residuals_against_autograd_hessian(run):
    import torch
    out, s = run
    z = np.load(out / "modes3.npz")
    Y = torch.as_tensor(z["modes"])
    checked = 0
    for r in range(len(z["times"])):
        t = float(z["times"][r])                                    # VE: s^2 = t
        def logp(u, t=t):
            return torch.logsumexp(-((u - Y) ** 2).sum(1) / (2 * t), 0)
        for q in range(4):
            v = torch.as_tensor(z["states"][r, q])
            g = torch.func.grad(logp)(v).numpy()
            w, V = np.linalg.eigh(torch.func.hessian(logp)(v).numpy())
            if w[1] - w[0] > 1e-6 / t:                              # resolvable gap only
                # 2-D, k = 1: the normal direction is the eigenvector of the smaller eigenvalue
                assert z["residual"][r, q] == pytest.approx(t * abs(V[:, 0] @ g), rel=1e-6, abs=1e-12)
                checked += 1
    assert checked >= 6


def test_losses_split_and_cli(run, capsys):
    _, s = run
    for c in s["configs"].values():
        L = c["loss_vs_training_time"]
        assert len(L["s"]) == 6 and len(set(L["bias_normal"])) == 1     # the bias does not depend on s
        assert c["loss_final"] >= c["loss_equilibrium"] - 1e-9
    assert main(["reproduce", "ridge-toy", "--quick"]) == 2                 # --out is required
    assert "--out" in capsys.readouterr().err


def test_align_law_in_the_summary(run):
    out, s = run
    a = s["align_law"]
    inj = a["injected"]
    # the injected law recovers itself: slope 1 within its interval (two modes: exact to round-off)
    assert inj["slope"] == pytest.approx(1.0, abs=1e-3) and inj["ci"][0] - 1e-6 <= 1.0 <= inj["ci"][1] + 1e-6
    assert inj["regime_end"] == pytest.approx(inj["runs"]["2_normal"]["spacing"])   # the whole range tried
    assert inj["slide"]["slope"] == pytest.approx(1.0, abs=1e-2)
    grid = inj["runs"]["9_normal"]
    assert grid["away_from_junctions"]["fraction"] < 0.2 and max(grid["off_law"][:3]) > 0.1   # fails at junctions
    # random features: r2 recomputed from the saved per-sample arrays of every configuration
    d, p, sm = (np.concatenate([np.load(out / f"modes{K}.npz")[k][-1 if k != "smooth" else slice(None)]
                                for K in (2, 3, 9)]) for k in ("distance", "predicted_offset", "smooth"))
    lm, lp = np.log(d[sm]), np.log(p[sm])
    r2 = 1 - np.sum((lm - lp) ** 2) / np.sum((lm - lm.mean()) ** 2)
    rf = a["random_features"]
    assert rf["r2"] == pytest.approx(r2) and rf["samples"] == sm.sum()
    assert rf["r2"] > 0.7 and rf["ci"][0] < 1.0 < rf["ci"][1] and rf["r2_all"] < rf["r2"]
    assert rf["per_config"]["2"]["all"]["r2"] > 0.9 and rf["slide"]["r2"] > 0.9
    # the old reading, delta_eq = s^2 |e_normal| at the last time alone, does not explain the distance
    z = np.load(out / "modes2.npz")
    lq, ld = np.log(z["delta_eq"][-1]), np.log(z["distance"][-1])
    assert 1 - np.sum((ld - lq) ** 2) / np.sum((ld - ld.mean()) ** 2) < 0.5
    assert (out / "ridge_toy_align.png").stat().st_size > 10_000
    assert check_study("ridge-toy", s) == 7                         # docs/findings.md R1-R7


def test_cli_line_reports_the_align_law(run, tmp_path, monkeypatch, capsys):
    import specgap.reproduce.ridge_toy as rt
    _, s = run
    monkeypatch.setattr(rt, "reproduce_ridge_toy", lambda *a, **k: s)      # the line, not a second run
    assert main(["reproduce", "ridge-toy", "--quick", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    rf = s["align_law"]["random_features"]
    assert f"align law: injected slope {s['align_law']['injected']['slope']:.3f}" in out
    assert f"random features R^2 {rf['r2']:.2f} off ridge junctions ({rf['r2_all']:.2f} all)" in out


@pytest.mark.slow
def test_ridge_toy_notebook_executes(tmp_path, monkeypatch):
    import os
    from pathlib import Path
    root = str(Path(__file__).resolve().parents[2])                 # the kernel imports this checkout
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    from notebook_runner import assert_text_matches_stored
    nb = run_notebook("ridge_toy.ipynb", quick=True, out=str(tmp_path / "r"))
    assert set(json.loads((tmp_path / "r" / "summary.json").read_text())["configs"]) == {"2", "3", "9"}
    assert_text_matches_stored(nb, "ridge_toy.ipynb")
