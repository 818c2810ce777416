"""Generalised Marchenko-Pastur law for ``C = F F^T`` and its pushforward to the Jacobian spectrum.

Stieltjes transform ``g(z) = (1/d) tr (C - z)^{-1}`` solves (Silverstein-Bai, docs/theory.md section 3)

    z(g) = -1/g + alpha * sum_k w_k s_k / (1 + s_k g)          (the inverse function)

Density of ``C``: ``rho(x) = Im g(x + i0) / pi`` plus an atom ``max(0, 1 - alpha)`` at 0.
Support edges: values ``z(g*)`` at the real critical points ``z'(g*) = 0``.

Units: ``lambda``/``x`` are covariance eigenvalues; ``eta = tau / (lambda + tau)`` is the spectrum of
``-Jn`` at effective noise ``tau``.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np
from numpy.polynomial import polynomial as P

from .budget import check_time, time_budget
from .validation import finite_array, positive, positive_int
from .eta import eta_edges, eta_of_lambda, lambda_of_eta
from .branch import critical_points, gap_root, increasing_pieces
from .intervals import Bulk, Gap
from .profiles import ContinuousProfile, VarianceProfile

__all__ = ["MPSolver", "JacobianLaw", "eta_of_lambda", "lambda_of_eta", "eta_edges"]

#: smallest ratio of variance levels the solver answers for. Each point is solved in its own unit and masses come
#: from residues, so edges and masses stay exact far below (two levels: checked to 1e-30, lost at 1e-35); the
#: property tests cover ratios down to this value.
MIN_LEVEL_RATIO = 1e-20

_POLY_MAX_K = 12          # companion-matrix roots up to this many levels, continuation above


class MPSolver:
    """Solver of the generalised Marchenko-Pastur equation for one :class:`LinearManifold`.

    Internally levels are scaled so that the largest is 1 (``C' = C / s_max``).

    Parameters
    ----------
    manifold : LinearManifold
    n_nodes : int, optional
        Quadrature nodes for a continuous profile (default: doubled from 64 until the edges converge
        to ``rtol=1e-7``, see the attribute ``convergence``).

    Examples
    --------
    >>> from rmt import LinearManifold, VarianceProfile
    >>> sol = LinearManifold(0.25, VarianceProfile.single(2.0)).solver    # MP, s = 2: edges 0.5, 4.5
    >>> round(float(sol.density(2.0)), 6), round(float(np.sqrt((4.5 - 2) * (2 - 0.5)) / (2 * np.pi * 2 * 2)), 6)
    (0.077051, 0.077051)
    >>> g = sol.stieltjes(1 + 1j)                          # solves z = -1/g + alpha s / (1 + s g)
    >>> complex(np.round(-1 / g + 0.25 * 2 / (1 + 2 * g), 10))
    (1+1j)
    """

    def __init__(self, manifold, n_nodes: int | None = None):
        if not (hasattr(manifold, "alpha") and isinstance(getattr(manifold, "profile", None),
                                                          (VarianceProfile, ContinuousProfile))):
            raise ValueError(f"manifold must be a LinearManifold, got {manifold!r}")
        self.manifold = manifold
        self.alpha = manifold.alpha
        self.convergence: list[tuple[int, float, float]] = []
        prof = manifold.profile
        if isinstance(prof, ContinuousProfile):
            self.continuous = True
            prof = self._converged_discretisation(prof, n_nodes)
        else:
            self.continuous = False
        ratio = float(prof.levels.min() / prof.levels.max())
        if ratio < MIN_LEVEL_RATIO:
            raise ValueError(f"levels: the smallest level is {ratio:.3g} of the largest; the solver answers for ratios "
                             f">= {MIN_LEVEL_RATIO:g} (below, bulks are lost in double precision); rescale or "
                             f"merge the small levels")
        K = prof.levels.size
        # the support search evaluates z' at O(K) points per level: O(K^2)
        check_time("levels", 1.8e-5 * K * K, f"a profile of {K} levels",
                   f"at most {int(np.sqrt(time_budget() / 1.8e-5))} levels fit")
        self.profile: VarianceProfile = prof
        self.scale = float(prof.levels.max())
        self.s = prof.levels / self.scale
        self.w = prof.fractions
        self.poles = np.sort(-1.0 / self.s)          # real poles of z(g) besides g = 0

    # -- continuous profiles: discretise until the edges stop moving ----------------------------
    def _converged_discretisation(self, prof: ContinuousProfile, n_nodes):
        if n_nodes is not None:
            return prof.discretize(n_nodes)
        n, prev = 64, None
        while True:
            disc = prof.discretize(n)
            sol = MPSolver(type(self.manifold)(self.alpha, disc))
            lo, hi = sol._outer_edges()
            self.convergence.append((n, lo, hi))
            if prev is not None and abs(hi - prev[1]) <= 1e-7 * hi and abs(lo - prev[0]) <= 1e-7 * max(hi, 1e-300):
                return disc
            if n >= 4096:
                return disc
            prev, n = (lo, hi), 2 * n

    def _outer_edges(self):
        """Lowest and highest nonzero edge, in covariance units (used for convergence checks)."""
        e = self._critical_values()
        e = e[e > 0]
        return float(e.min()) * self.scale, float(e.max()) * self.scale

    # -- the inverse function and its derivatives (scaled units) -----------------------------
    def zinv(self, g):
        """The inverse function ``z(g) = -1/g + alpha sum_k w_k s_k / (1 + s_k g)`` (scaled units, any shape)."""
        g = np.asarray(g)
        return -1.0 / g + self.alpha * np.sum(self.w * self.s / (1.0 + self.s * g[..., None]), axis=-1)

    def dzinv(self, g):
        """``z'(g) = 1/g^2 - alpha sum_k w_k s_k^2 / (1 + s_k g)^2``; its real zeros give the support edges."""
        g = np.asarray(g)
        return 1.0 / g**2 - self.alpha * np.sum(self.w * self.s**2 / (1.0 + self.s * g[..., None]) ** 2, axis=-1)

    def d2zinv(self, g):
        """``z''(g) = -2/g^3 + 2 alpha sum_k w_k s_k^3 / (1 + s_k g)^3`` (Newton polish of the critical points)."""
        g = np.asarray(g)
        return -2.0 / g**3 + 2 * self.alpha * np.sum(self.w * self.s**3 / (1.0 + self.s * g[..., None]) ** 3, axis=-1)

    # -- the degree K+1 polynomial in g: Q(g; z) = A(g) + z B(g) ---------------------------------
    @cached_property
    def _poly(self):
        s, w, a = self.s, self.w, self.alpha
        Pg = np.array([1.0])
        for sk in s:
            Pg = P.polymul(Pg, [1.0, sk])
        acc = np.zeros(1)
        for k, sk in enumerate(s):
            Pk = np.array([1.0])
            for j, sj in enumerate(s):
                if j != k:
                    Pk = P.polymul(Pk, [1.0, sj])
            acc = P.polyadd(acc, a * w[k] * sk * Pk)
        A = P.polysub(P.polymul([0.0, 1.0], acc), Pg)
        B = -P.polymul([0.0, 1.0], Pg)
        n = len(B)
        A = np.concatenate([A, np.zeros(n - len(A))])
        return A, B

    def _roots(self, z):
        """All roots in ``g`` of ``Q(g; z)`` for each ``z``: shape (N, K+1)."""
        A, B = self._poly
        c = A[None, :] + z[:, None] * B[None, :]               # ascending coefficients
        n = c.shape[1] - 1
        comp = np.zeros((z.size, n, n), dtype=c.dtype)
        comp[:, np.arange(1, n), np.arange(n - 1)] = 1.0
        comp[:, :, -1] = -c[:, :n] / c[:, n:n + 1]
        return np.linalg.eigvals(comp)

    def _polish(self, g, z, steps=3):
        for _ in range(steps):
            d = self.dzinv(g)
            ok = np.abs(d) > 1e-300
            step = np.where(ok, (self.zinv(g) - z) / np.where(ok, d, 1.0), 0.0)
            g = g - step
        return g

    # -- Stieltjes transform -------------------------------------------------------------------
    def _g_scaled(self, z):
        """Physical branch of ``g`` at complex/real ``z`` (scaled units), vectorised."""
        z = np.asarray(z, dtype=complex).ravel()
        if self.s.size <= _POLY_MAX_K:
            r = self._roots(z)
            im_sign = np.where(z.imag > 0, 1.0, 1.0)
            pick = np.argmax(im_sign[:, None] * r.imag, axis=1)
            g = r[np.arange(z.size), pick]
            real_axis = z.imag == 0
            if np.any(real_axis):
                # outside the support all roots are real: take the real root with z'(g) > 0
                # closest to the large-|z| branch; inside, the root with Im g > 0.
                rr = r[real_axis]
                gz = g[real_axis]
                # relative to the picked root itself: levels far apart give roots of very different sizes
                outside = gz.imag <= 1e-9 * np.abs(gz)
                if np.any(outside):
                    ro = rr[outside].real
                    dz = self.dzinv(ro)
                    score = np.where(dz > 0, np.abs(ro + 1.0 / z[real_axis][outside].real[:, None]), np.inf)
                    gz[outside] = ro[np.arange(ro.shape[0]), np.argmin(score, axis=1)]
                g[real_axis] = gz
            g = self._polish(g, z)
            return g
        g = self._g_continuation(z)
        for i in np.nonzero(z.imag == 0)[0]:        # outside the support g is real: take it from its monotone piece
            r = gap_root(self.zinv, self._pieces, z[i].real)     # (the continuation can run off there)
            g[i] = g[i] if np.isnan(r) else r
        return g

    def _g_continuation(self, z):
        """Newton continuation in ``Im z`` from far above the axis down to ``z`` (any number of levels).

        Each point is solved in its own unit ``u = max(|z|, s_min/1000)``: ``g = h/u`` with levels ``s/u`` and
        ``z/u``, so that bulks many decades below the largest level are resolved (the equation is scale covariant).
        """
        z = np.asarray(z, dtype=complex)
        u = np.maximum(np.abs(z), 1e-3 * self.s.min())
        s = self.s[None, :] / u[:, None]                           # (N, K) levels in each point's unit
        aw = self.alpha * self.w

        def zinv(h):
            return -1.0 / h + np.sum(aw * s / (1.0 + s * h[:, None]), axis=-1)

        def dzinv(h):
            return 1.0 / h**2 - np.sum(aw * s**2 / (1.0 + s * h[:, None]) ** 2, axis=-1)

        x, y = z.real / u, np.maximum(z.imag, 0.0) / u
        etas = np.geomspace(2.0, 1e-13, 60)
        h = -1.0 / (x + 2.0j)
        with np.errstate(all="ignore"):
            for eta in etas:
                zz = x + 1j * np.maximum(y, eta)
                for _ in range(4):
                    r0 = zinv(h) - zz
                    h_new = h - r0 / dzinv(h)
                    # Newton may jump to another branch far away: keep only steps that reduce the residual
                    bad = ~np.isfinite(h_new) | (h_new.imag < 0) | ~(np.abs(zinv(h_new) - zz) < np.abs(r0))
                    # fall back to a fixed-point step (a contraction in the upper half plane)
                    fp = 1.0 / (-zz + np.sum(aw * s / (1.0 + s * h[:, None]), -1))
                    h = np.where(bad, fp, h_new)
            # on the real axis finish with Newton at y = 0 itself: outside the support the root is real and
            # Newton removes the O(eta) Lorentzian tail (of the atom at 0, say); inside it stays complex
            real = y == 0
            if np.any(real):
                hr, sr, xr = h[real], s[real], x[real]
                for _ in range(8):
                    step = ((-1.0 / hr + np.sum(aw * sr / (1.0 + sr * hr[:, None]), -1) - xr)
                            / (1.0 / hr**2 - np.sum(aw * sr**2 / (1.0 + sr * hr[:, None]) ** 2, -1)))
                    ok = np.isfinite(step)
                    hr = np.where(ok, hr - np.where(ok, step, 0), hr)
                h[real] = hr.real + 1j * np.maximum(hr.imag, 0.0)
        return h / u

    def stieltjes(self, z):
        """``g(z) = (1/d) tr (C - z)^{-1}`` (physical branch, ``Im g > 0`` for ``Im z > 0``).

        Parameters
        ----------
        z : complex array, any shape; real values are taken as ``x + i0``.
        """
        z = np.asarray(z, dtype=complex)
        if not np.all(np.isfinite(z)):
            raise ValueError("z must be finite")
        g = self._g_scaled(z.ravel() / self.scale) / self.scale
        return g.reshape(z.shape)

    def density_unmasked(self, x):
        """``Im g(x + i0) / pi`` without using the support (for independent checks)."""
        x = finite_array("x", x)
        out = np.zeros(x.shape)
        pos = x > 0                       # the continuous part lives on x > 0 (0 carries the atom)
        if np.any(pos):
            g = self.stieltjes(x[pos].astype(complex))
            out[pos] = np.maximum(g.imag, 0.0) / np.pi
        return out

    def density(self, x):
        """Density of the continuous part of the covariance spectrum at ``x`` (per unit of ``d``).

        Integrates to ``min(alpha, 1)``; exactly zero outside :meth:`support`.
        """
        x = finite_array("x", x)
        flat = x.ravel()
        out = np.zeros(flat.shape)
        inside = np.zeros(flat.shape, dtype=bool)
        for b in self.support(masses=False):
            inside |= (flat > b.lower) & (flat < b.upper)
        if np.any(inside):
            out[inside] = self.density_unmasked(flat[inside])
        return out.reshape(x.shape)

    # -- support -------------------------------------------------------------------------------
    @cached_property
    def _critical(self):
        return critical_points(self.s, self.w, self.alpha, self.poles, self.dzinv, self.d2zinv)

    def _critical_points(self):
        """Real critical points of ``z(g)`` (scaled units): roots of ``z'(g) = 0`` (:func:`rmt.branch.critical_points`)."""
        return self._critical

    @cached_property
    def _pieces(self):
        """Increasing pieces of ``z(g)`` and their images, the gaps of the support (scaled units)."""
        return increasing_pieces(self.zinv, self.dzinv, np.append(self.poles, 0.0), self._critical_points())

    def _critical_values(self):
        g = self._critical_points()
        x = self.zinv(g) if g.size else np.zeros(0)
        return x[np.isfinite(x)]

    def support(self, masses: bool = True) -> list[Bulk]:
        """Connected components of the continuous spectrum, sorted by ``lower`` (covariance units).

        Parameters
        ----------
        masses : bool
            Compute each bulk's mass by quadrature (``mass = nan`` if False).
        """
        key = "_support_m" if masses else "_support"
        if key in self.__dict__:
            return self.__dict__[key]
        if "_support_m" in self.__dict__:
            return self.__dict__["_support_m"]
        cand = self._critical_values()
        # ~0 is the hard edge 0; "small" is relative to the smallest level, not the largest (levels may be 1e-14 apart)
        cand = np.unique(np.concatenate([[0.0], cand[cand > 1e-14 * self.s.min()]]))
        self._candidates = cand
        # merge numerically identical candidates
        keep = np.concatenate([[True], np.diff(cand) > 1e-12 * cand[1:]])
        cand = cand[keep]
        mids = 0.5 * (cand[:-1] + cand[1:])
        if not mids.size:
            inside = np.zeros(0, bool)
        elif self.s.size <= _POLY_MAX_K:    # polynomial route: Im g of the physical root (exact to the hard edge)
            g = self._g_scaled(mids.astype(complex))
            inside = g.imag > 1e-9 * (np.abs(g) + 1.0)
        else:                               # continuation: it can run off in a gap; the increasing pieces cannot
            gaps = np.array([p[2:] for p in self._pieces]).reshape(-1, 2)
            inside = ~np.any((mids[:, None] > gaps[:, 0]) & (mids[:, None] < gaps[:, 1]), axis=1)
        bulks = []
        i = 0
        while i < mids.size:
            if inside[i]:
                j = i
                while j + 1 < mids.size and inside[j + 1]:
                    j += 1
                bulks.append([cand[i] * self.scale, cand[j + 1] * self.scale])
                i = j + 1
            else:
                i += 1
        if not bulks:
            raise ValueError("levels: the solver found no support for this profile; merge or drop levels that are "
                             "many decades apart")
        if self.continuous:             # a profile on one interval has one bulk (docs/theory.md section 3): gaps
            bulks = [[bulks[0][0], bulks[-1][1]]]      # between the discretisation's nodes are not the law's
        out = [Bulk(float(lo), float(hi), float("nan")) for lo, hi in bulks]
        self.__dict__["_support"] = out
        if masses:
            out = [Bulk(b.lower, b.upper, m) for b, m in zip(out, self._masses(out))]
            self.__dict__["_support_m"] = out
        return out

    def _masses(self, bulks):
        """Bulk masses: exact from the poles of ``z(g)`` (docs/theory.md section 3), quadrature where that fails.

        A contour around one bulk maps to a contour in ``g`` crossing the real axis at the critical points of
        its two edges; ``mass = -(1/2 pi i) oint g dz = (1/2 pi i) oint z(g) dg`` is the sum of the residues
        of ``z(g)`` between them (``alpha w_k`` at ``-1/s_k``, ``-1`` at ``0``), signed by the orientation. This
        holds at any level ratio; quadrature of ``Im g`` loses the narrow bulks of widely spread levels. A
        total different from ``min(alpha, 1)`` means a bulk was missed: refused rather than answered.
        """
        g = self._critical_points()
        with np.errstate(all="ignore"):
            val = self.zinv(g) if g.size else np.zeros(0)
        poles = np.concatenate([-1.0 / self.s, [0.0]])
        res = np.concatenate([self.alpha * self.w, [-1.0]])
        total = min(self.alpha, 1.0)
        out, unknown = [], []
        for i, b in enumerate(bulks):
            ends = []
            for e in (b.lower / self.scale, b.upper / self.scale):
                hit = g[np.abs(val - e) <= 1e-9 * max(e, 1e-300)] if e > 0 else np.zeros(0)
                if hit.size > 1 and np.ptp(hit) <= 1e-7 * np.max(np.abs(hit)):
                    hit = hit[:1]                 # the same critical point found by two routes
                ends.append(hit)
            if len(ends[0]) == 1 and len(ends[1]) == 1:
                gl, gh = float(ends[0][0]), float(ends[1][0])
                between = (poles > min(gl, gh)) & (poles < max(gl, gh))
                out.append(float(np.sign(gh - gl) * np.sum(res[between])))
            else:                         # the hard edge 0 (or an ambiguous edge): complement or quadrature
                out.append(float("nan"))
                unknown.append(i)
        if len(unknown) == 1:
            out[unknown[0]] = total - sum(m for m in out if m == m)
        else:
            for i in unknown:
                out[i] = self._bulk_mass(bulks[i].lower, bulks[i].upper)
        tol = 1e-8 if len(unknown) <= 1 else 1e-5        # quadrature is good to ~1e-6
        if any(not (m > 0) for m in out) or abs(sum(out) - total) > tol:
            raise ValueError(f"levels: the solver could not resolve the support of this profile (bulk masses "
                             f"{[round(m, 6) for m in out]}, total {sum(out):.6g} instead of {total:.6g}); "
                             "merge or drop levels that are many decades apart")
        return out

    def _theta_grid(self, lo, hi, n):
        """Nodes ``x = lo + (hi - lo)(1 - cos th)/2`` and Jacobian, Gauss-Legendre in ``th`` on [0, pi]."""
        t, wt = np.polynomial.legendre.leggauss(n)
        th = 0.5 * np.pi * (t + 1)
        x = lo + (hi - lo) * 0.5 * (1 - np.cos(th))
        jac = (hi - lo) * 0.5 * np.sin(th) * 0.5 * np.pi * wt
        return x, jac

    def _bulk_mass(self, lo, hi):
        """Integral of the density over ``[lo, hi]`` (scaled back to covariance units).

        The bulk is split at interior critical values (density minima of merged bulks) and
        geometrically (factor 2), each piece integrated with the cos substitution.
        """
        cand = self._candidates * self.scale
        pts = [lo, hi] + [c for c in cand if lo < c < hi]
        start = lo if lo > 0 else hi * 1e-6
        pts += list(np.geomspace(start, hi, max(2, int(np.ceil(np.log2(hi / start))) + 1))[1:-1])
        pts = np.unique(pts)
        grids = [self._theta_grid(a, b, 48) for a, b in zip(pts[:-1], pts[1:])]
        x = np.concatenate([g[0] for g in grids])          # one vectorised solve for all pieces
        jac = np.concatenate([g[1] for g in grids])
        return float(np.sum(self.density_unmasked(x) * jac))

    @cached_property
    def _cdf_table(self):
        """Tabulated CDF of the continuous part on each bulk (for KS distances and quantiles)."""
        xs, Fs = [], []
        base = 0.0
        n = 4001
        for b in self.support():
            th = np.linspace(0, np.pi, n)
            x = b.lower + (b.upper - b.lower) * 0.5 * (1 - np.cos(th))
            f = self.density_unmasked(x) * (b.upper - b.lower) * 0.5 * np.sin(th)
            F = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(th))])
            F *= b.mass / F[-1] if F[-1] > 0 else 0.0
            xs.append(x)
            Fs.append(base + F)
            base += b.mass
        return np.concatenate(xs), np.concatenate(Fs)

    def cdf(self, x):
        """``P(lambda <= x)`` for the eigenvalue distribution of ``C`` including the atom at 0."""
        x = finite_array("x", x)
        xs, Fs = self._cdf_table
        out = np.interp(x, xs, Fs, left=0.0, right=Fs[-1])
        return np.where(x >= 0, self.manifold.zero_mass + out, 0.0)

    def counting(self, x):
        """Fraction of eigenvalues of ``C`` strictly above ``x`` (the counting function, per unit ``d``)."""
        return 1.0 - self.cdf(x)


