"""Fig. 2 reproduction (quick mode), its CLI and the notebook, checked against an independent theory.

The independent theory here solves the Silverstein-Bai equation with sympy/numpy polynomials directly
(no rmt.mp): edges from the real critical points of z(g), density from the root with Im g > 0.
"""
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from scipy import integrate

from rmt import Spectrum
from specgap.cli import main
from specgap.reproduce.fig2 import argmax_log, reproduce_fig2

from findings_ledger import check_study
from notebook_runner import run_notebook

ALPHA, LEVELS, FRACS = 0.5, (1.0, 0.01), (0.75, 0.25)
ROOT = Path(__file__).resolve().parents[2]


@lru_cache(maxsize=None)
def independent_theory():
    g, x = sp.symbols("g x")
    z = -1 / g + sum(sp.Rational(w).limit_denominator(1000) * ALPHA * s / (1 + s * g)
                     for s, w in zip(map(sp.nsimplify, LEVELS), FRACS))
    crit = sp.Poly(sp.numer(sp.together(sp.diff(z, g))), g)
    roots = [complex(r) for r in crit.nroots(n=30)]
    zf = sp.lambdify(g, z)
    edges = sorted(float(zf(r.real)) for r in roots if abs(r.imag) < 1e-12 and zf(r.real) > 0)
    cubic = sp.Poly(sp.numer(sp.together(z - x)), g)
    coeffs = [sp.lambdify(x, c) for c in cubic.all_coeffs()]

    def rho(lam):
        out = []
        for v in np.atleast_1d(lam):
            r = np.roots([complex(c(v + 1e-13j)) for c in coeffs])
            out.append(max(r.imag.max(), 0.0) / np.pi)
        return np.array(out)
    return edges, rho


def test_independent_theory_matches_the_reference_numbers():
    edges, rho = independent_theory()
    np.testing.assert_allclose(edges, [0.001898, 0.013010, 0.15154, 2.60101], rtol=5e-4)
    # masses of the two bulks: 0.125 (low variance) and 0.375 (high variance)
    assert integrate.quad(lambda v: rho(v)[0], edges[0], edges[1], limit=200)[0] == pytest.approx(0.125, abs=2e-3)
    assert integrate.quad(lambda v: rho(v)[0], edges[2], edges[3], limit=200)[0] == pytest.approx(0.375, abs=2e-3)


def _eta_edges(tau):
    e = independent_theory()[0]
    return [[tau / (e[3] + tau), tau / (e[2] + tau)], [tau / (e[1] + tau), tau / (e[0] + tau)]]


