"""The linear-manifold data model ``x0 = F z`` (docs/theory.md section 1) and its spectral methods.

``LinearManifold(alpha, profile)`` holds ``alpha = m/d`` and the variance profile; its one cached
:class:`~rmt.mp.MPSolver` (:attr:`LinearManifold.solver`) gives the covariance spectrum.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from .validation import positive, positive_int
from .intervals import Bulk
from .mp import JacobianLaw, MPSolver
from .profiles import ContinuousProfile, VarianceProfile

__all__ = ["LinearManifold"]


@dataclass(frozen=True)
class LinearManifold:
    """Gaussian data on a linear manifold: ``m = alpha d`` latent directions with variance profile ``H``.

    The covariance ``C = F F^T`` has, as ``d -> inf``, an atom ``max(0, 1 - alpha)`` at zero and a
    continuous part of mass ``min(alpha, 1)`` (generalised Marchenko-Pastur, see :mod:`rmt.mp`).

    Parameters
    ----------
    alpha : float > 0
        ``m / d``; values above 1 are allowed (full-rank ``C``).
    profile : VarianceProfile or ContinuousProfile

    Examples
    --------
    One level ``s`` gives Marchenko-Pastur on ``[s (1 - sqrt(alpha))^2, s (1 + sqrt(alpha))^2]`` with mass
    ``alpha``; here ``s = 2``, ``alpha = 1/4``: ``[0.5, 4.5]``.

    >>> M = LinearManifold(0.25, VarianceProfile.single(2.0))
    >>> [(round(b.lower, 10), round(b.upper, 10), round(b.mass, 10)) for b in M.support()]
    [(0.5, 4.5, 0.25)]
    >>> M.zero_mass, M.latent_dim(1000)                    # atom 1 - alpha at 0; m = alpha d
    (0.75, 250)
    >>> [(round(b.lower, 6), round(b.upper, 6)) for b in M.law(0.5).support()]   # tau/(4.5+tau), tau/(0.5+tau)
    [(0.1, 0.5)]
    """

    alpha: float
    profile: VarianceProfile | ContinuousProfile = field(default_factory=lambda: VarianceProfile.single(1.0))

    def __post_init__(self):
        object.__setattr__(self, "alpha", positive("alpha", self.alpha))
        if not isinstance(self.profile, (VarianceProfile, ContinuousProfile)):
            raise ValueError(f"profile must be a VarianceProfile or ContinuousProfile, got {self.profile!r}")

    @property
    def zero_mass(self) -> float:
        """Mass of the atom of the covariance spectrum at 0 (the orthogonal directions): ``max(0, 1-alpha)``."""
        return max(0.0, 1.0 - self.alpha)

    @property
    def spike_mass(self) -> float:
        """Mass of the spike of ``-Jn`` at ``eta = 1`` (equal to :attr:`zero_mass`)."""
        return self.zero_mass

    def latent_dim(self, d: int) -> int:
        """``m = round(alpha d)``; ``ValueError`` when that is not a countable number of directions."""
        m = self.alpha * positive_int("d", d)
        if not m < 2 ** 31:                     # inf (alpha = 1e308) or beyond any matrix: no sample to draw
            raise ValueError(f"alpha: alpha * d = {m:g} latent directions is too many to sample (alpha={self.alpha:g})")
        return int(round(m))

    @cached_property
    def solver(self) -> MPSolver:
        """The one :class:`~rmt.mp.MPSolver` of this manifold (built on first use, then cached)."""
        return MPSolver(self)

    def stieltjes(self, z):
        """Stieltjes transform ``g(z)`` of the covariance spectrum (``Im z > 0``)."""
        return self.solver.stieltjes(z)

    def density(self, x):
        """Continuous part of the covariance-eigenvalue density at ``x`` (``lambda`` units)."""
        return self.solver.density(x)

    def support(self, masses: bool = True) -> list[Bulk]:
        """Bulks of the covariance spectrum (exact edges; masses by quadrature), sorted by ``lower``."""
        return self.solver.support(masses)

    def law(self, tau) -> JacobianLaw:
        """The law of the spectrum of ``-Jn`` at effective noise ``tau`` (:class:`~rmt.mp.JacobianLaw`)."""
        return JacobianLaw(self, tau)

    def counting(self, x):
        """Fraction of eigenvalues of ``C`` strictly above ``x`` (the counting function, per unit ``d``)."""
        return self.solver.counting(x)
