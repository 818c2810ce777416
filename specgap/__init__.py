"""specgap: spectral gaps and geometric phases of diffusion models.

The distribution has three packages - :mod:`rmt` (analytic theory), :mod:`simulate` (exact models and
Monte Carlo) and :mod:`trained` (score networks and the Jacobian engine) - and this small package, which
holds the ``specgap`` command line.
"""
__version__ = "0.1.0"
