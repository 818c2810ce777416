"""Training on linear manifolds: loss and score against exact routes, exact resume, checkpoint errors, data, CLI."""
import json

import numpy as np
import pytest
import torch

from simulate.fmatrix import sample_F
from trained.data import LinearManifoldData, TensorData, dataset_names, linear_manifold_data, make_dataset, register_dataset
from trained.nets import ResMLP, ScoreModel, build_model
from trained.train import (CHECKPOINT_NAME, TrainConfig, checkpoint_dataset, load_checkpoint, load_model,
                           score_error, train)


def _data(n=2000, d=20, alpha=0.4, seed=0):
    return linear_manifold_data(d, alpha, [1.0, 0.01], [0.75, 0.25], n=n, seed=seed)


def _model(data, width=32, depth=1, seed=0, schedule="ve"):
    return build_model({"arch": "mlp", "net": {"d": data.shape[0], "width": width, "depth": depth},
                        "schedule": schedule, "sigma_data": data.sigma_data}, seed=seed)


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------
def test_linear_data_is_F_z_with_the_simulator_F():
    data = linear_manifold_data(30, 0.4, [1.0, 0.01], [0.75, 0.25], n=40000, seed=5)
    F = sample_F(data.manifold, 30, draws=1, seed=5)[0]
    np.testing.assert_array_equal(data.F, F)
    X = data.x.double().numpy()
    assert X.shape == (40000, 30) and data.x.dtype == torch.float32
    # rank m = 12: the points lie in the column space of F
    resid = X - X @ np.linalg.pinv(F).T @ F.T
    assert np.abs(resid).max() < 1e-5
    # covariance -> F F^T (sampling error ~ sqrt(2/n) relative)
    C = F @ F.T
    assert np.linalg.norm(X.T @ X / X.shape[0] - C) / np.linalg.norm(C) < 0.03
    assert data.sigma_data == pytest.approx(np.sqrt(np.trace(C) / 30))
    # rebuilt from its config, identically
    again = make_dataset(**data.config)
    assert torch.equal(again.x, data.x) and isinstance(again, LinearManifoldData)
    json.dumps(data.config)


def test_data_registry_and_errors():
    assert "linear" in dataset_names()
    with pytest.raises(ValueError, match="data must be one of"):
        make_dataset("nope")
    with pytest.raises(ValueError, match="takes no argument"):
        make_dataset("linear", d=10, alpha=0.5, levels=[1.0], n=10, colour="red")
    with pytest.raises(ValueError, match="alpha"):
        make_dataset("linear", d=10, alpha=-1, levels=[1.0], n=10)
    register_dataset("test-blobs", lambda n=8, seed=0: TensorData(
        torch.randn(n, 1, 4, 4, generator=torch.Generator().manual_seed(seed)), {"name": "test-blobs", "n": n, "seed": seed}))
    blobs = make_dataset("test-blobs", n=5)
    assert blobs.shape == (1, 4, 4) and blobs.n == 5
    with pytest.raises(ValueError, match="x must be finite"):
        TensorData(torch.tensor([[float("nan")]]), {"name": "x"})


def test_multi_and_continuous_profiles_roundtrip():
    from rmt import ContinuousProfile, VarianceProfile
    for prof in (VarianceProfile.multi(5, seed=2), ContinuousProfile.uniform(0.01, 1.0)):
        data = linear_manifold_data(20, 0.5, n=50, seed=1, profile=prof)
        assert torch.equal(make_dataset(**json.loads(json.dumps(data.config))).x, data.x)


# ------------------------------------------------------------------------------------------------
# training approaches the exact score
# ------------------------------------------------------------------------------------------------
def _min_loss(lam, d, smin, smax, schedule="ve", nodes=400):
    """Smallest DSM loss E|eps - E[eps|x_t]|^2 / d for N(0, C): (1/d) sum_i lam_i / (lam_i + tau), averaged over
    sqrt(tau) log-uniform on [smin, smax] (Gauss-Legendre in u)."""
    u, w = np.polynomial.legendre.leggauss(nodes)
    u, w = (u + 1) / 2, w / 2
    tau = (smin * (smax / smin) ** u) ** 2
    per = np.sum(lam[None] / (lam[None] + tau[:, None]), axis=1) / d
    return float(np.sum(w * per))


