"""Property-test your own formulas against specgap: hypothesis strategies and independent oracles.

``import rmt`` does not import this module (nor hypothesis); install with ``pip install specgap[testing]``.
Strategies (:mod:`rmt.testing.strategies`) draw the inputs the solver answers for: :func:`profiles`,
:func:`manifolds`, :func:`times`, :func:`schedules`, :func:`spectra`. Oracles (:mod:`rmt.testing.oracles`)
compute bulk edges, masses, densities, gap widths, ``tau*`` and phase boundaries by routes that share no code
with :class:`rmt.mp.MPSolver`, each with a documented tolerance (docs/testing.md).

Examples
--------
A closed form of one's own: ``tau*`` of two well separated levels from the decoupled Marchenko-Pastur bulks
(docs/theory.md section 3), property-tested against the oracle on random manifolds:

>>> import numpy as np
>>> from hypothesis import given, settings
>>> from rmt.testing import manifolds, oracles
>>> def my_tau_star(alpha, s1, s2, w1):
...     l1 = s1 * (1 - np.sqrt(alpha * w1)) ** 2                 # lower edge of the high bulk
...     c = 1 - alpha * w1
...     u2 = s2 * c * (1 + np.sqrt(alpha * (1 - w1) / c)) ** 2   # upper edge of the low bulk
...     return np.sqrt(l1 * u2)
>>> @settings(max_examples=20, deadline=None, derandomize=True, database=None)
... @given(manifolds(alpha=(0.1, 0.9), min_levels=2, max_levels=2, max_ratio=1e-10))
... def test_my_tau_star(M):
...     (s1, s2), (w1, _) = M.profile.levels, M.profile.fractions
...     assert np.isclose(my_tau_star(M.alpha, s1, s2, w1), oracles.tau_stars(M)[0], rtol=1e-6)
>>> test_my_tau_star()
"""
try:
    import hypothesis  # noqa: F401
except ImportError as e:                                   # pragma: no cover - the [testing] extra
    raise ImportError("rmt.testing needs hypothesis: pip install specgap[testing]") from e

from . import oracles, strategies
from .strategies import log_uniform, manifolds, profiles, schedules, spectra, times

__all__ = ["profiles", "manifolds", "times", "schedules", "spectra", "log_uniform", "oracles", "strategies"]
