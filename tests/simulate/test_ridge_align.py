"""The align law (simulate.ridge_align): the injected error field against its geometry, the controlled
experiment against its own law, the linearised offset against the closed-form solution for two modes, and the
fit statistics against hand computations."""
import numpy as np
import pytest

from simulate.models import EmpiricalModel
from simulate.ridge_align import (RidgeError, injected_align, linearised_offset, loglog_fit, prediction_fit,
                                  regime_fit)
from simulate.ridge_dynamics import PerturbedScore, constant_error, reach_align_slide

TWO = np.array([[-1.0, 0.0], [1.0, 0.0]])


def test_ridge_error_geometry_on_two_modes():
    # the ridge of two modes is the line through them: outward normal sign(y) e_y, tangent e_x (reference)
    f = RidgeError(TWO, 1, normal=0.03, tangent=0.02)
    x = np.array([[0.3, 0.2], [-0.5, -0.1], [1.4, 0.05]])
    t = 0.04                                                            # VE: s^2 = t
    e = f(x, t) * t
    np.testing.assert_allclose(e, [[0.02, 0.03], [0.02, -0.03], [0.02, 0.03]], atol=1e-12)
    with pytest.raises(ValueError, match="reference"):
        RidgeError(TWO, 1, reference=[0.0, 0.0])
    with pytest.raises(ValueError, match="normal"):
        RidgeError(TWO, 1, normal=-1.0)


@pytest.fixture(scope="module")
def injected():
    mags = np.geomspace(0.02, 2.0, 4)
    normal = injected_align(TWO, 1, mags, part="normal", n=16, steps=60, rng=3)
    tangent = injected_align(TWO, 1, mags, part="tangent", n=16, steps=60, rng=3)
    return mags, normal, tangent


def test_injected_experiment_recovers_its_law(injected):
    mags, (s, arr), _ = injected
    # two modes: the normal direction is Gaussian with variance s^2 at every offset, so the settled distance minus
    # the error-free one is the injected offset times (1 - sqrt(tau_end / tau_start)) for every trajectory
    factor = 1 - np.sqrt(s["t_end"] / s["t_start"])
    np.testing.assert_allclose(arr["response"], np.broadcast_to(factor * mags[:, None], (4, 16)), rtol=2e-3)
    assert s["regime_end"] == pytest.approx(mags[-1]) and s["first_outside"] is None
    assert s["slope"] == pytest.approx(1.0, abs=2e-3)
    assert s["ci"][0] - 1e-9 <= 1.0 <= s["ci"][1] + 1e-9 or abs(s["slope"] - 1) < 1e-6
    assert s["projections_converged"] == 1.0


def test_injected_tangential_error_slides_without_changing_distance(injected):
    mags, _, (s, arr) = injected
    ok = ~np.isnan(arr["response"][:3])
    # each sample moves by the magnitude to 2% (its own settling along the segment), the median to 0.1%
    np.testing.assert_allclose(arr["response"][:3][ok], np.broadcast_to(mags[:3, None], ok.shape)[ok], rtol=2e-2)
    np.testing.assert_allclose(s["median_ratio"][:3], 1.0, rtol=1e-3)
    assert max(s["distance_change"][:3]) < 1e-3                     # the distance does not move
    assert s["switched"][-1] > 0.5                                  # a push of one spacing changes the mode
    assert s["regime_end"] == pytest.approx(mags[2]) and s["slope"] == pytest.approx(1.0, abs=2e-3)


def test_linearised_offset_matches_the_closed_form_for_two_modes():
    # constant error v / s^2: exact solution of the normal ODE is y(tau) = v + (y0 - v) sqrt(tau / tau0)
    model = EmpiricalModel(TWO, "ve")
    v = np.array([0.0, 0.05])
    score = PerturbedScore(model, constant_error(model, v))
    rec = np.geomspace(1e-4, 1.0, 30)
    dyn = reach_align_slide(model, score, 1, n=12, record_times=rec, steps=80, t_start=10.0, t_end=1e-4, rng=5,
                            jacobian=True)
    y = dyn.states[:, :, 1]
    closed = np.abs(v[1] + (y[0] - v[1]) * np.sqrt(dyn.times / dyn.times[0])[:, None])
    for with_jacobian in (True, False):
        if not with_jacobian:
            dyn.jacobian = None
        pred = linearised_offset(dyn, model.schedule, start="first")
        np.testing.assert_allclose(pred, closed, rtol=2e-3, atol=1e-9)
        np.testing.assert_allclose(pred[-1], dyn.distance[-1], rtol=1e-2)     # the sampler's own step error
    with pytest.raises(ValueError, match="start"):
        linearised_offset(dyn, model.schedule, start="middle")
    with pytest.raises(ValueError, match="Jacobian"):
        linearised_offset(dyn, model.schedule, part="tangent", anchor=TWO[[0] * 12])


def test_linearised_tangent_offset_at_a_mode():
    # a constant tangential error v / s^2 moves a sample settled at a mode by v along the segment
    model = EmpiricalModel(TWO, "ve")
    v = np.array([0.04, 0.0])
    score = PerturbedScore(model, constant_error(model, v))
    dyn = reach_align_slide(model, score, 1, n=10, record_times=np.geomspace(1e-6, 1.0, 40), steps=100,
                            t_start=10.0, t_end=1e-6, rng=6, jacobian=True)
    anchor = TWO[np.argmin(np.linalg.norm(dyn.states[-1][:, None] - TWO[None], axis=-1), axis=1)]
    pred = linearised_offset(dyn, model.schedule, part="tangent", start="first", anchor=anchor)
    np.testing.assert_allclose(pred[-1], np.abs(dyn.states[-1][:, 0] - anchor[:, 0]), rtol=1e-2)
    np.testing.assert_allclose(pred[-1], 0.04, rtol=0.1)               # and both near v, the rest transient


def test_fit_statistics_by_hand():
    m = np.array([1.0, 2.0, 4.0, 8.0])
    assert prediction_fit(m, m)["r2"] == pytest.approx(1.0)
    p = m * np.array([1.0, 1.0, 2.0, 1.0])                           # one point off by log 2
    lm = np.log(m)
    want = 1 - np.log(2) ** 2 / np.sum((lm - lm.mean()) ** 2)
    assert prediction_fit(m, p)["r2"] == pytest.approx(want)
    f = loglog_fit(m, 3 * m ** 1.5)
    assert f["slope"] == pytest.approx(1.5) and f["ci"] == pytest.approx([1.5, 1.5])
    r = regime_fit(m, np.vstack([m[:3, None] * np.ones((3, 5)), 8 * np.full((1, 5), 3.0)]))
    assert r["regime_end"] == 4.0 and r["first_outside"] == 8.0 and r["slope"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="part"):
        injected_align(TWO, 1, [0.1], part="sideways")
