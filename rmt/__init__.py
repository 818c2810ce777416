"""rmt: analytic random-matrix theory of score-Jacobian spectra on linear manifolds.

No sampling, no training: numpy/scipy/sympy only. Analytic readouts take a manifold and ``tau``
(:mod:`rmt.gaps`, names ``theory_*`` where an empirical twin exists); empirical readouts take a list of
spectrum values (:mod:`rmt.readouts`). Formulas: docs/theory.md.

>>> from rmt import LinearManifold, VarianceProfile
>>> M = LinearManifold(0.5, VarianceProfile([1, 0.01], [0.75, 0.25]))
>>> [round(b.lower, 5) for b in M.support()]
[0.0019, 0.15154]
"""
from . import gaps, readouts
from .gaps import (
    IntermediateGap,
    edges_report,
    intermediate_gaps,
    manifold_gap,
    phase_at,
    phase_boundaries,
    phase_transitions,
    spectrum_report,
    theory_effective_dimension,
    theory_largest_gap_dimension,
    timescales,
)
from .intervals import Bulk, Gap
from .manifold import LinearManifold
from .mp import JacobianLaw, MPSolver, eta_edges, eta_of_lambda, lambda_of_eta
from .profiles import ContinuousProfile, VarianceProfile
from .readouts import (
    codimension,
    effective_dimension,
    largest_gap,
    largest_gap_dimension,
    phase,
    phase_rule,
    phases,
    spectral_gaps,
    tangent_count,
)
from .schedules import DDPM, EDM, VE, VP, GeometricVE, Schedule, get_schedule
from .spectrum import Spectrum

__all__ = ["VarianceProfile", "ContinuousProfile", "LinearManifold", "Schedule", "VE", "VP", "DDPM", "EDM",
           "GeometricVE", "get_schedule",
           "MPSolver", "JacobianLaw", "eta_of_lambda", "lambda_of_eta", "eta_edges", "Bulk", "Gap", "Spectrum",
           "IntermediateGap", "intermediate_gaps",
           "manifold_gap", "phase_at", "phase_transitions", "phase_boundaries", "timescales", "spectrum_report",
           "edges_report", "theory_effective_dimension", "theory_largest_gap_dimension", "theory_spectrum",
           # empirical readouts of a list of values (rmt.readouts)
           "spectral_gaps", "largest_gap", "largest_gap_dimension", "effective_dimension", "codimension",
           "tangent_count", "phase", "phases", "phase_rule", "gaps", "readouts"]


def theory_spectrum(manifold: LinearManifold, t, n: int, schedule="ve") -> Spectrum:
    """Theory as a :class:`Spectrum`: the ``n`` classical eigenvalue locations of ``-Jn`` at each time.

    Parameters
    ----------
    manifold : LinearManifold;  t : (T,) process times;  n : number of values (e.g. ``d``)
    """
    import numpy as np

    from .validation import positive_int
    n = positive_int("n", n)
    sch = get_schedule(schedule)
    t = np.atleast_1d(np.asarray(t, dtype=float))
    vals = np.stack([JacobianLaw(manifold, float(tau)).quantiles(n) for tau in sch.tau(t)])
    meta = {"alpha": manifold.alpha, "profile": manifold.profile.as_dict()}
    return Spectrum(vals, t, schedule=sch, source="theory", meta=meta)


def __getattr__(name):
    """``JacobianSpectrum``: the former name of :class:`JacobianLaw` (deprecated, removed in 0.4)."""
    if name == "JacobianSpectrum":
        from . import mp
        return mp.__getattr__(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
