"""`specgap ridge residual|project`: two modes, where the ridge is the segment and the residual has the
closed form |x - line(x)| / s^2; bad input exits 2 with one line naming the option."""
import json

import numpy as np
import pytest

from specgap.cli import main


@pytest.fixture
def two_modes(tmp_path):
    rng = np.random.default_rng(0)
    y1, y2 = rng.standard_normal(4), rng.standard_normal(4)
    u = (y2 - y1) / np.linalg.norm(y2 - y1)
    lam = rng.uniform(0.2, 0.8, 6)
    off = rng.standard_normal((6, 4)) * 0.1
    off -= np.outer(off @ u, u)
    x = y1 + lam[:, None] * (y2 - y1) + off
    np.save(tmp_path / "X.npy", np.stack([y1, y2]))
    np.save(tmp_path / "x.npy", x)
    return tmp_path, y1, u, lam, np.linalg.norm(off, axis=1)


def test_residual_and_project(two_modes, capsys):
    d, y1, u, lam, dist = two_modes
    base = ["--data", str(d / "X.npy"), "--points", str(d / "x.npy"), "--t", "0.25", "--k", "1", "--json"]
    assert main(["ridge", "residual", *base]) == 0
    r = json.loads(capsys.readouterr().out)
    assert np.allclose(r["residual"], dist / 0.25, rtol=1e-12)
    assert r["command"] == "ridge residual" and r["inputs"]["k"] == 1 and all(r["curvature_ok"])
    assert main(["ridge", "project", *base, "--out", str(d / "out")]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["report"]["converged"] == 6 and max(r["residual"]) < 1e-8
    assert np.allclose(r["distance"], dist, rtol=1e-10)
    P = np.load(d / "out" / "projection.npz")["points"]
    rel = P - y1
    assert np.abs(rel - np.outer(rel @ u, u)).max() < 1e-8
    assert np.allclose((rel @ u) / np.linalg.norm(np.load(d / "X.npy")[1] - y1), lam, atol=1e-10)
    assert json.loads((d / "out" / "summary.json").read_text())["files"] == ["projection.npz"]


@pytest.mark.parametrize("change,name", [
    ({"--data": "/nonexistent.npy"}, "--data"),
    ({"--points": "bad_dim"}, "--points"),
    ({"--k": "4"}, "--k"),
    ({"--t": "0"}, "--t"),
    ({"--t": "nan"}, "--t"),
    ({"--cutoff": "1.5"}, "--cutoff"),
    ({"--tol": "-1"}, "--tol"),
    ({"--max-iter": "0"}, "--max-iter"),
])
def test_bad_input_exit_2(two_modes, change, name, capsys):
    d = two_modes[0]
    np.save(d / "bad.npy", np.zeros((3, 5)))
    opts = {"--data": str(d / "X.npy"), "--points": str(d / "x.npy"), "--t": "0.25", "--k": "1"}
    opts.update({k: (str(d / "bad.npy") if v == "bad_dim" else v) for k, v in change.items()})
    argv = ["ridge", "project"] + [s for kv in opts.items() for s in kv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0]
