"""Ridge of the smoothed empirical density (docs/theory.md section 8): projections against the geometry of
two and three modes, the Hessian against torch autodiff of log p_t, the low-rank eigenpairs against a dense
eigendecomposition."""
import numpy as np
import pytest

from simulate.ridge import posterior_factor, project_to_ridge, ridge_frame, ridge_residual


def _line_coords(P, y1, y2):
    """(tangential parameter along y1 -> y2, distance to the line) of the rows of P."""
    u = (y2 - y1) / np.linalg.norm(y2 - y1)
    rel = P - y1
    s = rel @ u
    return s / np.linalg.norm(y2 - y1), np.linalg.norm(rel - np.outer(s, u), axis=1)


def test_two_modes_ridge_is_the_segment():
    rng = np.random.default_rng(0)
    D = 5
    y1, y2 = rng.standard_normal(D), rng.standard_normal(D)
    X = np.stack([y1, y2])
    lam = rng.uniform(0.1, 0.9, 12)
    u = (y2 - y1) / np.linalg.norm(y2 - y1)
    off = rng.standard_normal((12, D))
    off -= np.outer(off @ u, u)
    x = y1 + lam[:, None] * (y2 - y1) + 0.1 * off
    t = 0.2
    # independent closed form: mu lies on the line, so the normal part of the score is -(x - line(x)) / s^2
    _, dist = _line_coords(x, y1, y2)
    assert np.allclose(ridge_residual(X, x, t, 1), dist / t, rtol=1e-12)
    p = project_to_ridge(X, x, t, 1)
    s, dist = _line_coords(p.points, y1, y2)
    assert np.all(dist < 1e-8) and p.converged.all() and not p.stalled.any()
    assert np.allclose(s, lam, atol=1e-10)                        # orthogonal projection onto the segment
    assert np.all(p.residual < 1e-8) and p.frame.curvature_ok.all()
    # eigenvalues: l_1 = g1 g2 |y1 - y2|^2 / s^4 - 1/s^2 along the segment, -1/s^2 across it
    z = -np.stack([np.sum((p.points - y) ** 2, 1) for y in (y1, y2)], 1) / (2 * t)
    g = np.exp(z - z.max(1, keepdims=True))
    g /= g.sum(1, keepdims=True)
    l1 = g[:, 0] * g[:, 1] * np.sum((y1 - y2) ** 2) / t ** 2 - 1 / t
    assert np.allclose(p.frame.eigenvalues[:, 0], l1, rtol=1e-10)
    assert np.allclose(p.frame.eigenvalues[:, 1], -1 / t, rtol=1e-12)
    assert np.allclose(np.abs(p.frame.tangent[:, :, 0] @ u), 1, atol=1e-12)


def test_three_modes_projections_land_on_the_segments():
    """Unit triangle. The exact ridge leaves a segment where the third mode's weight, relative to the far end
    of the segment, tilts the tangent (about 1e-7 at t = 0.01 and 73% of the way along); at t = 0.005 and
    35-65% that ratio is below 1e-15, so the projections must land on the segments to 1e-8."""
    Y = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    rng = np.random.default_rng(1)
    starts, edges = [], []
    for e, (i, j) in enumerate([(0, 1), (1, 2), (0, 2)]):
        lam = rng.uniform(0.35, 0.65, 6)
        nrm = np.array([-(Y[j] - Y[i])[1], (Y[j] - Y[i])[0]])
        starts.append(Y[i] + lam[:, None] * (Y[j] - Y[i]) + rng.uniform(-0.02, 0.02, (6, 1)) * nrm)
        edges += [(i, j)] * 6
    x = np.concatenate(starts)
    for schedule, t in (("ve", 0.005), ("vp", 0.0025)):
        p = project_to_ridge(Y, x, t, 1, schedule=schedule)
        a = p.frame.a
        assert p.converged.all() and np.all(p.residual < 1e-8) and p.frame.curvature_ok.all()
        for q, (i, j) in enumerate(edges):
            s, dist = _line_coords(p.points[q:q + 1], a * Y[i], a * Y[j])
            assert dist[0] < 1e-8 and 0.3 < s[0] < 0.7