@pytest.mark.slow
def test_training_lowers_loss_and_approaches_exact_score(quick):
    """d = 100, m = 40, levels 1 and 0.01 (f = 0.75), n = 20000, VE.

    Relative error sqrt(E|s_hat - s|^2/E|s|^2) of the EMA net, x ~ p_t, at t = 0.1, 0.3, 0.5 (width 256,
    depth 2, batch 256, lr 2e-3), measured on this machine: 400 steps (quick) 0.092/0.091/0.083 -> bound 0.13;
    3000 steps 0.034/0.030/0.027 -> bound 0.05. Untrained (eps_hat = 0): exactly 1. Final loss above the exact
    minimum (0.227 here): +0.082 (quick), +0.019 (full).
    """
    steps, bound, excess = (400, 0.13, 0.11) if quick else (3000, 0.05, 0.035)
    data = linear_manifold_data(100, 0.4, [1.0, 0.01], [0.75, 0.25], n=20000, seed=0)
    exact = data.exact_model("ve")
    model = _model(data, width=256, depth=2, seed=0)
    assert score_error(model, exact, 0.3, 512) == pytest.approx(1.0)
    cfg = TrainConfig(steps=steps, batch=256, lr=2e-3, sigma_min=0.01, sigma_max=10.0)
    res = train(model, data, cfg, progress=False)
    L = res.losses
    floor = _min_loss(exact.eigenvalues, 100, cfg.sigma_min, cfg.sigma_max)
    assert L[:10].mean() > 0.9                                      # eps_hat = 0 at init: loss = E|eps|^2/d = 1
    assert floor - 0.02 < L[-200:].mean() < floor + excess
    errs = [score_error(res.ema, exact, t, 4096, seed=1) for t in (0.1, 0.3, 0.5)]
    assert max(errs) < bound, errs


def test_short_vp_training_improves_the_score():
    data = _data(n=4000)
    exact = data.exact_model("vp")
    model = _model(data, width=64, depth=2, schedule="vp")
    res = train(model, data, TrainConfig(steps=300, batch=128, lr=2e-3, warmup=20), progress=False)
    assert res.losses[-50:].mean() < 0.7 * res.losses[:10].mean()
    assert score_error(res.ema, exact, 0.2, 2048) < 0.6


