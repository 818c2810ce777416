"""The computation of one sweep cell, per task; pure functions of ``(spec, cell number)``.

Every task stores the theory of its cell (docs/theory.md sections 3-5, at ``tau = tau(t)``):

- ``phase_theory`` (t): phase code (0 trivial, 1 coverage, 2 consolidation; :func:`rmt.gaps.phase_at`);
- ``edges_theory`` (t, bulk, edge): ``eta`` edges of each bulk, ``[tau/(u+tau), tau/(l+tau)]`` for the
  covariance bulk ``[l, u]`` (:func:`rmt.mp.eta_edges`), high variance (low ``eta``) first; NaN for a bulk that does not exist;
- ``gap_width_theory`` (t): ``W_1(tau)`` of the gap between the two bulks (NaN when they are merged);
- ``tau_star``, ``max_width``, ``trivial_coverage``, ``coverage_consolidation`` (): in ``tau`` / ``eta`` units.

``simulate`` adds the measured exact-score spectra of ``draws`` random ``F`` (docs/theory.md section 2):
``phase`` (draw, t), ``edges`` (draw, t, bulk, edge) split by the theory's bulk counts, ``gap_width``
(draw, t), ``largest_gap_dimension`` (draw, t) and the Kolmogorov-Smirnov distance ``ks`` (draw, t) to the
theory. ``finite-n`` uses the exact empirical score of ``n`` training points drawn from each ``F``
(docs/theory.md section 6), evaluated at ``points`` noised training points per time: ``phase`` and
``dimension = #{eta < 1 - delta}`` (draw, point, t; :func:`rmt.readouts.tangent_count`), with ``dimension_theory = d * #{lambda > tau
delta/(1 - delta)}/d`` (t) of ``n = infinity``; ``retained`` (draw, point, t, level), the mean of
``1 - eta`` over the directions of level ``k`` (``U_k``: the eigenvectors of ``C = F F^T`` in its bulk ``k``,
high variance first, by :func:`simulate.agreement.bulk_counts`), against ``retained_theory`` (draw, t,
level) of ``n = infinity``, the mean of ``lambda/(lambda + tau)`` over that bulk; and the condensation estimate
``sigma_k^2 / (2 ln n)`` (level), high variance first. ``network`` trains one MLP score network per draw on
``n`` points of that draw's ``F`` (:func:`trained.data.linear_manifold_data`, ``steps`` steps, hidden ``width``,
depth 2) and reads its Jacobian spectra through the engine (:func:`trained.network_spectra.network_spectra`) at
``points`` noised training points per time: ``phase``, ``edges``, ``gap_width``, ``largest_gap_dimension`` and
``ks`` (draw, point, t) as for ``simulate``, ``score_error`` (draw, t), the relative error of its score against
the exact score of the same ``F``, and ``loss`` (draw), the mean loss of the last tenth of the steps.
"""
from __future__ import annotations

import contextlib

import numpy as np

from rmt.diagram import PHASE_CODES, manifold_along
from rmt.gaps import IntermediateGap, phase_at, phase_boundaries
from rmt.mp import eta_edges

from .spec import SweepSpec

__all__ = ["variables", "compute_cell", "cell_cost", "cell_manifold", "PHASE_CODES"]

NB = 2          # bulks of a two-level profile (NaN-padded when merged)

_THEORY = {
    "phase_theory": (("t",), "phase code of the theory (0 trivial, 1 coverage, 2 consolidation)"),
    "edges_theory": (("t", "bulk", "edge"), "theory eta edges of each bulk, high variance first"),
    "gap_width_theory": (("t",), "theory width of the gap between the two bulks (eta units)"),
    "tau_star": ((), "tau* = sqrt(l_1 u_2) of the gap (tau units)"),
    "max_width": ((), "maximal width of the gap (eta units)"),
    "trivial_coverage": ((), "trivial | coverage boundary (tau units)"),
    "coverage_consolidation": ((), "coverage | consolidation boundary (tau units)"),
}
_SIMULATE = {
    "phase": (("draw", "t"), "phase code of the measured spectrum"),
    "edges": (("draw", "t", "bulk", "edge"), "measured eta edges of each bulk (split by theory counts)"),
    "gap_width": (("draw", "t"), "measured width of the gap between the two bulks (eta units)"),
    "largest_gap_dimension": (("draw", "t"), "number of values below the widest gap"),
    "ks": (("draw", "t"), "Kolmogorov-Smirnov distance to the theory"),
}
_FINITE_N = {
    "phase": (("draw", "point", "t"), "phase code of the spectrum at a noised training point"),
    "dimension": (("draw", "point", "t"), "#{eta < 1 - delta}: directions not condensed"),
    "dimension_theory": (("t",), "d * #{lambda > tau delta/(1 - delta)}/d of n = infinity"),
    "retained": (("draw", "point", "t", "level"),
                 "tr(U_k^T (I + Jn) U_k)/m_k, U_k the eigenvectors of C in bulk k: variance kept (1 - eta)"),
    "retained_theory": (("draw", "t", "level"), "the same for n = infinity: mean of lambda/(lambda + tau) in bulk k"),
    "condensation_estimate": (("level",), "sigma_i^2 / (2 ln n): estimated condensation tau of level i"),
}
_NETWORK = {
    "phase": (("draw", "point", "t"), "phase code of the network's spectrum at a noised training point"),
    "edges": (("draw", "point", "t", "bulk", "edge"), "network eta edges of each bulk (split by theory counts)"),
    "gap_width": (("draw", "point", "t"), "network width of the gap between the two bulks (eta units)"),
    "largest_gap_dimension": (("draw", "point", "t"), "number of values below the widest gap"),
    "ks": (("draw", "point", "t"), "Kolmogorov-Smirnov distance to the theory"),
    "score_error": (("draw", "t"), "relative L2 error of the network's score against the exact score of its F"),
    "loss": (("draw",), "training loss, mean of the last tenth of the steps"),
}