def _torch_hessian(X, x, a, s2):
    import torch
    Xt = torch.as_tensor(X, dtype=torch.float64)

    def logp(v):
        z = -((v - a * Xt) ** 2).sum(1) / (2 * s2)
        return torch.logsumexp(z, 0) - np.log(len(X)) - 0.5 * X.shape[1] * np.log(2 * np.pi * s2)
    return torch.func.hessian(logp)(torch.as_tensor(x, dtype=torch.float64)).numpy()


@pytest.mark.parametrize("schedule", ["ve", "vp"])
def test_hessian_from_posterior_covariance_equals_autodiff(schedule):
    from simulate.models import EmpiricalModel
    rng = np.random.default_rng(2)
    X = rng.standard_normal((25, 6))
    x = rng.standard_normal((4, 6))
    model = EmpiricalModel(X, schedule)
    for t in (0.1, 0.7, 3.0):
        a, s2 = model.coefficients(t)
        for (A, mu), xq in zip(posterior_factor(X, x, t, schedule=schedule), x):
            H = A.T @ A / s2 ** 2 - np.eye(6) / s2
            Ht = _torch_hessian(X, xq, a, s2)
            assert np.abs(H - Ht).max() <= 1e-10 * np.abs(Ht).max()
        F = ridge_frame(X, x, t, 2, schedule=schedule)
        for q in range(4):
            lam = np.linalg.eigvalsh(_torch_hessian(X, x[q], a, s2))[::-1]
            assert np.allclose(F.eigenvalues[q], lam[:3], rtol=1e-10, atol=1e-10 / s2)


@pytest.mark.parametrize("n,D,t,k", [(30, 6, 1.0, 2),        # small: full eigh of the Gram matrix
                                     (200, 60, 8.0, 3),      # r > D: Lanczos on A^T A
                                     (120, 150, 20.0, 4),    # r <= D, large: Lanczos on the Gram matrix
                                     (4, 50, 5.0, 5)])       # k+1 > r: completion vectors, gap closed
def test_low_rank_eigenpairs_equal_dense_eigendecomposition(n, D, t, k):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, D))
    x = X[np.arange(5) % n] + 0.3 * rng.standard_normal((5, D))
    lo = ridge_frame(X, x, t, k)
    de = ridge_frame(X, x, t, k, method="dense")
    assert np.allclose(lo.eigenvalues, de.eigenvalues, rtol=1e-10, atol=1e-12 / t)
    assert np.allclose(lo.score, de.score, rtol=1e-10, atol=1e-12)
    if n > k:
        P_lo = np.einsum("mik,mjk->mij", lo.tangent, lo.tangent)
        P_de = np.einsum("mik,mjk->mij", de.tangent, de.tangent)
        assert np.abs(P_lo - P_de).max() < 1e-9
        assert np.allclose(np.abs(np.sum(lo.normal_first * de.normal_first, 1)), 1, atol=1e-9)
        assert np.allclose(lo.residual, de.residual, rtol=1e-9, atol=1e-12)
        assert not lo.gap_closed.any()
    else:
        assert lo.gap_closed.all() and de.gap_closed.all()
    V = lo.normal_frame(0)
    assert V.shape == (D, D - k) and np.allclose(V.T @ V, np.eye(D - k), atol=1e-12)
    assert np.abs(V.T @ lo.tangent[0]).max() < 1e-12


