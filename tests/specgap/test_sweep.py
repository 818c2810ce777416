"""Sweeps on Dask (issue 17): a 2-worker LocalCluster equals the serial loop bit for bit, --resume computes only
the missing cells, a killed worker loses and duplicates nothing, the store opens with xarray with the
documented dims. One cluster is shared by the module (its start-up is the main cost)."""
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("distributed")
xr = pytest.importorskip("xarray")
pytest.importorskip("zarr")

from specgap.cli import main  # noqa: E402
from specgap.sweep import SweepSpec, compute_cell, open_sweep, run_sweep  # noqa: E402
from specgap.sweep.plot import condensation_tau, majority_phase, measured_boundaries  # noqa: E402
from specgap.sweep.store import read_done  # noqa: E402

SIM = SweepSpec(task="simulate", alpha=[0.3, 0.5], ratio=[0.01, 0.2], fraction=[0.75], t="1e-3:10:8", d=[40],
                draws=2, seed=7)


@pytest.fixture(scope="module")
def client():
    from distributed import Client

    from specgap.sweep.engine import local_cluster
    with local_cluster(2) as cluster, Client(cluster) as c:                # the engine's default cluster
        yield c


def _assert_cells_equal(store, spec, cells=None):
    """Every cell of the store equals a fresh serial ``compute_cell`` in this process, bit for bit."""
    ds = open_sweep(store).load()
    for flat in (range(spec.n_cells) if cells is None else cells):
        idx = dict(zip(spec.outer_dims, spec.cell_index(flat)))
        for name, ref in compute_cell(spec, flat).items():
            got = ds[name].isel(idx).values
            assert np.array_equal(got, ref, equal_nan=True), (flat, name)


def test_two_worker_cluster_equals_the_serial_loop_bit_for_bit(client, tmp_path):
    res = run_sweep(SIM, tmp_path / "s.zarr", client=client, batch=1, progress=False)
    assert res["computed"] == SIM.n_cells == 4 and res["failed"] == [] and res["complete"]
    assert res["workers"] == 2
    _assert_cells_equal(tmp_path / "s.zarr", SIM)
    # and the serial engine (workers=0) writes the same store
    run_sweep(SIM, tmp_path / "serial.zarr", workers=0, progress=False)
    a, b = open_sweep(tmp_path / "s.zarr").load(), open_sweep(tmp_path / "serial.zarr").load()
    assert a.identical(b)