class JacobianLaw:
    """The law of the spectrum of ``-Jn`` at effective noise ``tau`` (its ``d -> inf`` limit): ``eta = tau /
    (lambda + tau)``. "Law" is the distribution; :class:`rmt.spectrum.Spectrum` holds values (drawn, measured or
    the law's quantiles) and :func:`trained.jacobian.jacobian_spectrum` measures them.

    A bulk (mass ``min(alpha, 1)``) with density ``rho_C(lambda(eta)) tau / eta^2``,
    ``lambda(eta) = tau (1 - eta) / eta``, and a spike of mass ``max(0, 1 - alpha)`` at ``eta = 1``.

    Examples
    --------
    >>> from rmt import LinearManifold, VarianceProfile
    >>> law = JacobianLaw(LinearManifold(0.25, VarianceProfile.single(2.0)), tau=0.5)   # lambda in [0.5, 4.5]
    >>> law.spike_mass, [(round(b.lower, 6), round(b.upper, 6)) for b in law.support()]
    (0.75, [(0.1, 0.5)])
    >>> lam = 0.5 * (1 - 0.25) / 0.25; mp = np.sqrt((4.5 - lam) * (lam - 0.5)) / (2 * np.pi * 2 * lam)
    >>> round(float(law.density(0.25)), 6), round(float(mp * 0.5 / 0.25 ** 2), 6)   # rho_C(lambda(eta)) tau/eta^2
    (0.735105, 0.735105)
    >>> law.cdf([0.5, 0.999]).round(6).tolist()           # the bulk holds alpha = 0.25, the spike the rest
    [0.25, 0.25]
    >>> law.quantiles(8).round(4).tolist()                 # 2 of 8 classical locations in the bulk, 6 in the spike
    [0.1548, 0.3024, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, manifold, tau: float):
        self.manifold = manifold
        self.tau = positive("tau", tau)
        self.solver = manifold.solver

    @property
    def spike_mass(self) -> float:
        """Mass of the spike at ``eta = 1``: ``max(0, 1 - alpha)``, the directions orthogonal to the manifold."""
        return self.manifold.zero_mass

    def lam(self, eta):
        """Covariance eigenvalue of each ``eta`` at this ``tau`` (:func:`lambda_of_eta`; ``inf`` at ``eta = 0``)."""
        eta = np.asarray(eta, dtype=float)
        with np.errstate(divide="ignore"):
            return lambda_of_eta(eta, self.tau)

    def density(self, eta):
        """Continuous part of the ``eta`` density on ``(0, 1)`` (the spike is :attr:`spike_mass`)."""
        eta = finite_array("eta", eta)
        out = np.zeros(eta.shape)
        ok = (eta > 0) & (eta < 1)
        out[ok] = self.solver.density(self.lam(eta[ok])) * self.tau / eta[ok] ** 2
        return out

    def support(self) -> list[Bulk]:
        """Bulks in ``eta`` units sorted by ``lower`` (the highest-variance bulk is lowest in ``eta``)."""
        return sorted((Bulk(*eta_edges(b, self.tau), b.mass) for b in self.solver.support()),
                      key=lambda b: b.lower)

    @staticmethod
    def resolved(bulk: Bulk) -> bool:
        """Whether float64 ``eta`` resolves ``bulk``: at least ``1e4`` spacings wide. At extreme ``tau`` bulks
        shrink towards ``eta = 0`` (``tau -> 0``, fine) or ``eta = 1`` (``tau -> inf``, lost to round-off)."""
        return bool(bulk.upper - bulk.lower >= 1e4 * np.spacing(bulk.upper))

    def grid(self, n: int, per_bulk: int = 64) -> np.ndarray:
        """An ``eta`` grid on ``[0, 1]`` that resolves every bulk: ``n`` uniform points, plus ``per_bulk``
        cos-spaced nodes (denser at the square-root edges) inside each bulk, however narrow.

        Bulks that are not :meth:`resolved` get no nodes; ``ValueError`` if none is resolved.
        """
        n = positive_int("n", n)
        parts = [np.linspace(0.0, 1.0, max(n, 2))]
        th = np.linspace(0.0, np.pi, per_bulk)
        bulks = self.support()
        if not any(self.resolved(b) for b in bulks):
            raise ValueError(f"tau: at tau={self.tau:g} every bulk of eta is narrower than double precision "
                             "resolves (they sit at eta = 1); use the covariance units (lambda = tau (1-eta)/eta)")
        for b in bulks:
            if self.resolved(b):
                nodes = b.lower + (b.upper - b.lower) * 0.5 * (1 - np.cos(th))
                nodes[0], nodes[-1] = b.lower, b.upper      # the edges exactly: the affine map can round past them
                parts.append(nodes)
        return np.unique(np.concatenate(parts))

    def gaps(self) -> list[Gap]:
        """Gaps between consecutive ``eta`` bulks and between the top bulk and the spike at 1, sorted by
        ``lower``; ``mass_below`` is the fraction of ``d`` below each gap."""
        bulks = self.support()
        out, below = [], 0.0
        for b1, b2 in zip(bulks[:-1], bulks[1:]):
            below += b1.mass
            out.append(Gap(b1.upper, b2.lower, mass_below=below))
        if self.spike_mass > 0:
            out.append(Gap(bulks[-1].upper, 1.0, mass_below=below + bulks[-1].mass))
        return out

    def cdf(self, eta):
        """``P(eta_i <= eta)`` including the spike."""
        eta = finite_array("eta", eta)
        lam = self.lam(np.clip(eta, 1e-300, None))
        # eta <= e  <=>  lambda >= lam(e); the lambda-distribution has no atoms off zero
        F = self.solver.counting(lam) + np.where(eta >= 1, self.spike_mass, 0.0)
        F = np.where(eta >= 1, 1.0, np.where(eta <= 0, 0.0, F - np.where(lam <= 0, 0.0, 0.0)))
        # counting() includes the atom at zero only for lam < 0 which cannot occur for eta < 1
        return np.clip(F, 0.0, 1.0)

    def quantiles(self, n: int) -> np.ndarray:
        """Classical locations ``eta_(i)``, ``i = 1..n`` at probabilities ``(i - 1/2)/n`` (sorted)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise ValueError(f"n must be a positive integer (the number of locations), got {n!r}")
        n = positive_int("n", n)
        p = (np.arange(n) + 0.5) / n
        xs, Fs = self.solver._cdf_table
        cont = self.manifold.alpha if self.manifold.alpha < 1 else 1.0
        lam_q = np.interp(np.clip(cont - p, 0, None), Fs, xs)   # mass below lam_q equals cont - p
        eta = np.where(p < cont, eta_of_lambda(lam_q, self.tau), 1.0)
        return np.sort(eta)


def __getattr__(name):
    """``JacobianSpectrum``: the former name of :class:`JacobianLaw` (deprecated, removed in 0.4)."""
    if name == "JacobianSpectrum":
        import warnings
        warnings.warn("rmt.mp.JacobianSpectrum is now rmt.mp.JacobianLaw (the law of the spectrum); the old name "
                      "goes in 0.4", DeprecationWarning, stacklevel=2)
        return JacobianLaw
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
