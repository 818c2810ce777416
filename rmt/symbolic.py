"""Sympy derivations of the closed forms used by :mod:`rmt.gaps` (docs/theory.md sections 3-4).

Each formula is *derived* here (solved, not typed in) and returned as a :class:`Formula` holding the sympy
expression, a numpy function (``lambdify``) and its LaTeX. The numeric code is tested against these.

Symbols: ``alpha`` (m/d), ``s`` (variance level), ``tau`` (effective noise), ``l`` (lower edge of the
higher-variance bulk, or the lowest nonzero edge), ``u`` (upper edge of the lower-variance bulk),
``Delta`` (resolution).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

__all__ = ["Formula", "formulas", "mp_edges", "manifold_gap", "intermediate_gap", "tau_star",
           "max_width", "open_close_product", "symbols"]


@dataclass(frozen=True)
class Formula:
    """One closed form of the theory: ``name``, the sympy ``expr``, its argument symbols ``args`` (the order of
    :attr:`func`'s arguments) and a one-line ``description``; calling it evaluates :attr:`func`.
    """

    name: str
    expr: object          # sympy expression
    args: tuple           # sympy symbols, the order of ``func``'s arguments
    description: str

    @property
    def latex(self) -> str:
        """The expression as LaTeX (``sympy.latex``)."""
        import sympy as sp
        return sp.latex(self.expr)

    @property
    def func(self) -> Callable:
        """The expression as a numpy function of ``args`` (``sympy.lambdify``)."""
        import sympy as sp
        return sp.lambdify(self.args, self.expr, "numpy")

    def __call__(self, *values):
        return self.func(*values)


@lru_cache(maxsize=None)
def symbols():
    """The sympy symbols of the closed forms, by name: ``alpha``, ``s``, ``tau``, ``l``, ``u``, ``Delta``, ``g``,
    ``lam`` (cached).
    """
    import sympy as sp
    return dict(alpha=sp.Symbol("alpha", positive=True), s=sp.Symbol("s", positive=True),
                tau=sp.Symbol("tau", positive=True), l=sp.Symbol("l", positive=True),
                u=sp.Symbol("u", positive=True), Delta=sp.Symbol("Delta", positive=True),
                g=sp.Symbol("g", real=True), lam=sp.Symbol("lambda", positive=True))


@lru_cache(maxsize=None)
def mp_edges() -> tuple[Formula, Formula]:
    """Single-level Marchenko-Pastur edges from the critical points of ``z(g) = -1/g + alpha s/(1+s g)``."""
    import sympy as sp
    S = symbols()
    a, s, g = S["alpha"], S["s"], S["g"]
    z = -1 / g + a * s / (1 + s * g)
    crit = sp.solve(sp.Eq(sp.diff(z, g), 0), g)
    vals = sorted({sp.simplify(sp.factor(z.subs(g, c))) for c in crit},
                  key=lambda e: float(e.subs({a: sp.Rational(1, 4), s: 1})))
    r = sp.Symbol("r", positive=True)           # r = sqrt(alpha) turns the edges into polynomials
    lower, upper = (sp.factor(sp.simplify(v.subs(a, r**2))).subs(r, sp.sqrt(a)) for v in vals)
    return (Formula("mp_lower_edge", lower, (a, s), "lower edge s(1 - sqrt(alpha))^2"),
            Formula("mp_upper_edge", upper, (a, s), "upper edge s(1 + sqrt(alpha))^2"))


def _eta(lam, tau):
    return tau / (lam + tau)


@lru_cache(maxsize=None)
def manifold_gap() -> Formula:
    """``1 - eta(l)``: distance from the top of the tangent spectrum to the spike at 1."""
    import sympy as sp
    S = symbols()
    expr = sp.simplify(1 - _eta(S["l"], S["tau"]))
    return Formula("manifold_gap", expr, (S["l"], S["tau"]), "W_M(tau)")


@lru_cache(maxsize=None)
def intermediate_gap() -> Formula:
    """``eta(u) - eta(l)``: gap between the bulk ending at ``l`` (high variance) and the one ending at ``u``."""
    import sympy as sp
    S = symbols()
    derived = sp.together(sp.simplify(_eta(S["u"], S["tau"]) - _eta(S["l"], S["tau"])))
    num, den = sp.fraction(derived)
    expr = sp.factor(num) / sp.factor(den)
    if sp.count_ops(expr) > sp.count_ops(derived):
        expr = derived
    assert sp.simplify(expr - (_eta(S["u"], S["tau"]) - _eta(S["l"], S["tau"]))) == 0
    return Formula("intermediate_gap", expr, (S["l"], S["u"], S["tau"]), "W_k(tau)")


@lru_cache(maxsize=None)
def tau_star() -> Formula:
    """The positive root of ``dW_k/dtau = 0`` (the paper's ``t_max``).

    Examples
    --------
    >>> f = tau_star()
    >>> str(f.expr), f.args                        # derived: the positive root of dW_k/dtau = 0
    ('sqrt(l)*sqrt(u)', (l, u))
    >>> round(float(f(0.151538, 0.0130103)), 6)     # the paper's model: l = 0.151538, u = 0.0130103
    0.044402
    """
    import sympy as sp
    S = symbols()
    W = intermediate_gap().expr
    roots = [r for r in sp.solve(sp.Eq(sp.diff(W, S["tau"]), 0), S["tau"]) if r.is_positive is not False]
    roots = [sp.simplify(r) for r in roots if float(r.subs({S["l"]: 2, S["u"]: 1})) > 0]
    assert len(roots) == 1
    return Formula("tau_star", roots[0], (S["l"], S["u"]), "argmax of W_k")


@lru_cache(maxsize=None)
def max_width() -> Formula:
    """``W_k(tau*)``, simplified."""
    import sympy as sp
    S = symbols()
    expr = sp.simplify(sp.factor(intermediate_gap().expr.subs(S["tau"], tau_star().expr)))
    a, b = sp.sqrt(S["l"]), sp.sqrt(S["u"])
    alt = (a - b) / (a + b)
    if sp.simplify(expr - alt) == 0:
        expr = alt
    return Formula("max_width", expr, (S["l"], S["u"]), "maximal intermediate gap width")


@lru_cache(maxsize=None)
def open_close_product() -> Formula:
    """``tau_open * tau_close``: product of the two roots of ``W_k(tau) = Delta``."""
    import sympy as sp
    S = symbols()
    roots = sp.solve(sp.Eq(intermediate_gap().expr, S["Delta"]), S["tau"])
    assert len(roots) == 2
    expr = sp.simplify(sp.expand(roots[0] * roots[1]))
    return Formula("open_close_product", expr, (S["l"], S["u"], S["Delta"]), "tau_open * tau_close")


def open_close_times() -> tuple[Formula, Formula]:
    """The two roots of ``W_k(tau) = Delta`` (``tau_open`` the larger)."""
    import sympy as sp
    S = symbols()
    r = sp.solve(sp.Eq(intermediate_gap().expr, S["Delta"]), S["tau"])
    sub = {S["l"]: 1, S["u"]: sp.Rational(1, 100), S["Delta"]: sp.Rational(1, 10)}
    r = sorted(r, key=lambda e: float(e.subs(sub)))
    args = (S["l"], S["u"], S["Delta"])
    return (Formula("tau_open", sp.simplify(r[1]), args, "larger root"),
            Formula("tau_close", sp.simplify(r[0]), args, "smaller root"))


def formulas() -> dict[str, Formula]:
    """All derived formulas by name."""
    lo, hi = mp_edges()
    out = {f.name: f for f in (lo, hi, manifold_gap(), intermediate_gap(), tau_star(), max_width(),
                               open_close_product())}
    return out
