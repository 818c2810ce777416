"""Issue 27: every dimension estimator follows scikit-learn's conventions: its own estimator test suite
(``check_estimator``, through ``parametrize_with_checks``) passes, input goes through ``validate_data``
(``n_features_in_``; complex, object, empty, one-sample and non-finite input refused with scikit-learn's
messages). Small sizes keep the 5 x 41 checks quick (about 4 s)."""
import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from trained.estimators import ESTIMATORS, FLIPD, EffectiveDimension, GapDimension, ManifoldGapDimension, NormalBundle

#: the estimators as the checks see them: defaults except fewer query points (speed)
CHECKED = [ManifoldGapDimension(n_points=8), GapDimension(n_points=8), EffectiveDimension(n_points=8),
           FLIPD(n_points=8), NormalBundle(n_points=4)]


def test_every_estimator_is_checked():
    assert {type(e) for e in CHECKED} == set(ESTIMATORS.values())


@parametrize_with_checks(CHECKED)
def test_sklearn_check_estimator(estimator, check):
    if getattr(check, "func", check).__name__ == "check_array_api_input":
        _array_api_check_in_a_fresh_process(estimator, check.keywords)
    else:
        check(estimator)


def _array_api_check_in_a_fresh_process(estimator, keywords):
    """scikit-learn's array-API check needs ``SCIPY_ARRAY_API=1`` before scipy is first imported (in this
    process it skips itself): run it in a new interpreter, with the estimator rebuilt from its parameters."""
    import json
    import os
    import subprocess
    import sys
    code = ("import json, sys\n"
            "from sklearn.utils.estimator_checks import check_array_api_input\n"
            "import trained.estimators as E\n"
            "cls, params, kw = json.loads(sys.argv[1])\n"
            "check_array_api_input(cls, getattr(E, cls)(**params), **kw)\n")
    arg = json.dumps([type(estimator).__name__, estimator.get_params(), dict(keywords)])
    r = subprocess.run([sys.executable, "-c", code, arg], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "SCIPY_ARRAY_API": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    assert "SkipTest" not in r.stderr


def _cloud(n=40, d=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2)) @ rng.standard_normal((2, d))


@pytest.mark.parametrize("est", CHECKED, ids=lambda e: type(e).__name__)
def test_validation_messages(est):
    X = _cloud()
    fitted = est.fit(X)
    assert fitted.n_features_in_ == 5
    with pytest.raises(ValueError, match="Complex data not supported"):
        est.fit(X + 1j * X)                                     # was: the imaginary part dropped silently
    with pytest.raises(ValueError, match="0 sample"):
        est.fit(np.empty((0, 5)))
    with pytest.raises(ValueError, match="1 sample"):
        est.fit(X[:1])
    with pytest.raises(ValueError, match=r"2 sample\(s\).*minimum of 3 .*: at least 3 points \(one query point"):
        est.fit(X[:2])
    with pytest.raises(ValueError, match="NaN"):
        est.fit(np.where(np.arange(5) == 2, np.nan, X))
    with pytest.raises(ValueError, match="Expected 2D array"):
        est.fit(X[0])
    with pytest.raises(TypeError, match="argument must be a string.* number"):
        est.fit(np.array([[{"a": 1}] + [0.0] * 4] + X[1:].tolist(), dtype=object))
    obj = est.fit(X.astype(object))                             # numbers held as objects are numbers
    assert obj.n_features_in_ == 5
    if isinstance(est, (GapDimension, NormalBundle)):           # the largest gap / drop needs two values
        with pytest.raises(ValueError, match=r"1 feature\(s\).*minimum of 2 is required"):
            est.fit(X[:, :1])
    else:
        assert est.fit(X[:, :1]).dimension_ in (0, 1)
