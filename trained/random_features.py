"""Random-feature score model with a trained linear read-out and its closed-form gradient flow
(docs/theory.md section 8).

Features (frozen, drawn once from ``seed``): ``h(x, t) = sigma(W_x c_in(t) x + W_t e(t) + b)`` in ``R^N`` with
``c_in(t) = 1 / sqrt(a^2 v + s^2)`` (``v`` the data's mean variance per coordinate), Fourier time features
``e(t) = [cos(pi j u), sin(pi j u)]_{j=1..F}`` of ``u = log(tau / tau_min) / log(tau_max / tau_min)``, and
``W_x ~ N(0, 1/D)``, ``W_t ~ N(0, 1/F)``, ``b ~ N(0, 1)``. The read-out ``A`` (D, N) predicts the noise,
``eps_hat = A h``, so the score is ``-A h / s`` and the denoiser ``(x - s A h) / a``.

Denoising loss over the training points ``x_i`` (a fixed Monte Carlo sample of ``M`` triples
``(i, t, eps)``, ``t`` log-uniform in ``tau``): ``L(A) = (1/M) sum ||A h(a x_i + s eps, t) - eps||^2
= tr(A U A^T) - 2 tr(A V^T) + const`` with ``U = E[h h^T]`` (N, N) and ``V = E[eps h^T]`` (D, N). Gradient
flow ``dA/du = -grad L = -2 (A U - V)`` (``u`` the training time; ``s`` stays the noise scale) has the
closed form

    A(u) = (A_0 - V U^+) exp(-2 u U) + V U^+,

(``V U^+ U = V`` because both come from the same features), with equilibrium ``A(inf) = A_0 P_0 + V U^+``
(``P_0`` the projector on the null space of ``U``; ``V U^+`` for ``A_0 = 0``, the minimum-norm least-squares
read-out). Error split at points ``x``: architectural bias ``score_{A(inf)} - score_exact`` (the exact
empirical score, :class:`simulate.models.EmpiricalModel`) plus optimisation error ``score_{A(u)} -
score_{A(inf)}``, each further split into tangent and normal parts by the ridge frame
(:func:`simulate.ridge.ridge_frame`).
"""
from __future__ import annotations

import numpy as np

from rmt.validation import finite_array, positive, positive_int
from rmt.schedules import get_schedule
from simulate.models import EmpiricalModel, as_rng

__all__ = ["RandomFeatureScore", "error_split"]

ACTIVATIONS = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0), "sin": np.sin}


