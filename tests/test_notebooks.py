"""The notebooks in notebooks/ carry their executed outputs (``make notebooks``), so a reader sees results on the
repository page. These checks read the stored files only (no kernel): the outputs belong to the code as it is now,
nothing failed, the run is the quick one, the files stay small and speak for themselves. The tests that execute a
notebook (``test_notebook_executes`` and the like in the study tests) also compare its printed numbers with the
stored ones (``notebook_runner.assert_text_matches_stored``).
"""
import ast
import base64
import os
import re

import nbformat
import pytest

from notebook_runner import INJECTED, META, NOTEBOOKS, code_hash, names, printed_text, text_differences

NAMES = names()
MAX_BYTES = 600_000              # a notebook file; the largest is about half of this
MAX_PNG_BYTES = 150_000          # one stored figure (decoded)
MAX_TEXT_LINES = 40              # printed lines per code cell


def _read(name):
    return nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_all_eleven_notebooks_are_checked():
    assert NAMES == [f"{n}.ipynb" for n in ("fig2", "fig3", "fig4", "fig5", "guidance", "ood", "relu_partition",
                                            "ridge_mnist", "ridge_toy", "toy_ddpm", "vae_dynamics")]


@pytest.mark.parametrize("name", NAMES)
def test_stored_outputs_belong_to_the_code(name):
    """Editing a code cell without running ``make notebooks`` leaves outputs of other code: the hash recorded at
    execution no longer matches."""
    nb = _read(name)
    meta = nb.metadata.get(META)
    assert meta, f"{name} was never executed by `make notebooks`"
    assert meta["code_sha256"] == code_hash(nb), f"{name}: code edited since its outputs were stored; run `make notebooks`"
    counts = [c.execution_count for c in _code_cells(nb)]
    assert counts == list(range(1, len(counts) + 1)), f"{name}: cells executed out of order or not at all: {counts}"


@pytest.mark.parametrize("name", NAMES)
def test_every_code_cell_shows_something_and_nothing_failed(name):
    nb = _read(name)
    for i, c in enumerate(_code_cells(nb)):
        tags = c.metadata.get("tags", [])
        assert INJECTED not in tags, f"{name}: cell {i} holds parameters injected by a test"
        kinds = [o.output_type for o in c.outputs]
        assert "error" not in kinds, f"{name}: cell {i} stored an error"
        assert not any(o.output_type == "stream" and o.name == "stderr" for o in c.outputs), \
            f"{name}: cell {i} stored stderr (warnings or progress bars): {c.outputs}"
        if "parameters" in tags:
            assert not c.outputs
        else:
            assert c.outputs, f"{name}: code cell {i} has no output"


@pytest.mark.parametrize("name", NAMES)
def test_parameters_are_the_quick_run(name):
    nb = _read(name)
    params = [c for c in _code_cells(nb) if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{name}: one cell tagged 'parameters'"
    values = {t.id: n.value for n in ast.parse(params[0].source).body if isinstance(n, ast.Assign)
              for t in n.targets if isinstance(t, ast.Name)}
    assert ast.literal_eval(values["quick"]) is True
    out = ast.literal_eval(values["out"])
    assert out.startswith("results/"), f"{name}: out = {out!r} should land in notebooks/results/ (git ignores it)"


def test_results_of_notebooks_are_ignored_by_git():
    lines = open(os.path.join(NOTEBOOKS, "..", ".gitignore")).read().split()
    assert "notebooks/results/" in lines


@pytest.mark.parametrize("name", NAMES)
def test_small_files_and_no_volatile_metadata(name):
    path = os.path.join(NOTEBOOKS, name)
    assert os.path.getsize(path) < MAX_BYTES, f"{name}: {os.path.getsize(path)} bytes"
    nb = _read(name)
    assert "version" not in nb.metadata.get("language_info", {})
    pngs = 0
    for c in _code_cells(nb):
        assert "execution" not in c.metadata, f"{name}: timings stored in a cell's metadata"
        for o in c.outputs:
            if "image/png" in o.get("data", {}):
                pngs += 1
                png = base64.b64decode(o["data"]["image/png"])
                assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < MAX_PNG_BYTES, f"{name}: PNG of {len(png)} bytes"
            assert not {"image/svg+xml", "application/pdf", "text/html"} & set(o.get("data", {})), name
        assert sum(len(o.get("text", "").splitlines()) for o in c.outputs) <= MAX_TEXT_LINES, name
    assert pngs >= 1, f"{name}: no figure stored"


@pytest.mark.parametrize("name", NAMES)
def test_narrative_between_the_code(name):
    """A markdown cell opens the notebook and one follows every cell that shows results; no tracker references
    (a reader of the repository page cannot see the tracker)."""
    nb = _read(name)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    for prev, cell in zip(nb.cells, nb.cells[1:]):
        assert not (prev.cell_type == "code" and cell.cell_type == "code" and prev.outputs and
                    any("image/png" in o.get("data", {}) for o in prev.outputs)), \
            f"{name}: a figure without a markdown cell after it saying what to look for:\n{cell.source[:200]}"
    text = "\n".join([c.source for c in nb.cells] + printed_text(nb))
    assert not re.search(r"\bissues?\s*#?\d+|#\d+\b|\btracker\b", text, re.IGNORECASE), \
        f"{name}: refers to the issue tracker"
    assert "make notebooks" in "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_text_comparison_catches_a_stale_number():
    stored = ["t_max: theory 0.044402, simulation 0.04351", "12 regions; Spearman(psi, density) = -0.595"]
    assert text_differences(list(stored), stored) == []
    assert text_differences(["t_max: theory 0.044402, simulation 0.04355", stored[1]], stored) == []  # within 5%
    assert text_differences(["t_max: theory 0.044402, simulation 0.05351", stored[1]], stored)
    assert text_differences([stored[0], "12 regions; Spearman(psi, density) = -0.695"], stored)
    assert text_differences([stored[0], "13 regions; Spearman(psi, density) = -0.595"], stored)      # counts exact
    assert text_differences([stored[0], "12 areas; Spearman(psi, density) = -0.595"], stored)
    assert text_differences(stored[:1], stored)
