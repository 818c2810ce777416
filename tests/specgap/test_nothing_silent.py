"""Issue 12 (part): extremes end as a correct answer or a one-line named error, never a traceback."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from specgap.cli import main


def _err(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_simulate_spectra_with_fewer_columns_than_levels_names_d(capsys):
    assert main(["simulate", "spectra", "--d", "2", "--alpha", "0.5", "--levels", "1,0.01", "--fractions", "0.5,0.5",
                 "--t", "0.1", "--json"]) == 2
    assert "d=2 is too small" in _err(capsys)


def test_dimension_on_an_npz_archive_or_complex_points_names_data(tmp_path, capsys):
    np.savez(tmp_path / "x.npz", a=np.zeros((5, 3)))
    assert main(["dimension", "--data", str(tmp_path / "x.npz")]) == 2
    assert "--data" in _err(capsys)
    np.save(tmp_path / "c.npy", np.ones((5, 3)) * 1j)
    assert main(["dimension", "--data", str(tmp_path / "c.npy")]) == 2
    assert "complex" in _err(capsys)


def test_out_must_be_a_creatable_directory_and_not_hold_another_run(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["theory", "edges", "--alpha", "0.5", "--out", str(f)]) == 2
    assert "--out" in _err(capsys)
    assert main(["theory", "edges", "--alpha", "0.5", "--out", str(f / "sub")]) == 2
    assert "--out" in _err(capsys)
    out = tmp_path / "run"
    assert main(["theory", "edges", "--alpha", "0.5", "--out", str(out), "--json"]) == 0
    first = (out / "summary.json").read_text()
    capsys.readouterr()
    assert main(["theory", "edges", "--alpha", "0.5", "--out", str(out), "--json"]) == 0     # the same run again
    capsys.readouterr()
    assert main(["theory", "edges", "--alpha", "0.6", "--out", str(out)]) == 2               # other options
    assert "--overwrite" in _err(capsys)
    assert (out / "summary.json").read_text() == first                                     # untouched
    assert main(["theory", "timescales", "--alpha", "0.5", "--out", str(out), "--overwrite", "--json"]) == 0
    assert json.loads((out / "summary.json").read_text())["command"] == "theory timescales"


def test_quantiles_refuse_a_non_integer_count():
    from rmt import JacobianLaw, LinearManifold, VarianceProfile
    js = JacobianLaw(LinearManifold(0.5, VarianceProfile([1.0, 0.01], [0.75, 0.25])), 0.1)
    for bad in ([1.5], 0.5, -3, 0):
        with pytest.raises(ValueError, match="n must be"):
            js.quantiles(bad)
    assert js.quantiles(4).shape == (4,)


def test_sigint_during_training_writes_a_checkpoint_that_resumes(tmp_path):
    """SIGINT mid-run (no --checkpoint-every): the run stops at a step boundary, writes a checkpoint, says how
    to resume (one line, exit 130), and --resume continues from that step."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "specgap", "train", "--data", "linear", "--d", "8", "--alpha", "0.5", "--n", "256",
           "--width", "16", "--depth", "1", "--batch", "16", "--steps", "1000000", "--device", "cpu",
           "--out", str(out)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    # the progress bar's first output means training has started (a fixed sleep raced the imports on a busy
    # machine); then let it run a little and interrupt
    first = p.stderr.read(1)
    assert first, "train printed nothing before exiting"
    time.sleep(2)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "Traceback" not in err
    last = err.strip().replace("\r", "\n").splitlines()[-1]
    assert last.startswith("specgap:") and "--resume" in last, err[-500:]
    cmd.remove("--out")
    cmd.remove(str(out))
    cmd += ["--no-progress", "--out", str(out)]
    from trained.train import load_checkpoint
    step = load_checkpoint(out / "checkpoint.pt")["step"]
    assert 0 < step < 1_000_000
    r = subprocess.run(cmd[:cmd.index("--steps") + 1] + [str(step + 3)] + cmd[cmd.index("--steps") + 2:]
                       + ["--resume", "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["resumed_from"] == step and json.loads(r.stdout)["step"] == step + 3


def test_size_guards_refuse_past_the_memory_budget_and_say_what_fits(monkeypatch, capsys):
    monkeypatch.setenv("SPECGAP_MAX_MEMORY", "8M")
    # one draw at d = 1000, alpha = 0.5: F (1000 x 500) + Gram (500^2) = 8 (5e5 + 2.5e5) B = 5.7 MiB: fits
    assert main(["simulate", "spectra", "--d", "1000", "--alpha", "0.5", "--t", "0.1", "--draws", "1",
                 "--no-agreement", "--json"]) == 0
    capsys.readouterr()
    # d = 2000: 22.9 MiB > 8 MiB; the largest d that fits is sqrt(8 MiB / 8 / 0.75) = 1182
    assert main(["simulate", "spectra", "--d", "2000", "--alpha", "0.5", "--t", "0.1", "--json"]) == 2
    err = _err(capsys)
    assert "d: one draw at d=2000" in err and "d up to about 1182 fits" in err
    assert main(["theory", "density", "--alpha", "0.5", "--t", "0.1", "--points", "1000000"]) == 2
    assert "--points" in _err(capsys)
    monkeypatch.setenv("SPECGAP_MAX_MEMORY", "lots")
    assert main(["theory", "density", "--alpha", "0.5", "--t", "0.1", "--points", "10"]) == 2
    assert "SPECGAP_MAX_MEMORY" in _err(capsys)


def test_phase_diagram_range_names_its_valid_interval(capsys):
    assert main(["theory", "phase-diagram", "--parameter", "f", "--range", "0.5,2"]) == 2
    err = _err(capsys)
    assert "--range" in err and "(0, 1)" in err


def test_extreme_level_ratios_are_right_or_refused(capsys):
    """Masses of the small bulk are exact down to the documented ratio (they drifted 0.7% at 1e-8 and the bulk
    vanished at 1e-10 before); below it (1e150 : 1), the solver refuses, naming the levels."""
    assert main(["theory", "edges", "--alpha", "0.5", "--levels", "1,1e-12", "--fractions", "0.75,0.25",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    masses = [b["mass"] for b in out["bulks"]] if "bulks" in out else [b["mass"] for b in out["support"]]
    np.testing.assert_allclose(sorted(masses), [0.125, 0.375], rtol=1e-9)
    assert main(["theory", "edges", "--alpha", "0.5", "--levels", "1e150,1", "--fractions", "0.5,0.5"]) == 2
    assert "levels" in _err(capsys)


def test_density_at_extreme_t_resolves_the_bulk(capsys):
    """At t = 1e-12 the bulk of eta lies in [3e-13, 1.2e-11]; the uniform grid saw only zeros before."""
    assert main(["theory", "density", "--alpha", "0.5", "--t", "1e-12", "--points", "50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    eta, dens = np.array(out["eta"]), np.array(out["density"])
    # the bulk mass is min(alpha, 1) = 0.5 (closed form for one level), the grid integral must see it
    assert np.trapezoid(dens, eta) == pytest.approx(0.5, rel=1e-3)
    assert main(["theory", "density", "--alpha", "0.5", "--t", "1e17", "--points", "50"]) == 2
    assert "--t" in _err(capsys)


def test_time_budget_refuses_hour_long_work_up_front(capsys, monkeypatch, tmp_path):
    """--multi 100000 (about 50 h of support search) and a 1e5 x 1e5 phase diagram used to hang; both are
    refused at once, naming the option and what fits; --max-time / --max-memory set the budgets."""
    t0 = time.perf_counter()
    assert main(["theory", "edges", "--alpha", "0.5", "--multi", "100000"]) == 2
    err = _err(capsys)
    assert err.startswith("specgap: error: levels:") and "levels fit" in err and "--max-time" in err
    assert main(["theory", "phase-diagram", "--parameter", "ratio", "--n-values", "100000", "--n-tau", "100000"]) == 2
    assert "--n-values x --n-tau" in _err(capsys)
    assert main(["theory", "phase-diagram", "--parameter", "ratio", "--n-values", "20000", "--n-tau", "1000",
                 "--max-time", "1m"]) == 2
    assert "time budget 60 s" in _err(capsys)
    # d = 20000: one draw is ~1.4e13 flops (F^T F and a 10000^2 eigenproblem), 8 of them hours
    assert main(["simulate", "spectra", "--d", "20000", "--alpha", "0.5", "--t", "0.1", "--draws", "8"]) == 2
    assert "draws: 8 draws at d=20000" in _err(capsys)
    # dimension of 50,000 points in R^20: ~1 min of exact empirical score, over a 30 s budget
    X = np.zeros((50_000, 20))
    np.save(tmp_path / "big.npy", X)
    assert main(["dimension", "--data", str(tmp_path / "big.npy"), "--max-time", "30"]) == 2
    assert "--data: the exact empirical score of 50000 points" in _err(capsys)
    assert time.perf_counter() - t0 < 60           # refused up front, not after grinding
    assert main(["theory", "edges", "--alpha", "0.5", "--max-time", "-3"]) == 2
    assert "--max-time" in _err(capsys)
    assert main(["theory", "density", "--alpha", "0.5", "--t", "0.1", "--points", "100000", "--max-memory", "1M"]) == 2
    assert "--points" in _err(capsys)
    import os as _os
    assert "SPECGAP_MAX_MEMORY" not in _os.environ or _os.environ["SPECGAP_MAX_MEMORY"] != "1M"   # restored


def test_run_manifest_lists_the_files_this_run_wrote(tmp_path, capsys):
    import hashlib
    out = tmp_path / "d"
    args = ["theory", "density", "--alpha", "0.5", "--t", "0.1", "--points", "20", "--out", str(out)]
    assert main(args) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["argv"] == ["specgap", *args] and m["status"] == "ok" and m["command"] == "theory density"
    assert m["inputs"]["points"] == 20 and m["specgap_version"]
    files = {f["path"]: f for f in m["files_written"]}
    assert set(files) == {"summary.json", "density.npz", "density.png"}
    for name, f in files.items():
        data = (out / name).read_bytes()
        assert f["bytes"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()
    # a refused run into a fresh directory records its status and wrote nothing else
    bad = tmp_path / "e"
    assert main(["theory", "density", "--alpha", "0.5", "--t", "1e17", "--out", str(bad)]) == 2
    m = json.loads((bad / "manifest.json").read_text())
    assert m["status"] == "error" and m["files_written"] == []
    capsys.readouterr()


@pytest.mark.parametrize("code, exit_code", [(30, 2), (13, 2), (5, 1)])    # EROFS, EACCES: the user's; EIO: ours
def test_a_refused_write_exits_2_naming_the_path(tmp_path, monkeypatch, capsys, code, exit_code):
    """`sweep run` into a read-only place exited 1 ("internal error: OSError: Read-only file system"); the file
    system refusing a write is the user's environment: exit 2, one line with the path. Other OSErrors stay
    internal errors (exit 1)."""
    import errno

    import zarr
    target = tmp_path / "x.zarr"

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(target))
    monkeypatch.setattr(zarr, "open_group", refuse)
    assert code in (errno.EROFS, errno.EACCES, errno.EIO)
    rc = main(["sweep", "run", "--task", "theory", "--ratio", "0.01", "--t", "1e-3:1:5", "--out", str(target)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == exit_code
    last = err[-1]
    if exit_code == 2:
        assert last == f"specgap: error: cannot write {target}: {os.strerror(code)} (choose another --out)"
    else:
        assert last.startswith("specgap: internal error: OSError")


def test_train_restores_torchs_thread_count(tmp_path, capsys):
    """``specgap train`` sets one thread for the MLP (or --threads) for the run only: no hidden global state."""
    import torch
    before = torch.get_num_threads()
    for extra in ([], ["--threads", "2"]):
        assert main(["train", "--d", "6", "--n", "64", "--steps", "3", "--width", "8", "--no-progress", "--json",
                     "--out", str(tmp_path / f"t{len(extra)}")] + extra) == 0
        assert torch.get_num_threads() == before
    capsys.readouterr()