# ------------------------------------------------------------------------------------------------
# exact resume
# ------------------------------------------------------------------------------------------------
def _state_equal(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("optimizer", ["adamw", "radam"])
def test_resume_is_exact(tmp_path, optimizer):
    data = _data()
    cfg = dict(batch=64, lr=2e-3, warmup=5, ema=0.9, optimizer=optimizer, weight_decay=1e-3, seed=3)
    full = train(_model(data), data, TrainConfig(steps=40, **cfg), progress=False)
    half = train(_model(data), data, TrainConfig(steps=20, **cfg), tmp_path, progress=False)
    assert half.step == 20 and (tmp_path / CHECKPOINT_NAME).exists()
    # a differently initialised model: everything must come from the checkpoint
    rest = train(_model(data, seed=99), data, TrainConfig(steps=40, **cfg), tmp_path, resume=True, progress=False)
    assert rest.resumed_from == 20
    np.testing.assert_array_equal(rest.losses, full.losses)
    assert _state_equal(rest.model, full.model) and _state_equal(rest.ema, full.ema)


class _Interrupt(Exception):
    pass


def test_interrupted_run_resumes_from_periodic_checkpoint(tmp_path):
    data = _data()
    cfg = TrainConfig(steps=30, batch=64, lr=2e-3, warmup=5, checkpoint_every=10, seed=1)
    full = train(_model(data), data, cfg, progress=False)

    model = _model(data)
    calls = {"n": 0}
    fwd = model.net.forward

    def dying(*a):                          # the process "dies" during step 25
        calls["n"] += 1
        if calls["n"] == 25:
            raise _Interrupt
        return fwd(*a)
    model.net.forward = dying
    with pytest.raises(_Interrupt):
        train(model, data, cfg, tmp_path, progress=False)
    assert load_checkpoint(tmp_path)["step"] == 20
    rest = train(_model(data, seed=7), data, cfg, tmp_path, resume=True, progress=False)
    np.testing.assert_array_equal(rest.losses, full.losses)
    assert _state_equal(rest.model, full.model)
    # the RNG states of the interrupted process are restored too
    ck = load_checkpoint(tmp_path)
    assert set(ck["rng"]) == {"torch", "cuda", "numpy", "python"}


def test_load_model_and_dataset_from_checkpoint(tmp_path):
    data = _data()
    res = train(_model(data), data, TrainConfig(steps=5, batch=32, warmup=0), tmp_path, progress=False)
    m = load_model(tmp_path / CHECKPOINT_NAME)
    assert _state_equal(m, res.ema) and not m.training
    raw = load_model(tmp_path, ema=False)
    assert _state_equal(raw, res.model)
    assert torch.equal(checkpoint_dataset(tmp_path).x, data.x)


# ------------------------------------------------------------------------------------------------
# corrupted and mismatched checkpoints
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def ckpt(tmp_path):
    data = _data()
    train(_model(data), data, TrainConfig(steps=3, batch=16, warmup=0), tmp_path, progress=False)
    return tmp_path / CHECKPOINT_NAME


def test_corrupted_truncated_or_foreign_checkpoint(ckpt, tmp_path):
    raw = ckpt.read_bytes()
    bad = tmp_path / "flipped.pt"
    b = bytearray(raw)
    b[len(b) // 2] ^= 0xFF
    bad.write_bytes(bytes(b))
    with pytest.raises(ValueError, match="flipped.pt.*corrupted or truncated"):
        load_checkpoint(bad)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(ValueError, match="cut.pt.*corrupted or truncated"):
        load_checkpoint(cut)
    other = tmp_path / "other.pt"
    torch.save({"model": 1}, other)
    with pytest.raises(ValueError, match="other.pt.*not a specgap checkpoint"):
        load_checkpoint(other)
    with pytest.raises(ValueError, match="missing.pt.*does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    # a corrupted checkpoint in the output directory stops a resume with the same message
    data = _data()
    ckpt.write_bytes(raw[:-100])
    with pytest.raises(ValueError, match="checkpoint.pt.*corrupted or truncated"):
        train(_model(data), data, TrainConfig(steps=6, batch=16, warmup=0), tmp_path, resume=True, progress=False)


def test_mismatched_checkpoint(ckpt, tmp_path):
    data = _data()
    cfg = TrainConfig(steps=6, batch=16, warmup=0)
    with pytest.raises(ValueError, match="already holds"):
        train(_model(data), data, cfg, tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"checkpoint.pt.*does not match.*data\.alpha"):
        other = _data(alpha=0.5)
        train(_model(other), other, cfg, tmp_path, resume=True, progress=False)
    with pytest.raises(ValueError, match=r"does not match.*model\.net"):
        train(_model(data, width=48), data, cfg, tmp_path, resume=True, progress=False)
    with pytest.raises(ValueError, match=r"does not match.*train\.lr"):
        train(_model(data), data, TrainConfig(steps=6, batch=16, warmup=0, lr=5e-4), tmp_path, resume=True,
              progress=False)
    with pytest.raises(ValueError, match="step 3 > steps=2"):
        train(_model(data), data, TrainConfig(steps=2, batch=16, warmup=0), tmp_path, resume=True, progress=False)


def test_train_config_validation():
    for kw, name in [({"steps": 0}, "steps"), ({"lr": -1}, "lr"), ({"optimizer": "sgd"}, "optimizer"),
                     ({"ema": 1.0}, "ema"), ({"sigma_min": 2.0, "sigma_max": 1.0}, "sigma_min"),
                     ({"batch": 1.5}, "batch")]:
        with pytest.raises(ValueError, match=name):
            TrainConfig(**kw)
    data = _data()
    with pytest.raises(ValueError, match="data_shape"):
        train(ScoreModel(ResMLP(7, 16, 1)), data, TrainConfig(steps=1), progress=False)


# ------------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------------
def _cli(argv, capsys):
    from specgap.cli import main
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_train_and_resume(tmp_path, capsys):
    base = ["train", "--data", "linear", "--d", "20", "--alpha", "0.4", "--levels", "1,0.01", "--fractions",
            "0.75,0.25", "--n", "500", "--batch", "32", "--width", "32", "--depth", "1", "--device", "cpu",
            "--out", str(tmp_path), "--no-progress", "--json"]
    code, out, err = _cli(base + ["--steps", "10"], capsys)
    assert code == 0, err
    r = json.loads(out)
    assert r["step"] == 10 and r["resumed_from"] is None and r["device"] == "cpu"
    assert r["data"]["d"] == 20 and r["model"]["arch"] == "mlp"
    assert len(r["score_relative_error"]["ema"]) == 4
    assert json.loads((tmp_path / "summary.json").read_text())["step"] == 10
    code, out, err = _cli(base + ["--steps", "20", "--resume"], capsys)
    assert code == 0, err
    assert json.loads(out)["resumed_from"] == 10
    # the resumed CLI run equals an uninterrupted one
    code, out, err = _cli([a if a != str(tmp_path) else str(tmp_path / "full") for a in base] + ["--steps", "20"], capsys)
    assert code == 0, err
    a, b = load_checkpoint(tmp_path), load_checkpoint(tmp_path / "full")
    assert a["losses"] == b["losses"]
    # bad values and bad files: exit 2, one line naming the argument / file
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"garbage")
    code, out, err = _cli(base + ["--steps", "30", "--resume"], capsys)
    assert code == 2 and "checkpoint.pt" in err and len(err.strip().splitlines()) == 1
    for extra, name in [(["--steps", "0"], "steps"), (["--alpha", "-1"], "alpha"), (["--data", "nope"], "data"),
                        (["--device", "cuda:7"] if not torch.cuda.is_available() else ["--device", "tpu"], "device"),
                        (["--data-arg", "colour=1"], "colour"), (["--threads", "0"], "threads")]:
        code, out, err = _cli(base + ["--steps", "5", "--out", str(tmp_path / "x")] + extra, capsys)
        assert code == 2 and name in err and len(err.strip().splitlines()) == 1, (extra, err)


def test_a_checkpoint_write_killed_midway_leaves_the_old_checkpoint(tmp_path):
    """A process killed (SIGKILL) while it writes a checkpoint leaves the previous checkpoint intact and
    loadable: the bytes go to a temporary file that replaces the checkpoint only once complete."""
    import os
    import signal
    import subprocess
    import sys
    import textwrap
    code = textwrap.dedent(f"""
        import os, time
        import trained.train as T
        from trained.data import linear_manifold_data
        from trained.nets import build_model
        data = linear_manifold_data(d=8, alpha=0.5, levels=[1.0], n=64, seed=0)
        cfg = {{"arch": "mlp", "net": {{"d": 8, "width": 16, "depth": 1}}, "sigma_data": data.sigma_data}}
        model = build_model(cfg, seed=0)
        T.train(model, data, T.TrainConfig(steps=3, batch=16), {str(tmp_path)!r}, progress=False)
        def stalled_fsync(fd):            # the new bytes are written; the process dies before the rename
            print("WRITING", flush=True)
            time.sleep(120)
        os.fsync = stalled_fsync
        T.train(model, data, T.TrainConfig(steps=6, batch=16), {str(tmp_path)!r}, resume=True, progress=False)
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "WRITING"
        os.kill(p.pid, signal.SIGKILL)
    finally:
        p.wait(timeout=60)
    assert p.returncode == -signal.SIGKILL
    stray = [f for f in os.listdir(tmp_path) if f != CHECKPOINT_NAME]
    assert stray and os.path.getsize(tmp_path / stray[0]) > 0          # the interrupted write happened
    ck = load_checkpoint(tmp_path / CHECKPOINT_NAME)                     # ... and did not touch the old file
    assert ck["step"] == 3
    assert load_model(tmp_path / CHECKPOINT_NAME).config["net"]["width"] == 16


def test_loss_summary_rule():
    """First and last k = max(1, min(100, n // 10)) steps: 1..1000 -> k = 100; 1..30 -> k = 3; one step -> k = 1."""
    from trained.train import loss_summary
    assert loss_summary(np.arange(1, 1001)) == {"loss_initial": 50.5, "loss_final": 950.5}
    assert loss_summary(np.arange(1, 31)) == {"loss_initial": 2.0, "loss_final": 29.0}
    assert loss_summary([3.0]) == {"loss_initial": 3.0, "loss_final": 3.0}
    with pytest.raises(ValueError, match="losses"):
        loss_summary([])
