"""trained.network_spectra on a score network whose output is the exact score (independent routes: the
closed-form spectrum of simulate's LinearGaussianModel, root finding on it, and the exact-model sampler)."""
import numpy as np
import pytest
import torch
from scipy import optimize

from rmt import LinearManifold, VarianceProfile, theory_spectrum
from rmt.spectrum import Spectrum
from simulate import sample_reverse
from trained.data import linear_manifold_data
from trained.nets import ScoreModel
from trained.network_spectra import (NetworkScore, gap_opening_times, gap_widths, network_spectra, noised_points,
                                     reverse_trajectories, sample_network, separation_order, subspaces, tangent_ks,
                                     time_readouts, training_points)

D, ALPHA = 40, 0.4
PROFILE = VarianceProfile([1.0, 0.01], [0.75, 0.25])


class ExactEps(torch.nn.Module):
    """``eps_hat = s (C + s^2 I)^{-1} x`` (VE) in the ScoreModel input convention: an exact network."""

    def __init__(self, C, sigma_data):
        super().__init__()
        self.register_buffer("C", torch.as_tensor(C, dtype=torch.float64))
        self.w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))   # sets dtype for the engine
        self.sd2 = sigma_data ** 2
        self.data_shape = (C.shape[0],)
        self.config = {}

    def forward(self, x_in, c):
        tau = torch.exp(4 * c)[:, None]
        x = x_in * torch.sqrt(self.sd2 + tau)
        A = self.C[None] + tau[:, :, None] * torch.eye(self.C.shape[0], dtype=x.dtype)
        return torch.sqrt(tau) * torch.linalg.solve(A, x[..., None])[..., 0] + 0 * self.w


@pytest.fixture(scope="module")
def setup():
    data = linear_manifold_data(D, ALPHA, profile=PROFILE, n=500, seed=1)
    net = ScoreModel(ExactEps(data.F @ data.F.T, data.sigma_data), "ve", data.sigma_data).eval()
    return data, net, data.exact_model()


def test_adapter_score_is_the_exact_score(setup):
    data, net, exact = setup
    x = exact.sample_t(7, 0.3, 0)
    np.testing.assert_allclose(NetworkScore(net).score(x, 0.3), exact.score(x, 0.3), rtol=1e-9, atol=1e-12)
    assert NetworkScore(net).score(x[0], 0.3).shape == (D,)


def test_network_spectra_equal_the_closed_form(setup):
    data, net, exact = setup
    t = np.array([0.003, 0.05, 2.0])
    X = noised_points(training_points(data, 3), t, seed=4)
    assert X.shape == (3, 3, D)
    spec = network_spectra(net, X, t)
    assert spec.values.shape == (3, 3, D) and spec.source == "network" and spec.kind == "singular values"
    ref = np.stack([exact.exact_eta(tt) for tt in t])
    np.testing.assert_allclose(spec.values, np.broadcast_to(ref, spec.values.shape), atol=1e-9)
    # same points at every time: (P, d) input
    spec2 = network_spectra(net, X[:, 0], t)
    np.testing.assert_allclose(spec2.values, spec.values, atol=1e-9)


def test_gap_opening_times_match_root_finding(setup):
    """On the exact spectrum, the grid measurement with log-interpolation approaches the exact crossing
    ``w(t) = Delta`` found by brentq on the closed form (grid of 40 points per decade: ~1% in t)."""
    data, net, exact = setup
    lam = np.sort(exact.eigenvalues)[::-1]                    # descending: eta ascending
    t = np.geomspace(1e-3, 1e2, 201)
    spec = Spectrum(np.stack([exact.exact_eta(tt) for tt in t])[None], t)
    subs = subspaces(data.manifold, D)
    assert [s["boundary"] for s in subs] == [12, 16] and [s["dimension"] for s in subs] == [12, 4]
    got = gap_opening_times(spec, [12, 16], 0.1)

    def width(tt, k):
        hi = tt / (lam[k] + tt) if k < lam.size and lam[k] > 1e-12 else 1.0
        return hi - tt / (lam[k - 1] + tt)

    for row, k in zip(got, (12, 16)):
        ts = np.geomspace(1e-3, 1e2, 4001)[::-1]
        w = np.array([width(x, k) for x in ts])
        j = int(np.argmax(w >= 0.1))
        root = optimize.brentq(lambda x: width(x, k) - 0.1, ts[j], ts[j - 1])
        assert row["t_open"] == pytest.approx(root, rel=0.01)
        assert not row["open_at_start"]
    np.testing.assert_allclose(gap_widths(spec, 16)[0], [width(x, 16) for x in t], atol=1e-12)
    assert separation_order({1: got[0]["t_open"], 2: got[1]["t_open"], 3: None}) == [1, 2, 3]


