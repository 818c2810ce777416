"""Intervals of a spectrum: a :class:`Bulk` (support component with its mass) and a :class:`Gap`.

One ``Gap`` type serves the analytic spectra (:meth:`rmt.mp.JacobianLaw.gaps`) and the empirical
readouts of sampled or measured values (:func:`rmt.readouts.spectral_gaps`).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Bulk", "Gap"]


@dataclass(frozen=True)
class Bulk:
    """One connected component of the continuous part of the spectrum: ``[lower, upper]``, ``mass``.

    ``mass`` is a fraction of ``d`` (all bulks sum to ``min(alpha, 1)``).
    """

    lower: float
    upper: float
    mass: float

    def as_dict(self) -> dict:
        """``{"lower", "upper", "mass"}``, JSON-ready."""
        return {"lower": self.lower, "upper": self.upper, "mass": self.mass}


@dataclass(frozen=True)
class Gap:
    """An empty interval ``(lower, upper)`` of a spectrum, ``width = upper - lower``.

    ``index`` is the number of values below the gap (the dimension it reveals) for a finite list of
    values; for an analytic spectrum it is ``None`` and ``mass_below`` is the fraction of ``d`` below it.
    """

    lower: float
    upper: float
    index: int | None = None
    mass_below: float | None = None

    @property
    def width(self) -> float:
        """``upper - lower``."""
        return self.upper - self.lower

    def as_dict(self) -> dict:
        """``{"lower", "upper", "width"}`` plus ``index`` / ``mass_below`` where set, JSON-ready."""
        out = {"lower": self.lower, "upper": self.upper, "width": self.width}
        if self.index is not None:
            out["index"] = self.index
        if self.mass_below is not None:
            out["mass_below"] = self.mass_below
        return out
