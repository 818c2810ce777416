"""Phase diagrams and the `specgap theory` command line."""
import json
import subprocess
import sys

import numpy as np
import pytest

from rmt import JacobianLaw, phase_transitions, LinearManifold, VarianceProfile, phases
from rmt.diagram import PHASE_CODES, phase_diagram, plot_phase_diagram
from specgap.cli import main

from rmt.testing.oracles import mp_edges


def test_phase_diagram_labels_match_spectrum_readouts(tmp_path):
    vals = np.geomspace(1e-3, 0.5, 9)
    tau = np.geomspace(1e-5, 1e2, 25)
    D = phase_diagram("ratio", vals, tau, alpha=0.5, levels=(1.0, 0.01), fractions=(0.75, 0.25))
    inv = {v: k for k, v in PHASE_CODES.items()}
    checked = 0
    for i, r in enumerate(vals):
        M = LinearManifold(0.5, VarianceProfile([1.0, r], [0.75, 0.25]))
        for j, t in enumerate(tau):
            near = np.min(np.abs(np.log(t / phase_transitions(M, 0.1))))
            if near < 0.05:
                continue  # classical locations at finite n differ from edges right at a boundary
            assert inv[D.labels[i, j]] == phases(JacobianLaw(M, t).quantiles(2000), 0.1)
            checked += 1
    assert checked > 150
    # tau* lies between the outer boundaries
    ts = D.tau_star[:, 0]
    ok = np.isfinite(ts)            # nan where the two bulks have merged (ratio close to 1)
    assert 3 <= ok.sum() < ts.size
    assert np.all((ts[ok] > D.coverage_consolidation[ok]) & (ts[ok] < D.trivial_coverage[ok]))
    assert set(np.unique(D.labels)) == {0, 1, 2}
    fig = plot_phase_diagram(D)
    fig.savefig(tmp_path / "pd.png")
    assert (tmp_path / "pd.png").stat().st_size > 10_000


def test_phase_diagram_cells_are_centred_in_the_axis_scale():
    """A coarse log grid (ratio 0.01..0.3): each cell spans the geometric midpoints, so the axis stays within half
    a grid step of the values (linear 'nearest' cells put the lowest edge at 0 and the log axis at 1e-17)."""
    from rmt.diagram import cell_edges
    np.testing.assert_allclose(cell_edges([0.01, 0.04, 0.16], True), [0.005, 0.02, 0.08, 0.32])
    np.testing.assert_allclose(cell_edges([1.0, 2.0, 4.0], False), [0.5, 1.5, 3.0, 5.0])
    np.testing.assert_allclose(cell_edges([2.0], True), [1.8, 2.2])
    ratio, tau = np.array([0.01, 0.03, 0.1, 0.3]), np.geomspace(1e-3, 10, 12)
    D = phase_diagram("ratio", ratio, tau, alpha=0.5, levels=[1.0, 0.01], fractions=[0.75, 0.25])
    ax = plot_phase_diagram(D).axes[0]
    lo, hi = ax.get_ylim()
    assert 0.005 <= lo < 0.01 and 0.3 < hi <= 0.6, (lo, hi)
    # cells keep their rows when the grid is given unsorted
    D2 = phase_diagram("ratio", ratio[::-1], tau, alpha=0.5, levels=[1.0, 0.01], fractions=[0.75, 0.25])
    a1 = plot_phase_diagram(D).axes[0].collections[0].get_array()
    a2 = plot_phase_diagram(D2).axes[0].collections[0].get_array()
    np.testing.assert_array_equal(np.asarray(a1), np.asarray(a2))


