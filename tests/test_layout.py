"""The house rules: layers point one way, no import cycles, no global state changed at import, every
command takes the common options, the core installs without extras."""
import ast
import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["rmt", "simulate", "trained", "specgap"]          # each may import only those before it


def modules():
    for pkg in LAYERS:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            rel = f.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), f


def imports(name, path):
    """Every module of the four packages that ``name`` imports, at any depth of its code."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                mod = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                mod = node.module
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    known = {m for m, _ in modules()}
    return {m for m in out if m in known and m != name}


def test_layers_point_one_way():
    bad = []
    for name, path in modules():
        rank = LAYERS.index(name.split(".")[0])
        for m in imports(name, path):
            if LAYERS.index(m.split(".")[0]) > rank:
                bad.append(f"{name} imports {m}")
    assert not bad, bad


def test_no_import_cycles():
    graph = {name: imports(name, path) for name, path in modules()}
    # a package's __init__ re-exporting its own submodules is not a cycle through them
    for name in graph:
        graph[name] = {m for m in graph[name] if not (m.startswith(name + ".") and name in LAYERS + [
            n for n in graph if (ROOT / n.replace(".", "/") / "__init__.py").exists()])}
    state, stack, cycles = {}, [], []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in graph.get(n, ()):
            if state.get(m) == 1:
                cycles.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2
    for n in graph:
        if n not in state:
            visit(n)
    assert not cycles, cycles


def test_importing_every_library_module_changes_no_global_state():
    names = [n for n, _ in modules() if n.split(".")[0] in ("rmt", "simulate", "trained")]
    code = ("import jax, matplotlib, importlib, json\n"
            "before = (jax.config.read('jax_enable_x64'), matplotlib.get_backend())\n"
            f"for n in {names!r}: importlib.import_module(n)\n"
            "after = (jax.config.read('jax_enable_x64'), matplotlib.get_backend())\n"
            "print(json.dumps([before, after, len(" + repr(names) + ")]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={"PATH": "/usr/bin:/bin", "MPLBACKEND": "svg"})
    assert r.returncode == 0, r.stderr[-2000:]
    before, after, n = json.loads(r.stdout.strip().splitlines()[-1])
    assert before == after and before[0] is False and n > 30


def _leaf_parsers(parser, prefix=()):
    import argparse
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix, parser
        return
    for name, p in subs[0].choices.items():
        yield from _leaf_parsers(p, prefix + (name,))


def test_every_command_takes_json_out_seed():
    from specgap.cli import build_parser
    missing = []
    leaves = list(_leaf_parsers(build_parser()))
    for path, p in leaves:
        opts = {s for a in p._actions for s in a.option_strings}
        need = {"--json", "--out"} | (set() if path == ("data", "list") else {"--seed"})   # as the README says
        if need - opts:
            missing.append((" ".join(path), sorted(need - opts)))
    assert len(leaves) >= 15 and not missing, missing


@pytest.mark.slow
def test_core_wheel_installs_and_runs_without_extras(tmp_path):
    """Build the wheel, install it with no extras into a fresh venv, run the theory command; a command
    that needs torch exits 2 naming the extra."""
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                        str(ROOT)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("specgap-*.whl"))
    venv.create(tmp_path / "v", with_pip=True)
    py = tmp_path / "v" / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    exe = tmp_path / "v" / "bin" / "specgap"
    r = subprocess.run([str(exe), "theory", "edges", "--alpha", "0.5", "--levels", "1,0.01", "--fractions",
                        "0.75,0.25", "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert [round(b["lower"], 5) for b in s["bulks"]] == [0.0019, 0.15154] and s["schema_version"] == 1
    r = subprocess.run([str(exe), "simulate", "spectra", "--d", "50", "--alpha", "0.5", "--t", "0.1",
                        "--draws", "2", "--backend", "numba", "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(py), "-c", "import torch"], capture_output=True, text=True)
    assert r.returncode != 0                                          # the core really has no torch
    r = subprocess.run([str(exe), "train", "--data", "linear", "--steps", "2", "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "specgap[torch]" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
