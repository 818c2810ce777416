"""The Jacobian engine: one entry point for the Jacobian spectrum of any map ``x -> f(x)``.

- :mod:`trained.jacobian.engine`: :func:`jacobian_spectrum`, :func:`jacobian`, :class:`JacobianResult`;
- :mod:`trained.jacobian.backends`: torch, JAX and numpy backends, :func:`as_backend`;
- :mod:`trained.jacobian.krylov`: the matrix-free top-``k`` solvers.

Network spectra, dimension estimators and (later) descriptors and ridge frames call this engine; no
other module computes a Jacobian.
"""
from .backends import DEFAULT_CHUNK_BYTES, JaxBackend, NumpyBackend, TorchBackend, as_backend
from .engine import METHODS, OPERATORS, JacobianResult, jacobian, jacobian_spectrum
from .krylov import krylov_svd, scipy_svds

__all__ = ["jacobian_spectrum", "jacobian", "JacobianResult", "as_backend", "METHODS", "OPERATORS",
           "DEFAULT_CHUNK_BYTES", "krylov_svd", "scipy_svds", "TorchBackend", "JaxBackend", "NumpyBackend"]
