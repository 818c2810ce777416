"""The command-line skeleton: groups, help, exit codes."""
import importlib
import subprocess
import sys

import pytest

from specgap.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "specgap", *args], capture_output=True, text=True, timeout=120)


def test_packages_import():
    for name in ("rmt", "simulate", "trained", "specgap"):
        assert importlib.import_module(name).__name__ == name


def test_help_lists_groups():
    r = run("--help")
    assert r.returncode == 0
    for g in ("theory", "simulate", "spectra", "train", "reproduce", "dimension"):
        assert g in r.stdout


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("specgap ")


@pytest.mark.parametrize("argv", [["nonsense"], ["theory", "--nope"], []])
def test_bad_arguments_exit_2_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err and len(err.splitlines()) == 1 and "Traceback" not in err


#: every empty grid or zero count of a command: exit 2 with one line naming the option (issue 28)
EMPTY_GRIDS = [
    (["theory", "phase-diagram", "--n-values", "0"], "--n-values"),
    (["theory", "phase-diagram", "--n-tau", "0"], "--n-tau"),
    (["theory", "phase-diagram", "--n-values", "-1"], "--n-values"),
    (["theory", "edges", "--alpha", "0.5", "--multi", "0"], "--multi"),
    (["theory", "density", "--alpha", "0.5", "--t", "0.1", "--points", "0"], "--points"),
    (["simulate", "spectra", "--alpha", "0.5", "--t", "0.1", "--d", "50", "--draws", "0"], "--draws"),
    (["simulate", "spectra", "--alpha", "0.5", "--t", "0.1", "--d", "50", "--bins", "0"], "--bins"),
    (["simulate", "sample", "--model", "mixture", "--components", "0"], "--components"),
    (["spectra", "--points", "0"], "--points"),
    (["spectra", "--d", "0"], "--d"),
    (["spectra", "--method", "lanczos", "--k", "0"], "--k"),
    (["spectra", "--method", "finite-difference", "--probes", "0"], "--probes"),
    (["spectra", "--model", "empirical", "--n-train", "0"], "--n-train"),
    (["spectra", "--model", "mixture", "--components", "0"], "--components"),
    (["spectra", "--model", "subspaces", "--dims", ","], "--dims"),
    (["descriptors", "--projection", "0"], "--projection"),
    (["descriptors", "--directions", "0"], "--directions"),
    (["descriptors", "--points", "0"], "--points"),
    (["train", "--n", "0", "--out", "{tmp}"], "--n"),
    (["train", "--multi", "0", "--out", "{tmp}"], "--multi"),
    (["train", "--steps", "0", "--out", "{tmp}"], "--steps"),
    (["train", "--threads", "0", "--out", "{tmp}"], "--threads"),
    (["reproduce", "fig2", "--draws", "0", "--out", "{tmp}"], "--draws"),
    (["reproduce", "fig4", "--t", "", "--out", "{tmp}"], "--t"),
    (["sweep", "run", "--task", "theory", "--t", "", "--workers", "0", "--out", "{tmp}/s.zarr"], "t must"),
    (["sweep", "run", "--task", "simulate", "--d", "", "--workers", "0", "--out", "{tmp}/s.zarr"], "d must"),
]


@pytest.mark.parametrize("argv, flag", EMPTY_GRIDS, ids=[" ".join(a[:2]) + " " + f for a, f in EMPTY_GRIDS])
def test_empty_grids_and_zero_counts_exit_2_naming_the_option(argv, flag, tmp_path, capsys):
    assert main([a.replace("{tmp}", str(tmp_path / "out")) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and flag in err and "Warning" not in err, err


def test_console_script_installed():
    import shutil
    exe = shutil.which("specgap") or str(__import__("pathlib").Path(sys.executable).parent / "specgap")
    r = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "reproduce" in r.stdout


def test_data_list_names_every_dataset_with_its_source(capsys):
    import json
    assert main(["data", "list", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    src = {d["name"]: d["source"] for d in r["datasets"]}
    assert src == {"linear": "generated", "mnist": "bundled", "digits": "bundled", "cifar10": "needs --data-dir",
                   "celeba": "needs --data-dir", "photo-patches": "bundled"}
    assert {"linear", "images"} <= set(r["training_registry"])      # other tests may register more
    assert r["schema_version"] == 1 and r["command"] == "data list"


def test_internal_errors_are_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    """An unexpected exception (not bad input) exits 1 with one line pointing at --debug; with --debug the
    exception propagates with its traceback. The fault is injected into a real command handler."""
    import specgap.commands.theory as theory

    def broken(args):
        raise RuntimeError("injected fault")
    monkeypatch.setattr(theory, "_edges", broken)
    assert main(["theory", "edges", "--alpha", "0.5"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "RuntimeError: injected fault" in err[0] and "--debug" in err[0]
    with pytest.raises(RuntimeError, match="injected fault"):
        main(["--debug", "theory", "edges", "--alpha", "0.5"])
