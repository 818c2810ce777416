"""NormalBundle and its perturbation frames (docs/theory.md section 9).

For one query point ``x0`` at noise ``s`` the estimator stacks ``K`` score rows into a (K, d) matrix:

- ``gaussian``: the scores at ``K`` noised copies ``a x0 + s eps_i`` (Stanczuk et al.; the paper's Fig. 5
  stack). For a linear score ``-A x`` the rows are ``-A a x0 - s A eps_i``: a common offset plus ``s A`` seen
  through a (K, d) Gaussian matrix, whose singular values spread (Marchenko-Pastur) the spike of the normal
  directions over ``[1 - sqrt(d/K), 1 + sqrt(d/K)]`` times its height;
- ``orthonormal``: symmetrised differences ``(score(a x0 + s q_i) - score(a x0 - s q_i)) / 2`` along a
  Haar-orthonormal frame ``q_1..q_d`` (blocks of whole frames for ``K > d``), the authors' tabular code
  ("Losing dimensions"). For a linear score the row is ``-s A q_i`` exactly (the offset cancels), so the
  singular values are ``sqrt(K/d) s`` times those of the Jacobian: the exact spectrum for ``K = b d``.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from rmt.validation import finite_array, positive_int
from rmt.schedules import get_schedule

from ._cloud import MIN_SAMPLES, _check_X, default_tau_grid
from .jacobian import as_backend

__all__ = ["NormalBundle", "FRAMES", "haar_frame", "stacked_rows", "singular_values"]

#: perturbation frames of :class:`NormalBundle`
FRAMES = ("orthonormal", "gaussian")
#: elements per score call: a tiny MNIST UNet on one CPU thread ran 1568 points 2.3x faster in chunks of 128
#: than in one batch (cache), so the K (or 2 K) points go in chunks of ``EVAL_ELEMENTS // d`` rows
EVAL_ELEMENTS = 2 ** 17


def haar_frame(rng, K: int, d: int) -> np.ndarray:
    """(K, d) rows: ``ceil(K / d)`` Haar-distributed orthonormal frames of ``R^d`` stacked.

    Each block of ``r = min(d, rows still wanted)`` rows is ``Q`` of the reduced QR decomposition of a (d, r)
    standard normal draw from ``rng`` with the signs of ``diag(R)`` moved into ``Q`` (Mezzadri's correction:
    without it ``Q`` is not Haar), transposed to rows: uniform on the Stiefel manifold, i.e. the first ``r``
    rows of a Haar basis, for O(d r^2) work instead of a full (d, d) decomposition."""
    blocks = []
    for start in range(0, K, d):
        Q, R = np.linalg.qr(rng.standard_normal((d, min(d, K - start))))
        blocks.append((Q * np.where(np.diag(R) < 0, -1.0, 1.0)).T)
    return np.concatenate(blocks)


def stacked_rows(score_fn, centre, step: float, rng, K: int, frame: str) -> np.ndarray:
    """The (K, d) stack of one query point: ``score_fn`` maps a (B, d) batch to its scores, ``centre = a x0``,
    ``step = s``. ``gaussian``: ``score_fn(centre + step eps)`` with ``eps`` a (K, d) draw of ``rng``;
    ``orthonormal``: ``(score_fn(centre + step Q) - score_fn(centre - step Q)) / 2`` with ``Q =``
    :func:`haar_frame` ``(rng, K, d)`` (both signs in one batch of ``2 K``)."""
    d = centre.shape[-1]
    if frame == "gaussian":
        return _chunked(score_fn, centre + step * rng.standard_normal((K, d)))
    Q = step * haar_frame(rng, K, d)
    out = _chunked(score_fn, np.concatenate([centre + Q, centre - Q]))
    return 0.5 * (out[:K] - out[K:])


def _chunked(score_fn, pts):
    rows = max(16, EVAL_ELEMENTS // pts.shape[1])
    return np.concatenate([score_fn(pts[i:i + rows]) for i in range(0, pts.shape[0], rows)])


def singular_values(S):
    """Singular values of ``S`` (K, d), descending. For ``K >= d`` from the eigenvalues of the ``d x d`` Gram
    matrix (a ``K d^2`` product instead of an SVD of the tall matrix: ~50x faster at K = 4d = 3136, 3x at
    K = d = 3072); value ``s_i`` keeps a relative accuracy of ``~1e-16 (s_1/s_i)^2`` (1e-11 on the exact
    Fig. 2 spectrum at t = 0.01), values below ``~1e-8`` of the largest lose it and the drop readout ignores
    them."""
    K, d = S.shape
    if K < d:
        return np.linalg.svd(S, compute_uv=False)
    ev = np.linalg.eigvalsh(S.T @ S)[::-1]
    return np.sqrt(np.maximum(ev, 0.0))


class NormalBundle(BaseEstimator):
    """Stanczuk et al.: dimension from the singular values of stacked scores near the data (section 9).

    For each query point ``x0``: ``K`` score rows stacked into a (K, d) matrix, singular values
    ``s_1 >= ... >= s_d``. The normal directions carry the large values (the score pulls back along them,
    ``~ 1/s``); the dimension is the number of values below the largest drop of ``log s_i`` (a ratio: normal
    and tangent values differ by ``~ lambda / s^2``), ignoring values below ``1e-8 s_1`` (rank deficiency
    when ``K < d``; ``floor`` raises that level: values below ``floor s_1`` sit at one level, so the tail of
    nearly passed-through directions cannot hold the drop). The rows come from a perturbation ``frame``
    (:mod:`trained.normal_bundle`):

    - ``'gaussian'``: the scores at ``K`` noised copies ``a x0 + s eps_i``. ``protocol="centred"`` centres
      them over the copies (the mean score is a common offset that would otherwise take the top value);
      ``protocol="paper"`` (Ventura et al.'s Fig. 5 stack) does not, drops the first singular value instead
      and reads the remaining ``d - 1`` (``singular_values_`` padded with a zero). The Gaussian block spreads
      the normal spike: on an exact linear score the normalised values are off by up to ~0.5 at ``K = 4 d``;
    - ``'orthonormal'``: symmetrised differences ``(score(a x0 + s q_i) - score(a x0 - s q_i)) / 2`` along a
      Haar-orthonormal frame (the authors' tabular code). No offset survives, so nothing is centred or
      dropped; on a linear score the values are exactly ``sqrt(K/d) s`` times the Jacobian's for ``K = b d``.

    ``singular_values_`` (points, d), descending: for ``protocol="paper"`` normalised by their maximum (the
    largest value kept), for ``"centred"`` as computed; ``singular_value_scale_`` (points,) is the divisor
    (1 for ``"centred"``), so ``singular_values_ * singular_value_scale_[:, None]`` are the raw values.
    Also after ``fit``: ``dimension_``, ``dimensions_``/``dimension_pw_``, ``drop_``, ``tau_``, ``frame_``,
    ``probes_`` (the K used), ``query_index_``.

    Parameters
    ----------
    tau : effective noise (default: from :func:`default_tau_grid`, the value with the widest median drop)
    probes : K (default ``d`` for the orthonormal frame, ``4 d`` for the Gaussian one)
    n_points : query points
    schedule : ``'ve'`` (default), ``'vp'``, ``'ddpm'``, ``'edm'``, ``'geometric'`` or a
        :class:`~rmt.schedules.Schedule`
    random_state : seed (draws: ``default_rng(random_state + 1)``, per query point in query order a (K, d)
        normal block, or ``ceil(K/d)`` (d, d) blocks for the frame)
    protocol : 'centred' (default) or 'paper'
    frame : 'orthonormal', 'gaussian' or None (default: 'orthonormal' for 'paper', 'gaussian' for 'centred')
    floor : relative level below which the drop readout ignores values (default 1e-8), in (0, 1)
    """

    def __init__(self, tau=None, probes=None, n_points=16, schedule="ve", protocol="centred", frame=None,
                 floor=1e-8, random_state=0):
        self.tau = tau
        self.probes = probes
        self.n_points = n_points
        self.schedule = schedule
        self.protocol = protocol
        self.frame = frame
        self.floor = floor
        self.random_state = random_state

    @staticmethod
    def drop(sv, floor=1e-8):
        """(dimension, drop) per row of singular values (P, d) descending: values below the largest drop of
        ``log max(s, floor s_1)``."""
        sv = np.asarray(sv, dtype=float)
        top = np.maximum(sv[:, :1], 1e-300)
        ls = np.log(np.maximum(sv / top, floor))
        steps = ls[:, :-1] - ls[:, 1:]                                       # >= 0
        i = np.argmax(steps, axis=1)
        return sv.shape[1] - (i + 1), steps[np.arange(sv.shape[0]), i]

    def _frame(self):
        if self.protocol not in ("centred", "paper"):
            raise ValueError(f"protocol must be 'centred' or 'paper', got {self.protocol!r}")
        if self.frame is None:
            return "orthonormal" if self.protocol == "paper" else "gaussian"
        if self.frame not in FRAMES:
            raise ValueError(f"frame must be one of {', '.join(map(repr, FRAMES))} or None, got {self.frame!r}")
        return self.frame

    def _spectra(self, be, a, s, query, K, frame, seed):
        """Raw singular values (points, d) at one noise level; the same draws at every tau (one stream, one
        query point after the other)."""
        rng = np.random.default_rng(seed)
        sv = np.zeros(query.shape)
        for i in range(query.shape[0]):
            S = stacked_rows(be.eval, a * query[i], s, rng, K, frame)
            if frame == "gaussian" and self.protocol == "centred":
                S = S - S.mean(axis=0, keepdims=True)
            v = singular_values(S)
            sv[i, :v.size] = v
        return sv

    def _readout(self, sv, frame):
        """(values, scale, dimensions, drops) of raw singular values (points, d)."""
        d = sv.shape[1]
        if self.protocol == "paper" and frame == "gaussian":
            sv = np.pad(sv[:, 1:], ((0, 0), (0, 1)))                         # drop the first, keep the shape
            dims, drops = self.drop(sv[:, :d - 1], self.floor)
        else:
            dims, drops = self.drop(sv, self.floor)
        scale = np.maximum(sv[:, 0], 1e-300) if self.protocol == "paper" else np.ones(sv.shape[0])
        return sv / scale[:, None], scale, dims, drops

    def fit(self, X, y=None, score=None):
        """Estimate the dimension from the drop of the normal-bundle singular values (class docstring).

        Parameters
        ----------
        X : (n, d) points
        y : ignored (scikit-learn API)
        score : optional score model (a :class:`simulate.protocol.DiffusionModel` or an exact model); default the
            empirical score of the points not used as queries

        Returns
        -------
        self, with ``dimension_``, ``dimensions_`` (per query point), ``tau_``, ``drop_``, ``singular_values_``.
        """
        from simulate.models import EmpiricalModel, ExactModel
        # the drop between singular values needs two of them: at least 2 features
        X = _check_X(self, X, 1 if score is not None else MIN_SAMPLES, min_features=2)
        n, d = X.shape
        self.warnings_ = []
        rng = np.random.default_rng(self.random_state)
        nq = min(positive_int("n_points", self.n_points), n)
        idx = rng.permutation(n)
        if score is None:
            nq = max(1, min(nq, n // 2))
            query, score = X[idx[:nq]], EmpiricalModel(X[idx[nq:]], self.schedule)
        else:
            query = X[idx[:nq]]
        sch = get_schedule(getattr(score, "schedule", None) or self.schedule)
        if self.tau is None:
            taus = default_tau_grid(X)
        else:
            taus = np.atleast_1d(finite_array("tau", self.tau, positive_values=True))
        frame = self._frame()
        if not (isinstance(self.floor, (int, float, np.number)) and 0.0 < float(self.floor) < 1.0):
            raise ValueError(f"floor must be a number in (0, 1), got {self.floor!r}")
        K = (d if frame == "orthonormal" else 4 * d) if self.probes is None else \
            positive_int("probes", self.probes, minimum=2)
        seed = None if self.random_state is None else self.random_state + 1
        if seed is None:
            seed = int(np.random.default_rng().integers(2 ** 63))
        best = None
        for tau in taus:
            t = float(sch.t_of_tau(tau))
            a, s2 = float(sch.a(t)), float(sch.s2(t))
            be = as_backend(score, t=t, backend="numpy" if isinstance(score, ExactModel) else None)
            out = self._readout(self._spectra(be, a, np.sqrt(s2), query, K, frame, seed), frame)
            score_w = float(np.median(out[3]))
            if best is None or score_w > best[0]:
                best = (score_w, float(tau)) + out[:3]
        self.drop_, self.tau_, self.singular_values_, self.singular_value_scale_, self.dimensions_ = best
        self.frame_, self.probes_ = frame, K
        self.query_index_ = idx[:nq]                                          # rows of X, in query order
        self.dimension_pw_ = self.dimensions_
        self.dimension_ = int(np.floor(np.median(self.dimensions_) + 0.5))
        self.min_samples_ = MIN_SAMPLES
        return self

    def fit_pw(self, X, y=None, n_neighbors=None, score=None):
        """Per-point estimates at every row of ``X`` (with a given score; ``n_neighbors`` is not used)."""
        saved = self.n_points
        try:
            self.n_points = np.asarray(X).shape[0]
            self.fit(X, score=score)
        finally:
            self.n_points = saved
        # per point in the row order of X (fit draws the query points in a random order)
        order = np.argsort(self.query_index_)
        self.query_index_ = self.query_index_[order]
        self.dimensions_ = self.dimension_pw_ = np.asarray(self.dimensions_)[order]
        self.singular_values_ = self.singular_values_[order]
        self.singular_value_scale_ = self.singular_value_scale_[order]
        return self