def test_time_readouts_and_the_codimension_of_the_exact_network(setup):
    data, net, exact = setup
    t = np.array([0.01, 10.0])
    spec = network_spectra(net, noised_points(training_points(data, 2), t), t)
    rows = time_readouts(spec)
    eta = exact.exact_eta(0.01)
    assert rows[0]["codimension"]["mean"] == np.sum(eta > 0.9) == D - 16
    assert rows[0]["largest_gap_dimension"]["sem"] == 0.0
    assert rows[1]["phase"] == "coverage" and rows[1]["codimension"]["of_mean_spectrum"] == np.sum(
        exact.exact_eta(10.0) > 0.9)


def test_sampler_duck_typing_reproduces_the_exact_model_path(setup):
    """The adapter through sample_reverse gives the same trajectory as the ExactModel path (same noise)."""
    data, net, exact = setup
    kw = dict(steps=60, t_start=50.0, t_end=1e-2, record_times=[1.0, 0.1])
    a = sample_reverse(exact, 16, rng=3, **kw)
    b = sample_reverse(NetworkScore(net), 16, rng=3, **kw)
    np.testing.assert_allclose(b.x, a.x, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(b.denoised, a.denoised, rtol=1e-8, atol=1e-10)
    assert b.trajectory.shape == (2, 16, D)


def test_reverse_trajectories_have_one_state_per_time_with_the_right_variance(setup):
    data, net, exact = setup
    t = np.geomspace(1e-2, 1e2, 11)                      # coincide with base grid points up to rounding
    X, res = reverse_trajectories(net, t, 400, steps=200, seed=0)
    assert X.shape == (400, 11, D) and res.trajectory.shape[0] == 11
    var = np.mean(np.sum(X ** 2, axis=2), axis=0)
    expect = np.array([np.trace(exact.covariance(tt)) for tt in t])
    np.testing.assert_allclose(var, expect, rtol=0.12)   # 400 samples: ~7% s.d. of the trace
    s = sample_network(net, 300, steps=150, t_end=1e-3, seed=2)
    assert s.x.shape == (300, D)
    Q = np.linalg.qr(data.F)[0]
    off = s.x - (s.x @ Q) @ Q.T
    assert np.sqrt(np.mean(np.sum(off ** 2, 1))) == pytest.approx(np.sqrt((D - 16) * 1e-3), rel=0.15)


def test_tangent_ks_of_the_classical_locations_is_one_over_2m():
    """The m smallest classical eta locations of the theory (d values) have KS 1/(2m) to the bulk law
    conditional on eta < 1; without the conditioning (dividing by alpha) it would be ~0.6."""
    M = LinearManifold(ALPHA, PROFILE)
    d, m = 500, 200
    for t in (0.01, 0.3, 3.0):
        q = theory_spectrum(M, t, d).values[0, 0]
        assert tangent_ks(M, t, q[:m]) == pytest.approx(0.5 / m, abs=1e-3)


def test_tangent_ks_of_the_exact_score_is_time_independent(setup):
    data, net, exact = setup
    m = 16
    ks = [tangent_ks(data.manifold, t, exact.exact_eta(t)[:m]) for t in (0.01, 0.1, 1.0, 10.0)]
    np.testing.assert_allclose(ks, ks[0], rtol=1e-6)          # KS is invariant under eta = tau/(lambda+tau)
    assert 0 < ks[0] < 0.3


@pytest.mark.parametrize("call, needle", [
    (lambda d, n: training_points(d, 10 ** 6), "points"),
    (lambda d, n: network_spectra(n, np.zeros((2, 3, D)), [0.1, 0.2]), "x"),
    (lambda d, n: noised_points(np.zeros(D), [0.1]), "x0"),
    (lambda d, n: gap_widths(Spectrum(np.zeros((1, 1, 4)), [1.0]), 4), "boundary"),
    (lambda d, n: tangent_ks(d.manifold, -1.0, [0.5]), "tau"),
    (lambda d, n: sample_reverse(object(), 3), "model"),
    (lambda d, n: sample_reverse(NetworkScore(n), 3, spectrum_times=[0.1], t_start=10.0), "spectrum_times"),
])
def test_bad_input(setup, call, needle):
    data, net, _ = setup
    with pytest.raises(ValueError, match=needle):
        call(data, net)