class RandomFeatureScore:
    """Random-feature epsilon-prediction model; the read-out ``A`` is the only trained parameter.

    Parameters
    ----------
    d : data dimension ``D``;  n_features : ``N``;  n_freq : Fourier time frequencies ``F``
    activation : 'tanh' (default), 'relu' or 'sin'
    schedule : ``'ve'`` (default), ``'vp'``, ``'ddpm'``, ``'edm'``, ``'geometric'`` or a
        :class:`~rmt.schedules.Schedule`
    tau_range : ``(tau_min, tau_max)`` of the time features and training
    data_variance : ``v`` in ``c_in`` (set by :meth:`fit` from the data when None)
    seed : draws ``W_x, W_t, b``
    """

    def __init__(self, d, n_features=256, n_freq=8, activation="tanh", schedule="ve", tau_range=(1e-3, 10.0),
                 data_variance=None, seed=0):
        self.d = positive_int("d", d)
        self.n_features = positive_int("n_features", n_features)
        self.n_freq = positive_int("n_freq", n_freq)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.activation = activation
        self.schedule = get_schedule(schedule)
        lo, hi = (positive("tau_range", v) for v in tau_range)
        if not lo < hi:
            raise ValueError(f"tau_range must be increasing, got {tau_range!r}")
        self.tau_range = (lo, hi)
        self.data_variance = None if data_variance is None else positive("data_variance", data_variance)
        self.seed = int(seed)
        rng = np.random.default_rng([self.seed, 15])
        self.Wx = rng.standard_normal((self.n_features, self.d)) / np.sqrt(self.d)
        self.Wt = rng.standard_normal((self.n_features, 2 * self.n_freq)) / np.sqrt(self.n_freq)
        self.b = rng.standard_normal(self.n_features)
        self.A = np.zeros((self.d, self.n_features))
        self.U = self.V = None

    # -- features ---------------------------------------------------------------------------------
    def time_features(self, t) -> np.ndarray:
        """``e(t)`` (B, 2F) for process times ``t`` (scalar or (B,))."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        lo, hi = self.tau_range
        u = np.log(self.schedule.tau(t) / lo) / np.log(hi / lo)
        w = np.pi * np.arange(1, self.n_freq + 1)
        return np.concatenate([np.cos(np.outer(u, w)), np.sin(np.outer(u, w))], axis=1)

    def features(self, x, t) -> np.ndarray:
        """``h(x, t)`` (B, N) for ``x`` (B, D) and ``t`` scalar or (B,)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        t = np.broadcast_to(np.asarray(t, dtype=float), (x.shape[0],))
        a, s2 = self.schedule.a(t), self.schedule.s2(t)
        v = 1.0 if self.data_variance is None else self.data_variance
        cin = 1.0 / np.sqrt(a * a * v + s2)
        pre = (cin[:, None] * x) @ self.Wx.T + self.time_features(t) @ self.Wt.T + self.b
        return ACTIVATIONS[self.activation](pre)

    # -- the quadratic loss and its gradient flow ---------------------------------------------------
    def training_sample(self, X, n_samples=20000, seed=0):
        """A fixed Monte Carlo sample ``(H (M, N), eps (M, D), t (M,))`` of the denoising loss over ``X``."""
        X = finite_array("X", X, ndim=2)
        if X.shape[1] != self.d:
            raise ValueError(f"X must have shape (n, D={self.d}), got {X.shape}")
        M = positive_int("n_samples", n_samples)
        rng = as_rng(seed)
        lo, hi = self.tau_range
        t = self.schedule.t_of_tau(np.exp(rng.uniform(np.log(lo), np.log(hi), M)))
        eps = rng.standard_normal((M, self.d))
        i = rng.integers(0, X.shape[0], M)
        xt = self.schedule.noise(X[i], t, eps)
        return self.features(xt, t), eps, t

    def fit(self, X, n_samples=20000, seed=0):
        """Set ``v`` (if None) and the moments ``U = H^T H / M``, ``V = eps^T H / M`` of the loss; returns self."""
        X = finite_array("X", X, ndim=2)
        if self.data_variance is None:
            self.data_variance = float(np.mean(np.sum(X * X, axis=1)) / X.shape[1]) or 1.0
        H, eps, _ = self.training_sample(X, n_samples, seed)
        self.U = H.T @ H / H.shape[0]
        self.V = eps.T @ H / H.shape[0]
        self._c = float(np.mean(np.sum(eps * eps, axis=1)))
        self._eig = None
        return self

    def _spectral(self):
        if self.U is None:
            raise ValueError("call fit(X) first (the loss moments U, V are not set)")
        if getattr(self, "_eig", None) is None:
            mu, Q = np.linalg.eigh(self.U)
            keep = mu > mu.max() * self.n_features * np.finfo(float).eps
            pinv = (Q[:, keep] / mu[keep]) @ Q[:, keep].T
            self._eig = (mu, Q, keep, self.V @ pinv)
        return self._eig

    def loss(self, A=None) -> float:
        """``tr(A U A^T) - 2 tr(A V^T) + mean |eps|^2``: the Monte Carlo denoising loss of the fitted sample."""
        self._spectral()
        A = self.A if A is None else A
        return float(np.sum((A @ self.U) * A) - 2 * np.sum(A * self.V) + self._c)

    def weights_at(self, train_time, A0=None) -> np.ndarray:
        """Closed-form gradient flow ``A(u) = (A0 - V U^+) exp(-2 u U) + V U^+`` (D, N) at training time
        ``u = train_time >= 0``; ``A0`` default 0."""
        u = positive("train_time", train_time, allow_zero=True)
        mu, Q, keep, VUp = self._spectral()
        A0 = np.zeros((self.d, self.n_features)) if A0 is None else finite_array("A0", A0)
        E = (Q * np.exp(-2.0 * u * np.where(keep, mu, 0.0))) @ Q.T
        return (A0 - VUp) @ E + VUp

    def equilibrium(self, A0=None) -> np.ndarray:
        """``A(inf) = A0 P_0 + V U^+`` (D, N), ``P_0`` the projector on the null space of ``U``."""
        mu, Q, keep, VUp = self._spectral()
        if A0 is None:
            return VUp.copy()
        P0 = Q[:, ~keep] @ Q[:, ~keep].T
        return finite_array("A0", A0) @ P0 + VUp

    # -- the score --------------------------------------------------------------------------------
    def eps(self, x, t, A=None) -> np.ndarray:
        """``A h(x, t)`` (B, D)."""
        return self.features(x, t) @ (self.A if A is None else A).T

    def score(self, x, t, A=None) -> np.ndarray:
        """``-A h(x, t) / s(t)`` (B, D) (``x`` (B, D) or (D,))."""
        single = np.ndim(x) == 1
        out = -self.eps(x, t, A) / np.sqrt(self.schedule.s2(np.asarray(t, dtype=float)))
        return out[0] if single else out

    def denoiser(self, x, t, A=None) -> np.ndarray:
        """``(x - s A h) / a`` (B, D)."""
        return (np.atleast_2d(x) - np.sqrt(self.schedule.s2(t)) * self.eps(x, t, A)) / self.schedule.a(t)

    def at(self, A):
        """A copy of the model with read-out ``A`` (shares features and moments), e.g. for the samplers."""
        import copy
        m = copy.copy(self)
        m.A = finite_array("A", A)
        return m

    def describe(self) -> dict:
        """JSON-ready description: sizes, activation, schedule, ``tau_range`` and seed."""
        return {"model": "RandomFeatureScore", "d": self.d, "n_features": self.n_features, "n_freq": self.n_freq,
                "activation": self.activation, "schedule": self.schedule.name, "tau_range": list(self.tau_range),
                "seed": self.seed}