def test_cells_use_their_own_seed_and_match_a_direct_eigendecomposition(client, tmp_path):
    """Independent route: cell i's F draws come from SeedSequence(seed).spawn(..)[i]; the stored edges equal
    those of eta = tau/(lambda + tau) with lambda from numpy's eigvalsh of F F^T (d x d, not the Gram route)."""
    from simulate.fmatrix import sample_F
    from specgap.sweep.tasks import cell_manifold
    store = tmp_path / "s.zarr"
    run_sweep(SIM, store, client=client, progress=False)
    ds = open_sweep(store).load()
    flat = 2                                                                   # alpha 0.5, ratio 0.01: detached
    c = SIM.cell(flat)
    seed = int(np.random.SeedSequence(SIM.seed).spawn(SIM.n_cells)[flat].generate_state(1)[0])
    F = sample_F(cell_manifold(c["alpha"], c["ratio"], c["fraction"]), c["d"], SIM.draws, seed)
    lam = np.linalg.eigvalsh(F @ F.transpose(0, 2, 1))                         # (R, d), zeros included
    tau = np.asarray(SIM.t)
    eta = np.sort(tau[None, :, None] / (np.clip(lam, 0, None)[:, None, :] + tau[None, :, None]), -1)
    m1 = int(round(0.75 * round(c["alpha"] * c["d"])))                          # high-variance columns
    got = ds.edges.isel(dict(zip(SIM.outer_dims, SIM.cell_index(flat))))
    np.testing.assert_allclose(got.sel(bulk=0, edge="lower").values, eta[..., 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.sel(bulk=0, edge="upper").values, eta[..., m1 - 1], rtol=1e-9, atol=1e-12)


def test_theory_sweep_equals_the_serial_phase_diagram(client, tmp_path):
    from rmt.diagram import phase_diagram
    ratio = np.geomspace(1e-3, 0.9, 6).tolist()
    spec = SweepSpec(task="theory", alpha=[0.5], ratio=ratio, fraction=[0.75], t="1e-5:100:30")
    res = run_sweep(spec, tmp_path / "th.zarr", client=client, batch=4, progress=False)
    assert res["chunk"] == [1, 4, 1] and res["computed"] == 6                 # blocks of 4 + 2 cells
    ds = open_sweep(tmp_path / "th.zarr").load().isel(alpha=0, fraction=0)
    D = phase_diagram("ratio", ratio, spec.tau, alpha=0.5, levels=[1.0, 0.01], fractions=[0.75, 0.25])
    np.testing.assert_array_equal(ds.phase_theory.values, D.labels)
    np.testing.assert_array_equal(ds.trivial_coverage.values, D.trivial_coverage)
    np.testing.assert_array_equal(ds.coverage_consolidation.values, D.coverage_consolidation)
    np.testing.assert_array_equal(ds.tau_star.values, D.tau_star[:, 0])
    from specgap.sweep.plot import plot_sweep
    res = plot_sweep(tmp_path / "th.zarr", tmp_path / "fig")
    assert res["files"] == ["phase_diagram.png", "phase_diagram.pdf"] and "measured" not in res


def test_resume_after_an_interrupted_sweep_computes_only_the_missing_cells(client, tmp_path):
    store = tmp_path / "r.zarr"
    first = []

    def stop_after_two(flat):
        first.append(flat)
        if len(first) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(SIM, store, client=client, batch=1, progress=False, on_cell=stop_after_two)
    done = read_done(store).ravel()
    assert done.sum() == 2 and set(np.flatnonzero(done)) == set(first)
    second = []
    res = run_sweep(SIM, store, client=client, resume=True, progress=False, on_cell=second.append)
    assert res["skipped"] == 2 and res["computed"] == 2 and res["complete"]
    assert sorted(first + second) == list(range(SIM.n_cells))
    _assert_cells_equal(store, SIM)
    with pytest.raises(ValueError, match="another sweep"):
        run_sweep(SweepSpec(**{**SIM.as_dict(), "seed": 8}), store, client=client, resume=True)
    with pytest.raises(ValueError, match="^store: .* exists; pass resume=True to complete it or overwrite=True"):
        run_sweep(SIM, store, workers=0)                   # the library names its parameters, the CLI its flags


def test_a_worker_killed_mid_sweep_loses_and_duplicates_no_cell(client, tmp_path):
    import threading
    import time
    spec = SweepSpec(task="simulate", alpha=[0.3, 0.5, 0.7], ratio=[0.01, 0.2], t="1e-3:10:8", d=[120],
                     draws=6, seed=3)
    writes, killed = [], []
    pids = client.run(os.getpid)
    stop = threading.Event()

    def kill_the_first_busy_worker():                  # SIGKILL, as a crashed node or the OOM killer would
        while not stop.is_set() and not killed:
            busy = [w for w, keys in client.processing().items() if keys and w in pids]
            if busy:
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append((busy[0], len(writes)))
            time.sleep(0.01)

    th = threading.Thread(target=kill_the_first_busy_worker, daemon=True)
    th.start()
    try:
        res = run_sweep(spec, tmp_path / "k.zarr", client=client, batch=1, progress=False, on_cell=writes.append)
    finally:
        stop.set()
        th.join()
    assert killed and killed[0][1] < spec.n_cells, killed                 # killed mid-sweep
    assert res["failed"] == [] and res["complete"] and res["computed"] == spec.n_cells
    assert sorted(writes) == list(range(spec.n_cells))                    # every cell once
    _assert_cells_equal(tmp_path / "k.zarr", spec)
    client.wait_for_workers(2, timeout=60)                                # the nanny restarts it


def test_store_opens_with_xarray_with_the_documented_dims(client, tmp_path):
    from specgap import __version__
    store = tmp_path / "f.zarr"
    spec = SweepSpec(task="finite-n", alpha=[0.5], ratio=[0.01], fraction=[0.75], t="1e-4:10:6", d=[12],
                     n=[20, 40], draws=2, points=2)
    run_sweep(spec, store, client=client, progress=False)
    ds = xr.open_zarr(store)
    outer = ("alpha", "ratio", "fraction", "d", "n")
    assert ds.phase.dims == outer + ("draw", "point", "t")
    assert ds.dimension.dims == outer + ("draw", "point", "t")
    assert ds.edges_theory.dims == outer + ("t", "bulk", "edge")
    assert ds.done.dims == outer and bool(ds.done.all())
    assert ds.tau.dims == ("t",) and list(ds.edge.values) == ["lower", "upper"]
    assert ds.attrs["specgap_version"] == __version__ and ds.attrs["task"] == "finite-n"
    assert SweepSpec.from_dict(json.loads(ds.attrs["spec"])) == spec
    from rmt.schedules import get_schedule
    sch = get_schedule(json.loads(ds.attrs["schedule_parameters"]))     # the schedule with its parameters
    np.testing.assert_allclose(ds.tau.values, sch.tau(ds.t.values))
    # physics: at the smallest tau the n-point empirical score has memorised (every direction condensed:
    # eta near 1), while n = infinity keeps all m = 6 directions
    dim = ds.dimension.isel(t=0).values
    assert np.all(dim == 0) and np.allclose(ds.dimension_theory.isel(t=0).values, 6.0)
    est = ds.condensation_estimate.isel(alpha=0, ratio=0, fraction=0, d=0).values    # (n, level)
    np.testing.assert_allclose(est, np.array([[1.0, 0.01]]) / (2 * np.log([[20], [40]])))
    from specgap.sweep.plot import plot_sweep
    res = plot_sweep(store, tmp_path / "fig")
    assert res["parameter"] == "n" and [m["n"] for m in res["memorisation"]] == [20, 40]
    # n = infinity: the kept variance along bulk k is the mean of lambda/(lambda + tau) over its eigenvalues,
    # here from numpy's eigvalsh of F F^T (draw 0 of cell (n=20): F from SeedSequence(0).spawn(2)[0])
    from simulate.fmatrix import column_variances, sample_F
    from specgap.sweep.tasks import cell_manifold
    M = cell_manifold(0.5, 0.01, 0.75)
    seed = int(np.random.SeedSequence(0).spawn(2)[0].generate_state(1)[0])
    F = sample_F(M, 12, 1, seed)[0]
    m1 = int(np.sum(column_variances(M, 12) == 1.0))                      # columns of variance 1 (of m = 6)
    lam = np.sort(np.linalg.eigvalsh(F @ F.T))[::-1][:6]
    tau_all = ds.tau.values
    want = np.stack([[np.mean(lam[:m1] / (lam[:m1] + t)), np.mean(lam[m1:] / (lam[m1:] + t))] for t in tau_all])
    got = ds.retained_theory.isel(alpha=0, ratio=0, fraction=0, d=0, n=0, draw=0).values
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_cli_run_resume_plot_and_errors(client, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("specgap.sweep.engine.CONNECT_TIMEOUT", "1s")
    addr = client.scheduler.address
    store = tmp_path / "c.zarr"
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text('task = "simulate"\nalpha = [0.5]\nratio = [0.01, 0.3]\nt = "1e-4:100:12"\n'
                         'd = [60]\ndraws = 2\n')
    argv = ["sweep", "run", "--spec", str(spec_file), "--seed", "5", "--out", str(store), "--scheduler", addr,
            "--json", "--quiet"]
    assert main(argv) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["computed"] == 2 and r["skipped"] == 0 and r["failed"] == [] and r["spec"]["seed"] == 5
    assert r["spec"]["ratio"] == [0.01, 0.3] and r["specgap_version"]
    assert main(argv + ["--resume"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["computed"] == 0 and r["skipped"] == 2
    assert main(argv) == 2                                                 # exists, no --resume
    assert "--out: " in (err := capsys.readouterr().err) and "pass --resume to complete it or --overwrite" in err
    assert main(["sweep", "plot", str(store), "--out", str(tmp_path / "fig"), "--json"]) == 0
    p = json.loads(capsys.readouterr().out)
    assert (tmp_path / "fig" / "phase_diagram.png").exists() and p["parameter"] == "ratio"
    m = p["measured"]
    assert m["agreement"] > 0.8 and m["boundaries_compared"] >= 2
    assert m["worst_boundary_offset_decades"] <= m["grid_step_decades"]
    monkeypatch.setattr("specgap.__version__", "9.9.9")                   # workers run 0.x: refused, one line
    assert main(["sweep", "run", "--out", str(tmp_path / "v.zarr"), "--scheduler", addr, "--quiet"]) == 2
    assert "another specgap version" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.setattr("specgap.sweep.engine.CONNECT_TIMEOUT", "1s")
    for bad, word in ((["--t", "1:0:5"], "t must be"), (["--alpha", "0"], "alpha"),
                      (["--task", "finite-n", "--n", "1"], "n must be"), (["--scheduler", "tcp://127.0.0.1:1"],
                                                                         "--scheduler"),
                      (["--task", "network", "--n", "8", "--points", "9"], "points must be <= the smallest n"),
                      (["--task", "network", "--steps", "0"], "steps")):
        assert main(["sweep", "run", "--out", str(tmp_path / "x.zarr"), "--overwrite", "--workers", "0",
                     "--quiet"] + bad) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and word in err, err
    argv = ["sweep", "run", "--task", "network", "--d", "6", "--n", "32", "--draws", "1", "--points", "2",
            "--steps", "20", "--width", "16", "--t", "0.01,0.1", "--workers", "0", "--quiet", "--json",
            "--out", str(tmp_path / "n.zarr")]
    assert main(argv) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["computed"] == 1 and r["spec"]["steps"] == 20 and r["spec"]["width"] == 16
    assert xr.open_zarr(tmp_path / "n.zarr").score_error.dims == ("alpha", "ratio", "fraction", "d", "n", "draw", "t")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=5), st.integers(1, 40))
def test_chunk_blocks_cover_every_cell_once_in_contiguous_runs(shape, cells):
    from specgap.sweep.store import blocks, outer_chunks
    shape = tuple(shape)
    chunks = outer_chunks(shape, cells)
    got = list(blocks(shape, chunks))
    flat = [c for _, b in got for c in b]
    assert flat == list(range(int(np.prod(shape))))                      # each cell once, in C order
    for region, b in got:
        assert len(b) <= max(cells, 1) and b == list(range(b[0], b[0] + len(b)))   # contiguous, bounded
        assert len(b) == int(np.prod([r.stop - r.start for r in region]))


def test_chunk_blocks_are_contiguous_runs_of_cells():
    from specgap.sweep.store import blocks, outer_chunks
    assert outer_chunks((1, 10, 1), 4) == (1, 4, 1)
    assert outer_chunks((3, 4, 5), 25) == (1, 4, 5)
    assert outer_chunks((3, 4, 5), 7) == (1, 1, 5)
    for shape, c in (((1, 10, 1), 4), ((3, 4, 5), 25), ((3, 4, 5), 7), ((2, 3), 1)):
        got = [cells for _, cells in blocks(shape, outer_chunks(shape, c))]
        assert sum(got, []) == list(range(int(np.prod(shape))))             # every cell once, in order
        assert all(len(b) <= c for b in got)


def test_failed_cells_are_reported_and_retried_by_resume(tmp_path, capsys):
    """d = 8 leaves the low-variance level of alpha = 0.25 (m = 2) without a column: that cell fails with its error,
    the other is written; --resume retries only the failed one (serial engine: no cluster needed)."""
    argv = ["sweep", "run", "--task", "simulate", "--alpha", "0.25,0.5", "--ratio", "0.01", "--d", "8",
            "--t", "0.1,1", "--draws", "2", "--workers", "0", "--out", str(tmp_path / "f.zarr"), "--json", "--quiet"]
    assert main(argv) == 1
    r = json.loads(capsys.readouterr().out)
    assert r["computed"] == 1 and len(r["failed"]) == 1 and not r["complete"]
    f = r["failed"][0]
    assert f["cell"]["alpha"] == 0.25 and "d=8 is too small" in f["error"]
    assert read_done(tmp_path / "f.zarr").ravel().tolist() == [False, True]
    assert main(argv + ["--resume"]) == 1
    r = json.loads(capsys.readouterr().out)
    assert r["skipped"] == 1 and r["computed"] == 0 and len(r["failed"]) == 1
    # without --json/--quiet: a summary line on stdout, progress (done/total, rate, ETA) on stderr
    assert main([a for a in argv if a not in ("--json", "--quiet")] + ["--overwrite"]) == 1
    out, err = capsys.readouterr()
    assert "1 cells computed, 0 already done, 1 failed" in out and "d=8 is too small" in out
    assert "sweep" in err and "2/2" in err and "cell/s" in err


def test_plot_helpers_on_hand_made_labels():
    tau = np.array([1e-3, 1e-2, 1e-1, 1.0, 10.0])
    lab = np.array([[2, 2, 1, 1, 0], [1, 1, 1, 0, 0]], float)
    tc, cc = measured_boundaries(lab, tau)
    np.testing.assert_allclose(tc, [np.sqrt(10.0), np.sqrt(0.1)])
    np.testing.assert_allclose(cc, [np.sqrt(1e-3), np.nan])
    codes = np.array([[0, 1, 1], [2, 2, 0], [np.nan, np.nan, np.nan]])
    np.testing.assert_array_equal(majority_phase(codes, 1), [1, 2, np.nan])
    # kept-variance ratio climbing through 1/2 between tau = 1e-2 (0.2) and 1e-1 (0.8): half way in log tau
    np.testing.assert_allclose(condensation_tau([0.0, 0.2, 0.8, 1.0, 0.9], tau), np.sqrt(1e-3))
    assert np.isnan(condensation_tau([0.6, 0.9, 1, 1, 1], tau))         # never condensed on the grid
    assert np.isnan(condensation_tau([0.0, 0.1, 0.2, 0.3, 0.4], tau))   # never resolved


def test_finite_size_fit_recovers_known_constants():
    from specgap.sweep.plot import fit_finite_size
    d = np.array([64, 128, 256, 512, 1024])
    x = d ** (-2 / 3)
    f = fit_finite_size(d, 0.3 + 2.0 * x, np.full(5, 1e-3))
    assert abs(f["c0"] - 0.3) < 1e-12 and abs(f["c1"] - 2.0) < 1e-10 and f["chi2_dof"] < 1e-20
    rng = np.random.default_rng(0)
    inside = 0
    for _ in range(200):                                   # the 95% interval covers the truth ~95% of the time
        f = fit_finite_size(d, 0.3 + 2.0 * x + 1e-3 * rng.standard_normal(5), np.full(5, 1e-3))
        inside += f["interval"][0] <= 0.3 <= f["interval"][1]
    assert 180 <= inside <= 200


def test_finite_size_scaling_of_a_small_simulated_sweep(client, tmp_path):
    """Fig. 2 parameters at tau* (the maximal gap): edges and gap width extrapolated from d = 32..256 land on
    the theory (loosely at these small d; the full study, d = 64..1024, is within 0.5%, see README)."""
    from specgap.sweep.plot import plot_sweep
    spec = SweepSpec(task="simulate", alpha=[0.5], ratio=[0.01], fraction=[0.75], t=[0.0444023], d=[32, 64, 128, 256],
                     draws=12, seed=2)
    run_sweep(spec, tmp_path / "fss.zarr", client=client, progress=False)
    res = plot_sweep(tmp_path / "fss.zarr", tmp_path / "fig")
    fs = res["finite_size"]
    assert (tmp_path / "fig" / "finite_size.png").exists() and len(fs["times"][0]["quantities"]) == 5
    assert fs["worst_relative_error"] < 0.03
    gap = fs["times"][0]["quantities"][-1]
    assert abs(gap["theory"] - 0.54678) < 1e-5                           # max width at tau* (README value)
    assert gap["relative_error"] < gap["relative_error_largest_d"]     # extrapolating helps


def test_spec_validation_and_times():
    from specgap.sweep import parse_times
    np.testing.assert_allclose(parse_times("1e-3:10:5"), np.geomspace(1e-3, 10, 5))
    assert parse_times("0.1,1") == [0.1, 1.0]
    s = SweepSpec(task="finite-n", alpha=[0.5, 0.3], ratio=[0.1], d=[10, 20], n=[5])
    assert s.shape == (2, 1, 1, 2, 1) and s.n_cells == 4
    assert s.cell(3) == {"alpha": 0.3, "ratio": 0.1, "fraction": 0.75, "d": 20, "n": 5}
    for kw, word in (({"task": "x"}, "task"), ({"alpha": [0.5, 0.5]}, "repeat"), ({"fraction": [1.5]}, "fraction"),
                     ({"schedule": "cosine"}, "schedule"), ({"delta": 0.7}, "delta"), ({"draws": 0}, "draws")):
        with pytest.raises(ValueError, match=word):
            SweepSpec(**kw)
    with pytest.raises(ValueError, match="unknown sweep field"):
        SweepSpec.from_dict({"alhpa": [0.5]})


def test_finite_n_retained_variance_by_finite_differences(tmp_path):
    """``retained`` of one point = tr(U_k^T (I + s^2 J) U_k)/m_k with J the central difference of the empirical
    score at the point drawn by the documented stream (``default_rng([seed, r])``: training set, then the
    points of each time in order), U_k the eigenvectors of ``F F^T`` in bulk k."""
    from simulate.agreement import bulk_counts
    from simulate.models import EmpiricalModel, LinearGaussianModel
    from specgap.sweep.tasks import cell_manifold, compute_cell
    spec = SweepSpec(task="finite-n", alpha=[0.5], ratio=[0.1], fraction=[0.75], t="0.05:2:3", d=[10], n=[30],
                     draws=1, points=2, seed=3)
    got = compute_cell(spec, 0)["retained"][0]                              # (point, t, level)
    M, seed = cell_manifold(0.5, 0.1, 0.75), spec.cell_seed(0)
    lg = LinearGaussianModel.from_manifold(10, M, seed=seed, draw=0)
    rng = np.random.default_rng([seed, 0])
    emp = EmpiricalModel(lg.sample(30, rng))
    _, V = np.linalg.eigh(lg.F @ lg.F.T)
    V = V[:, ::-1]
    stops = np.cumsum(bulk_counts(M, 10))[:2]
    U = [V[:, :stops[0]], V[:, stops[0]:stops[1]]]
    h = 1e-5
    for i, t in enumerate(spec.t):
        X = emp.sample_t(2, t, rng)
        s2 = emp.coefficients(t)[1]
        for p in range(2):
            J = np.stack([(emp.score(X[p] + h * e, t) - emp.score(X[p] - h * e, t)) / (2 * h)
                          for e in np.eye(10)], axis=1)
            B = np.eye(10) + s2 * (J + J.T) / 2
            want = [np.trace(Uk.T @ B @ Uk) / Uk.shape[1] for Uk in U]
            np.testing.assert_allclose(got[p, i], want, atol=1e-6)


def test_cell_cost_orders_tasks_longest_first(client, tmp_path, monkeypatch):
    """The estimate grows with d, alpha (latent columns) and n, and the engine submits the blocks of the
    costliest cells first (priority = rank)."""
    from specgap.sweep.tasks import cell_cost
    sim = SweepSpec(task="simulate", alpha=[0.3, 0.7], ratio=[0.1], fraction=[0.75], t="1e-3:10:8", d=[40, 400],
                    draws=2, seed=1)
    c = [cell_cost(sim, i) for i in range(sim.n_cells)]          # (alpha, d): (.3,40) (.3,400) (.7,40) (.7,400)
    assert c[0] < c[1] < c[3] and c[0] < c[2] < c[3]
    fn = SweepSpec(task="finite-n", alpha=[0.5], ratio=[0.1], fraction=[0.75], t="1e-3:10:4", d=[20, 80],
                   n=[10, 1000], draws=1, points=2)
    f = [cell_cost(fn, i) for i in range(fn.n_cells)]            # (d, n): (20,10) (20,1000) (80,10) (80,1000)
    assert f[0] < f[1] < f[3] and f[0] < f[2] < f[3]
    th = SweepSpec(task="theory", alpha=[0.3, 0.5], ratio=[0.1], t="1e-3:10:8")
    assert cell_cost(th, 0) == cell_cost(th, 1)
    order = []
    submit = client.submit

    def recording(fn_, *args, **kw):
        if fn_.__name__ == "compute_batch":
            order.append((list(args[1]), kw["priority"]))
        return submit(fn_, *args, **kw)
    monkeypatch.setattr(client, "submit", recording)
    run_sweep(sim, tmp_path / "o.zarr", client=client, batch=1, progress=False)
    assert [todo for todo, _ in order] == [[3], [1], [2], [0]]
    assert [p for _, p in order] == [4, 3, 2, 1]


def test_default_computes_a_small_sweep_here(tmp_path, capsys):
    """Less estimated work than starting a cluster (``serial_below``): the default runs the serial loop, says
    so, and writes the same cells; ``workers=N`` still starts a cluster."""
    from specgap.sweep.engine import STARTUP_S, serial_below
    assert serial_below(1) == float("inf")                                # one core: a cluster never pays
    assert serial_below(2) == 2 * STARTUP_S and np.isclose(serial_below(11), 1.1 * STARTUP_S)
    res = run_sweep(SIM, tmp_path / "d.zarr")
    assert res["scheduler"] == "serial" and res["computed"] == SIM.n_cells and 0 < res["estimated_seconds"] < 1
    assert "less than starting a cluster" in capsys.readouterr().err
    _assert_cells_equal(tmp_path / "d.zarr", SIM)
    res = run_sweep(SIM, tmp_path / "w.zarr", workers=2, progress=False)
    assert res["scheduler"] == "local" and res["workers"] == 2
    _assert_cells_equal(tmp_path / "w.zarr", SIM)


def test_local_cluster_runs_workers_without_dask_malloc_trim(client):
    """LOCAL_CONFIG reaches the workers: no MALLOC_TRIM_THRESHOLD_ in their environment (Dask sets 65536), no
    statistical profiler; and the README's config file for other workers unsets it the same way."""
    import re

    import yaml

    from specgap.sweep.engine import LOCAL_CONFIG
    env = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_", "unset"))
    assert set(env.values()) == {"unset"} and len(env) == 2
    prof = client.run(lambda dask_worker: dask_worker.periodic_callbacks.get("profile") is None)
    assert all(prof.values())
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"\n(    distributed:\n(?:      .*\n)+)", text).group(1)
    cfg = yaml.safe_load("\n".join(line[4:] for line in block.splitlines()))
    assert cfg["distributed"]["nanny"]["pre-spawn-environ"] == {"MALLOC_TRIM_THRESHOLD_": None}
    assert LOCAL_CONFIG["distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"] is None


def test_network_sweep_finds_the_manifold_and_equals_the_serial_loop(client, tmp_path):
    """task='network': a trained MLP on n = 512 points of a d = 8, alpha = 0.5 manifold whose two levels form
    one bulk (ratio 0.3). Its spectra give the latent dimension m = alpha d = 4 at the largest gap and the
    theory's phase (consolidation at t = 0.003, coverage after); its score is within 15% of the exact score
    of the same F. The 2-worker cluster stores the serial loop's numbers bit for bit."""
    spec = SweepSpec(task="network", alpha=[0.5], ratio=[0.3], fraction=[0.75], t=[0.003, 0.01, 0.03], d=[8],
                     n=[512], draws=1, points=2, steps=400, width=64, seed=1)
    store = tmp_path / "net.zarr"
    res = run_sweep(spec, store, client=client, progress=False)
    assert res["computed"] == 1 and res["failed"] == []
    _assert_cells_equal(store, spec)
    ds = open_sweep(store).load().isel(alpha=0, ratio=0, fraction=0, d=0, n=0)
    assert ds.phase.dims == ("draw", "point", "t")
    assert np.all(ds.largest_gap_dimension.values == 4)
    np.testing.assert_array_equal(ds.phase_theory.values, [2, 1, 1])
    assert np.all(ds.phase.values == ds.phase_theory.values)
    assert np.all(ds.score_error.values < 0.15) and 0 < float(ds.loss[0]) < 1
    from specgap.sweep.plot import plot_sweep
    out = plot_sweep(store, tmp_path / "fig")
    assert out["measured"]["agreement"] == 1.0 and out["task"] == "network"
