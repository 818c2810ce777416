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
           "phase_rule", "effective_dimension", "codimension", "tangent_count", "PHASES"]

#: the three geometric phases, from large ``tau`` to small (docs/theory.md section 5)
PHASES = ("trivial", "coverage", "consolidation")


def sorted_values(eta) -> np.ndarray:
    """``eta`` as a float array sorted ascending along its last axis (``ValueError`` if empty or not finite)."""
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
    values below the gap), widest first. The analytic gaps are :meth:`rmt.mp.JacobianLaw.gaps`.
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

    Examples
    --------
    >>> index, width, lower, upper = largest_gap([0.01, 0.02, 0.6, 0.97, 1.0])
    >>> int(index), round(float(width), 4), float(lower), float(upper)   # 0.6 - 0.02; two values below it
    (2, 0.58, 0.02, 0.6)
    >>> largest_gap([[0.1, 0.2, 0.9], [0.1, 0.8, 0.9]])[0].tolist()        # leading axes kept
    [2, 1]
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
    """``D_eff = #{eta_i < 1/2}`` (= ``#{lambda_i > tau}`` for the linear model).

    Examples
    --------
    For the linear model ``eta = tau / (lambda + tau) < 1/2`` iff ``lambda > tau``:

    >>> lam, tau = np.array([4.0, 1.0, 0.3, 0.0]), 0.5
    >>> int(effective_dimension(tau / (lam + tau))), int(np.sum(lam > tau))
    (2, 2)
    """
    return np.sum(sorted_values(eta) < 0.5, axis=-1)


def codimension(eta, delta: float = 0.1) -> np.ndarray:
    """Number of values in the spike cluster, within ``delta`` of 1 (docs/theory.md 4a).

    Its complement, the number of values below ``1 - delta``, is :func:`tangent_count`.
    """
    delta = resolution(delta)
    return np.sum(sorted_values(eta) > 1.0 - delta, axis=-1)


def tangent_count(eta, *, threshold: float = 0.1) -> np.ndarray:
    """The tangent count ``#{eta_i < 1 - threshold}``: directions not condensed into the spike at 1.

    Every tangent count of the package is this function; the callers differ only in ``threshold``:

    - the resolution ``delta`` (0.1, docs/theory.md 4a-5), the same ``delta`` as the phases and
      :func:`codimension`: the sweep's finite-``n`` ``dimension`` and the plateau readout of
      :func:`trained.network_spectra.plateau_time`;
    - the noise ``floor`` (0.05) of the point-cloud dimension estimators (:mod:`trained.estimators`): their
      window sits on the noise floor of a finite training set, where condensed directions come within a few
      percent of 1 and 0.1 would count tangent directions as condensed (docs/theory.md section 12).

    Parameters
    ----------
    eta : array (..., n), the spectrum of ``-Jn`` (or singular values of ``Jn``), any order
    threshold : distance below 1 that still counts as condensed, in ``(0, 0.5)``

    Returns
    -------
    int array of shape ``eta.shape[:-1]``. ``n - codimension(eta, delta)`` equals
    ``tangent_count(eta, threshold=delta)`` unless a value is exactly ``1 - delta``.

    Examples
    --------
    >>> eta = [0.01, 0.3, 0.92, 0.97, 1.0, 1.0]
    >>> int(tangent_count(eta)), int(tangent_count(eta, threshold=0.05))   # below 0.9; below 0.95
    (2, 3)
    >>> int(len(eta) - codimension(eta, 0.1))                               # the complement of the spike cluster
    2
    """
    threshold = resolution(threshold, "threshold")
    return np.sum(sorted_values(eta) < 1.0 - threshold, axis=-1)


def phase_rule(lower, upper, delta: float = 0.1, *, spike: bool = False) -> np.ndarray:
    """The phase definition (docs/theory.md section 5), written once for values and for bulks.

    The spectrum is a list of parts ``[lower_i, upper_i]`` on its last axis: single values (``lower = upper``,
    :func:`phases`) or the ``eta`` bulks of the theory (:func:`rmt.gaps.phase_at`). A part is near 0 if
    ``upper < delta``, near 1 if ``lower > 1 - delta``. trivial: every part near 1; consolidation: every part
    near 0 or 1, at least one near 0 and at least one near 1 (``spike=True``: a spike at ``eta = 1`` that is
    not among the parts counts as near 1); coverage otherwise.

    Parameters
    ----------
    lower, upper : arrays (..., n) of the same shape
    delta : the resolution, in ``(0, 0.5)``
    spike : whether a spike at 1 exists besides the parts

    Returns
    -------
    array of strings of shape ``lower.shape[:-1]`` (object dtype).
    """
    delta = resolution(delta)
    lower, upper = np.asarray(lower), np.asarray(upper)
    near0 = upper < delta
    near1 = lower > 1.0 - delta
    trivial = near1.all(-1)
    consol = (near0 | near1).all(-1) & near0.any(-1) & (near1.any(-1) | spike)
    out = np.full(trivial.shape, "coverage", dtype=object)
    out[consol] = "consolidation"
    out[trivial] = "trivial"
    return out


def phases(eta, delta: float = 0.1) -> np.ndarray:
    """Phase label per spectrum: array of strings of shape ``eta.shape[:-1]`` (docs/theory.md section 5).

    trivial: all values within ``delta`` of 1; consolidation: all within ``delta`` of 0 or 1 with both
    clusters non-empty; coverage: otherwise (:func:`phase_rule` with each value its own part).
    """
    v = sorted_values(eta)
    return phase_rule(v, v, delta)


def phase(eta, delta: float = 0.1) -> str:
    """Phase of one spectrum (1-d ``eta``).

    Examples
    --------
    >>> phase([0.95, 0.99, 1.0]), phase([0.01, 0.05, 0.95, 1.0]), phase([0.01, 0.5, 1.0])
    ('trivial', 'consolidation', 'coverage')
    """
    p = phases(eta, delta)
    if np.ndim(p) != 0:
        raise ValueError(f"phase takes one spectrum (1-d); use phases for shape {np.shape(eta)}")
    return str(p)
