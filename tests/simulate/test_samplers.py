"""Reverse-time samplers with exact scores: covariance recovery within Monte-Carlo error, second-order
Heun, memorisation of the empirical score at small tau, recorded spectra."""
import numpy as np
import pytest

from simulate.models import EmpiricalModel, GaussianMixtureModel, LinearGaussianModel
from simulate.samplers import sample_reverse, sde_coefficients, time_grid


def gaussian(schedule, seed=0, d=5):
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((d, 3)) / np.sqrt(d) * np.array([1.0, 0.5, 0.1])
    return LinearGaussianModel(F, schedule)


def whiten(C, Sigma):
    L = np.linalg.cholesky(Sigma)
    return np.linalg.solve(L, np.linalg.solve(L, C).T)


def test_sde_coefficients_match_schedule_derivatives():
    # f = d log a / dt and g^2 = d s^2/dt - 2 f s^2, checked by central differences of the schedule
    from rmt import VE, VP
    from rmt.schedules import DDPM, EDM, GeometricVE
    for sch in (VE(), VP(), DDPM(0.05, 5.0), EDM(), GeometricVE(0.02, 20.0)):
        for t in (0.05, 0.7, 0.95 if isinstance(sch, GeometricVE) else 3.0):
            h = 1e-6
            f_fd = (np.log(sch.a(t + h)) - np.log(sch.a(t - h))) / (2 * h)
            g2_fd = (sch.s2(t + h) - sch.s2(t - h)) / (2 * h) - 2 * f_fd * sch.s2(t)
            f, g2 = sde_coefficients(sch, t)
            assert f == pytest.approx(f_fd, abs=1e-7) and g2 == pytest.approx(g2_fd, rel=1e-7)


@pytest.mark.parametrize("schedule", ["ve", "vp"])
def test_heun_probability_flow_is_second_order(schedule):
    # The ODE is linear for a Gaussian: integrating the basis vectors gives the one-step-composed map A,
    # so the covariance of the output, A Sigma_start A^T, is exact (no Monte Carlo).
    model = gaussian(schedule)
    errs = []
    for steps in (50, 100, 200):
        r = sample_reverse(model, 5, method="ode", steps=steps, x_init=np.eye(5), t_end=1e-2)
        A = r.x.T
        W = whiten(A @ model.covariance(r.info["t_start"]) @ A.T, model.covariance(r.grid[-1]))
        errs.append(np.abs(W - np.eye(5)).max())
    ratios = np.array(errs[:-1]) / np.array(errs[1:])
    assert np.all((ratios > 3.5) & (ratios < 4.5)), (errs, ratios)
    assert errs[-1] < 6e-3


@pytest.mark.parametrize("schedule", ["ve", "vp"])
@pytest.mark.parametrize("method, steps", [("sde", 1600), ("ode", 200)])
def test_samples_recover_gaussian_covariance(schedule, method, steps):
    # n = 4000: whitened sample-covariance entries have standard error sqrt((1 + delta_ij) / n)
    # (0.022 diagonal, 0.016 off-diagonal); tolerance 5 standard errors. Discretisation bias at these
    # step counts (measured by the exact covariance recursion): EM ~0.007, Heun ~0.0015.
    model = gaussian(schedule, seed=1)
    n = 4000
    r = sample_reverse(model, n, method=method, steps=steps, t_end=1e-2, rng=3)
    Sigma = model.covariance(r.grid[-1])
    W = whiten(np.cov(r.x.T), Sigma)
    se = np.sqrt((1 + np.eye(5)) / n)
    assert np.all(np.abs(W - np.eye(5)) < 5 * se), np.abs(W - np.eye(5)) / se
    m = np.linalg.solve(np.linalg.cholesky(Sigma), r.x.mean(0))
    assert np.all(np.abs(m) < 5 / np.sqrt(n))


