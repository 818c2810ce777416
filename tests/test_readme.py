"""The README is a contract: its Python blocks run, in order, in one fresh process, and every line
ending in ``# -> value`` evaluates to that value (a Python literal; floats compared to 1e-9)."""
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHECK = textwrap.dedent('''
    import math as _math
    def _same(a, b):
        if isinstance(b, float) or isinstance(a, float):
            return isinstance(a, (int, float)) and _math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
        if isinstance(b, (list, tuple)):
            return isinstance(a, (list, tuple)) and type(a) is type(b) and len(a) == len(b) and all(
                _same(x, y) for x, y in zip(a, b))
        return type(a) is type(b) and a == b
    _checked = []
    def _check(line, value, expected):
        if not _same(value, expected):
            raise AssertionError(f"README line {line}: got {value!r}, the README says {expected!r}")
        _checked.append(line)
''')


def python_blocks(text: str):
    """(first line number, code) of every ```python block."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            j = i + 1
            while lines[j].strip() != "```":
                j += 1
            out.append((i + 2, lines[i + 1:j]))
            i = j
        i += 1
    return out


def program(text: str) -> tuple[str, int]:
    src, n_checks = [CHECK], 0
    for first, block in python_blocks(text):
        for k, line in enumerate(block):
            m = re.match(r"^(?P<expr>.*?)\s+#\s*->\s*(?P<expected>.+)$", line)
            if m:
                src.append(f"_check({first + k}, ({m['expr']}), {m['expected']})")
                n_checks += 1
            else:
                src.append(line)
    src.append("print('README_CHECKS ' + __import__('json').dumps(_checked))")
    return "\n".join(src), n_checks


def test_readme_python_blocks_run_and_state_the_truth(tmp_path):
    code, n_checks = program((ROOT / "README.md").read_text())
    assert len(python_blocks((ROOT / "README.md").read_text())) >= 4 and n_checks >= 15
    script = tmp_path / "readme.py"
    script.write_text(code)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=600,
                       env={"PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg", "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-3000:]
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("README_CHECKS "))
    assert len(json.loads(line[len("README_CHECKS "):])) == n_checks


def test_the_checker_catches_a_false_statement(tmp_path):
    code, n = program("```python\nx = 0.1 + 0.2\nround(x, 3)  # -> 0.31\n```\n")
    script = tmp_path / "bad.py"
    script.write_text(code)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert n == 1 and r.returncode != 0 and "README line 3: got 0.3, the README says 0.31" in r.stderr
