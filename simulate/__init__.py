"""simulate: exact models and Monte Carlo for the linear-manifold theory (numpy / numba / JAX).

Random ``F`` matrices and exact-score Jacobian spectra (one small Gram eigendecomposition per draw,
every time through ``eta = tau / (lambda + tau)``), theory-vs-simulation agreement, exact scores (numpy
here, JAX in :mod:`simulate.models_jax`, torch in :mod:`simulate.models_torch`) and reverse-time samplers.

>>> from rmt import LinearManifold, VarianceProfile
>>> from simulate import simulate_spectra
>>> M = LinearManifold(0.5, VarianceProfile([1, 0.01], [0.75, 0.25]))
>>> simulate_spectra(M, d=100, t=[0.01, 0.1], draws=3).values.shape
(3, 2, 100)
"""
from .agreement import (
                        agreement,
                        bulk_counts,
                        empirical_edges,
                        finite_size_study,
                        ks_distance,
                        mean_sem,
                        theory_edges,
                        wasserstein1,
)
from .fmatrix import (
                        BACKENDS,
                        column_variances,
                        covariance_eigenvalues,
                        gram_eigenvalues,
                        sample_F,
)
from .models import (
                        EmpiricalModel,
                        ExactModel,
                        GaussianMixtureModel,
                        LinearGaussianModel,
                        SubspaceUnionModel,
)
from .protocol import DiffusionModel, is_diffusion_model
from .samplers import SampleResult, probability_flow, reverse_sde, sample_reverse
from .spectra import (
                        eta_from_eigenvalues,
                        simulate_spectra,
                        spectra_from_eigenvalues,
                        spectra_from_F,
)

__all__ = ["BACKENDS", "column_variances", "sample_F", "gram_eigenvalues", "covariance_eigenvalues",
           "eta_from_eigenvalues", "spectra_from_eigenvalues", "spectra_from_F", "simulate_spectra",
           "ks_distance", "wasserstein1", "bulk_counts", "empirical_edges", "theory_edges", "agreement",
           "finite_size_study", "mean_sem", "ExactModel", "LinearGaussianModel", "EmpiricalModel",
           "GaussianMixtureModel", "SubspaceUnionModel", "SampleResult", "sample_reverse", "reverse_sde",
           "probability_flow", "DiffusionModel", "is_diffusion_model"]
