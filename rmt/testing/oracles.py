"""Independent oracles: the limiting spectrum by routes that share no code with :class:`rmt.mp.MPSolver`.

Discrete profiles (``K <= 12`` levels): plain numpy polynomials. The bulk edges are the values
``z(g*) > 0`` at the real roots of the numerator of ``z'(g) = 1/g^2 - alpha sum_k w_k s_k^2 / (1 + s_k g)^2``
(``z(g) = -1/g + alpha sum_k w_k s_k / (1 + s_k g)``, docs/theory.md section 3), each root polished by
Newton; the density is ``Im g / pi`` at the root of ``g (-x P + alpha sum_k w_k s_k P_k) - P = 0`` with the
largest imaginary part (``P = prod_k (1 + s_k g)``, ``P_k`` without factor ``k``); masses are Gauss-Legendre
quadrature of that density. Everything else follows from the edges by definition: the ``eta`` edges
``tau / (lambda + tau)``, the gap widths as differences of them, ``tau*`` as the root of the derivative of the
width, the phase boundaries as roots of ``eta(edge, tau) = Delta`` or ``1 - Delta`` (``brentq``).

Continuous profiles have no polynomial: their one bulk (a positive level density on ``[a, b]`` gives one
bulk) has edges at the unique roots of ``1 - alpha int (s g / (1 + s g))^2 dH(s)`` on ``(-1/b, 0)`` and on
``(-inf, -1/a)`` (``alpha < 1``) or ``(0, inf)`` (``alpha > 1``), integrals by adaptive quadrature
(``scipy.integrate.quad``) of the user's density; mass ``min(alpha, 1)``. There is no density oracle for them.

Tolerances (module constants, tested in tests/rmt/test_testing.py against rmt and closed forms): compare
with ``rel=`` / ``abs=`` of ``pytest.approx`` at these values.
"""
from __future__ import annotations

import warnings

import numpy as np
from numpy.polynomial import polynomial as P

from ..profiles import ContinuousProfile
from ..validation import finite_array, resolution

__all__ = ["mp_edges", "edges", "masses", "density", "gap_widths", "tau_stars", "phase_boundaries",
           "EDGE_RTOL", "CONTINUOUS_EDGE_RTOL", "MASS_ATOL", "DENSITY_RTOL", "WIDTH_ATOL", "TAU_STAR_RTOL",
           "BOUNDARY_RTOL", "TOLERANCES", "MAX_LEVELS"]

#: bulk edges (covariance units), discrete profiles: relative
EDGE_RTOL = 1e-9
#: bulk edges of continuous profiles: relative (the solver discretises to 1e-7)
CONTINUOUS_EDGE_RTOL = 1e-6
#: bulk masses (fractions of d): absolute
MASS_ATOL = 1e-6
#: density of the covariance spectrum: relative, plus ``DENSITY_RTOL * max density`` absolute near the edges
DENSITY_RTOL = 1e-6
#: intermediate gap widths ``W_k(tau)`` (eta units, in [0, 1]): absolute
WIDTH_ATOL = 1e-9
#: ``tau*_k``: relative
TAU_STAR_RTOL = 1e-8
#: phase boundaries (tau): relative
BOUNDARY_RTOL = 1e-8
#: oracle -> (tolerance, "rel" or "abs"), the table of docs/testing.md
TOLERANCES = {"edges": (EDGE_RTOL, "rel"), "edges (continuous)": (CONTINUOUS_EDGE_RTOL, "rel"),
              "masses": (MASS_ATOL, "abs"), "density": (DENSITY_RTOL, "rel"), "gap_widths": (WIDTH_ATOL, "abs"),
              "tau_stars": (TAU_STAR_RTOL, "rel"), "phase_boundaries": (BOUNDARY_RTOL, "rel")}
#: most levels of a discrete profile the polynomial oracles take
MAX_LEVELS = 12