def error_split(rf: RandomFeatureScore, X, x, t, train_time=None, k=None, A0=None) -> dict:
    """Score errors of the random-feature model at points ``x`` (m, D), time ``t``, training time ``u = train_time``.

    ``bias = score_{A(inf)} - score_exact`` (architectural), ``opt = score_{A(u)} - score_{A(inf)}``
    (optimisation; zero when ``train_time`` is None), ``total = bias + opt``, mean squared norms over the points; with
    ``k`` each is split into tangent and normal parts by the ridge frame of ``X`` at ``x``
    (``e_normal = V V^T e``). Returns a dict of floats and the arrays.
    """
    from simulate.ridge import ridge_frame
    exact = EmpiricalModel(X, rf.schedule).score(x, t)
    Ainf = rf.equilibrium(A0)
    s_inf = rf.score(x, t, Ainf)
    bias = s_inf - exact
    opt = np.zeros_like(bias) if train_time is None else rf.score(x, t, rf.weights_at(train_time, A0)) - s_inf
    parts = {"bias": bias, "opt": opt, "total": bias + opt}
    out = {f"{k_}_mse": float(np.mean(np.sum(v * v, axis=1))) for k_, v in parts.items()}
    if k is not None:
        F = ridge_frame(X, x, t, k, schedule=rf.schedule)
        for name, v in parts.items():
            nrm = F.normal_component(v)
            out[f"{name}_normal_mse"] = float(np.mean(np.sum(nrm * nrm, axis=1)))
            out[f"{name}_tangent_mse"] = float(np.mean(np.sum((v - nrm) ** 2, axis=1)))
    out["arrays"] = parts
    return out