def test_low_rank_is_accurate_where_the_posterior_condenses():
    """Weights dominated by one point: the Hessian's top eigenvalues sit within 1e-6 of -1/s^2; the low-rank
    frame matches the eigenvectors of the posterior covariance computed directly (centred at the heaviest
    point), which the dense route resolves only to ~eps / gap."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((80, 40))
    x = X[:3] + 0.05 * rng.standard_normal((3, 40))
    t = 0.7                  # sigma_1^2 / s^2 between 1e-15 and 1e-10: the dense route's frame is off by O(1)
    F = ridge_frame(X, x, t, 2, cutoff=1e-300)         # keep every weight (the default drops < 1e-20 relative)
    for q in range(3):
        d = X - x[q]
        z = -np.sum(d * d, 1) / (2 * t)
        g = np.exp(z - z.max())
        g /= g.sum()
        dev = X - X[np.argmax(g)]
        m = g @ dev
        S = ((dev - m).T * g) @ (dev - m)
        w, V = np.linalg.eigh(S)
        assert np.allclose(F.variances[q], w[::-1][:3], rtol=1e-8, atol=1e-30)
        assert np.abs(np.abs(np.sum(V[:, ::-1][:, :2] * F.tangent[q], 0)) - 1).max() < 1e-8


def test_batched_small_d_route_equals_the_row_route(monkeypatch):
    import simulate.ridge as ridge
    rng = np.random.default_rng(7)
    X = rng.standard_normal((60, 5))
    x = X[:6] + 0.4 * rng.standard_normal((6, 5))
    for t in (0.05, 0.5, 5.0):
        small = ridge_frame(X, x, t, 2)
        monkeypatch.setattr(ridge, "SMALL_D", 0)
        rows = ridge_frame(X, x, t, 2)
        monkeypatch.setattr(ridge, "SMALL_D", 16)
        assert np.array_equal(small.support, rows.support)
        scale = small.variances[:, :1]                            # round-off is relative to the top eigenvalue
        assert np.all(np.abs(small.variances - rows.variances) <= 1e-9 * small.variances + 1e-13 * scale)
        assert np.allclose(small.score, rows.score, rtol=1e-10, atol=1e-10)
        P1 = np.einsum("mik,mjk->mij", small.tangent, small.tangent)
        P2 = np.einsum("mik,mjk->mij", rows.tangent, rows.tangent)
        assert np.abs(P1 - P2).max() < 1e-8


def test_chunked_screening_equals_one_block(monkeypatch):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((100, 20))
    x = rng.standard_normal((5, 20))
    one = ridge_frame(X, x, 0.5, 2)
    monkeypatch.setenv("SPECGAP_MAX_MEMORY", "40000")                 # chunks of 41 training points
    many = ridge_frame(X, x, 0.5, 2)
    assert np.array_equal(one.support, many.support)
    assert np.allclose(one.eigenvalues, many.eigenvalues, rtol=1e-13) and np.allclose(one.score, many.score)
    monkeypatch.setenv("SPECGAP_MAX_MEMORY", "100")
    with pytest.raises(ValueError, match="X:"):
        ridge_frame(X, x, 0.5, 2)


def test_closed_gap_is_flagged():
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])   # square: isotropic posterior at 0
    p = project_to_ridge(X, [[0.0, 0.0]], 0.5, 1)
    assert p.gap_closed[0] and p.frame.eigengap[0] == pytest.approx(0.0, abs=1e-12)
    assert p.report()["gap_closed"] == 1


def test_stalled_points_are_flagged():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((40, 5))
    p = project_to_ridge(X, X[:3] + 0.5, 1.0, 2, max_iter=1, tol=1e-300)
    assert p.stalled.all() and (p.iterations == 1).all() and not p.converged.any()


@pytest.mark.parametrize("kw,match", [({"k": 0}, "k must be"), ({"k": 3}, "k must be < D"),
                                      ({"t": -1.0}, "t must be"), ({"x": np.zeros((2, 2))}, "x must have"),
                                      ({"method": "qr"}, "method"), ({"cutoff": 2.0}, "cutoff"),
                                      ({"x": [[np.nan, 0, 0]]}, "x must be finite")])
def test_bad_input_names_the_argument(kw, match):
    args = {"X": np.eye(3), "x": np.zeros((2, 3)), "t": 1.0, "k": 1}
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        ridge_frame(args.pop("X"), args.pop("x"), args.pop("t"), args.pop("k"), **args)


def test_condensed_posterior_takes_the_frame_from_the_next_points():
    """At t = 1e-3 the far mode's weight underflows (e^-1200): the eigengap is below resolution (flagged), but
    the frame's asymptotic limit, the direction to the next point, still puts the ridge on the segment."""
    X = np.array([[-1.0, 0.0], [1.0, 0.0]])
    p = project_to_ridge(X, [[0.3, 0.1], [0.5, -0.2], [-0.7, 0.05]], 1e-3, 1)
    assert np.allclose(p.points, [[0.3, 0.0], [0.5, 0.0], [-0.7, 0.0]], atol=1e-12)
    assert p.gap_closed.all() and p.converged.all()
    assert np.allclose(np.abs(p.frame.tangent[:, 0, 0]), 1.0)
