"""Independent routes used by several tests (no rmt code): the bulk edges of the generalised
Marchenko-Pastur law from the real critical points of ``z(g) = -1/g + alpha sum_k w_k s_k / (1 + s_k g)``,
written here with plain numpy polynomials."""
import numpy as np
from numpy.polynomial import polynomial as P


def mp_edges(alpha, levels, fractions) -> np.ndarray:
    """Sorted bulk edges (covariance units) of a discrete profile: the values ``z(g*)`` > 0 at the real
    roots of ``z'(g) = 1/g^2 - alpha sum_k w_k s_k^2 / (1 + s_k g)^2``, cleared of denominators."""
    s, w = np.asarray(levels, float), np.asarray(fractions, float)
    lin = [np.array([1.0, sk]) for sk in s]                         # 1 + s_k g (coefficients low -> high)
    sq = [P.polymul(p, p) for p in lin]
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
    poly = P.polysub(prod_all, alpha * P.polymul(np.array([0.0, 0.0, 1.0]), rest))
    roots = P.polyroots(poly)
    g = roots[np.abs(roots.imag) < 1e-9 * np.maximum(1.0, np.abs(roots.real))].real
    g = g[np.abs(g) > 1e-12]
    z = -1.0 / g + alpha * np.sum(w * s / (1.0 + s * g[:, None]), axis=1)
    return np.sort(z[z > 0])
