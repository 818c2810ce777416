"""Reach-align-slide (docs/theory.md section 8): with a known error added to the exact score of two modes,
the settled distance to the ridge equals the normal error's offset s^2 |e_normal| (closed form for two modes)
and a tangential error moves the samples along the ridge, not off it."""
import numpy as np
import pytest

from simulate.models import EmpiricalModel
from simulate.ridge_dynamics import PHASES, PerturbedScore, constant_error, fit_slope, reach_align_slide

X = np.array([[-1.0, 0.0], [1.0, 0.0]])


@pytest.fixture(scope="module")
def runs():
    m = EmpiricalModel(X)
    out = {}
    for c in (0.02, 0.05, 0.1):
        out[c] = reach_align_slide(X, PerturbedScore(m, constant_error(m, [0.0, c])), 1, n=16, rng=1, steps=150,
                                   t_end=1e-5)
    return out


def test_settled_distance_tracks_the_normal_error(runs):
    for c, r in runs.items():
        assert np.allclose(r.delta_eq[-1], c, rtol=1e-9)          # s^2 |e_normal| = c by construction
        # PF-ODE across the ridge: d(y - c)/d log t = (y - c)/2, so |y - c| shrinks like sqrt(t) -> c
        assert np.median(r.distance[-1]) == pytest.approx(c, rel=0.05)
        assert r.slope["through_origin"] == pytest.approx(1.0, abs=0.05)
        assert r.converged.all() and np.all(r.error_tangent < 1e-6 * r.error_normal.max())
    both = fit_slope(np.concatenate([r.distance[-1] for r in runs.values()]),
                     np.concatenate([r.delta_eq[-1] for r in runs.values()]))
    assert both["loglog"] == pytest.approx(1.0, abs=0.1)


def test_phases_start_with_reach_and_leave_it(runs):
    r = runs[0.05]
    fr = r.phase_fractions()
    assert set(fr) == set(PHASES)
    assert fr["reach"][0] > 0.9 and fr["reach"][-1] == 0.0
    assert np.allclose(sum(fr.values()), 1.0)


def test_tangential_error_slides_along_the_ridge():
    m = EmpiricalModel(X)
    ct = 0.1
    r = reach_align_slide(X, PerturbedScore(m, constant_error(m, [ct, 0.0])), 1, n=16, rng=2, steps=150,
                          t_end=1e-5)
    assert np.median(r.distance[-1]) < 0.01                      # stays on the ridge
    # the balance point along the segment moves from each mode by the tangential offset
    xs = r.foot[-1][:, 0]
    assert np.allclose(np.abs(xs - ct), 1.0, atol=0.01)
    assert np.all(r.error_normal < 1e-6 * r.error_tangent.max())


def test_schedule_mismatch_is_refused():
    with pytest.raises(ValueError, match="schedule"):
        reach_align_slide(EmpiricalModel(X, "ve"), EmpiricalModel(X, "vp"), 1, n=2)
