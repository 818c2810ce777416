"""Random-feature score model (docs/theory.md section 8): the closed-form gradient flow against a numerical
integration of the flow with torch-autograd gradients of the sampled loss; the equilibrium against numpy's
least squares; the error split."""
import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from trained.random_features import RandomFeatureScore, error_split


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.2]]) + 0.0 * rng.standard_normal((3, 2))
    rf = RandomFeatureScore(2, n_features=24, n_freq=3, seed=1, tau_range=(1e-2, 4.0)).fit(X, n_samples=3000,
                                                                                          seed=2)
    H, eps, _ = rf.training_sample(X, 3000, seed=2)           # the same sample the moments came from
    return X, rf, H, eps


def test_closed_form_equals_integrated_gradient_flow(fitted):
    X, rf, H, eps = fitted
    Ht, Et = torch.as_tensor(H), torch.as_tensor(eps)
    D, N = rf.d, rf.n_features

    def rhs(_, a):                                             # dA/ds = -grad_A mean |A h - eps|^2 (autograd)
        A = torch.as_tensor(a.reshape(D, N)).requires_grad_(True)
        loss = ((Ht @ A.T - Et) ** 2).sum(1).mean()
        (g,) = torch.autograd.grad(loss, A)
        return -g.numpy().ravel()

    A0 = np.random.default_rng(3).standard_normal((D, N)) * 0.1
    times = [0.05, 0.5, 3.0]
    sol = solve_ivp(rhs, (0, times[-1]), A0.ravel(), method="DOP853", t_eval=times, rtol=1e-12, atol=1e-13)
    assert sol.success
    for j, s in enumerate(times):
        A = rf.weights_at(s, A0)
        ref = sol.y[:, j].reshape(D, N)
        assert np.linalg.norm(A - ref) / np.linalg.norm(ref) < 1e-6, s
    assert np.allclose(rf.weights_at(0.0, A0), A0, atol=1e-13)
    # the sampled loss from the moments equals the direct mean over the sample
    A = rf.weights_at(0.5, A0)
    assert rf.loss(A) == pytest.approx(np.mean(np.sum((H @ A.T - eps) ** 2, 1)), rel=1e-10)


def test_equilibrium_is_the_least_squares_read_out(fitted):
    X, rf, H, eps = fitted
    ls = np.linalg.lstsq(H, eps, rcond=None)[0].T             # minimum-norm least squares, (D, N)
    eq = rf.equilibrium()
    # compare predictions on the sample (well conditioned) and the weights themselves
    assert np.abs(H @ eq.T - H @ ls.T).max() < 1e-8
    assert np.linalg.norm(eq - ls) / np.linalg.norm(ls) < 1e-6
    assert np.allclose(rf.weights_at(1e6), eq, rtol=0, atol=1e-6 * np.abs(eq).max())
    losses = [rf.loss(rf.weights_at(s)) for s in (0, 0.1, 1, 10, 100)]
    assert all(np.diff(losses) <= 1e-12) and losses[-1] >= rf.loss(eq) - 1e-10


def test_error_split_adds_up(fitted):
    X, rf, _, _ = fitted
    x = np.array([[0.0, 0.05], [0.5, -0.03], [-0.4, 0.02]])
    t = 0.05
    e = error_split(rf, X, x, t, train_time=2.0, k=1)
    arr = e["arrays"]
    assert np.allclose(arr["bias"] + arr["opt"], arr["total"])
    from simulate.models import EmpiricalModel
    exact = EmpiricalModel(X).score(x, t)
    assert np.allclose(arr["total"], rf.score(x, t, rf.weights_at(2.0)) - exact)
    for name in ("bias", "opt", "total"):
        assert e[f"{name}_normal_mse"] + e[f"{name}_tangent_mse"] == pytest.approx(e[f"{name}_mse"], rel=1e-10)
    assert error_split(rf, X, x, t)["opt_mse"] == 0.0


@pytest.mark.parametrize("kw,match", [({"n_features": 0}, "n_features"), ({"activation": "gelu"}, "activation"),
                                      ({"tau_range": (1.0, 0.1)}, "tau_range")])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        RandomFeatureScore(2, **kw)
    with pytest.raises(ValueError, match="fit"):
        RandomFeatureScore(2).weights_at(1.0)
