"""`specgap spectra` (engine vs closed form in one command) and `specgap dimension`."""
import json

import numpy as np
import pytest

from specgap.cli import main


def run_json(argv, capsys):
    assert main(argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("model,method,extra,tol", [
    ("linear", "exact", ["--d", "50", "--alpha", "0.3", "--levels", "2,0.05", "--fractions", "0.5,0.5"], 1e-10),
    ("mixture", "exact", ["--d", "20", "--components", "3"], 1e-10),
    ("subspaces", "lanczos", ["--d", "120", "--dims", "4,9", "--k", "12"], 1e-6),
    ("empirical", "finite-difference", ["--d", "15", "--n-train", "40"], 1e-5),
])
def test_spectra_methods_match_closed_form(model, method, extra, tol, capsys):
    r = run_json(["spectra", "--model", model, "--method", method, "--t", "0.02,0.3", "--points", "2",
                  "--seed", "3", *extra], capsys)
    assert r["max_abs_error"] < tol
    assert len(r["times"]) == 2 and all(len(row["phase"]) == 2 for row in r["times"])


def test_spectra_linear_readouts_follow_theory(capsys):
    # d=100, alpha=0.4, levels 1 and 0.01 (f=0.5): at t=0.03 the high-variance 20 directions are split off
    r = run_json(["spectra", "--model", "linear", "--d", "100", "--alpha", "0.4", "--levels", "1,0.01",
                  "--fractions", "0.5,0.5", "--t", "0.03,0.0003", "--points", "1"], capsys)
    assert r["times"][0]["largest_gap_dimension"] == [20]
    assert r["times"][1]["codimension"] == [60]


@pytest.mark.parametrize("argv,name", [
    (["spectra", "--points", "0"], "--points"),
    (["spectra", "--method", "lanczos"], "--k"),
    (["spectra", "--t", "0,1"], "--t"),
    (["spectra", "--checkpoint", "/nonexistent/checkpoint.pt"], "--checkpoint"),
    (["dimension", "--data", "/nonexistent.npy"], "--data"),
])
def test_bad_input_exit_2(argv, name, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0]


def test_dimension_of_point_clouds(tmp_path, capsys):
    rng = np.random.default_rng(11)
    d = 30
    for k in (2, 5):
        U = np.linalg.qr(rng.standard_normal((d, k)))[0]
        X = rng.standard_normal((500, k)) @ U.T
        np.save(tmp_path / f"plane{k}.npy", X)
        r = run_json(["dimension", "--data", str(tmp_path / f"plane{k}.npy")], capsys)
        assert r["dimension"] == k
        # the local-PCA route (an independent estimate): the rank of the sample covariance
        ev = np.linalg.eigvalsh(np.cov(X.T))
        assert np.sum(ev > 1e-8 * ev.max()) == k
    t = rng.uniform(0, 2 * np.pi, 600)
    circle = np.zeros((600, d))
    circle[:, 0], circle[:, 1] = np.cos(t), np.sin(t)
    np.save(tmp_path / "circle.npy", circle)
    r = run_json(["dimension", "--data", str(tmp_path / "circle.npy"), "--estimator", "all"], capsys)
    assert r["estimators"]["manifold"]["dimension"] == 1
    assert r["estimators"]["gap"]["dimension"] == 1


def test_dimension_bad_file_contents(tmp_path, capsys):
    (tmp_path / "bad.npy").write_bytes(b"not a numpy file")
    assert main(["dimension", "--data", str(tmp_path / "bad.npy")]) == 2
    np.save(tmp_path / "nan.npy", np.array([[0.0, np.nan], [1.0, 2.0]]))
    assert main(["dimension", "--data", str(tmp_path / "nan.npy")]) == 2
    err = capsys.readouterr().err
    assert "bad.npy" in err and "nan.npy" in err


def test_dimension_too_few_points_warns_or_refuses(tmp_path, capsys):
    """Issue 12: 5 points in d=20 answer with a warning on stderr and in the JSON; 2 points exit 2."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "five.npy", rng.standard_normal((5, 20)))
    np.save(tmp_path / "two.npy", rng.standard_normal((2, 20)))
    r = run_json(["dimension", "--data", str(tmp_path / "five.npy")], capsys)
    assert r["warnings"] and "too sparse" in r["warnings"][0]
    assert r["estimators"]["manifold"]["min_samples"] > 5
    assert main(["dimension", "--data", str(tmp_path / "two.npy")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "at least 3" in err[0]


def test_dimension_reports_interval_profile_and_no_warning_when_enough(tmp_path, capsys):
    rng = np.random.default_rng(1)
    U = np.linalg.qr(rng.standard_normal((20, 3)))[0]
    np.save(tmp_path / "flat.npy", rng.standard_normal((600, 3)) @ U.T)
    r = run_json(["dimension", "--data", str(tmp_path / "flat.npy"), "--estimator", "all"], capsys)
    assert r["warnings"] == [] and r["recommended"] == "manifold"
    c = r["estimators"]["manifold"]
    assert c["dimension"] == 3 and c["interval"] == [3, 3] and len(c["per_point"]) == 64
    assert c["plateau"][0] <= c["tau"] <= c["plateau"][1]
    assert len(c["profile"]["tau"]) == len(c["profile"]["manifold_dimension"])
    assert r["estimators"]["flipd"]["dimension"] == 3
