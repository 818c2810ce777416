"""The shared spectrum container: theory, simulation and networks in one shape.

``Spectrum.values`` has shape ``(R, T, n)``: ``R`` draws / points / images, ``T`` times, ``n`` values
sorted ascending along the last axis. Values are ``eta``, the spectrum of ``-Jn`` (``Jn = s^2 J``), in
``[0, 1]`` for an exact score; networks store the singular values of ``Jn`` (equal to ``eta`` for an
exact, symmetric score). Theory spectra store the ``n`` classical eigenvalue locations
(quantiles of the limiting distribution), ``R = 1``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from . import readouts
from .io import save_npz
from .schedules import get_schedule

__all__ = ["Spectrum"]

SOURCES = ("theory", "simulation", "network")
KINDS = ("eigenvalues", "singular values")


@dataclass
class Spectrum:
    """Sorted spectra of the normalised Jacobian over times.

    Parameters
    ----------
    values : array, shape (R, T, n) (a (T, n) array is promoted to R = 1)
        ``eta`` values (spectrum of ``-Jn``) or singular values of ``Jn``.
    t : array, shape (T,)
        Process times; ``tau`` is derived with ``schedule``.
    schedule : a :class:`rmt.schedules.Schedule` (kept with its parameters, tabulated schedules included),
        a schedule name (default parameters) or a ``Schedule.to_dict()`` dict
    source : 'theory', 'simulation' or 'network'
    kind : 'eigenvalues' or 'singular values'
    meta : dict, JSON-serialisable description of the model (profile, alpha, d, ...)

    Examples
    --------
    The linear model with covariance eigenvalues ``lambda = 4, 1, 0, 0`` at three times (VE: ``tau = t``):

    >>> lam, t = np.array([4.0, 1.0, 0.0, 0.0]), np.array([0.01, 0.5, 100.0])
    >>> sp = Spectrum(t[:, None] / (lam + t[:, None]), t)          # eta = tau/(lambda + tau), (T, n) -> R = 1
    >>> sp.values.shape, sp.values[0, 1].round(4).tolist()
    ((1, 3, 4), [0.1111, 0.3333, 1.0, 1.0])
    >>> sp.phases().tolist()                                     # all within 0.1 of 0 or 1 / not / all near 1
    [['consolidation', 'coverage', 'trivial']]
    >>> sp.effective_dimension().tolist()                        # #{lambda > tau}
    [[2, 2, 0]]
    """

    values: np.ndarray
    t: np.ndarray
    schedule: object = "ve"
    source: str = "simulation"
    kind: str = "eigenvalues"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        v = np.asarray(self.values, dtype=float)
        if v.ndim == 2:
            v = v[None]
        if v.ndim != 3:
            raise ValueError(f"values must have shape (R, T, n) or (T, n), got {v.shape}")
        t = np.atleast_1d(np.asarray(self.t, dtype=float))
        if t.ndim != 1 or t.size != v.shape[1]:
            raise ValueError(f"t must have one entry per time (T={v.shape[1]}), got shape {t.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError("values must be finite")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        self.schedule = get_schedule(self.schedule)
        self.values = np.sort(v, axis=-1)
        self.t = t

    # -- shape ------------------------------------------------------------------------------
    @property
    def tau(self) -> np.ndarray:
        """Effective noise ``tau(t)`` of each time, shape (T,)."""
        return self.schedule.tau(self.t)

    @property
    def n_draws(self) -> int:
        """Number of draws (or points) ``R``."""
        return self.values.shape[0]

    @property
    def n_times(self) -> int:
        """Number of times ``T``."""
        return self.values.shape[1]

    @property
    def n(self) -> int:
        """Number of values per spectrum ``n``."""
        return self.values.shape[2]

    @property
    def eta(self) -> np.ndarray:
        """Spectrum of ``-Jn`` (the papers' convention), shape (R, T, n)."""
        return self.values

    @property
    def jacobian_eigenvalues(self) -> np.ndarray:
        """Eigenvalues of ``Jn`` itself: ``-eta``, sorted ascending."""
        return -self.values[..., ::-1]

    def pooled(self, i: int) -> np.ndarray:
        """All values at time index ``i`` pooled over draws, sorted: shape (R * n,)."""
        return np.sort(self.values[:, i, :].ravel())

    def mean_sorted(self) -> np.ndarray:
        """Mean over draws of the sorted spectra (the paper's averaged curves), shape (T, n)."""
        return self.values.mean(axis=0)

    # -- readouts (rmt.readouts applied per draw and time) -----------------------------------
    def largest_gap_dimension(self) -> np.ndarray:
        """Values below the widest gap, per draw and time (:func:`rmt.readouts.largest_gap_dimension`), (R, T)."""
        return readouts.largest_gap_dimension(self.values)

    def effective_dimension(self) -> np.ndarray:
        """``D_eff = #{eta < 1/2}`` per draw and time (:func:`rmt.readouts.effective_dimension`), (R, T)."""
        return readouts.effective_dimension(self.values)

    def codimension(self, delta: float = 0.1) -> np.ndarray:
        """Values within ``delta`` of 1 per draw and time (:func:`rmt.readouts.codimension`), (R, T)."""
        return readouts.codimension(self.values, delta)

    def phases(self, delta: float = 0.1) -> np.ndarray:
        """Phase label per draw and time (:func:`rmt.readouts.phases`), (R, T)."""
        return readouts.phases(self.values, delta)

    # -- io ---------------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write ``eta`` (R, T, n), ``t``, ``tau`` and the metadata to an ``.npz`` file."""
        save_npz(path, eta=self.values, t=self.t, tau=self.tau,
                 info=json.dumps({"schedule": self.schedule.to_dict(), "source": self.source, "kind": self.kind,
                                  "meta": self.meta}))

    @classmethod
    def load(cls, path) -> "Spectrum":
        """Read a spectrum written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            info = json.loads(str(z["info"])) if "info" in z else {}
            return cls(z["eta"], z["t"], schedule=info.get("schedule", "ve"),
                       source=info.get("source", "simulation"), kind=info.get("kind", "eigenvalues"),
                       meta=info.get("meta", {}))