def run_json(argv, capsys):
    assert main(argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_edges_spectrum_density_timescales(capsys):
    model = ["--alpha", "0.3", "--levels", "2,0.05", "--fractions", "0.4,0.6"]
    e = run_json(["theory", "edges", *model], capsys)
    ref = mp_edges(0.3, [2, 0.05], [0.4, 0.6])                      # independent numpy polynomial route
    assert [v for b in e["bulks"] for v in (b["lower"], b["upper"])] == pytest.approx(ref, rel=1e-9)
    assert e["zero_mass"] == pytest.approx(0.7)
    assert sum(b["mass"] for b in e["bulks"]) == pytest.approx(0.3, abs=1e-4)
    s = run_json(["theory", "spectrum", *model, "--t", "0.02"], capsys)
    assert s["spike"] == {"position": 1.0, "mass": pytest.approx(0.7)}
    # t = 0.02: eta bulks [0.02/(3.63+0.02), 0.02/(0.864+0.02)] = [0.0055, 0.023] and
    # [0.02/(0.0925+0.02), 0.02/(0.0132+0.02)] = [0.178, 0.603] plus the spike: values in [0.1, 0.9] -> coverage
    assert s["phase"] == "coverage"
    assert [round(b["lower"], 4) for b in s["bulks"]] == [round(0.02 / (ref[3] + 0.02), 4), round(0.02 / (ref[1] + 0.02), 4)]
    assert all(g["width"] == pytest.approx(g["upper"] - g["lower"]) for g in s["gaps"])
    dn = run_json(["theory", "density", *model, "--t", "0.02", "--points", "20001"], capsys)
    assert np.trapezoid(dn["density"], dn["eta"]) == pytest.approx(0.3, abs=2e-3)
    ts = run_json(["theory", "timescales", *model, "--delta", "0.05"], capsys)
    g = ts["gaps"][0]
    assert g["tau_open"] * g["tau_close"] == pytest.approx(g["tau_max"] ** 2, rel=1e-9)
    vp = run_json(["theory", "spectrum", *model, "--t", "0.02", "--schedule", "vp"], capsys)
    assert vp["tau"] == pytest.approx(np.expm1(0.04))


@pytest.mark.parametrize("argv,name", [
    (["theory", "edges", "--alpha", "-1", "--levels", "1"], "alpha"),
    (["theory", "edges", "--alpha", "0.5", "--levels", "1,-0.1", "--fractions", "0.5,0.5"], "levels"),
    (["theory", "edges", "--alpha", "0.5", "--levels", "1,0.1", "--fractions", "0.5,0.6"], "fractions"),
    (["theory", "edges", "--alpha", "0.5", "--levels", "1,x"], "levels"),
    (["theory", "spectrum", "--alpha", "0.5", "--t", "0"], "t"),
    (["theory", "spectrum", "--alpha", "0.5", "--t", "1", "--delta", "0.6"], "delta"),
    (["theory", "timescales", "--alpha", "0.5", "--delta", "0"], "delta"),
])
def test_cli_bad_input_exit_2(argv, name, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0] and "Traceback" not in err[0]


def test_cli_phase_diagram_and_formulas(tmp_path, capsys):
    out = tmp_path / "pd"
    r = run_json(["theory", "phase-diagram", "--parameter", "alpha", "--n-values", "20", "--n-tau", "30",
                  "--out", str(out)], capsys)
    assert r["command"] == "theory phase-diagram" and r["inputs"]["n_tau"] == 30
    assert (out / "phase_diagram.png").exists() and (out / "summary.json").exists()
    # the labels against the outer boundaries from independently computed edges (numpy polynomial route):
    # trivial above lambda_max (1 - delta)/delta, consolidation below l_min delta/(1 - delta)
    from rmt.diagram import PHASE_CODES
    z = np.load(out / "phase_diagram.npz")
    checked = 0
    for i, a in enumerate(z["values"]):
        e = mp_edges(a, [1.0, 0.01], [0.75, 0.25])
        for j, tau in enumerate(z["tau"]):
            lab = z["labels"][i, j] if z["labels"].shape == (z["values"].size, z["tau"].size) else z["labels"][j, i]
            if tau > 9 * e[-1] * 1.001:
                assert lab == PHASE_CODES["trivial"], (a, tau)
                checked += 1
            elif tau < e[0] / 9 * 0.999:
                assert lab == PHASE_CODES["consolidation"], (a, tau)
                checked += 1
    assert checked > 100
    f = run_json(["theory", "formulas"], capsys)
    assert f["tau_star"]["expr"] == "sqrt(l)*sqrt(u)"
    assert main(["theory", "formulas", "--latex"]) == 0
    assert "\\frac" in capsys.readouterr().out


def test_theory_command_starts_without_heavy_imports():
    code = ("import sys; from specgap.cli import main; main(['theory','edges','--alpha','0.5','--json']);"
            "bad=[m for m in ('torch','jax','numba') if m in sys.modules]; sys.exit(len(bad))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("values, tau, name", [([], [0.1, 1.0], "values"), ([0.01, 0.1], [], "tau"),
                                               (np.empty(0), np.empty(0), "values")])
def test_phase_diagram_refuses_an_empty_axis_naming_it(values, tau, name):
    with pytest.raises(ValueError, match=f"^{name} is empty"):
        phase_diagram("ratio", values, tau)


def test_cli_phase_diagram_with_no_values_exits_2_naming_the_option(capsys):
    """--n-values 0 printed an empty diagram with numpy warnings and exited 0."""
    for opt in ("--n-values", "--n-tau"):
        assert main(["theory", "phase-diagram", opt, "0"]) == 2
        assert capsys.readouterr().err.strip() == f"specgap: error: {opt} must be >= 1, got 0"
