"""The one writer of a reproduction's artefacts: figures, arrays and ``summary.json``, each atomically.

Every file goes through :func:`rmt._io.atomic_path` (temporary file in the same directory, then
``os.replace``): an interrupted run never leaves a half-written file. ``summary.json`` carries
``specgap_version`` and ``schema_version`` (:func:`stamp`) and the list of files written.
"""
from __future__ import annotations

import sys
from pathlib import Path

from rmt._io import atomic_path, save_npz, write_json

from .. import SCHEMA_VERSION, __version__

__all__ = ["stamp", "write_artefacts", "use_agg"]


def stamp(summary: dict) -> dict:
    """Put ``specgap_version`` and ``schema_version`` first in ``summary`` (returned, also modified)."""
    rest = {k: v for k, v in summary.items() if k not in ("specgap_version", "schema_version")}
    summary.clear()
    summary.update({"specgap_version": __version__, "schema_version": SCHEMA_VERSION, **rest})
    return summary


def use_agg() -> None:
    """Select matplotlib's file backend unless pyplot is already in use (e.g. in a notebook)."""
    import matplotlib
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")


def write_artefacts(out, summary: dict, *, figures: dict | None = None, spectra: dict | None = None,
                    arrays: dict | None = None, extra_files=(), dpi: int = 120) -> dict:
    """Write ``figures`` (name -> matplotlib figure, as ``name.png``), ``spectra`` (name ->
    :class:`rmt.Spectrum`, as ``name.npz``), ``arrays`` (name -> dict of arrays, as ``name.npz``) and
    ``summary.json`` into ``out``. ``summary['files']`` lists them (plus ``extra_files`` written by others).
    Returns the stamped summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    if figures:
        use_agg()
        import matplotlib.pyplot as plt
        for name, fig in figures.items():
            with atomic_path(out / f"{name}.png") as tmp:
                fig.savefig(tmp, dpi=dpi, format="png")
            plt.close(fig)
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