def _unpack(manifold):
    prof = getattr(manifold, "profile", None)
    if not hasattr(manifold, "alpha") or prof is None:
        raise ValueError(f"manifold must be a LinearManifold, got {manifold!r}")
    if isinstance(prof, ContinuousProfile):
        return float(manifold.alpha), None, None
    s, w = np.asarray(prof.levels, float), np.asarray(prof.fractions, float)
    if s.size > MAX_LEVELS:
        raise ValueError(f"manifold: the polynomial oracles take at most {MAX_LEVELS} levels, got {s.size}")
    return float(manifold.alpha), s, w


def _zinv(alpha, s, w, g):
    return -1.0 / g + alpha * np.sum(w * s / (1.0 + s * g[..., None]), axis=-1)


def mp_edges(alpha, levels, fractions) -> np.ndarray:
    """Sorted positive critical values of ``z(g)`` (covariance units): the bulk edges of a discrete profile.

    Levels are scaled so that the largest is 1; the degree ``2K + 2`` numerator of ``z'(g)`` is built with
    ``numpy.polynomial``; all its roots (in ``g`` and in ``1/g``) are polished by Newton on ``z'(g) = 0`` (60 steps, each kept only where
    it reduces ``|z'|``) and the real ones (``|Im| <= 1e-9 |root|``) kept; a root is kept where ``|z'|`` is below ``1e-8`` times
    the size of its two terms (round-off roots near the poles of levels ``1e-13`` apart are not); values within
    ``1e-7`` of each other are one edge. A bulk at the hard edge 0 (``alpha = 1``) has no
    critical point there: :func:`edges` adds the 0.
    """
    s0, w = np.asarray(levels, float), np.asarray(fractions, float)
    scale = float(s0.max())
    s = s0 / scale
    sq = [P.polypow([1.0, sk], 2) for sk in s]
    prod_all = np.array([1.0])
    for q in sq:
        prod_all = P.polymul(prod_all, q)
    rest = np.array([0.0])
    for k in range(s.size):
        others = np.array([1.0])
        for j, q in enumerate(sq):
            if j != k:
                others = P.polymul(others, q)
        rest = P.polyadd(rest, w[k] * s[k] ** 2 * others)
    c = P.polysub(prod_all, alpha * P.polymul([0.0, 0.0, 1.0], rest))
    h = P.polyroots(c[::-1])                        # roots in 1/g as well: alpha near 1 makes the top coefficient
    with np.errstate(all="ignore"):                 # vanish, and the roots in g alone lose the upper edge
        g = np.concatenate([P.polyroots(c), 1.0 / h[h != 0]]).astype(complex)

    def dz(x):
        return 1.0 / x**2 - alpha * np.sum(w * s**2 / (1.0 + s * x[:, None]) ** 2, axis=1)

    def d2z(x):
        return -2.0 / x**3 + 2 * alpha * np.sum(w * s**3 / (1.0 + s * x[:, None]) ** 3, axis=1)

    with np.errstate(all="ignore"):
        for _ in range(60):          # levels decades apart: the small roots of the companion matrix are ~1% off
            new = g - dz(g) / d2z(g)
            better = np.isfinite(new) & (np.abs(dz(new)) < np.abs(dz(g)))
            g = np.where(better, new, g)
        g = g[(np.abs(g.imag) <= 1e-9 * np.abs(g)) & (np.abs(g) > 1e-300)].real
        # a critical point cancels the two terms of z': keep roots where |z'| is small against each of them
        size = 1.0 / g**2 + alpha * np.sum(w * s**2 / (1.0 + s * g[:, None]) ** 2, axis=1)
        g = np.sort(g[np.abs(dz(g)) <= 1e-8 * size])
        g = g[np.concatenate([[True], np.diff(g) > 1e-9 * np.abs(g[1:])])]     # two roots polished to one
        z = _zinv(alpha, s, w, g)
    z = np.sort(z[np.isfinite(z) & (z > 0)])
    z = z[np.concatenate([[True], np.diff(z) > 1e-7 * z[1:]])]       # one critical point reached from two roots
    return z * scale


