"""The findings ledger (``docs/findings.md``) as data: rows, key lookup, checks, regeneration.

Each ledger row names the ``specgap`` command that measures a claim, the ``summary.json`` key it reads
(a dotted path; integers index lists, ``-1`` the last entry) and the measured number of the quick run (and of a
full run where one was made). The study tests call :func:`check_study` on their quick summary, so a ledger
number that no longer matches its run fails the suite.

    python tests/findings_ledger.py [--full] [--only STUDY ...] OUT_DIR

runs every ledger command (the quick runs by default; ``--full`` the same commands without ``--quick`` for the
rows with a full number: hours) into ``OUT_DIR`` and prints the key's value next to the ledger's.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import subprocess
import sys
from pathlib import Path

LEDGER = Path(__file__).resolve().parents[1] / "docs" / "findings.md"
COLUMNS = ("id", "claim", "command", "key", "quick", "full", "verdict")
#: a quick number matches its run when within this relative distance or half a unit of its last digit
RTOL = 0.05


def rows(path=LEDGER) -> list[dict]:
    """The rows of every ledger table whose header starts with ``| id |``: dicts over :data:`COLUMNS` (cells
    stripped; backticks removed from ``command`` and ``key``)."""
    out, in_table = [], False
    for line in Path(path).read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else None
        if cells is None:
            in_table = False
            continue
        if cells[0] == "id":
            in_table = True
            continue
        if not in_table or set(cells[0]) <= set("-: "):
            continue
        if len(cells) != len(COLUMNS):
            raise ValueError(f"ledger row has {len(cells)} cells, expected {len(COLUMNS)}: {line}")
        row = dict(zip(COLUMNS, cells))
        row["command"] = row["command"].strip("`")
        row["key"] = row["key"].strip("`")
        out.append(row)
    return out


def study_of(command: str) -> str | None:
    """``specgap reproduce <study> ...`` -> the study name (None for other commands)."""
    tok = shlex.split(command)
    return tok[2] if len(tok) > 2 and tok[:2] == ["specgap", "reproduce"] else None


def lookup(summary: dict, key: str):
    """The value at a dotted ``key`` of ``summary`` (integers index lists)."""
    cur = summary
    for part in key.split("."):
        if isinstance(cur, list):
            cur = cur[int(part)]
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise KeyError(f"{key!r}: no {part!r} in the summary")
    return cur


def number(cell: str) -> float | None:
    """The first number of a ledger cell ('0.86 [0.83, 1.02], n = 228' -> 0.86); None for '-' or text."""
    m = re.search(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", cell.replace("\u2212", "-"))
    return float(m.group(0)) if m and cell.strip() not in ("-", "") else None


def _tolerance(cell: str, value: float) -> float:
    m = re.search(r"[-+]?\d*\.(\d+)", cell)
    half_digit = 0.5 * 10 ** -len(m.group(1)) if m else 0.5
    return max(RTOL * abs(value), half_digit)


def check_study(study: str, summary: dict) -> int:
    """Assert every quick row of ``study`` resolves in ``summary`` and matches its number; returns the count."""
    n = 0
    for row in rows():
        if study_of(row["command"]) != study or "--quick" not in row["command"]:
            continue
        got = lookup(summary, row["key"])
        want = number(row["quick"])
        if want is None:
            continue
        if isinstance(got, list):
            raise AssertionError(f"ledger row {row['id']}: {row['key']} is a list; name one entry")
        assert got is not None and math.isfinite(float(got)), f"ledger row {row['id']}: {row['key']} = {got}"
        tol = _tolerance(row["quick"], want)
        assert abs(float(got) - want) <= tol, (f"ledger row {row['id']} ({row['claim']}): {row['key']} = "
                                               f"{got:.4g} in this run, the ledger says {row['quick']}")
        n += 1
    return n


def _run(argv=None) -> int:
    ap = argparse.ArgumentParser(description="run the ledger's commands and print each key next to the ledger")
    ap.add_argument("out", type=Path)
    ap.add_argument("--full", action="store_true", help="the full-run rows (hours) instead of the quick ones")
    ap.add_argument("--only", nargs="*", default=None, help="studies to run")
    a = ap.parse_args(argv)
    done = {}
    for row in rows():
        cmd = row["command"]
        if a.full:                                         # the same command without --quick
            if number(row["full"]) is None:
                continue
            cmd = " ".join(t for t in shlex.split(cmd) if t != "--quick")
        elif "--quick" not in cmd:
            continue
        if a.only and study_of(cmd) not in a.only:
            continue
        out = a.out / re.sub(r"[^A-Za-z0-9]+", "_", cmd)
        if cmd not in done:
            tok = shlex.split(cmd)
            if "--out" not in tok:
                tok += ["--out", str(out)]
            argv = [sys.executable, "-m", "specgap", *tok[1:], "--overwrite", "--json"]   # this environment's
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
            done[cmd] = json.loads((out / "summary.json").read_text())
        got = lookup(done[cmd], row["key"])
        print(f"{row['id']:>4}  {row['key']:<60} run {got!r:<24} ledger {row['full' if a.full else 'quick']}")
    return 0


if __name__ == "__main__":
    sys.exit(_run())