def variables(spec: SweepSpec) -> dict:
    """``{name: (inner dims, description)}`` of the task's variables (outer dims come first in the store)."""
    out = dict(_THEORY)
    if spec.task == "simulate":
        out.update(_SIMULATE)
    elif spec.task == "finite-n":
        out.update(_FINITE_N)
    elif spec.task == "network":
        out.update(_NETWORK)
    return out


def inner_sizes(spec: SweepSpec) -> dict:
    """Size of each inner dimension of the task's variables: ``{"t", "bulk", "edge", "draw", "point", "level"}``."""
    return {"t": len(spec.t), "bulk": NB, "edge": 2, "draw": spec.draws, "point": spec.points, "level": 2}


def cell_manifold(alpha: float, ratio: float, fraction: float):
    """Levels ``(1, ratio)`` with fractions ``(fraction, 1 - fraction)`` (one level if ``ratio = 1`` or
    ``fraction = 1``)."""
    from rmt import LinearManifold, VarianceProfile
    if fraction >= 1.0:
        return LinearManifold(alpha, VarianceProfile([1.0], [1.0]))
    return manifold_along("ratio", ratio, alpha, [1.0, ratio], [fraction, 1.0 - fraction])


def _codes(labels) -> np.ndarray:
    return np.vectorize(PHASE_CODES.__getitem__, otypes=[float])(labels)


def _theory(M, tau, delta) -> dict:
    bulks = sorted(M.support(masses=False), key=lambda b: -b.upper)       # high variance first
    edges = np.full((tau.size, NB, 2), np.nan)
    for k, b in enumerate(bulks[:NB]):
        edges[:, k, 0], edges[:, k, 1] = eta_edges(b, tau)
    # the gap between the two bulks (rmt.gaps.intermediate_gaps without the bulk masses, which the sweep does
    # not store: their quadrature is most of the cost of a theory cell)
    g = IntermediateGap(1, bulks[0].lower, bulks[1].upper, float("nan")) if len(bulks) > 1 else None
    pb = phase_boundaries(M, delta)
    nan = float("nan")
    return {"phase_theory": _codes(phase_at(M, tau, delta)), "edges_theory": edges,
            "gap_width_theory": g.width(tau) if g else np.full(tau.size, np.nan),
            "tau_star": np.float64(g.tau_star if g else nan), "max_width": np.float64(g.max_width if g else nan),
            "trivial_coverage": np.float64(pb["trivial_coverage"]),
            "coverage_consolidation": np.float64(nan if pb["coverage_consolidation"] is None
                                                 else pb["coverage_consolidation"])}


def _padded_edges(values, counts):
    from simulate.agreement import empirical_edges
    e = empirical_edges(values, counts)                                   # (..., B, 2)
    out = np.full(e.shape[:-2] + (NB, 2), np.nan)
    out[..., :e.shape[-2], :] = e[..., :NB, :]
    return out


def _simulate(spec, M, d, seed, tau) -> dict:
    from simulate.spectra import simulate_spectra
    sp = simulate_spectra(M, d, spec.t, spec.draws, seed, "numpy", spec.schedule)
    return _measured(spec, M, d, sp.values, tau)                           # values (R, T, d)


