"""Every figure the cheap commands write reads well: labelled axes, all text on the canvas, finite data.

Each command runs through the command line; ``Figure.savefig`` is wrapped to keep the figures it saves, which
are then checked with :func:`figure_problems`. The slow reproductions (fig3, fig4, fig5, ood, guidance, the
ridge studies) are left out: they take minutes.
"""
import numpy as np
import pytest
from figure_check import figure_problems
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from specgap.cli import main

SIM = ["--alpha", "0.5", "--levels", "1,0.01", "--fractions", "0.75,0.25"]


@pytest.fixture
def saved(monkeypatch):
    """The figures saved while the test runs, ``[(file name, Figure)]``."""
    figs = []
    original = Figure.savefig

    def keep(self, fname, *a, **kw):
        figs.append((str(fname), self))
        return original(self, fname, *a, **kw)
    monkeypatch.setattr(Figure, "savefig", keep)
    return figs


def run_and_check(argv, saved, capsys, expect: int):
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert len(saved) >= expect, f"{' '.join(argv)} saved {len(saved)} figures, expected {expect}"
    problems = [f"{name}: {p}" for name, fig in saved for p in figure_problems(fig)]
    assert not problems, "\n".join(problems)
    return err


def test_the_check_catches_a_clipped_title_a_missing_label_and_infinite_or_empty_lines():
    fig = Figure(figsize=(3, 2))
    ax: Axes = fig.add_subplot()
    ax.plot([0, 1, np.inf], [0, 1, 2], label="inf")
    ax.plot([np.nan, np.nan], [0, 1], label="all-nan")
    ax.plot([0, np.nan, 2], [0, 1, 2], label="gap")            # NaN leaves a gap: how undefined values are masked
    ax.set_xlabel("x")
    ax.set_title("a title far too long for a figure three inches wide, so it runs off both sides")
    found = "\n".join(figure_problems(fig))
    assert "no y label" in found and "outside the canvas" in found
    assert "'inf' holds infinite" in found and "'all-nan' holds infinite values or nothing finite" in found
    assert "'gap'" not in found


def test_fig2_quick(tmp_path, saved, capsys):
    run_and_check(["reproduce", "fig2", "--quick", "--draws", "4", "--json", "--out", str(tmp_path)], saved,
                  capsys, 3)


def test_relu_partition_quick(tmp_path, saved, capsys):
    run_and_check(["reproduce", "relu-partition", "--quick", "--json", "--out", str(tmp_path)], saved, capsys, 2)


def test_fig2_quick_says_it_is_a_smoke_run(tmp_path, capsys):
    import json
    assert main(["reproduce", "fig2", "--quick", "--draws", "2", "--d", "20", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "smoke test" in err and "not meant to be read" in err
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["smoke_run"] is True and "--quick" in s["smoke_run_note"]


def test_stamp_marks_quick_summaries_only():
    from specgap.reproduce._artefacts import stamp
    assert stamp({"parameters": {"quick": True}, "x": 1})["smoke_run"] is True
    assert stamp({"quick": True})["smoke_run"] is True
    full = stamp({"quick": False, "x": 1})
    assert "smoke_run" not in full and list(full)[:2] == ["specgap_version", "schema_version"]


@pytest.mark.parametrize("argv, png", [
    (["simulate", "spectra", *SIM, "--d", "40", "--draws", "3", "--t", "0.01,0.1,1,10,100"], "density.png"),
    (["spectra", "--model", "linear", "--d", "20", "--points", "2", "--t", "0.01,0.1"], "spectra.png"),
    (["spectra", "--model", "mixture", "--d", "8", "--method", "lanczos", "--k", "4", "--points", "2"],
     "spectra.png"),
    (["theory", "density", *SIM, "--t", "0.05", "--points", "101"], "density.png"),
    (["theory", "density", *SIM, "--t", "5", "--points", "101"], "density.png"),
    (["theory", "density", *SIM, "--t", "1e6", "--points", "101"], "density.png"),
    (["train", "--data", "linear", "--d", "6", "--alpha", "0.5", "--n", "256", "--width", "16", "--steps", "30",
      "--batch", "32", "--warmup", "2", "--no-progress"], "loss.png"),
], ids=["simulate-spectra", "spectra-exact", "spectra-lanczos", "theory-density", "theory-density-late",
         "theory-density-squeezed", "train"])
def test_commands_write_the_figure_they_promise(argv, png, tmp_path, saved, capsys):
    import json
    err = run_and_check([*argv, "--json", "--out", str(tmp_path)], saved, capsys, 1)
    assert (tmp_path / png).is_file() and f"to {tmp_path / png}" in err
    assert png in json.loads((tmp_path / "summary.json").read_text())["files"]


def test_fig5_dimension_curve_leaves_out_the_gap_above_the_top_and_the_classes_legend_sits_beside():
    import matplotlib
    matplotlib.use("Agg")
    from specgap.commands.reproduce_fig5 import _width
    from specgap.reproduce.fig5_plots import _dimension_curve, plot_class_dimensions
    per_time = [{"largest_gap_dimension": {"per_point": [783, 99], "mean": 441.0}},
                {"largest_gap_dimension": {"per_point": [783, 783], "mean": 783.0}},
                {"largest_gap_dimension": {"per_point": [20, 30, 0], "mean": 16.7}}]
    tt, mean, sem = _dimension_curve(np.array([1e-3, 1e-2, 1e-1]), per_time, "largest_gap_dimension", 784)
    assert tt.tolist() == [1e-3, 1e-1] and mean.tolist() == [99.0, 25.0]      # 783 = d - 1 and 0 left out
    assert sem[0] == 0.0 and sem[1] == pytest.approx(np.std([20, 30], ddof=1) / np.sqrt(2))
    assert _width({"relative_width": 0.0, "n_images": 1}) == "1 image"
    assert _width({"relative_width": 0.123, "n_images": 8}) == "0.12"
    one = {"value": 10.0, "interval": [8.0, 12.0], "relative_width": 0.4, "n_images": 4}
    comp = {"routes": {"engine_tangent": {"per_class": {"0": one, "1": one}, "pooled": one}}, "t": 0.01,
            "n_images": 8}
    fig = plot_class_dimensions(comp)
    fig.canvas.draw()
    ax = fig.axes[0]
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1        # not over the points
    fig_w = fig.get_size_inches()[0] * fig.dpi
    assert ax.get_legend().get_window_extent().x1 <= fig_w + 1                          # and on the canvas


def test_a_row_of_panels_sharing_y_needs_one_y_label():
    fig = Figure(figsize=(6, 3), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax in axes:
        ax.plot([0, 1], [0, 1])
        ax.set_xlabel("x")
    assert "no y label" in "\n".join(figure_problems(fig))
    axes[0].set_ylabel("y")
    assert figure_problems(fig) == []
    unshared = Figure(figsize=(6, 3), layout="constrained").subplots(1, 2)
    for ax in unshared:
        ax.plot([0, 1], [0, 1])
        ax.set_xlabel("x")
    unshared[0].set_ylabel("y")
    assert "axes 1" in "\n".join(figure_problems(unshared[0].figure))
