"""Dimension estimators from score-Jacobian spectra (docs/theory.md sections 4-6, 9 and 11), scikit-learn style.

All estimators follow scikit-dimension's conventions on top of :class:`sklearn.base.BaseEstimator`:
``fit(X)`` sets ``dimension_``; ``fit_pw(X, n_neighbors=...)`` sets the per-point ``dimension_pw_``;
parameters are the ``__init__`` arguments (``get_params``/``set_params``/repr), ``random_state`` seeds
every draw.

- :class:`ManifoldGapDimension` (recommended): the manifold dimension, the number of directions in which
  the posterior covariance of the training points exceeds the noise floor (``eta < 1 - floor``), read at a
  scale chosen per point inside the window between memorisation and curvature (section 12); the
  sub-structure (every gap wider than the resolution) beside it.
- :class:`GapDimension`: the index of the largest gap (readout 4b) and the phase (section 5);
- :class:`EffectiveDimension`: ``D_eff = #{eta < 1/2}`` (readout 4c);
- :class:`FLIPD`: ``d + s^2 tr J = sum_i (1 - eta_i)`` (Kamkari et al. 2024);
- :class:`NormalBundle`: Stanczuk et al.: stacked scores of noised copies (centred) or symmetrised
  differences along a Haar-orthonormal frame (the paper's protocol), the largest drop of their singular
  values.

Without a score, ``fit(X)`` uses the exact empirical score of the point cloud (closed form, posterior
covariance, :class:`simulate.models.EmpiricalModel`): query points are held out of the model in folds, so
each query sees the score of the other points. ``fit(X, score=...)`` uses a given score (an exact model, a
torch module, a JAX callable) through the Jacobian engine.

The computation lives in :mod:`trained.score_dimension` (no scikit-learn import there); this module puts it on
:class:`sklearn.base.BaseEstimator`, with scikit-learn's ``validate_data`` at ``fit``.
"""
from __future__ import annotations

from sklearn.base import BaseEstimator

from ._cloud import MIN_SAMPLES, _check_X, default_tau_grid
from .normal_bundle import NormalBundle
from .score_dimension import (
    RECOMMENDED,
    SparseSampleWarning,
    _EffectiveDimension,
    _FLIPD,
    _GapDimension,
    _ManifoldGapDimension,
    _ScoreEstimator,
    bootstrap_interval,
    window_grid,
)

__all__ = ["bootstrap_interval", "GapDimension", "ManifoldGapDimension", "EffectiveDimension", "FLIPD",
           "NormalBundle", "ESTIMATORS", "RECOMMENDED", "SparseSampleWarning", "default_tau_grid", "MIN_SAMPLES",
           "window_grid"]


class _ValidateData:
    """``fit``'s one check of ``X``: scikit-learn's ``validate_data`` (sets ``n_features_in_``; its messages)."""

    def _validate(self, X):
        return _check_X(self, X, min_features=self._min_features)


class ManifoldGapDimension(_ValidateData, _ManifoldGapDimension, BaseEstimator):
    """Manifold dimension ``#{eta_i < 1 - floor}`` (docs/theory.md 4a, 11): every direction in which the
    posterior covariance of the training points exceeds ``floor`` times the noise, at the window scale.

    After ``fit``: ``dimension_``, ``interval_`` (90% bootstrap over query points), ``dimension_pw_``,
    ``tau_pw_``, ``tau_``, ``profile_`` (median dimension and ``N_eff`` vs ``tau``), ``plateau_``,
    ``substructure_`` (gaps wider than ``delta``: dimension below each, width), ``warnings_``,
    ``dimensions_`` (points x taus), ``spectrum_``.

    Examples
    --------
    Points on a plane in ``R^5`` (through the exact empirical score of the cloud; no network):

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((300, 2)) @ np.linalg.qr(rng.standard_normal((5, 2)))[0].T
    >>> est = ManifoldGapDimension(n_points=16).fit(X)
    >>> est.dimension_, est.interval_
    (2, (2.0, 2.0))
    """


class GapDimension(_ValidateData, _GapDimension, BaseEstimator):
    """Largest-gap dimension (docs/theory.md 4b) at the window scale, and the phase (section 5).

    With a high-variance subspace inside the manifold the largest gap may separate it from the rest (the
    paper's point); :class:`ManifoldGapDimension` then gives the whole manifold. Attributes as for
    :class:`ManifoldGapDimension`, plus ``phase_``/``phases_``.
    """


class EffectiveDimension(_ValidateData, _EffectiveDimension, BaseEstimator):
    """``D_eff = #{eta_i < 1/2}`` (docs/theory.md 4c) at the window scale; ``curve_``: median per tau."""


class FLIPD(_ValidateData, _FLIPD, BaseEstimator):
    """FLIPD (Kamkari et al. 2024): local intrinsic dimension from the heat equation of the noised density,
    ``LID = d + 2 dlog p_tau(x)/dlog tau = d + s^2 (tr J + |score|^2) = sum_i (1 - eta_i) + s^2 |score|^2``
    (``eta`` eigenvalues of ``-Jn``; the score-norm term vanishes on the manifold as the noise goes to zero).

    Point clouds: the exact empirical score, at each point's window scale (section 12). Given a score: the
    trace of the full Jacobian from the engine (``trained.jacobian.jacobian``) and the score itself, at ``tau``
    (default: the smallest value of :func:`default_tau_grid`). ``dimension_`` is the rounded median,
    ``dimension_pw_`` real-valued.
    """


for _cls in (ManifoldGapDimension, GapDimension, EffectiveDimension, FLIPD):       # one parameter list, four classes
    _head, _sep, _examples = _cls.__doc__.partition("\n    Examples\n")        # Examples stay the last section
    _cls.__doc__ = (_head.rstrip() + "\n\n" + _ScoreEstimator.__doc__.split("\n\n", 1)[1].rstrip()
                    + (("\n" + _sep + _examples) if _sep else "\n"))

#: command-line names (:data:`trained.score_dimension.ESTIMATOR_NAMES`); ``manifold`` (the manifold dimension at
#: the window scale) is the recommended one
ESTIMATORS = {"manifold": ManifoldGapDimension, "gap": GapDimension, "deff": EffectiveDimension, "flipd": FLIPD,
              "normal-bundle": NormalBundle}