def _measured(spec, M, d, v, tau) -> dict:
    """Readouts of spectra ``v`` of shape (..., T, d) (ascending ``eta``): phase, edges, gap width, largest-gap
    dimension and the KS distance to the theory at each time."""
    from rmt.mp import JacobianLaw
    from rmt.readouts import largest_gap_dimension, phases
    from simulate.agreement import bulk_counts, ks_distances
    edges = _padded_edges(v, bulk_counts(M, d))
    ks = np.empty(v.shape[:-1])
    for i, ti in enumerate(tau):
        vi = v[..., i, :]                                                  # one theory CDF for all spectra
        ks[..., i] = ks_distances(JacobianLaw(M, float(ti)), vi.reshape(-1, d)).reshape(vi.shape[:-1])
    return {"phase": _codes(phases(v, spec.delta)), "edges": edges,
            "gap_width": edges[..., 1, 0] - edges[..., 0, 1],
            "largest_gap_dimension": largest_gap_dimension(v).astype(float), "ks": ks}


def _network(spec, M, d, n, seed, tau) -> dict:
    from simulate.fmatrix import draw_seeds
    from trained.data import linear_manifold_data
    from trained.nets import build_model
    from trained.nets import torch_threads
    from trained.network_spectra import network_spectra, noised_points, training_points
    from trained.train import TrainConfig, score_error, train
    R, T = spec.draws, len(spec.t)
    vals, err, loss = [], np.empty((R, T)), np.empty(R)
    s = np.sqrt(tau)
    with torch_threads(1):                       # the same numbers in this process and on a worker
        for r, sr in enumerate(draw_seeds(seed, R)):                       # draw r: F and training of its own
            sr = int(sr)
            data = linear_manifold_data(d, M.alpha, profile=M.profile, n=n, seed=sr)
            model = build_model({"arch": "mlp", "net": {"d": d, "width": spec.width, "depth": 2},
                                 "schedule": spec.schedule, "sigma_data": data.sigma_data}, seed=sr)
            cfg = TrainConfig(steps=spec.steps, batch=min(256, n), lr=2e-3, warmup=min(100, spec.steps // 10),
                              ema=0.999, sigma_min=min(0.01, s.min() / 2), sigma_max=max(10.0, 2 * s.max()),
                              seed=sr)
            res = train(model, data, cfg, None, progress=False)
            net = res.ema.cpu().eval().requires_grad_(False)
            x0 = training_points(data, spec.points, sr)
            vals.append(network_spectra(net, noised_points(x0, spec.t, spec.schedule, sr), spec.t).values)
            exact = data.exact_model(spec.schedule)
            err[r] = [score_error(net, exact, float(ti), 1024, seed=sr) for ti in spec.t]
            L = np.asarray(res.losses, float)
            loss[r] = float(np.mean(L[-max(1, L.size // 10):]))
    out = _measured(spec, M, d, np.stack(vals), tau)                       # (R, P, T, d)
    out.update(score_error=err, loss=loss)
    return out


def _finite_n(spec, M, d, n, seed, tau) -> dict:
    from rmt.readouts import phases, tangent_count
    from simulate.agreement import bulk_counts
    from simulate.fmatrix import column_variances
    from simulate.models import EmpiricalModel, LinearGaussianModel
    R, P, T = spec.draws, spec.points, len(spec.t)
    phase = np.empty((R, P, T))
    dim = np.empty((R, P, T))
    kept = np.full((R, P, T, 2), np.nan)
    kept_inf = np.full((R, T, 2), np.nan)
    levels = np.unique(column_variances(M, d))[::-1]                       # high variance first
    stops = np.cumsum(bulk_counts(M, d))[:2]
    eye = np.eye(d)
    for r in range(R):
        rng = np.random.default_rng([seed, r])
        lg = LinearGaussianModel.from_manifold(d, M, seed=seed, schedule=spec.schedule, draw=r)
        C = lg.F @ lg.F.T
        lam, V = np.linalg.eigh(C)
        lam, V = lam[::-1], V[:, ::-1]                                     # descending: bulk 1 first
        U = [V[:, a:b] for a, b in zip(np.concatenate([[0], stops[:-1]]), stops)]   # eigenvectors of each bulk
        emp = EmpiricalModel(lg.sample(n, rng), spec.schedule)
        for i, t in enumerate(spec.t):
            A = -emp.normalized_jacobian(emp.sample_t(P, t, rng), t)        # -Jn, (P, d, d)
            eta = np.linalg.eigvalsh(A)
            phase[r, :, i] = _codes(phases(eta, spec.delta))
            dim[r, :, i] = tangent_count(eta, threshold=spec.delta)
            for k, Uk in enumerate(U):
                kept[r, :, i, k] = np.einsum("pik,ik->p", (eye - A) @ Uk, Uk) / Uk.shape[1]   # tr(Uk^T B Uk)
                lk = np.clip(lam[(stops[k] - Uk.shape[1]):stops[k]], 0, None)
                kept_inf[r, i, k] = np.mean(lk / (lk + tau[i]))               # n = infinity: lambda/(lambda + tau)
    est = np.full(2, np.nan)
    est[:levels.size] = levels / (2 * np.log(n))
    dth = d * M.counting(tau * spec.delta / (1 - spec.delta))
    return {"phase": phase, "dimension": dim, "dimension_theory": np.asarray(dth, float),
            "retained": kept, "retained_theory": kept_inf, "condensation_estimate": est}


def _one_blas_thread():
    """BLAS/LAPACK limited to one thread: a multithreaded ``eigvalsh`` differs in the last bits from a one-thread
    one (measured at d = 400), and a cell must give the same numbers in this process and on a worker."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with the [dask] extra
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


def compute_cell(spec: SweepSpec, flat: int) -> dict:
    """Every variable of cell ``flat`` as float64 arrays of its inner shape (see :func:`variables`), computed
    with one BLAS thread wherever it runs (bit-identical between the serial loop and the workers)."""
    with _one_blas_thread():
        return _compute_cell(spec, flat)


def _compute_cell(spec: SweepSpec, flat: int) -> dict:
    c = spec.cell(flat)
    M = cell_manifold(c["alpha"], c["ratio"], c["fraction"])
    tau = np.asarray(spec.tau, float)
    out = _theory(M, tau, spec.delta)
    if spec.task == "simulate":
        out.update(_simulate(spec, M, c["d"], spec.cell_seed(flat), tau))
    elif spec.task == "finite-n":
        out.update(_finite_n(spec, M, c["d"], c["n"], spec.cell_seed(flat), tau))
    elif spec.task == "network":
        out.update(_network(spec, M, c["d"], c["n"], spec.cell_seed(flat), tau))
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def cell_cost(spec: SweepSpec, flat: int) -> float:
    """Estimated seconds of cell ``flat`` on one core of the 2-core reference machine, within a factor 2 (the
    engine orders tasks by it, most expensive first, and computes a sweep of a few seconds without starting a
    cluster).

    Measured at one BLAS thread: theory ``1e-3 + 1e-5 T``; simulate adds ``2e-3 T`` for the theory CDF of each
    time and, per draw, ``3e-8 d m`` to draw ``F`` (``m = round(alpha d)``), ``4e-11 d m k`` for its Gram
    matrix, ``1.3e-10 k^3`` for its eigenvalues (``k = min(d, m)``) and ``5e-5 T`` for the KS distances;
    finite-n adds, per draw, ``8e-10 d^3`` for the eigenvectors of ``C`` and ``3e-3`` per time, and per time
    and point ``1.3e-10 d^3`` for the eigenvalues of the Jacobian and ``1e-10 n d^2`` to form it from the
    ``n`` training points; network, per draw, ``steps (8e-3 + 6 b W / 3e9)`` to train (batch ``b``,
    ``W = 2 d w + w^2`` weights) and ``6 d W / 3e9`` per time and point for the Jacobian.
    """
    c = spec.cell(flat)
    T = len(spec.t)
    cost = 1e-3 + 1e-5 * T
    if spec.task == "theory":
        return cost
    d = int(c["d"])
    if spec.task == "simulate":
        m = int(round(c["alpha"] * d))
        k = min(d, m)
        return cost + 2e-3 * T + spec.draws * (3e-8 * d * m + 4e-11 * d * m * k + 1.3e-10 * k ** 3 + 5e-5 * T)
    n = int(c["n"])
    if spec.task == "network":                 # MLP d -> w -> w -> d: forward + backward ~ 6 flops per weight
        w = spec.width
        weights = 2.0 * d * w + w * w
        train_s = spec.steps * (8e-3 + 6.0 * min(256, n) * weights / 3e9)
        spectra_s = T * spec.points * (1e-3 + 6.0 * d * weights / 3e9) + T * 1024 * 6.0 * weights / 3e9
        return cost + 2e-3 * T + spec.draws * (train_s + spectra_s)
    per_t = 3e-3 + spec.points * (1.3e-10 * d ** 3 + 1e-10 * n * d * d)
    return cost + spec.draws * (8e-10 * d ** 3 + T * per_t)


def compute_batch(spec: SweepSpec, cells) -> list:
    """``[(cell, values or None, error or None), ...]``: one failing cell does not fail its batch (one BLAS
    thread, as in :func:`compute_cell`, set once per batch: setting it takes 2 ms, most of a theory cell)."""
    with _one_blas_thread():
        return [_guarded(spec, int(flat)) for flat in cells]


def _guarded(spec: SweepSpec, flat: int) -> tuple:
    try:
        return flat, _compute_cell(spec, flat), None
    except (ValueError, ArithmeticError, RuntimeError) as e:       # a bad cell, not a broken worker
        return flat, None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
