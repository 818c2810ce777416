"""rmt: analytic random-matrix theory of score-Jacobian spectra on linear manifolds.

No sampling, no training: numpy/scipy/sympy only.

>>> from rmt import LinearManifold, VarianceProfile
>>> M = LinearManifold(0.5, VarianceProfile([1, 0.01], [0.75, 0.25]))
>>> [round(b.lower, 5) for b in M.support()]
[0.0019, 0.15154]
"""
from .gaps import (IntermediateGap, counting, edges_report, effective_dimension, intermediate_gaps,
                   largest_gap_dimension, manifold_gap, phase_at, phase_boundaries, phase_transitions,
                   spectrum_report,
                   timescales)
from .mp import Bulk, JacobianSpectrum, MPSolver
from .profiles import ContinuousProfile, LinearManifold, VarianceProfile
from .readouts import (codimension, gaps, largest_gap, phase, phases)
from .schedules import VE, VP, Schedule, get_schedule
from .spectrum import Spectrum

__all__ = ["VarianceProfile", "ContinuousProfile", "LinearManifold", "Schedule", "VE", "VP", "get_schedule",
           "MPSolver", "JacobianSpectrum", "Bulk", "Spectrum", "IntermediateGap", "intermediate_gaps",
           "manifold_gap", "phase_at", "phase_transitions", "phase_boundaries", "timescales", "spectrum_report", "edges_report",
           "counting", "effective_dimension", "largest_gap_dimension", "gaps", "largest_gap", "phase",
           "phases", "codimension", "theory_spectrum"]


def theory_spectrum(manifold: LinearManifold, t, n: int, schedule="ve") -> Spectrum:
    """Theory as a :class:`Spectrum`: the ``n`` classical eigenvalue locations of ``-Jn`` at each time.

    Parameters
    ----------
    manifold : LinearManifold;  t : (T,) process times;  n : number of values (e.g. ``d``)
    """
    import numpy as np

    from ._validate import positive_int
    n = positive_int("n", n)
    sch = get_schedule(schedule)
    t = np.atleast_1d(np.asarray(t, dtype=float))
    vals = np.stack([JacobianSpectrum(manifold, float(tau)).quantiles(n) for tau in sch.tau(t)])
    meta = {"alpha": manifold.alpha, "profile": manifold.profile.as_dict()}
    return Spectrum(vals, t, schedule=sch.name, source="theory", meta=meta)