def _brentq(f, a, b):
    from scipy.optimize import brentq
    return brentq(f, a, b, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)


def _continuous_edges(alpha, prof: ContinuousProfile) -> np.ndarray:
    """``[[lower, upper]]`` of the one bulk of a continuous profile, by quadrature of its density (in ``log s``)."""
    from scipy.integrate import quad
    a, b = float(prof.low), float(prof.high)
    la, lb = np.log(a), np.log(b)

    def h(u):                                           # density in log s (Jacobian s)
        s = np.exp(u)
        return float(np.asarray(prof.density(np.array([s])), float)[0]) * s

    k = 10.0 ** -np.arange(1, 16)
    pts = np.log(np.concatenate([b * (1 - k), a * (1 + k)]))      # the integrands peak at the ends
    pts = np.sort(pts[(pts > la) & (pts < lb)])

    def integral(f):
        with warnings.catch_warnings():             # quad warns near the ends; its answer is tested (1e-6)
            warnings.simplefilter("ignore")
            return quad(lambda u: f(np.exp(u)) * h(u), la, lb, epsabs=0.0, epsrel=1e-12, limit=800, points=pts)[0]

    def root(F):                                        # F(v) > 0 at v -> 0, < 0 near v = 1: bracket, brentq
        v1 = next((1 - x for x in k if F(1 - x) < 0), None)
        if v1 is None:
            raise ValueError("manifold: the continuous-profile oracle found no edge (density vanishing at an end "
                             "of its support?)")
        return _brentq(F, 1e-300, v1)

    norm = integral(lambda s: 1.0)

    def G(g):                                           # g^2 z'(g)
        return 1.0 - alpha * integral(lambda s: (s * g / (1.0 + s * g)) ** 2) / norm

    def z(g):
        return -1.0 / g + alpha * integral(lambda s: s / (1.0 + s * g)) / norm

    # upper edge: g = -v/b, v in (0, 1); G(v -> 0) = 1, G(v -> 1) -> -inf
    v = root(lambda v: G(-v / b))
    upper = z(-v / b)
    if alpha < 1:                                       # g = -1/(a v), v in (0, 1): G -> 1 - alpha at v -> 0
        v = root(lambda v: G(-1.0 / (a * v)))
        lower = z(-1.0 / (a * v))
    elif alpha > 1:                                     # g > 0 in log: G from 1 down to 1 - alpha
        lg = _brentq(lambda t: G(np.exp(t) / a), np.log(1e-30), np.log(1e30))
        lower = z(np.exp(lg) / a)
    else:
        lower = 0.0
    return np.array([[lower, upper]])


def edges(manifold) -> np.ndarray:
    """Bulks of the covariance spectrum, ``(B, 2)`` rows ``[lower, upper]`` sorted ascending (covariance units).

    Discrete profiles: :func:`mp_edges` paired in order (values below ``1e-14`` of the smallest level dropped,
    then a leading 0 where the count is odd: the hard edge at ``alpha = 1``), tolerance ``EDGE_RTOL = 1e-9`` relative. Continuous profiles: one bulk by quadrature,
    ``CONTINUOUS_EDGE_RTOL = 1e-6`` relative.
    """
    alpha, s, w = _unpack(manifold)
    if s is None:
        return _continuous_edges(alpha, manifold.profile)
    e = mp_edges(alpha, s, w)
    e = e[e > 1e-14 * s.min()]                      # alpha within ~1e-7 of 1: the lower edge is the hard edge 0
    if e.size % 2:
        e = np.concatenate([[0.0], e])
    return e.reshape(-1, 2)


