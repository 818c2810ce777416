"""Execute notebooks: with injected parameters (the tests) or in place, storing their outputs (``make notebooks``).

    python tests/notebook_runner.py [NAME ...]      # execute notebooks/NAME.ipynb (default: all) in place

A notebook executed in place keeps its outputs (figures as small PNGs, short text) and records in its metadata
(``specgap.code_sha256``) a hash of its code cells' source, so ``tests/test_notebooks.py`` can tell when a
notebook was edited without regenerating its outputs. Timings and other volatile metadata are not stored.
"""
import hashlib
import math
import os
import re
import shutil
import sys
import time
from unittest import mock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(ROOT, "notebooks")
#: the kernel inherits the environment: a file backend, and one BLAS/torch thread (small networks run many
#: times slower with two threads fighting over a shared 2-core machine)
ENV = {"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
INJECTED = "injected-parameters"
META = "specgap"                     # nb.metadata[META] = {"code_sha256": ..., "executed": "defaults"}


def names() -> list[str]:
    """The notebooks of notebooks/, by file name."""
    return sorted(f for f in os.listdir(NOTEBOOKS) if f.endswith(".ipynb") and not f.endswith(".nbconvert.ipynb"))


def _execute(nb, timeout=900, cwd=NOTEBOOKS):
    import nbclient
    with mock.patch.dict(os.environ, ENV):            # restored afterwards
        nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                                resources={"metadata": {"path": cwd}}).execute()
    return nb


def run_notebook(name: str, **params):
    """Execute ``notebooks/<name>`` with ``params`` injected after its ``parameters`` cell (the papermill
    convention: nothing in the notebook knows about the tests). Returns the executed notebook; callers read
    the files it wrote, and :func:`assert_text_matches_stored` compares its printed text with the stored one."""
    import nbformat
    nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    idx = next(i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", []))
    inject = "\n".join(f"{k} = {v!r}" for k, v in params.items())
    nb.cells.insert(idx + 1, nbformat.v4.new_code_cell(inject, metadata={"tags": [INJECTED]}))
    return _execute(nb)


def code_hash(nb) -> str:
    """sha256 of the source of every code cell, in order (injected parameters left out)."""
    h = hashlib.sha256()
    for c in nb.cells:
        if c.cell_type == "code" and INJECTED not in c.get("metadata", {}).get("tags", []):
            h.update(c.source.strip().encode() + b"\0")
    return h.hexdigest()


def scrub(nb):
    """Drop what changes from one execution to the next without the results changing: timings in cell
    metadata and the interpreter's version."""
    for c in nb.cells:
        c.metadata.pop("execution", None)
    nb.metadata.get("language_info", {}).pop("version", None)
    nb.metadata.pop("widgets", None)
    return nb


#: where :func:`execute_in_place` runs the notebooks (their relative ``out`` lands below it); emptied first, so
#: every stored run starts from scratch (no network trained by an earlier run or another version is reused) and
#: the user's own runs in notebooks/results/ are left alone
WORKDIR = os.path.join(NOTEBOOKS, "results", "make-notebooks")


def execute_in_place(which=None, log=print) -> list[tuple[str, float]]:
    """Execute ``notebooks/<name>`` for each name in ``which`` (default: all) with its own parameters, in an
    emptied :data:`WORKDIR`, and write it back with its outputs and the hash of its code (:func:`code_hash`).
    Returns (name, seconds) pairs."""
    import nbformat
    done = []
    todo = [n if n.endswith(".ipynb") else n + ".ipynb" for n in (which or names())]
    shutil.rmtree(WORKDIR, ignore_errors=True)
    os.makedirs(WORKDIR)
    log(f"running in {os.path.relpath(WORKDIR, ROOT)}/ (emptied first: every run starts from scratch)", flush=True)
    for i, name in enumerate(todo, 1):
        path = os.path.join(NOTEBOOKS, name)
        nb = nbformat.read(path, as_version=4)
        log(f"[{i}/{len(todo)}] {name} ...", flush=True)
        t0 = time.perf_counter()
        _execute(nb, timeout=3600, cwd=WORKDIR)
        seconds = time.perf_counter() - t0
        scrub(nb)
        nb.metadata[META] = {"code_sha256": code_hash(nb), "executed": "with the parameters cell as stored"}
        nbformat.validate(nb)
        nbformat.write(nb, path)
        log(f"[{i}/{len(todo)}] {name}: {seconds:.0f} s, {os.path.getsize(path) / 1024:.0f} KiB", flush=True)
        done.append((name, seconds))
    log(f"{len(done)} notebooks in {sum(s for _, s in done):.0f} s", flush=True)
    return done


# --- comparing printed text -------------------------------------------------------------------------------

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def printed_text(nb) -> list[str]:
    """The lines every code cell printed to stdout, in order."""
    lines = []
    for c in nb.cells:
        if c.cell_type == "code":
            for o in c.get("outputs", []):
                if o.get("output_type") == "stream" and o.get("name") == "stdout":
                    lines += [ln for ln in o["text"].splitlines() if ln.strip()]
    return lines


def _tolerance(token: str, rtol: float) -> float:
    """``rtol`` of the value, or half a unit of the last digit shown, whichever is larger."""
    mantissa = re.split(r"[eE]", token)[0]
    exp = int(re.split(r"[eE]", token)[1]) if re.search(r"[eE]", token) else 0
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return max(rtol * abs(float(token)), 0.5 * 10.0 ** (exp - decimals))


def text_differences(fresh: list[str], stored: list[str], rtol: float = 0.05) -> list[str]:
    """Where two printouts differ: the same words, and every number within :func:`_tolerance`."""
    out = []
    if len(fresh) != len(stored):
        out.append(f"{len(fresh)} lines printed, {len(stored)} stored")
    for a, b in zip(fresh, stored):
        if _NUMBER.sub("#", a) != _NUMBER.sub("#", b):
            out.append(f"text differs:\n  fresh:  {a}\n  stored: {b}")
            continue
        for x, y in zip(_NUMBER.findall(a), _NUMBER.findall(b)):
            if not math.isclose(float(x), float(y), rel_tol=0, abs_tol=max(_tolerance(x, rtol), _tolerance(y, rtol))):
                out.append(f"{x} printed, {y} stored:\n  fresh:  {a}\n  stored: {b}")
    return out


def assert_text_matches_stored(nb, name: str, rtol: float = 0.05, select=None):
    """The text a fresh execution of ``notebooks/<name>`` (with its default parameters but ``out``) printed is
    the text stored in the notebook, numbers within ``rtol`` (or half a unit of the last digit shown): a
    change that moves a number makes the stored notebook stale, and this fails until ``make notebooks``.
    ``select``: a predicate on lines, to compare only some (a run with a subset of the default work)."""
    import nbformat
    stored = printed_text(nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4))
    fresh = printed_text(nb)
    if select is not None:
        stored, fresh = [ln for ln in stored if select(ln)], [ln for ln in fresh if select(ln)]
    assert stored, f"{name}: no stored text to compare with"
    diff = text_differences(fresh, stored, rtol)
    assert not diff, f"{name}: the stored outputs are stale (run `make notebooks`):\n" + "\n".join(diff)


if __name__ == "__main__":
    execute_in_place(sys.argv[1:] or None)
