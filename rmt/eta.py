"""The eta map between covariance eigenvalues and the spectrum of ``-Jn`` (docs/theory.md section 2).

At effective noise ``tau = s^2 / a^2`` a covariance eigenvalue ``lambda`` of the data becomes the eigenvalue
``eta = tau / (lambda + tau)`` of ``-Jn = s^2 (a^2 C + s^2 I)^{-1}``; every conversion in the package goes through
these three functions (:mod:`rmt.mp` re-exports them).
"""
from __future__ import annotations

from .intervals import Bulk

__all__ = ["eta_of_lambda", "lambda_of_eta", "eta_edges"]


def eta_of_lambda(lam, tau):
    """The eta map ``eta = tau / (lambda + tau)``: covariance eigenvalue ``lambda`` -> eigenvalue of ``-Jn``.

    Plain arithmetic, no validation (numpy, JAX and numba callers broadcast it as they need).

    Parameters
    ----------
    lam : covariance eigenvalues ``lambda >= 0`` (covariance units); ``lambda = 0`` gives the spike ``eta = 1``
    tau : effective noise ``tau = s^2 / a^2 > 0`` (not the process time ``t``)

    Returns
    -------
    ``eta`` in ``(0, 1]``, the broadcast shape of ``lam`` and ``tau``.
    """
    return tau / (lam + tau)


def lambda_of_eta(eta, tau):
    """The inverse of :func:`eta_of_lambda`: ``lambda = tau (1 - eta) / eta`` (covariance units).

    Parameters
    ----------
    eta : eigenvalues of ``-Jn`` in ``(0, 1]`` (``eta = 0`` divides by zero: the caller sets ``np.errstate``)
    tau : effective noise ``> 0``
    """
    return tau * (1.0 - eta) / eta


def eta_edges(bulk: Bulk, tau):
    """``eta`` edges ``(tau / (u + tau), tau / (l + tau))`` of a covariance bulk ``[l, u]`` at effective noise ``tau``.

    The map reverses the order: the upper covariance edge gives the lower ``eta`` edge.

    Parameters
    ----------
    bulk : :class:`~rmt.intervals.Bulk` in covariance units;  tau : scalar or array of effective noises

    Returns
    -------
    (lower, upper) of the ``eta`` bulk, each of the shape of ``tau``.
    """
    return eta_of_lambda(bulk.upper, tau), eta_of_lambda(bulk.lower, tau)
