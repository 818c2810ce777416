"""Execute a notebook with injected parameters (shared by the tests that run notebooks)."""
import os
from unittest import mock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_notebook(name: str, **params) -> dict:
    """Execute ``notebooks/<name>`` with ``params`` injected after its ``parameters`` cell (the papermill
    convention: nothing in the notebook knows about the tests). Returns the executed notebook's globals
    of interest: the ``summary`` it printed is not parsed; callers read the files it wrote."""
    import nbclient
    import nbformat
    nb = nbformat.read(os.path.join(ROOT, "notebooks", name), as_version=4)
    idx = next(i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", []))
    inject = "\n".join(f"{k} = {v!r}" for k, v in params.items())
    nb.cells.insert(idx + 1, nbformat.v4.new_code_cell(inject, metadata={"tags": ["injected-parameters"]}))
    # the kernel inherits the environment: a file backend, and one BLAS/torch thread (small networks run
    # many times slower with two threads fighting over a shared 2-core machine)
    env = {"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with mock.patch.dict(os.environ, env):            # restored afterwards
        nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": os.path.join(ROOT, "notebooks")}}).execute()
    return nb
