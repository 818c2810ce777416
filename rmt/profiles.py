"""Variance profiles of the latent columns (docs/theory.md section 1); the data model is :class:`rmt.manifold.LinearManifold`.

``x0 = F z`` with ``F_ij = sigma_j g_ij / sqrt(d)``; column ``j`` has variance level ``s_j = sigma_j^2``.
A profile is the distribution ``H`` of the levels over the ``m`` columns.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .validation import finite_array, positive, positive_int, probability

__all__ = ["VarianceProfile", "ContinuousProfile"]


@dataclass(frozen=True)
class VarianceProfile:
    """Discrete profile: ``K`` levels ``s_k = sigma_k^2 > 0`` on fractions ``w_k`` of the columns (sum 1).

    Levels are stored sorted from high to low variance (so "bulk 1" is the high-variance bulk).

    Parameters
    ----------
    levels : sequence of float, shape (K,)
        Variance levels ``sigma_k^2``.
    fractions : sequence of float, shape (K,), optional
        Fraction of the ``m`` columns at each level; default equal fractions.

    Examples
    --------
    >>> p = VarianceProfile.double(1.0, 0.01, f=0.75)     # the paper's profile: 3/4 of the columns at 1
    >>> p.levels.tolist(), p.fractions.tolist()
    ([1.0, 0.01], [0.75, 0.25])
    >>> round(p.mean, 4)                                   # 0.75 * 1 + 0.25 * 0.01
    0.7525
    >>> VarianceProfile([0.5, 2.0, 0.5]).column_variances(6).tolist()   # equal levels merge; high first
    [2.0, 2.0, 0.5, 0.5, 0.5, 0.5]
    """

    levels: np.ndarray
    fractions: np.ndarray = None

    def __post_init__(self):
        levels = finite_array("levels", self.levels)
        levels = np.atleast_1d(levels)
        if levels.ndim != 1 or levels.size == 0:
            raise ValueError(f"levels must be a non-empty 1-d sequence, got {self.levels!r}")
        if np.any(levels <= 0):
            raise ValueError(f"levels must be > 0, got {levels.tolist()}")
        if self.fractions is None:
            fractions = np.full(levels.size, 1.0 / levels.size)
        else:
            fractions = np.atleast_1d(finite_array("fractions", self.fractions))
        if fractions.shape != levels.shape:
            raise ValueError(
                f"fractions must have one entry per level ({levels.size}), got {fractions.size}")
        if np.any(fractions <= 0):
            raise ValueError(f"fractions must be > 0, got {fractions.tolist()}")
        if abs(fractions.sum() - 1.0) > 1e-6:
            raise ValueError(f"fractions must sum to 1, got sum {fractions.sum():.6g}")
        fractions = fractions / fractions.sum()
        # equal levels (to relative 1e-9) are one level: merge them, summing their fractions
        srt = np.argsort(levels, kind="stable")
        lv, fr = levels[srt], fractions[srt]
        new_group = np.concatenate([[True], np.diff(lv) > 1e-9 * lv[1:]])
        gid = np.cumsum(new_group) - 1
        if gid[-1] + 1 < lv.size:
            fractions = np.bincount(gid, weights=fr)
            levels = np.bincount(gid, weights=fr * lv) / fractions
        order = np.argsort(-levels, kind="stable")
        object.__setattr__(self, "levels", levels[order])
        object.__setattr__(self, "fractions", fractions[order])

    # -- constructors -------------------------------------------------------------------------
    @classmethod
    def single(cls, level: float = 1.0) -> "VarianceProfile":
        """One level: Marchenko-Pastur."""
        return cls([positive("level", level)], [1.0])

    @classmethod
    def double(cls, sigma1_sq: float = 1.0, sigma2_sq: float = 0.01, f: float = 0.75) -> "VarianceProfile":
        """The paper's double-variance profile: fraction ``f`` at ``sigma1_sq``, ``1 - f`` at ``sigma2_sq``.

        Examples
        --------
        >>> VarianceProfile.double(1.0, 1e-3, f=0.4).as_dict()
        {'levels': [1.0, 0.001], 'fractions': [0.4, 0.6]}
        """
        f = probability("f", f)
        s1, s2 = positive("sigma1_sq", sigma1_sq), positive("sigma2_sq", sigma2_sq)
        if s1 == s2:
            return cls.single(s1)
        return cls([s1, s2], [f, 1.0 - f])

    @classmethod
    def multi(cls, n: int, low: float = 1e-2, high: float = 1.0, seed: int = 0) -> "VarianceProfile":
        """The paper's multi-variance profile: ``n`` levels drawn uniformly in ``[low, high]``, ``1/n`` each.

        The levels are a fixed, seeded draw: the profile is deterministic given ``seed``.
        """
        n = positive_int("n", n)
        low, high = positive("low", low), positive("high", high)
        if not low < high:
            raise ValueError(f"low must be < high, got low={low}, high={high}")
        levels = np.random.default_rng(seed).uniform(low, high, size=n)
        return cls(levels, np.full(n, 1.0 / n))

    # -- properties ----------------------------------------------------------------------------
    @property
    def K(self) -> int:
        """Number of variance levels."""
        return int(self.levels.size)

    @property
    def mean(self) -> float:
        """Mean variance ``sum_k w_k s_k`` (fractions times levels)."""
        return float(np.dot(self.fractions, self.levels))

    def swapped(self) -> "VarianceProfile":
        """The same fractions with the order of the levels reversed (the paper's Fig. 3 centre)."""
        return VarianceProfile(self.levels[::-1].copy(), self.fractions.copy())

    def column_variances(self, m: int) -> np.ndarray:
        """Variance ``sigma_j^2`` of each of the ``m`` columns (counts rounded by largest remainder).

        Returns
        -------
        ndarray, shape (m,), high-variance columns first.
        """
        m = positive_int("m", m)
        raw = self.fractions * m
        counts = np.floor(raw).astype(int)
        rest = m - counts.sum()
        if rest > 0:
            counts[np.argsort(-(raw - counts), kind="stable")[:rest]] += 1
        return np.repeat(self.levels, counts)

    def as_dict(self) -> dict:
        """``{"levels", "fractions"}`` as lists, JSON-ready."""
        return {"levels": self.levels.tolist(), "fractions": self.fractions.tolist()}


@dataclass(frozen=True)
class ContinuousProfile:
    """Continuous profile: levels with a density ``h(s)`` on ``[low, high]`` (normalised here).

    The spectrum is computed by discretising ``H`` with ``n`` Gauss-Legendre nodes
    (:meth:`discretize`); the solvers double ``n`` until the answer converges.
    """

    density: Callable[[np.ndarray], np.ndarray]
    low: float
    high: float
    name: str = "custom"

    def __post_init__(self):
        low, high = positive("low", self.low), positive("high", self.high)
        if not low < high:
            raise ValueError(f"low must be < high, got low={low}, high={high}")
        x, w = np.polynomial.legendre.leggauss(256)
        s = 0.5 * (high - low) * (x + 1) + low
        h = np.asarray(self.density(s), dtype=float)
        if h.shape != s.shape or not np.all(np.isfinite(h)) or np.any(h < 0):
            raise ValueError("density must return finite non-negative values of the same shape as its input")
        if not np.sum(w * h) > 0:
            raise ValueError("density must have positive mass on [low, high]")

    @classmethod
    def uniform(cls, low: float = 1e-2, high: float = 1.0) -> "ContinuousProfile":
        """Levels uniform on ``[low, high]`` (the ``n -> inf`` limit of :meth:`VarianceProfile.multi`)."""
        return cls(lambda s: np.ones_like(s), low, high, name="uniform")

    def discretize(self, n: int = 128) -> VarianceProfile:
        """Gauss-Legendre discretisation of ``H`` with ``n`` levels (weights = normalised density)."""
        n = positive_int("n", n)
        x, w = np.polynomial.legendre.leggauss(n)
        s = 0.5 * (self.high - self.low) * (x + 1) + self.low
        h = np.asarray(self.density(s), dtype=float) * w
        keep = h > 0
        return VarianceProfile(s[keep], h[keep] / h[keep].sum())

    @property
    def mean(self) -> float:
        """Mean variance of the level density (from a 256-node discretisation)."""
        return self.discretize(256).mean

    @property
    def levels(self) -> np.ndarray:
        """Support of the level distribution, ``[high, low]`` (high first, as for discrete profiles)."""
        return np.array([self.high, self.low])

    def as_dict(self) -> dict:
        """``{"continuous": name, "low", "high"}``, JSON-ready."""
        return {"continuous": self.name, "low": self.low, "high": self.high}
