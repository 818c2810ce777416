"""House rules read from the source (issue 28): no function over 80 lines, no module over 600, no import of
another package's private module or name, and every public name documented.

Public: a module-level function or class whose name has no leading underscore, in a module whose path has no
leading-underscore part, and the public methods and properties of such a class. The limits are the project's
(one screen per function, one job per module); a failure names each offender with its size or place.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rmt", "simulate", "trained", "specgap")
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 600


def sources():
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            yield pkg, f, ast.parse(f.read_text(), filename=str(f))


def _long_functions(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            if n > MAX_FUNCTION_LINES:
                yield f"{node.name} {n} lines"


def test_no_function_over_80_lines():
    long = [f"{f.relative_to(ROOT)}:{entry}" for _, f, tree in sources() for entry in _long_functions(tree)]
    assert not long, long


def test_no_module_over_600_lines():
    big = [f"{f.relative_to(ROOT)} {n} lines" for _, f, _ in sources()
           if (n := len(f.read_text().splitlines())) > MAX_MODULE_LINES]
    assert not big, big


def _private_imports(pkg, tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] in PACKAGES and parts[0] != pkg:
                if any(p.startswith("_") for p in parts[1:]):
                    yield f"from {node.module} import ..."
                for a in node.names:
                    if a.name.startswith("_"):
                        yield f"from {node.module} import {a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] in PACKAGES and parts[0] != pkg and any(p.startswith("_") for p in parts[1:]):
                    yield f"import {a.name}"


def test_no_private_import_across_packages():
    bad = [f"{f.relative_to(ROOT)}: {imp}" for pkg, f, tree in sources() for imp in _private_imports(pkg, tree)]
    assert not bad, bad


def _undocumented(f, tree):
    if not ast.get_docstring(tree):
        yield "(module)"
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            if not ast.get_docstring(node):
                yield node.name
            if isinstance(node, ast.ClassDef):
                for m in node.body:
                    if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and not m.name.startswith("_") \
                            and not ast.get_docstring(m):
                        yield f"{node.name}.{m.name}"


def test_every_public_name_has_a_docstring():
    bad = [f"{f.relative_to(ROOT)}:{name}" for _, f, tree in sources()
           if not any(p.startswith("_") and p != "__init__.py" and p != "__main__.py"
                      for p in f.relative_to(ROOT).parts)
           for name in _undocumented(f, tree)]
    assert not bad, bad


@pytest.mark.parametrize("rule, source, expected", [
    ("long", "def f():\n" + "    x = 1\n" * 80 + "def g():\n" + "    x = 1\n" * 79, ["f 81 lines"]),
    ("private", "from rmt._secret import x\nfrom simulate.models import _helper\n",
     ["from rmt._secret import ...", "from simulate.models import _helper"]),
    ("doc", '"""m"""\ndef f():\n    pass\nclass C:\n    """c"""\n    def m(self):\n        pass\n', ["f", "C.m"]),
])
def test_the_rules_catch_their_cases(rule, source, expected):
    """Each rule on a small source that breaks it (so a rule that can never fire is caught here)."""
    tree = ast.parse(source)
    if rule == "long":
        got = list(_long_functions(tree))
    elif rule == "private":
        got = list(_private_imports("trained", tree))
    else:
        got = list(_undocumented(Path("x.py"), tree))
    assert got == expected
