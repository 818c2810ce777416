"""Gap, phase and dimension readouts of a spectrum (docs/theory.md sections 4-5), written once.

Every function takes ``eta`` of shape ``(..., n)``: the spectrum of ``-Jn`` (eigenvalues in ``[0, 1]``)
or the singular values of ``Jn`` of a network, in any order; leading axes (draws, times, points) are
kept. The same functions serve theory (classical eigenvalue locations), simulation and networks.
"""
from __future__ import annotations

import numpy as np

from .validation import resolution
from .intervals import Gap

__all__ = ["sorted_values", "spectral_gaps", "largest_gap", "largest_gap_dimension", "phase", "phases",
           "effective_dimension", "codimension", "PHASES"]

PHASES = ("trivial", "coverage", "consolidation")


def sorted_values(eta) -> np.ndarray:
    a = np.asarray(eta, dtype=float)
    if a.ndim == 0 or a.shape[-1] == 0:
        raise ValueError(f"eta must have at least one value on its last axis, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("eta must be finite")
    return np.sort(a, axis=-1)


def spectral_gaps(eta, min_width: float = 0.0) -> list[Gap]:
    """Gaps of a single spectrum (a list of values) wider than ``min_width``.

    Returns
    -------
    list of :class:`~rmt.intervals.Gap` with ``lower``, ``upper``, ``width`` and ``index`` (number of
    values below the gap), widest first. The analytic gaps are :meth:`rmt.mp.JacobianSpectrum.gaps`.
    """
    v = sorted_values(eta)
    if v.ndim != 1:
        raise ValueError(f"gaps takes one spectrum (1-d), got shape {v.shape}")
    w = np.diff(v)
    idx = np.nonzero(w > min_width)[0]
    out = [Gap(float(v[i]), float(v[i + 1]), index=int(i + 1)) for i in idx]
    return sorted(out, key=lambda g: -g.width)


def largest_gap(eta):
    """Widest gap between consecutive sorted values.

    Returns
    -------
    (index, width, lower, upper): arrays of shape ``eta.shape[:-1]``; ``index`` is the number of values
    below the gap, i.e. the dimension the largest gap reveals.
    """
    v = sorted_values(eta)
    if v.shape[-1] < 2:
        raise ValueError("largest_gap needs at least two values")
    w = np.diff(v, axis=-1)
    i = np.argmax(w, axis=-1)
    width = np.take_along_axis(w, i[..., None], -1)[..., 0]
    lower = np.take_along_axis(v, i[..., None], -1)[..., 0]
    upper = np.take_along_axis(v, i[..., None] + 1, -1)[..., 0]
    return i + 1, width, lower, upper


def largest_gap_dimension(eta) -> np.ndarray:
    """Dimension seen by the largest gap: number of values below it (docs/theory.md 4b)."""
    return largest_gap(eta)[0]


def effective_dimension(eta) -> np.ndarray:
    """``D_eff = #{eta_i < 1/2}`` (= ``#{lambda_i > tau}`` for the linear model)."""
    return np.sum(sorted_values(eta) < 0.5, axis=-1)


def codimension(eta, delta: float = 0.1) -> np.ndarray:
    """Number of values in the spike cluster, within ``delta`` of 1 (docs/theory.md 4a)."""
    delta = resolution(delta)
    return np.sum(sorted_values(eta) > 1.0 - delta, axis=-1)


def phases(eta, delta: float = 0.1) -> np.ndarray:
    """Phase label per spectrum: array of strings of shape ``eta.shape[:-1]`` (docs/theory.md section 5).

    trivial: all values within ``delta`` of 1; consolidation: all within ``delta`` of 0 or 1 with both
    clusters non-empty; coverage: otherwise.
    """
    delta = resolution(delta)
    v = sorted_values(eta)
    near1 = v > 1.0 - delta
    near0 = v < delta
    trivial = near1.all(-1)
    consol = (near0 | near1).all(-1) & near0.any(-1) & near1.any(-1)
    out = np.full(v.shape[:-1], "coverage", dtype=object)
    out[trivial] = "trivial"
    out[consol & ~trivial] = "consolidation"
    return out


def phase(eta, delta: float = 0.1) -> str:
    """Phase of one spectrum (1-d ``eta``)."""
    p = phases(eta, delta)
    if np.ndim(p) != 0:
        raise ValueError(f"phase takes one spectrum (1-d); use phases for shape {np.shape(eta)}")
    return str(p)
