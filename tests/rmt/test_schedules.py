"""Schedules (issue 17): DDPM linear-beta VP, EDM and geometric VE, each mapped to ``tau(t)``, checked against
closed forms derived independently here (discrete DDPM products, the SDE drift/diffusion, sigma(t))."""
import numpy as np
import pytest

from rmt.schedules import DDPM, EDM, SCHEDULES, VE, VP, GeometricVE, get_schedule

T = np.array([1e-3, 0.05, 0.3, 0.7, 1.0])


def test_ddpm_matches_the_discrete_product_of_one_minus_beta():
    # Ho et al.: beta_j linear from 1e-4 to 0.02 over N = 1000 steps, alpha_bar_i = prod_{j<=i} (1 - beta_j);
    # the same betas refined to N steps (beta_j * 1000 / N) converge to the continuous schedule like 1/N
    sch = DDPM()                                   # beta_min = 0.1 = 1e-4 * 1000, beta_max = 20 = 0.02 * 1000
    errs = []
    for N in (1000, 10000, 100000):
        abar = np.cumprod(1 - np.linspace(0.1, 20.0, N) / N)
        i = np.array([N // 100, N // 10, N // 2, N - 1])
        t = (i + 1) / N
        errs.append(np.max(np.abs(sch.a(t) ** 2 / abar[i] - 1)))
        if N == 100000:
            np.testing.assert_allclose(sch.tau(t), (1 - abar[i]) / abar[i], rtol=1e-3)
    assert errs[0] < 0.08 and errs[2] < 1e-3 and errs[1] < errs[0] / 5 and errs[2] < errs[1] / 5


def test_ddpm_drift_and_diffusion_are_linear_beta():
    sch = DDPM()
    h = 1e-6
    t = T[1:]
    f = (np.log(sch.a(t + h)) - np.log(sch.a(t - h))) / (2 * h)           # f = d log a / dt = -beta/2
    g2 = (sch.s2(t + h) - sch.s2(t - h)) / (2 * h) - 2 * f * sch.s2(t)     # g^2 = beta
    beta = 0.1 + t * (20.0 - 0.1)
    np.testing.assert_allclose(f, -beta / 2, rtol=1e-6)
    np.testing.assert_allclose(g2, beta, rtol=1e-6)
    assert np.allclose(sch.a(t) ** 2 + sch.s2(t), 1.0)                    # variance preserving


def test_edm_and_geometric_closed_forms():
    np.testing.assert_allclose(EDM().tau(T), T ** 2)
    g = GeometricVE(0.01, 50.0)
    sigma = 0.01 * 5000.0 ** T
    np.testing.assert_allclose(g.tau(T), sigma ** 2, rtol=1e-12)
    np.testing.assert_allclose(g.tau(1.0), 2500.0)
    assert np.allclose(g.a(T), 1.0) and np.allclose(EDM().a(T), 1.0)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_round_trip_and_monotone(name):
    sch = get_schedule(name)
    tau = sch.tau(T)
    assert np.all(np.diff(tau) > 0)
    np.testing.assert_allclose(sch.t_of_tau(tau), T, rtol=1e-10)
    np.testing.assert_allclose(tau, sch.s2(T) / sch.a(T) ** 2, rtol=1e-10)


def test_names_and_bad_input():
    assert isinstance(get_schedule("ddpm"), DDPM) and isinstance(get_schedule("EDM"), EDM)
    assert get_schedule("ve") == VE() and get_schedule("vp") == VP()
    assert DDPM() == DDPM() and DDPM() != DDPM(0.1, 10.0)
    with pytest.raises(ValueError, match="schedule"):
        get_schedule("cosine")
    with pytest.raises(ValueError, match="beta_min"):
        DDPM(-1.0, 2.0)
    with pytest.raises(ValueError, match="sigma_min"):
        GeometricVE(1.0, 0.5)
    with pytest.raises(ValueError, match="t must be"):
        DDPM().tau(0.0)


def test_the_commands_offer_every_schedule(capsys):
    """``specgap theory timescales --schedule ddpm`` reports times t of that schedule: t_of_tau of the VE answer."""
    import json

    from specgap.cli import main
    from specgap.commands._common import SCHEDULE_NAMES
    assert set(SCHEDULE_NAMES) == set(SCHEDULES)
    base = ["theory", "timescales", "--alpha", "0.5", "--levels", "1,0.01", "--fractions", "0.75,0.25", "--json"]
    assert main(base) == 0
    ve = json.loads(capsys.readouterr().out)
    assert main(base + ["--schedule", "ddpm"]) == 0
    dd = json.loads(capsys.readouterr().out)
    tau, t = ve["gaps"][0]["tau_max"], dd["gaps"][0]["t_max"]
    assert dd["gaps"][0]["tau_max"] == tau
    np.testing.assert_allclose(0.1 * t + 0.5 * (20 - 0.1) * t * t, np.log1p(tau), rtol=1e-12)  # B(t) = log(1+tau)
