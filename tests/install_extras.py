"""Each extra installed alone into a fresh venv: every command either works or exits 2 naming the extra to install.

A user installs the core, or one extra, and runs the README's commands. This script does exactly that, once per
extra (``core`` = no extra), in a new virtual environment under ``--root`` (wheels come from pip's cache, filled
by ``make install``; torch from the pinned CPU build of ``constraints.txt``), and runs one small command of each
group. A command passes when it exits 0, or exits 2 with one line that names an extra (``pip install
'specgap[...]'``) not installed in that venv; the commands that need nothing beyond the core must exit 0
everywhere. Exit status 0 when every command passes; a table of what each printed either way.

    python tests/install_extras.py [--extras core,torch,...] [--root DIR] [--keep]

``make install-check`` runs it; ``.ci/run`` calls that after the test suite (about 6 minutes with a warm pip
cache).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIM = "--alpha 0.5 --levels 1,0.01 --fractions 0.75,0.25"
#: (command line after ``specgap``, needs nothing beyond the core install)
COMMANDS = [
    (f"theory edges {SIM}", True),
    ("theory phase-diagram --parameter ratio --n-values 4 --n-tau 20 --out out/phase", True),
    (f"simulate spectra {SIM} --d 20 --draws 2 --t 0.01,1 --out out/sim", True),
    (f"simulate spectra {SIM} --d 20 --draws 2 --t 0.01,1 --backend jax", False),
    ("simulate sample --model linear --n 20 --d 6 --steps 20", True),
    ("dimension --data points.npy", True),
    ("ridge project --data X.npy --points Y.npy --t 0.01 --k 1", True),
    ("spectra --model linear --d 10 --points 2 --t 0.01,0.1", False),
    ("descriptors --model linear --d 8 --t 1 --points 2", False),
    ("train --data linear --d 6 --alpha 0.5 --n 128 --width 8 --steps 4 --out out/train", False),
    ("data list", True),
    ("reproduce fig2 --quick --draws 2 --d 20 --out out/fig2", True),
    ("reproduce relu-partition --quick --out out/relu", False),
    ("reproduce fig5 --quick --steps 2 --out out/fig5", False),
    ("sweep run --task theory --ratio 0.01,0.1 --t 1e-3:1:5 --workers 0 --quiet --out out/theory.zarr", False),
]
EXTRAS = ["core", "jax", "torch", "data", "dask", "diffusers"]


def _inputs(where: Path) -> None:
    import numpy as np
    rng = np.random.default_rng(0)
    np.save(where / "points.npy", rng.standard_normal((60, 4)) @ np.diag([1, 1, 0.01, 0.01]))
    s = np.linspace(0, 6, 40)
    np.save(where / "X.npy", np.c_[np.cos(s), np.sin(s)])
    np.save(where / "Y.npy", 1.1 * np.c_[np.cos(s[::8]), np.sin(s[::8])])


def _venv(extra: str, root: Path) -> Path:
    env_dir = root / f"venv-{extra}"
    if env_dir.exists():
        shutil.rmtree(env_dir)
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    target = "." if extra == "core" else f".[{extra}]"
    subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-c", "constraints.txt", "-e", target], check=True, cwd=ROOT)
    return env_dir


def judge(extra: str, code: int, err: str, core_only: bool) -> str | None:
    """Why this outcome breaks the contract, or None when it keeps it."""
    if code == 0:
        return None
    last = err.strip().splitlines()[-1] if err.strip() else ""
    if code != 2:
        return f"exit {code}: {last}"
    if core_only:
        return f"needs nothing beyond the core, but exited 2: {last}"
    named = re.search(r"pip install 'specgap\[([^\]]+)\]'", last)
    if not named:
        return f"exit 2 without naming an extra: {last}"
    if extra != "core" and extra in named.group(1).split(","):
        return f"names the extra {extra!r} that is installed: {last}"
    return None


def check_extra(extra: str, root: Path, keep: bool = False) -> list[tuple[str, int, str, str | None]]:
    """Install ``extra`` alone into a fresh venv under ``root``, run every command there; the venv is removed
    afterwards unless ``keep`` (each holds up to a few GB: torch, JAX)."""
    t0 = time.perf_counter()
    env_dir = _venv(extra, root)
    print(f"[{extra}] installed in {time.perf_counter() - t0:.0f} s", flush=True)
    work = root / f"work-{extra}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    _inputs(work)
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    rows = []
    for line, core_only in COMMANDS:
        p = subprocess.run([str(env_dir / "bin" / "specgap"), *line.split()], cwd=work, env=env,
                           capture_output=True, text=True, timeout=600)
        why = judge(extra, p.returncode, p.stderr, core_only)
        last = (p.stderr.strip().splitlines() or [""])[-1]
        rows.append((line, p.returncode, last, why))
        print(f"[{extra}] {'FAIL' if why else 'ok  '} exit {p.returncode}  specgap {line}"
              + (f"\n         {last}" if p.returncode else "") + (f"\n         -> {why}" if why else ""), flush=True)
    if not keep:
        shutil.rmtree(env_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--extras", default=",".join(EXTRAS), help=f"comma list of {', '.join(EXTRAS)} (default all)")
    ap.add_argument("--root", type=Path, default=None, help="where the venvs go (default: a temporary directory)")
    ap.add_argument("--keep", action="store_true", help="keep the venvs afterwards")
    args = ap.parse_args(argv)
    extras = [e.strip() for e in args.extras.split(",") if e.strip()]
    bad = [e for e in extras if e not in EXTRAS]
    if bad:
        ap.error(f"--extras: unknown {bad}; choose from {EXTRAS}")
    root = args.root or Path(tempfile.mkdtemp(prefix="specgap-extras-"))
    root.mkdir(parents=True, exist_ok=True)
    failures = 0
    try:
        for extra in extras:
            failures += sum(why is not None for *_, why in check_extra(extra, root, keep=args.keep))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"{failures} of {len(extras) * len(COMMANDS)} commands broke the contract" if failures else
          f"every command of {len(extras)} installs works or names its extra", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