def _roots_at(alpha, s, w, x):
    """For each real ``x`` (scaled units) the root ``g`` of the density polynomial with the largest ``Im g``."""
    Pg = np.array([1.0])
    for sk in s:
        Pg = P.polymul(Pg, [1.0, sk])
    acc = np.zeros(1)
    for k in range(s.size):
        Pk = np.array([1.0])
        for j in range(s.size):
            if j != k:
                Pk = P.polymul(Pk, [1.0, s[j]])
        acc = P.polyadd(acc, alpha * w[k] * s[k] * Pk)
    A = P.polysub(P.polymul([0.0, 1.0], acc), Pg)          # g alpha sum w s P_k - P
    B = -P.polymul([0.0, 1.0], Pg)                          # times x: -g P
    A = np.concatenate([A, np.zeros(B.size - A.size)])
    c = A[None, :] + x[:, None] * B[None, :]
    n = c.shape[1] - 1
    comp = np.zeros((x.size, n, n))
    comp[:, np.arange(1, n), np.arange(n - 1)] = 1.0
    comp[:, :, -1] = -c[:, :n] / c[:, n:]
    r = np.linalg.eigvals(comp)
    g = r[np.arange(x.size), np.argmax(r.imag, axis=1)]
    with np.errstate(all="ignore"):
        for _ in range(3):                                  # Newton on z(g) = x
            dz = 1.0 / g**2 - alpha * np.sum(w * s**2 / (1.0 + s * g[:, None]) ** 2, axis=1)
            new = g - (_zinv(alpha, s, w, g) - x) / dz
            g = np.where(np.isfinite(new) & (new.imag >= 0), new, g)
    return g


def density(manifold, x) -> np.ndarray:
    """Density of the continuous part of the covariance spectrum at ``x`` (per unit ``d``; discrete profiles).

    Tolerance ``DENSITY_RTOL = 1e-6`` relative, plus ``DENSITY_RTOL`` times the largest density absolute (the
    square-root edges). Continuous profiles: ``ValueError`` (no polynomial, no independent density here).
    """
    alpha, s, w = _unpack(manifold)
    if s is None:
        raise ValueError("manifold: no independent density oracle for a continuous profile (no polynomial "
                         "route); compare edges and masses, or discretise the profile yourself")
    x = finite_array("x", x)
    flat = x.ravel()
    out = np.zeros(flat.shape)
    pos = flat > 0
    if np.any(pos):
        scale = float(s.max())
        g = _roots_at(alpha, s / scale, w, flat[pos] / scale)
        out[pos] = np.maximum(g.imag, 0.0) / (np.pi * scale)
    inside = np.zeros(flat.shape, bool)
    for lo, hi in edges(manifold):
        inside |= (flat > lo) & (flat < hi)
    return np.where(inside, out, 0.0).reshape(x.shape)


def _piece_integrals(alpha, s, w, a, b, n):
    """Integral of the density over each ``[a_i, b_i]``: ``n`` Gauss-Legendre nodes after the cos substitution."""
    t, wt = np.polynomial.legendre.leggauss(n)
    th = 0.5 * np.pi * (t + 1)
    xs = a[:, None] + (b - a)[:, None] * 0.5 * (1 - np.cos(th))
    jac = (b - a)[:, None] * 0.25 * np.pi * np.sin(th) * wt
    scale = float(s.max())
    g = _roots_at(alpha, s / scale, w, xs.ravel() / scale)
    return np.sum((np.maximum(g.imag, 0.0) / (np.pi * scale)).reshape(xs.shape) * jac, axis=1)


