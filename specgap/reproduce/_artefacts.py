"""The one writer of a reproduction's artefacts: figures, arrays and ``summary.json``, each atomically.

Every file goes through :func:`rmt.io.atomic_path` (temporary file in the same directory, then
``os.replace``): an interrupted run never leaves a half-written file. ``summary.json`` carries
``specgap_version`` and ``schema_version`` (:func:`stamp`, from :func:`specgap.version_stamp`) and the list of
files written.
"""
from __future__ import annotations

import sys
from pathlib import Path

from rmt.io import atomic_path, save_npz, write_json

from .. import version_stamp

__all__ = ["stamp", "write_artefacts", "use_agg", "save_figure", "SMOKE_RUN_NOTE"]


#: what a quick run's summary says about its numbers (:func:`stamp`)
SMOKE_RUN_NOTE = ("a quick run (--quick): a smoke test that the pipeline runs, at CPU size; its numbers are not "
                  "meant to be read as results - run without --quick for those")


def stamp(summary: dict) -> dict:
    """Put ``specgap_version`` and ``schema_version`` first in ``summary`` (returned, also modified), and for a
    quick run (``quick`` true at the top or in ``parameters``) ``smoke_run: true`` with ``smoke_run_note``."""
    head = ("specgap_version", "schema_version", "smoke_run", "smoke_run_note")
    rest = {k: v for k, v in summary.items() if k not in head}
    params = summary.get("parameters")
    quick = bool(summary.get("quick") or (isinstance(params, dict) and params.get("quick")))
    summary.clear()
    summary.update(version_stamp())
    if quick:
        summary.update({"smoke_run": True, "smoke_run_note": SMOKE_RUN_NOTE})
    summary.update(rest)
    return summary


def use_agg() -> None:
    """Select matplotlib's file backend unless pyplot is already in use (e.g. in a notebook)."""
    import matplotlib
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")


def save_figure(path, fig, dpi: int = 120) -> Path:
    """Write matplotlib ``fig`` to ``path`` (PNG) atomically and close it; returns the path."""
    use_agg()
    import matplotlib.pyplot as plt
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return path


def write_artefacts(out, summary: dict, *, figures: dict | None = None, spectra: dict | None = None,
                    arrays: dict | None = None, extra_files=(), dpi: int = 120) -> dict:
    """Write ``figures`` (name -> matplotlib figure, as ``name.png``), ``spectra`` (name ->
    :class:`rmt.Spectrum`, as ``name.npz``), ``arrays`` (name -> dict of arrays, as ``name.npz``) and
    ``summary.json`` into ``out``. ``summary['files']`` lists them (plus ``extra_files`` written by others).
    Returns the stamped summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name, fig in (figures or {}).items():
        save_figure(out / f"{name}.png", fig, dpi)
        files.append(f"{name}.png")
    for name, spec in (spectra or {}).items():
        spec.save(out / f"{name}.npz")
        files.append(f"{name}.npz")
    for name, arrs in (arrays or {}).items():
        save_npz(out / f"{name}.npz", **arrs)
        files.append(f"{name}.npz")
    summary["files"] = files + ["summary.json"] + list(extra_files)
    stamp(summary)
    write_json(out / "summary.json", summary)
    return summary
