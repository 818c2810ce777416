"""The real branch of the inverse Stieltjes function ``z(g) = -1/g + alpha sum_k w_k s_k / (1 + s_k g)``
(docs/theory.md section 3), without root-picking.

Silverstein and Choi: a real ``x`` lies outside the support exactly when ``x = z(g)`` for a real ``g`` at which
``z`` increases, and that ``g`` is the Stieltjes transform there. Between consecutive break points (the poles
``-1/s_k``, ``0`` and the zeros of ``z'``) ``z`` is monotone, so the increasing pieces and their images give both
the gaps of the support and, by bisection on one piece, ``g`` in a gap: no branch can be picked wrongly.
"""
from __future__ import annotations

import numpy as np
from numpy.polynomial import polynomial as P

__all__ = ["critical_points", "increasing_pieces", "gap_root"]


def increasing_pieces(zinv, dzinv, singular, critical) -> list[tuple[float, float, float, float]]:
    """``(a, b, lo, hi)`` for every real interval ``(a, b)`` of ``g`` on which ``z`` increases; ``(lo, hi)`` is its
    image, a gap of the support. ``z`` runs from ``-inf`` at a singular left end (``z(c)`` at a critical one,
    ``0`` at ``-inf``, where ``z ~ (alpha - 1) / g``) up to ``+inf`` (``z(c)``, ``0`` at ``+inf``) on the right."""
    kinds = {**{float(c): "c" for c in critical}, **{float(p): "s" for p in singular}}
    ends = [-np.inf] + sorted(kinds) + [np.inf]
    out = []
    for a, b in zip(ends[:-1], ends[1:]):
        m = 0.5 * (a + b) if np.isfinite(a) and np.isfinite(b) else (b - max(1.0, abs(b)) if np.isfinite(b)
                                                                       else a + max(1.0, abs(a)))
        if not dzinv(np.array([m]))[0] > 0:
            continue
        lo = 0.0 if a == -np.inf else (-np.inf if kinds[a] == "s" else float(zinv(np.array([a]))[0]))
        hi = 0.0 if b == np.inf else (np.inf if kinds[b] == "s" else float(zinv(np.array([b]))[0]))
        out.append((a, b, lo, hi))
    return out


def gap_root(zinv, pieces, x: float) -> float:
    """The real ``g`` with ``z(g) = x`` on the increasing piece whose image holds ``x`` (nan when ``x`` is in the
    support), by bisection; ``z`` is evaluated at interior points only (the ends may be poles). An infinite end is
    first replaced by a finite point beyond the root."""
    def z(g):
        return float(zinv(np.array([g]))[0])
    for a, b, lo, hi in pieces:
        if not lo < x < hi:
            continue
        if a == -np.inf:
            ref = b if np.isfinite(b) else 0.0
            a = ref - 1.0
            while z(a) >= x:
                a = ref - 2.0 * (ref - a)
        if b == np.inf:
            ref = a
            b = ref + 1.0
            while z(b) <= x:
                b = ref + 2.0 * (b - ref)
        for _ in range(2100):                   # enough halvings to reach adjacent floats from any bracket
            m = 0.5 * (a + b)
            if not a < m < b:
                break
            a, b = (m, b) if z(m) < x else (a, m)
        return 0.5 * (a + b)
    return float("nan")


def critical_points(s, w, a, poles, dzinv, d2zinv) -> np.ndarray:
    """Real critical points of ``z(g)``: roots of ``z'(g) = 0`` for levels ``s`` (largest 1), fractions ``w`` and
    ``a = alpha``; from the cleared polynomial (up to 40 levels) and a bracketing search between the poles."""
    cands = []
    if s.size <= 40:
        Q = np.array([1.0])
        for sk in s:
            Q = P.polymul(Q, P.polypow([1.0, sk], 2))
        acc = np.zeros(1)
        for k, sk in enumerate(s):
            Qk = np.array([1.0])
            for j, sj in enumerate(s):
                if j != k:
                    Qk = P.polymul(Qk, P.polypow([1.0, sj], 2))
            acc = P.polyadd(acc, a * w[k] * sk**2 * Qk)
        R = P.polysub(Q, P.polymul([0.0, 0.0, 1.0], acc))
        try:                    # many levels decades apart under/overflow here: the brackets below suffice
            with np.errstate(all="ignore"):
                r = P.polyroots(R)
            r = r[np.isfinite(r) & (np.abs(r.imag) <= 1e-6 * (np.abs(r) + 1e-12))].real
            cands.append(r)
        except np.linalg.LinAlgError:
            pass
    # bracketing search between consecutive poles (robust for clustered levels / many levels)
    u = 0.5 * (1 - np.cos(np.pi * np.linspace(0, 1, 402)[1:-1]))
    # bounded intervals between poles, then the outer ones: (p_max, 0), (-inf, p_min), (0, inf)
    grids = [lo + (hi - lo) * u for lo, hi in zip(poles[:-1], poles[1:])]
    grids.append(poles[-1] * (1 - u))
    off = np.geomspace(1e-12, 1e12, 800)
    grids.append(poles[0] - abs(poles[0]) * off[::-1])
    grids.append(off)
    from scipy.optimize import brentq                # here, not at import: `import rmt` stays light
    for gg in grids:
        dz = dzinv(gg)
        idx = np.nonzero(np.sign(dz[:-1]) != np.sign(dz[1:]))[0]
        cands.append(np.array([brentq(dzinv, gg[i], gg[i + 1], xtol=1e-15 * abs(gg[i]) + 1e-300)
                               for i in idx]))
        # a narrow positive bump of z' between samples: maximise z' to see it
        j = int(np.argmax(dz))
        if dz[j] < 0 and 0 < j < dz.size - 1 and gg[j - 1] < gg[j] < gg[j + 1]:
            from scipy.optimize import minimize_scalar
            res = minimize_scalar(lambda v: -dzinv(v), bracket=(gg[j - 1], gg[j], gg[j + 1]))
            if -res.fun > 0:
                gm = res.x
                cands.append(np.array([brentq(dzinv, gg[j - 1], gm), brentq(dzinv, gm, gg[j + 1])]))
    g = np.concatenate(cands) if cands else np.zeros(0)
    g = g[np.isfinite(g) & (np.abs(g) > 1e-14)]
    # Newton polish on z'(g) = 0
    for _ in range(3):
        d2 = d2zinv(g)
        ok = np.abs(d2) > 1e-300
        g = np.where(ok, g - dzinv(g) / np.where(ok, d2, 1.0), g)
    near_pole = np.min(np.abs(1.0 + np.outer(g, s)), axis=1) < 1e-13 if g.size else np.zeros(0, bool)
    return np.unique(g[~near_pole])
