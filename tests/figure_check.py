"""What reads badly in a figure: the check every figure saved during the tests goes through (tests/conftest.py)
and that tests/test_figures.py tests."""
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def figure_problems(fig: Figure) -> list[str]:
    """What reads badly in ``fig``: an axes without an x or y label (its own or that of an axes it shares the axis
    with; images, colorbars and axes drawn without axis lines excepted), text outside the canvas, a line with infinite values or no finite point (NaN gaps are
    how an undefined stretch is left out), a collection with non-finite values."""
    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    fig.canvas.draw()                        # twice: a constrained layout settles on the second draw
    r = fig.canvas.get_renderer()
    W, H = fig.bbox.width, fig.bbox.height
    out = []
    for i, ax in enumerate(fig.axes):
        name = f"axes {i} ({ax.get_title() or ax.get_label() or 'untitled'!r})"
        colorbar = hasattr(ax, "_colorbar") or ax.get_label() == "<colorbar>"
        if ax.axison and not (ax.images or colorbar):
            out += [f"{name}: no {w} label" for w in "xy" if not _labelled(ax, w)]
        bb = ax.get_tightbbox(r)
        if bb is not None and (bb.x0 < -1 or bb.y0 < -1 or bb.x1 > W + 1 or bb.y1 > H + 1):
            out.append(f"{name}: text or ticks outside the canvas ({bb.x0:.0f}, {bb.y0:.0f}, {bb.x1:.0f}, "
                       f"{bb.y1:.0f}) of {W:.0f} x {H:.0f}")
        out += [f"{name}: line {ln.get_label()!r} holds infinite values or nothing finite" for ln in ax.get_lines()
                if not _finite_line(np.asarray(ln.get_xydata(), float))]
        out += [f"{name}: collection {c.get_label()!r} holds non-finite values" for c in ax.collections
                if not _finite_collection(c)]
    for t in fig.texts:
        bb = t.get_window_extent(r)
        if t.get_text() and (bb.x0 < -1 or bb.y0 < -1 or bb.x1 > W + 1 or bb.y1 > H + 1):
            out.append(f"figure text {t.get_text()!r} outside the canvas")
    return out


def _labelled(ax, which: str) -> bool:
    """``ax`` has an ``which`` (x or y) label, or shares that axis with an axes that has one (a row of panels
    with one y label)."""
    def label(a):
        return a.get_xlabel() if which == "x" else a.get_ylabel()
    group = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
    return bool(label(ax)) or any(label(a) for a in group.get_siblings(ax))


def _finite_line(xy) -> bool:
    """No infinite value, and something to draw: NaN is how a curve leaves out where it is undefined (a gap in
    the line), so NaN points are allowed as long as some are finite."""
    return bool(not np.any(np.isinf(xy)) and (xy.size == 0 or np.any(np.all(np.isfinite(xy), axis=-1))))


def _finite_collection(c) -> bool:
    offsets = np.asarray(c.get_offsets(), float)
    paths = [np.asarray(p.vertices, float) for p in c.get_paths()]
    return bool(np.all(np.isfinite(offsets)) and all(np.all(np.isfinite(v)) for v in paths))