def _check_summary(s, out: Path, draws):
    edges, rho = independent_theory()
    t_max = np.sqrt(edges[2] * edges[1])                                    # sqrt(l_1 u_2)
    assert s["theory"]["t_max"] == pytest.approx(t_max, rel=1e-5)
    assert s["simulation"]["t_max"] == pytest.approx(t_max, rel=0.1)       # measured 1-2% at d=100
    assert s["simulation"]["spike_mass"] == 0.5
    assert s["parameters"]["draws"] == draws
    assert s["specgap_version"] and s["schema_version"] == 1
    assert s["ks"]["mean"] < 0.05 and s["ks"]["pooled"] < 0.03            # measured 0.021 / 0.006 (once: same at every t)
    for a in s["agreement"]:
        assert 0 < a["w1_eta"]["mean"] < 0.01                               # measured 0.002-0.005
        th = _eta_edges(a["tau"])
        np.testing.assert_allclose([[b["lower"], b["upper"]] for b in a["edges_theory"]], th, rtol=1e-5)
        sim = np.array(a["edges_simulated_mean"])
        width = np.diff(th, axis=1)
        assert np.all(np.abs(sim - th) < 0.15 * width + 1e-3)               # d = 100 edge shifts
        assert a["spike_mass_simulated"] == 0.5
    # the histogram at t_max from spectra.npz against the independent density, bin masses
    spec = Spectrum.load(out / "spectra.npz")
    assert spec.values.shape[0] == draws and spec.values.shape[2] == 100
    i = int(np.argmin(np.abs(spec.t - t_max)))
    tau = spec.tau[i]
    v = spec.values[:, i].ravel()
    for lo, hi in _eta_edges(tau):
        bins = np.linspace(lo, hi, 7)
        h = np.histogram(v, bins=bins)[0] / v.size
        theory = [integrate.quad(lambda e: rho(tau * (1 - e) / e)[0] * tau / e ** 2, a, b, limit=100)[0]
                  for a, b in zip(bins[:-1], bins[1:])]
        assert np.abs(h - theory).sum() < 0.03, (h, theory)
    # dimension drop: D_eff = m at the earliest panel, largest-gap dimension = f m at t_max
    assert s["agreement"][0]["effective_dimension"]["simulated_mean"] == 50
    assert s["agreement"][1]["largest_gap_dimension"]["simulated_mean"] == pytest.approx(37.5, abs=1)
    # the largest-gap dimension is undefined where no gap reaches delta: null, not a number. At the last
    # panel time the independent theory's widest eta gap is below 0.1 (between the bulks and to the spike)
    last = s["agreement"][-1]
    e = independent_theory()[0]
    tau = last["tau"]
    widths = [tau / (e[1] + tau) - tau / (e[2] + tau), 1 - tau / (e[0] + tau)]
    assert max(widths) < 0.1
    assert last["largest_gap_dimension"]["theory"] is None and last["largest_gap_dimension"]["simulated_mean"] is None


def test_reproduce_fig2_quick(tmp_path):
    s = reproduce_fig2(tmp_path, quick=True, progress=False)
    for f in ("fig2_density.png", "fig2_spectra.png", "fig2_dimension.png", "summary.json", "spectra.npz",
              "curves.npz"):
        assert (tmp_path / f).stat().st_size > 0, f
    assert json.loads((tmp_path / "summary.json").read_text())["theory"]["t_max"] == s["theory"]["t_max"]
    _check_summary(s, tmp_path, draws=20)
    assert check_study("fig2", s) == 3                              # docs/findings.md G1-G3


def test_cli_reproduce_fig2(tmp_path, capsys):
    rc = main(["reproduce", "fig2", "--out", str(tmp_path), "--quick", "--draws", "12", "--seed", "3", "--json"])
    assert rc == 0
    s = json.loads(capsys.readouterr().out)
    assert s["parameters"]["seed"] == 3 and s["parameters"]["quick"] is True
    _check_summary(s, tmp_path, draws=12)


@pytest.mark.parametrize("argv, needle", [(["--d", "2"], "--d"), (["--draws", "1"], "--draws"), ([], "--out"),
                                          (["--backend", "tpu"], "backend")])
def test_cli_reproduce_bad_input(tmp_path, argv, needle, capsys):
    out = [] if not argv else ["--out", str(tmp_path)]
    rc = main(["reproduce", "fig2", "--quick", *out, *argv])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_argmax_log_refines_a_parabola():
    t = np.geomspace(1e-3, 1, 31)
    y = -(np.log(t) - np.log(0.037)) ** 2
    assert argmax_log(t, y) == pytest.approx(0.037, rel=1e-10)
    assert argmax_log(t, t) == 1.0


@pytest.mark.slow
def test_notebook_executes(tmp_path):
    # the notebook's own (quick) parameters, so its printout is the one stored in it
    from notebook_runner import assert_text_matches_stored
    nb = run_notebook("fig2.ipynb", quick=True, out=str(tmp_path))
    s = json.loads((tmp_path / "summary.json").read_text())
    ref = reproduce_fig2(None, quick=True, progress=False)
    assert s["simulation"]["t_max"] == pytest.approx(ref["simulation"]["t_max"], rel=1e-12)
    assert (tmp_path / "fig2_density.png").stat().st_size > 0
    assert_text_matches_stored(nb, "fig2.ipynb")