def masses(manifold) -> np.ndarray:
    """Mass (fraction of ``d``) of each bulk of :func:`edges`, same order.

    Discrete: adaptive Gauss-Legendre quadrature of :func:`density` after ``x = lo + (hi - lo)(1 - cos th)/2`` on
    pieces a factor 1.5 wide, each halved (geometrically, at most 10 times) until its 32- and 64-node values agree to ``1e-9`` of
    the total (a nearly split bulk has a sharp dip); ``MASS_ATOL = 1e-6`` absolute. Continuous: ``min(alpha, 1)``.
    """
    alpha, s, w = _unpack(manifold)
    bulks = edges(manifold)
    if s is None:
        return np.array([min(alpha, 1.0)])
    out = []
    for lo, hi in bulks:
        start = lo if lo > 0 else hi * 1e-16
        pts = np.geomspace(start, hi, int(np.ceil(np.log(hi / start) / np.log(1.5))) + 2)
        pts[0], pts[-1] = lo, hi
        a, b, total = pts[:-1], pts[1:], 0.0
        for _ in range(10):
            fine = _piece_integrals(alpha, s, w, a, b, 64)
            ok = np.abs(fine - _piece_integrals(alpha, s, w, a, b, 32)) <= 1e-9 * max(abs(fine.sum()), 1e-300)
            total += fine[ok].sum()
            a, b = a[~ok], b[~ok]
            if a.size == 0:
                break
            mid = np.where(a > 0, np.sqrt(np.maximum(a, 1e-300) * b), 0.5 * b)
            a, b = np.concatenate([a, mid]), np.concatenate([mid, b])
        out.append(float(total + (_piece_integrals(alpha, s, w, a, b, 64).sum() if a.size else 0.0)))
    return np.array(out)


def _taus(tau):
    t = finite_array("tau", tau)
    if np.any(t <= 0):
        raise ValueError(f"tau must be > 0, got {tau!r}")
    return t


def _pairs(manifold):
    """``(l_k, u_{k+1})`` for each gap, high variance first: lower edge of the higher bulk, upper of the next."""
    e = edges(manifold)[::-1]
    return [(e[k, 0], e[k + 1, 1]) for k in range(len(e) - 1)]


def gap_widths(manifold, tau) -> np.ndarray:
    """Intermediate gap widths ``W_k(tau)``, shape ``tau.shape + (B - 1,)``, ``k = 1..B-1`` high variance first.

    By definition: ``eta(u_{k+1}) - eta(l_k)`` with ``eta(lambda) = tau / (lambda + tau)`` on the oracle
    edges (no closed form); ``WIDTH_ATOL = 1e-9`` absolute.
    """
    tau = _taus(tau)[..., None]
    out = [tau / (u + tau) - tau / (l + tau) for l, u in _pairs(manifold)]
    return np.concatenate(out, axis=-1) if out else np.zeros(tau.shape[:-1] + (0,))


def tau_stars(manifold) -> np.ndarray:
    """``tau*_k``, where ``W_k`` is largest, ``k = 1..B-1``: the root of ``dW_k/dtau = u/(u + tau)^2 -
    l/(l + tau)^2`` in ``log tau`` between ``u`` and ``l`` (``brentq``, no closed form); ``TAU_STAR_RTOL = 1e-8``
    relative."""
    out = []
    for l, u in _pairs(manifold):
        def f(t, l=l, u=u):
            tau = np.exp(t)
            return u / (u + tau) ** 2 * tau - l / (l + tau) ** 2 * tau       # tau dW/dtau, same sign
        out.append(float(np.exp(_brentq(f, np.log(u), np.log(l)))))
    return np.array(out)


def phase_boundaries(manifold, delta: float = 0.1) -> dict:
    """``{"trivial_coverage", "coverage_consolidation"}`` in ``tau`` as :func:`rmt.gaps.phase_boundaries`:
    the ``tau`` where the lowest ``eta`` edge ``tau / (lambda_max + tau)`` reaches ``1 - delta``, and where the
    highest ``tau / (l_min + tau)`` reaches ``delta`` (``None`` for ``alpha >= 1``); roots by ``brentq`` in
    ``log tau``, ``BOUNDARY_RTOL = 1e-8`` relative."""
    delta = resolution(delta)
    e = edges(manifold)
    lmax, lmin = float(e[-1, 1]), float(e[0, 0])

    def crossing(lam, level):
        return float(np.exp(_brentq(lambda t: np.exp(t) / (lam + np.exp(t)) - level,
                                    np.log(lam) - 50, np.log(lam) + 50)))
    cc = crossing(lmin, delta) if manifold.alpha < 1 else None
    return {"trivial_coverage": crossing(lmax, 1.0 - delta), "coverage_consolidation": cc}