def test_sde_recovers_mixture_weights():
    model = GaussianMixtureModel(np.array([[4.0, 0.0], [-4.0, 0.0], [0.0, 5.0]]), 0.05, [0.5, 0.3, 0.2])
    n = 3000
    r = sample_reverse(model, n, method="sde", steps=800, t_end=1e-3, rng=0)
    # at t_end components are far apart: responsibilities are ~one-hot
    counts = model.posterior(r.x, r.grid[-1]).sum(0) / n
    se = np.sqrt(model.weights * (1 - model.weights) / n)
    assert np.all(np.abs(counts - model.weights) < 5 * se), (counts, model.weights)


@pytest.mark.parametrize("method", ["sde", "ode"])
def test_empirical_score_memorises_training_points(method):
    rng = np.random.default_rng(0)
    n_train, d = 20, 5
    model = EmpiricalModel(rng.standard_normal((n_train, d)))
    t_end = 1e-5
    r = sample_reverse(model, 200, method=method, steps=300, t_end=t_end, rng=1)
    idx, dist = model.nearest(r.x)
    # a sample near training point i is x_i + sqrt(t) * N(0, I_d): |.| / sqrt(t) ~ chi_5, < sqrt(d) + 6 w.p. ~1
    assert dist.max() < np.sqrt(t_end) * (np.sqrt(d) + 6)
    # the denoiser E[x0 | x_t] returns the training points themselves
    i2, dist2 = model.nearest(r.denoised)
    assert dist2.max() < 1e-6 and np.all(i2 == idx)
    # and many different training points are reproduced (not a collapse onto one)
    assert len(set(idx.tolist())) >= n_train // 2


def test_recorded_trajectory_and_spectrum():
    model = gaussian("ve", seed=2)
    x0 = np.random.default_rng(0).standard_normal((6, 5)) * 30
    r = sample_reverse(model, 6, method="ode", steps=100, t_start=900.0, t_end=1e-3, x_init=x0,
                       record_times=[900.0, 1.0, 0.01], spectrum_times=[0.5, 0.05, 0.002], spectrum_points=4)
    assert r.trajectory.shape == (3, 6, 5)
    np.testing.assert_array_equal(r.trajectory[0], x0)
    np.testing.assert_array_equal(r.record_times, [900.0, 1.0, 0.01])
    for t in (0.5, 0.05, 0.002, 1.0, 0.01):
        assert np.any(r.grid == t)
    spec = r.spectrum
    assert spec.values.shape == (4, 3, 5) and spec.schedule == "ve"
    np.testing.assert_allclose(spec.t, [0.5, 0.05, 0.002])
    # linear model: eta = tau / (lambda + tau), independent of the point (VE: tau = t)
    lam = np.clip(np.linalg.eigvalsh(model.F @ model.F.T), 0, None)
    for j, t in enumerate(spec.t):
        np.testing.assert_allclose(spec.values[:, j], np.broadcast_to(np.sort(t / (lam + t)), (4, 5)), atol=1e-10)
    # the readouts of the shared container apply: at t = 0.002 the spike (d - m = 2 values) is resolved
    assert spec.codimension(0.1)[0, 2] == 2


def test_time_grid_log_spacing_in_tau():
    from rmt import VP
    g = time_grid(VP(), 5.0, 0.01, 10)
    lt = np.log(VP().tau(g))
    np.testing.assert_allclose(np.diff(lt), np.full(10, np.diff(lt)[0]), rtol=1e-10)
    assert g[0] == 5.0 and g[-1] == 0.01


@pytest.mark.parametrize("kw, match", [
    (dict(method="euler"), "method"),
    (dict(t_start=1.0, t_end=2.0), "t_end"),
    (dict(t_end=0.0), "t_end"),
    (dict(steps=0), "steps"),
    (dict(record_times=[1e6]), "requested times"),
    (dict(x_init=np.zeros((3, 2))), "x_init"),
    (dict(init="uniform"), "init"),
    (dict(spacing="cosine"), "spacing"),
])
def test_sampler_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        sample_reverse(gaussian("ve"), 4, **{"steps": 10, **kw})


