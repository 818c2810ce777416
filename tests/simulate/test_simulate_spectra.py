"""Exact-score spectra: identity with the naive route, backends, theory agreement at d=1000, CLI."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from rmt import JacobianLaw, LinearManifold, Spectrum, VarianceProfile, get_schedule
from rmt.testing import schedules
from simulate.agreement import ks_distance
from simulate.fmatrix import BACKENDS, column_variances, sample_F
from simulate.spectra import eta_from_eigenvalues, simulate_spectra, spectra_from_F
from specgap.cli import main

FIG2 = LinearManifold(0.5, VarianceProfile([1, 0.01], [0.75, 0.25]))


def naive_eta(F, t, schedule):
    """Reference route: J_t = -(a^2 C + s^2 I)^{-1}, Jn = s^2 J_t, eigvalsh(-Jn) at each time."""
    sch = get_schedule(schedule)
    d = F.shape[0]
    C = F @ F.T
    out = []
    for ti in t:
        a, s2 = float(sch.a(ti)), float(sch.s2(ti))
        J = -np.linalg.inv(a * a * C + s2 * np.eye(d))
        out.append(np.linalg.eigvalsh(-s2 * J))
    return np.array(out)


@settings(max_examples=20, deadline=None)
@given(st.integers(4, 40), st.floats(0.2, 2.0), schedules(names=("ve", "vp")), st.integers(0, 100))
def test_exact_identity_against_the_naive_route(d, alpha, schedule, seed):
    M = LinearManifold(alpha, VarianceProfile([1.0, 0.05], [0.6, 0.4]))
    if M.latent_dim(d) < 1:
        return
    t = np.array([1e-3, 0.05, 0.7, 3.0])
    F = sample_F(M, d, 2, seed)
    spec = spectra_from_F(F, t, schedule)
    assert spec.values.shape == (2, 4, d)
    for r in range(2):
        np.testing.assert_allclose(spec.values[r], naive_eta(F[r], t, schedule), atol=1e-10)


@pytest.mark.parametrize("alpha", [0.5, 1.6])
def test_backends_agree_to_1e8(alpha):
    M = LinearManifold(alpha, VarianceProfile([1, 0.01], [0.75, 0.25]))
    t = np.geomspace(1e-4, 1e2, 13)
    F = sample_F(M, 60, 4, seed=2)
    ref = spectra_from_F(F, t).values
    for backend in ("numba", "jax"):
        np.testing.assert_allclose(spectra_from_F(F, t, backend=backend).values, ref, rtol=0, atol=1e-8)
    # the full seeded pipelines: numpy and numba draw the same F; JAX's own F through numpy and JAX
    a = simulate_spectra(M, 60, t, 4, seed=9, backend="numpy").values
    b = simulate_spectra(M, 60, t, 4, seed=9, backend="numba").values
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-8)
    Fj = sample_F(M, 60, 4, seed=9, backend="jax")
    c = simulate_spectra(M, 60, t, 4, seed=9, backend="jax").values
    np.testing.assert_allclose(c, spectra_from_F(Fj, t).values, rtol=0, atol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_eta_map_matches_the_formula(backend):
    lam = np.array([[3.0, 0.5, 0.0], [1.0, 2.0, 0.25]])
    tau = np.array([0.1, 2.0])
    eta = eta_from_eigenvalues(lam, tau, 5, backend)
    assert eta.shape == (2, 2, 5)
    for r in range(2):
        for i in range(2):
            expect = np.sort(np.concatenate([tau[i] / (lam[r] + tau[i]), [1.0, 1.0]]))
            np.testing.assert_allclose(eta[r, i], expect, rtol=1e-14)


def test_spike_and_container():
    t = [0.01, 0.1]
    spec, lam = simulate_spectra(FIG2, 80, t, 3, seed=1, return_eigenvalues=True)
    assert isinstance(spec, Spectrum) and spec.source == "simulation"
    assert spec.values.shape == (3, 2, 80) and lam.shape == (3, 40)
    assert np.all(np.diff(spec.values, axis=-1) >= 0)
    assert np.count_nonzero(spec.values == 1.0) == 3 * 2 * 40          # exactly d - m per draw and time
    assert np.all(spec.values[..., :40] < 1) and np.all(spec.values > 0)
    assert spec.meta["m"] == 40 and spec.meta["backend"] == "numpy"
    full = simulate_spectra(LinearManifold(1.5, VarianceProfile.single()), 40, t, 2)
    assert np.all(full.values < 1.0)                                    # full rank: no spike
    vp = simulate_spectra(FIG2, 80, [0.3], 1, schedule="vp")
    np.testing.assert_allclose(vp.tau, np.expm1(0.6))


def test_theory_agreement_at_d1000_three_times():
    """Issue 4: KS < 0.05 at d = 1000 for the Fig. 2 parameters at three times."""
    t = [0.003, 0.0444, 0.5]
    spec = simulate_spectra(FIG2, 1000, t, 4, seed=11)
    for i, tau in enumerate(spec.tau):
        js = JacobianLaw(FIG2, tau)
        per_draw = [ks_distance(js, spec.values[r, i]) for r in range(4)]
        assert max(per_draw) < 0.05
        assert ks_distance(js, spec.values[:, i]) < 0.01        # measured ~0.002 (pooled 4000 values)


def test_smallest_nonzero_eigenvalue_near_the_reference_edge():
    """docs/theory.md: low bulk lower edge 0.001898; the mean smallest nonzero eigenvalue at d=1000 is close."""
    _, lam = simulate_spectra(FIG2, 1000, [1.0], 5, seed=4, return_eigenvalues=True)
    assert lam.min(axis=1).mean() == pytest.approx(0.001898, rel=0.05)
    assert lam.max(axis=1).mean() == pytest.approx(2.60101, rel=0.05)


@pytest.mark.parametrize("kwargs, name", [
    (dict(lam=[[-1.0]], tau=[1.0], d=2), "lam"),
    (dict(lam=[[1.0]], tau=[0.0], d=2), "tau"),
    (dict(lam=[[1.0, 2.0]], tau=[1.0], d=1), "d"),
    (dict(lam=[[1.0]], tau=[1.0], d=2, backend="gpu"), "backend"),
])
def test_eta_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        eta_from_eigenvalues(**kwargs)


def test_simulate_bad_times():
    with pytest.raises(ValueError, match="t must"):
        simulate_spectra(FIG2, 20, [0.1, -1.0])


# --- CLI: a profile the other tests do not use, checked against the closed-form Marchenko-Pastur law ---
def _mp(alpha, s):
    lo, hi = s * (1 - np.sqrt(alpha)) ** 2, s * (1 + np.sqrt(alpha)) ** 2
    dens = lambda x: np.sqrt(max((hi - x) * (x - lo), 0.0)) / (2 * np.pi * s * x)  # noqa: E731
    norm = integrate.quad(dens, lo, hi)[0]
    return lo, hi, lambda a, b: integrate.quad(dens, max(a, lo), min(b, hi))[0] / norm if b > lo and a < hi else 0.0


def test_cli_simulate_spectra_against_marchenko_pastur(tmp_path, capsys):
    alpha, s, d, R, t = 0.3, 2.0, 400, 10, [0.05, 0.8]
    rc = main(["simulate", "spectra", "--d", str(d), "--alpha", str(alpha), "--levels", str(s), "--t",
               ",".join(map(str, t)), "--draws", str(R), "--backend", "numba", "--out", str(tmp_path), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    z = np.load(tmp_path / "spectra.npz")
    assert z["eta"].shape == (R, 2, d) and np.allclose(z["t"], t)
    assert out["spike_mass"] == pytest.approx(0.7, abs=1e-12) and out["m"] == 120
    lo, hi, mass = _mp(alpha, s)
    th = out["covariance"]["theory"]["bulks"][0]
    assert th["lower"] == pytest.approx(lo, rel=1e-8) and th["upper"] == pytest.approx(hi, rel=1e-8)
    for i, ti in enumerate(t):
        e = out["times"][i]
        # eta edges of the bulk: t/(hi + t), t/(lo + t). Finite-size edge shifts ~ m^{-2/3}: measured
        # 2% at the top of the lambda bulk and 6% (relative) at its soft lower edge lo = 0.409
        lower, upper = e["edges_mean"][0]
        assert lower == pytest.approx(ti / (hi + ti), rel=0.04)
        assert upper == pytest.approx(ti / (lo + ti), rel=0.1)
        assert upper < ti / (lo + ti)                # the smallest eigenvalue sits above the edge on average
        assert e["spike_mass"] == pytest.approx(0.7, abs=1e-12)
        # histogram (density per unit d of eta < 1) against the MP mass in each bin
        be = np.array(out["histogram"]["bin_edges"])
        h = np.array(out["histogram"]["density"][i]) * np.diff(be)
        lam_edges = ti * (1 - be) / np.maximum(be, 1e-300)                 # eta bin -> lambda interval
        theory = np.array([alpha * mass(lam_edges[k + 1], lam_edges[k]) for k in range(be.size - 1)])
        assert np.abs(h - theory).sum() < 0.03
        assert h.sum() == pytest.approx(0.3, abs=1e-12)
    assert np.array_equal(np.load(tmp_path / "histogram.npz")["density"], np.array(out["histogram"]["density"]))


@pytest.mark.parametrize("argv, needle", [
    (["--d", "0"], "--d"), (["--draws", "0"], "--draws"), (["--t", "0.1,-2"], "--t"),
    (["--alpha", "-1"], "alpha"), (["--backend", "cuda"], "backend"), (["--levels", "1,x"], "levels"),
    (["--fractions", "0.3,0.3"], "fractions"),
])
def test_cli_bad_input_exits_2(argv, needle, capsys):
    base = {"--d": "20", "--alpha": "0.5", "--t": "0.1", "--draws": "2", "--levels": "1,0.01",
            "--fractions": "0.5,0.5"}
    args = dict(base)
    args.update(dict(zip(argv[::2], argv[1::2])))
    rc = main(["simulate", "spectra", *[x for kv in args.items() for x in kv]])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_column_counts_in_summary(tmp_path, capsys):
    rc = main(["simulate", "spectra", "--d", "50", "--alpha", "0.5", "--levels", "1,0.01", "--fractions",
               "0.75,0.25", "--t", "0.1", "--draws", "2", "--json", "--no-agreement"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bulk_counts"] == np.unique(column_variances(FIG2, 50), return_counts=True)[1][::-1].tolist()
    assert "ks" not in out["times"][0]


def test_negative_seed_refused_before_any_draw():
    with pytest.raises(ValueError, match="seed must be >= 0"):
        simulate_spectra(LinearManifold(0.5, VarianceProfile([1.0], [1.0])), 10, [1.0], draws=10 ** 9, seed=-1)
