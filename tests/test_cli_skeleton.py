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


def test_console_script_installed():
    import shutil
    exe = shutil.which("specgap") or str(__import__("pathlib").Path(sys.executable).parent / "specgap")
    r = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "reproduce" in r.stdout