def _run_sample_cli(argv, capsys):
    """Run ``specgap simulate sample`` through the real parser (register_sample) and cli.main's error path."""
    import argparse
    import json

    from specgap.cli import _Parser
    from specgap.commands.simulate_sample import register_sample
    parser = _Parser(prog="specgap simulate")
    register_sample(parser.add_subparsers(dest="command", parser_class=_Parser))
    args = parser.parse_args(["sample", *argv])
    assert isinstance(args, argparse.Namespace)
    args.handler(args)
    return json.loads(capsys.readouterr().out)


def test_cli_sample_linear_writes_npz_and_summary(tmp_path, capsys):
    out = tmp_path / "run"
    res = _run_sample_cli(["--model", "linear", "--d", "6", "--alpha", "0.5", "--levels", "1,0.1",
                           "--fractions", "0.5,0.5", "--n", "3000", "--steps", "150", "--method", "ode",
                           "--t-end", "0.01", "--spectrum-times", "0.5,0.02", "--json", "--out", str(out)],
                          capsys)
    z = np.load(out / "samples.npz")
    assert z["samples"].shape == (3000, 6) and z["eta"].shape == (8, 2, 6)
    assert (out / "summary.json").exists()
    assert res["n"] == 3000 and res["method"] == "ode" and res["model"]["m"] == 3
    assert res["spectrum"]["t"] == [0.5, 0.02]
    from rmt import LinearManifold, VarianceProfile
    from simulate.models import LinearGaussianModel
    model = LinearGaussianModel.from_manifold(6, LinearManifold(0.5, VarianceProfile([1, 0.1], [0.5, 0.5])), seed=0)
    # the sample covariance against the exact one at t_end, C + t_end I (VE), within the Monte-Carlo scale
    # computed here: E|S - Sigma|_F^2 = (|Sigma|_F^2 + tr(Sigma)^2) / n for Gaussian samples (Heun bias ~1e-3)
    Sigma = model.data_covariance() + 0.01 * np.eye(6)
    nf = np.linalg.norm(Sigma)
    err = np.linalg.norm(np.cov(z["samples"].T) - Sigma) / nf
    mc = np.sqrt((nf ** 2 + np.trace(Sigma) ** 2) / 3000) / nf
    assert err < 3 * mc and res["cov_rel_error"] == pytest.approx(err, rel=1e-6)
    # linear model: eta at every particle is the closed form tau / (lambda + tau) of the model's F
    np.testing.assert_allclose(z["eta"][:, 1], np.broadcast_to(model.exact_eta(0.02), (8, 6)), atol=1e-10)


def test_cli_sample_empirical_memorises(tmp_path, capsys):
    pts = np.random.default_rng(0).standard_normal((10, 3))
    np.save(tmp_path / "pts.npy", pts)
    res = _run_sample_cli(["--model", "empirical", "--data", str(tmp_path / "pts.npy"), "--d", "3", "--n", "100",
                           "--steps", "200", "--t-end", "1e-6", "--json"], capsys)
    assert res["memorised_fraction"] == 1.0 and res["distinct_training_points"] >= 5


@pytest.mark.parametrize("argv, match", [
    (["--n", "0"], "n must be >= 1"),
    (["--model", "empirical", "--data", "/nonexistent.npy"], "--data"),
    (["--model", "subspaces", "--dims", "1,2", "--variances", "1,2,3"], "--variances"),
    (["--t-end", "-1"], "--t-end"),
])
def test_cli_sample_bad_values_exit_2(argv, match, capsys):
    """Bad values raise ValueError naming the argument (cli.main turns this into exit status 2)."""
    with pytest.raises(ValueError, match=match):
        _run_sample_cli(argv + ["--json"], capsys)
