"""Fig. 5 on real MNIST digits (quick mode): training, spectra, readouts, dimension, notebook and CLI.

One quick run trains a tiny UNet on the bundled MNIST digits; the other tests check its outputs against
independent routes: the denoising loss recomputed here, the Jacobian recomputed with
``torch.autograd.functional.jacobian`` and numpy's SVD (not the engine), the paper's protocol recomputed from
``model.score`` and numpy, the bootstrap interval recomputed from its documented random stream, the class of
each measured image looked up in the bundled file by its pixels, histogram valleys, and the point-cloud
estimators on clouds of known dimension.
"""
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
import torch

from rmt.spectrum import Spectrum
from specgap.cli import main
from specgap.reproduce.fig5 import (
    CPU_PROFILES,
    FIG5_DATASETS,
    dimension_intervals,
    fig5_settings,
    pointcloud_dimensions,
    reproduce_fig5,
)
from trained.network_spectra import NetworkScore, gap_opening_times, plateau_time, time_readouts

from notebook_runner import run_notebook

ROOT = Path(__file__).resolve().parents[2]
QUICK_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
STEPS = 300 if QUICK_CI else 1500                     # CI: ~40 s of training on one idle core
D = 784


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One quick Fig. 5 run through the reproduction function; its output directory holds the run."""
    out = tmp_path_factory.mktemp("fig5")
    settings = fig5_settings("mnist", True, train={"steps": STEPS})
    summary = reproduce_fig5(out, "mnist", quick=True, settings=settings, progress=False)
    return {"out": out, "summary": summary, "settings": settings}


@pytest.mark.slow
def test_files(run):
    s, out = run["summary"], run["out"]
    for f in ("fig5_spectra.png", "fig5_dimension.png", "fig5_classes.png", "fig5_samples.png", "spectra.npz",
              "images.npz", "class_spectra.npz", "class_images.npz", "trajectory_spectra.npz", "samples.npz",
              "summary.json", "checkpoint/checkpoint.pt"):
        assert (out / f).stat().st_size > 0, f
    assert s["quick"] is True and STEPS == s["train"]["steps"] and s["settings"]["profile"] == "quick"
    assert json.loads((out / "summary.json").read_text())["per_time"] == json.loads(json.dumps(s["per_time"]))
    spec = Spectrum.load(out / "spectra.npz")
    assert spec.values.shape == (2, 6, D) and spec.source == "network"
    assert s["device"] == "cpu" and s["minutes"] == pytest.approx(s["runtime_s"] / 60, abs=0.01)
    assert s["spectra"]["method"] == "exact" and s["d"] == D
    samples = np.load(out / "samples.npz")["samples"]
    assert samples.shape == (16, 1, 28, 28) and np.all(np.abs(samples) <= 1)


def _dsm_loss(model, x0, sigmas, seed):
    """Mean |eps_hat - eps|^2 at fixed VE noise levels, written out here (not trained.train)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        for sig in sigmas:
            eps = torch.randn(x0.shape, generator=g)
            out.append(float((model.eps(x0 + sig * eps, sig ** 2) - eps).square().mean()))
    return np.mean(out)


@pytest.mark.slow
def test_loss_falls(run):
    from trained.datasets import load_images
    from trained.nets import build_model
    from trained.train import load_checkpoint, load_model
    s = run["summary"]
    assert s["train"]["loss_final"] < 0.5 * s["train"]["loss_initial"]
    ck = load_checkpoint(run["out"] / "checkpoint")
    trained = load_model(run["out"] / "checkpoint")
    untrained = build_model(ck["model_config"], seed=0).eval()
    x0 = torch.as_tensor(np.load(run["out"] / "images.npz")["x0"][:64])
    assert x0.shape[1:] == (1, 28, 28) and float(x0.min()) >= -1 and float(x0.max()) <= 1
    sig = [0.05, 0.2, 0.5, 1.0, 3.0]
    l1, l0 = _dsm_loss(trained, x0, sig, 1), _dsm_loss(untrained, x0, sig, 1)
    assert l1 < 0.5 * l0, (l1, l0)                   # held-out images: the network generalises
    # the images are real MNIST digits from the bundled file: mostly background at -1
    assert float((x0 < -0.9).float().mean()) > 0.6
    assert load_images("mnist", n=3).images.shape == (3, 1, 28, 28)


@pytest.mark.slow
def test_small_t_spectrum_independent_jacobian_and_gap(run):
    from trained.train import load_model
    out = run["out"]
    model = load_model(out / "checkpoint")
    spec = Spectrum.load(out / "spectra.npz")
    z = np.load(out / "images.npz")
    t = float(spec.t[0])
    assert t == min(spec.t)
    x0 = z["x0"][0].reshape(-1)
    eps = np.random.default_rng(list(z["noise_seed"])).standard_normal((len(z["x0"]), D))[0]
    xt = torch.as_tensor((x0 + np.sqrt(t) * eps).astype(np.float32))

    def f(v):
        return model.score(v.reshape(1, 1, 28, 28), t).reshape(-1)
    J = torch.autograd.functional.jacobian(f, xt).double().numpy()
    sv = np.sort(np.linalg.svd(t * J, compute_uv=False))
    np.testing.assert_allclose(spec.values[0, 0], sv, rtol=2e-3, atol=2e-4)
    # a gap at small t: the pooled spectrum is bimodal, near 0 (tangent) and near 1 (normal), with a
    # depleted valley between (density per unit length)
    v = spec.values[:, 0].ravel()
    dens = lambda lo, hi: np.mean((v >= lo) & (v < hi)) / (hi - lo)
    low, valley, high = dens(0.0, 0.1), dens(0.25, 0.65), dens(0.85, 1.15)
    assert valley < 0.2 * min(low, high), (low, valley, high)


@pytest.mark.slow
def test_dimension_well_below_ambient(run):
    s = run["summary"]
    c = s["dimension_small_t"]
    grid = [p["t"] for p in s["per_time"]]
    assert c["t"] in grid and c["d"] == D and c["n_images"] == 10          # one image per digit (quick)
    # the reading time: the interior grid time where the median tangent count changes least (recomputed)
    spec = Spectrum.load(run["out"] / "spectra.npz")
    cnt = np.median(np.sum(spec.values <= 0.9, axis=-1), axis=0)
    lt = np.log(spec.t)
    slope = [abs(np.log(cnt[j + 1]) - np.log(cnt[j - 1])) / (lt[j + 1] - lt[j - 1]) for j in range(1, len(lt) - 1)]
    assert c["t"] == spec.t[1 + int(np.argmin(slope))]
    r = c["routes"]
    assert r["engine_d_eff"]["pooled"]["value"] < D / 3
    assert r["engine_d_eff"]["pooled"]["value"] <= r["engine_tangent"]["pooled"]["value"] < D
    for name in ("mle", "lpca"):
        assert 3 < r[name]["pooled"]["value"] < 60, (name, r[name]["pooled"])
    assert 3 < c["twonn"]["global"] < 60 and sorted(c["twonn"]["per_class"]) == [str(k) for k in range(10)]
    # the dimension drop over time: D_eff falls as t grows (coarser scales see fewer directions)
    de = [p["effective_dimension"]["mean"] for p in s["per_time"]]
    assert de[0] > 2 * de[-1] and de[-1] < 30


@pytest.mark.slow
def test_class_dimension_engine_count_against_autograd_and_labels(run):
    """The engine's per-image counts at one image from a dense autograd Jacobian + numpy SVD; the class of each
    measured image found in the bundled file by its pixels; per-class medians regrouped here."""
    from trained.datasets import load_images
    from trained.train import load_model
    out, s = run["out"], run["summary"]
    c = s["dimension_small_t"]
    z = np.load(out / "class_images.npz")
    x0, labels, t = z["x0"].reshape(len(z["x0"]), -1), z["labels"], float(z["t"][0])
    assert t == c["t"] and labels.tolist() == c["labels"]
    # labels: look every image up in the bundled MNIST file (pixels equal), compare the file's label
    ref = load_images("mnist")
    R = ref.images.reshape(len(ref), -1).numpy()
    for img, lab in zip(x0, labels):
        hit = np.nonzero(np.all(R == img.astype(np.float32), axis=1))[0]
        assert hit.size >= 1 and int(ref.labels[hit[0]]) == lab
    assert sorted(labels.tolist()) == list(range(10))
    # the measured images were held out of training: none is among the 2000 training digits
    train = load_images("mnist", n=2000, seed=0).images.reshape(2000, -1).numpy()
    assert not any(np.any(np.all(train == img.astype(np.float32), axis=1)) for img in x0)
    # engine count at image 0 from a dense autograd Jacobian (x_t = x0 + sqrt(t) eps, eps from the noise stream)
    model = load_model(out / "checkpoint")
    eps = np.random.default_rng(list(z["noise_seed"])).standard_normal((len(x0), 1, D))[0, 0]
    xt = torch.as_tensor((x0[0] + np.sqrt(t) * eps).astype(np.float32))
    J = torch.autograd.functional.jacobian(lambda v: model.score(v.reshape(1, 1, 28, 28), t).reshape(-1), xt)
    sv = np.linalg.svd(t * J.double().numpy(), compute_uv=False)
    r = c["routes"]
    tang, deff = r["engine_tangent"]["per_image"][0], r["engine_d_eff"]["per_image"][0]
    assert np.sum(sv <= 0.9 - 1e-3) <= tang <= np.sum(sv <= 0.9 + 1e-3), (tang, np.sum(sv <= 0.9))
    assert np.sum(sv < 0.5 - 1e-3) <= deff <= np.sum(sv < 0.5 + 1e-3), (deff, np.sum(sv < 0.5))
    assert np.sum(sv <= 0.9) > 0.5 * np.sum(sv < 0.5) > 0
    # per-class groups: the median of the per-image values with that label
    for key in ("engine_tangent", "engine_d_eff", "paper_protocol", "mle", "lpca"):
        vals = np.asarray(r[key]["per_image"], dtype=float)
        for cls, g in r[key]["per_class"].items():
            assert g["n_images"] == np.sum(labels == int(cls))
            assert g["value"] == np.median(vals[labels == int(cls)])
        assert r[key]["pooled"]["value"] == np.median(vals) and r[key]["pooled"]["n_images"] == 10


def _hand_interval(values, n_boot, seed, level=0.9):
    """Percentile interval of resampled medians, one resample (row of the documented index matrix) at a time."""
    v = np.asarray(values, dtype=float)
    idx = np.random.default_rng(seed).integers(0, v.size, size=(n_boot, v.size))
    meds = np.sort([np.median(v[row]) for row in idx])
    return np.percentile(meds, [100 * (1 - level) / 2, 100 * (1 + level) / 2])


@pytest.mark.slow
def test_class_dimension_intervals_by_hand(run):
    s = run["summary"]
    c, n_boot = s["dimension_small_t"], s["settings"]["n_boot"]
    for key in ("engine_tangent", "engine_d_eff", "mle"):
        p = c["routes"][key]["pooled"]
        lo, hi = _hand_interval(c["routes"][key]["per_image"], n_boot, s["seed"])
        assert p["interval"] == pytest.approx([lo, hi], abs=1e-12)
        assert p["relative_width"] == pytest.approx((hi - lo) / p["value"], rel=1e-12)
        assert p["narrow"] == ((hi - lo) / p["value"] < 0.3)


@pytest.mark.slow
def test_paper_protocol_recomputed_from_scores(run):
    """Image 0 of the paper's protocol: the Haar frame from NormalBundle's documented stream (one (d, d) normal
    block per image in query order, QR, signs of diag(R) into Q), symmetrised network scores at x0 +- s q_i,
    numpy SVD, values over their maximum, floored at delta, values below the largest drop of the log."""
    from trained.train import load_model
    out, s = run["out"], run["summary"]
    c = s["dimension_small_t"]
    model = load_model(out / "checkpoint")
    z = np.load(out / "class_images.npz")
    x0 = z["x0"].reshape(len(z["x0"]), -1).astype(float)
    n, K, t, seed = len(x0), s["settings"]["probes"], c["t"], s["seed"]
    route = c["routes"]["paper_protocol"]
    assert K == D and route["frame"] == "orthonormal" and route["floor"] == s["settings"]["delta"]
    pos = int(np.nonzero(np.random.default_rng(seed).permutation(n) == 0)[0][0])   # image 0's place in the draw
    Q, R = np.linalg.qr(np.random.default_rng(seed + 1).standard_normal((n, D, D))[pos])
    Q = np.sqrt(t) * (Q * np.sign(np.diag(R))).T                          # rows: s q_i (VE: a = 1, s^2 = t)
    pts = torch.as_tensor(np.concatenate([x0[0] + Q, x0[0] - Q])).reshape(2 * K, 1, 28, 28)
    with torch.no_grad():                                                 # 167 rows per call, as the estimator
        S = torch.cat([model.score(p, t) for p in pts.split(2 ** 17 // D)]).reshape(2 * K, D).double().numpy()
    sv = np.linalg.svd(0.5 * (S[:K] - S[K:]), compute_uv=False)
    logs = np.log(np.maximum(sv / sv[0], s["settings"]["delta"]))
    k = int(np.argmax(logs[:-1] - logs[1:]))                              # the largest drop is after value k
    assert route["per_image"][0] == D - (k + 1)


def test_dimension_intervals_by_hand():
    v = [3, 5, 5, 6, 9, 10, 12, 40]
    r = dimension_intervals(v, [0, 0, 0, 1, 1, 1, 1, 1], n_boot=500, seed=7)
    lo, hi = _hand_interval(v, 500, 7)
    assert r["pooled"]["interval"] == pytest.approx([lo, hi], abs=1e-12) and r["pooled"]["value"] == 7.5
    assert r["pooled"]["relative_width"] == pytest.approx((hi - lo) / 7.5) and r["pooled"]["n_images"] == 8
    assert r["per_class"]["0"]["value"] == 5 and r["per_class"]["1"]["value"] == 10
    assert r["per_class"]["1"]["interval"] == pytest.approx(_hand_interval([6, 9, 10, 12, 40], 500, 7), abs=1e-12)
    assert r["per_class"]["0"]["n_images"] == 3
    same = dimension_intervals([20] * 6, n_boot=50)
    assert same["pooled"] == {"value": 20.0, "interval": [20.0, 20.0], "relative_width": 0.0, "narrow": True,
                              "n_images": 6} and same["per_class"] == {}
    with pytest.raises(ValueError, match="labels"):
        dimension_intervals([1, 2, 3], [0, 1])
    with pytest.raises(ValueError, match="n_boot"):
        dimension_intervals([1, 2, 3], n_boot=0)


def test_plateau_time_by_hand():
    # one image, 5 times, 10 values; tangent counts (values <= 0.9) 8, 6, 5, 5, 2
    def row(k):
        return [0.1] * k + [1.0] * (10 - k)
    spec = Spectrum(np.array([[row(8), row(6), row(5), row(5), row(2)]]), [1e-3, 1e-2, 1e-1, 1.0, 10.0],
                    source="network", kind="singular values")
    r = plateau_time(spec, delta=0.1)
    # central slopes per decade pair: |ln5 - ln8|, |ln5 - ln6|, |ln2 - ln5| over ln(100): the flattest is t = 0.1
    assert r["index"] == 2 and r["t"] == 0.1 and r["profile"]["tangent_count"] == [8, 6, 5, 5, 2]
    assert r["profile"]["slope"][2] == pytest.approx(np.log(6 / 5) / np.log(100))
    assert r["profile"]["slope"][0] is None and r["profile"]["slope"][4] is None
    # the grid order does not matter (times given descending)
    rev = Spectrum(spec.values[:, ::-1], spec.t[::-1], source="network", kind="singular values")
    assert plateau_time(rev)["t"] == 0.1 and plateau_time(rev)["index"] == 2
    with pytest.raises(ValueError, match="at least 3 times"):
        plateau_time(Spectrum(spec.values[:, :2], spec.t[:2], source="network", kind="singular values"))


def test_profiles():
    from unittest import mock
    cpu = fig5_settings("mnist", profile="cpu")
    gpu = fig5_settings("mnist", profile="gpu")
    assert cpu["profile"] == "cpu" and cpu["train"]["steps"] == CPU_PROFILES["mnist"]["train"]["steps"]
    assert cpu["net"] == CPU_PROFILES["mnist"]["net"] and cpu["probes"] == D and cpu["threads"] == 1
    assert gpu["train"]["steps"] == FIG5_DATASETS["mnist"]["train"]["steps"] and gpu["probes"] == D
    assert cpu["frame"] == gpu["frame"] == "orthonormal" and fig5_settings("mnist", True)["probes"] == D
    assert fig5_settings("mnist", profile="gpu", frame="gaussian")["probes"] == 4 * D      # the Gaussian rows' K
    assert fig5_settings("mnist", profile="cpu", probes="2d")["probes"] == 2 * D
    assert fig5_settings("photo-patches", True)["probes"] == 64
    with pytest.raises(ValueError, match="frame"):
        fig5_settings("mnist", True, frame="haar")
    assert gpu["net"]["width"] == FIG5_DATASETS["mnist"]["net"]["width"] and gpu["threads"] is None
    with mock.patch("torch.cuda.is_available", return_value=True):
        assert fig5_settings("mnist")["profile"] == "gpu"
        from specgap.reproduce.fig5 import default_profile
        assert default_profile("cpu") == "cpu" and default_profile("cuda:0") == "gpu"    # the run's device
    with mock.patch("torch.cuda.is_available", return_value=False):
        assert fig5_settings("mnist")["profile"] == "cpu"
    assert fig5_settings("mnist", True)["profile"] == "quick"
    assert fig5_settings("cifar10", profile="cpu")["train"] == FIG5_DATASETS["cifar10"]["train"]
    with pytest.raises(ValueError, match="profile"):
        fig5_settings("mnist", profile="tpu")
    with pytest.raises(ValueError, match="profile"):
        fig5_settings("mnist", True, profile="gpu")
    with pytest.raises(ValueError, match="n_times"):
        fig5_settings("mnist", True, n_times=2)
    assert fig5_settings("mnist", True, n_times=2, t_read=0.01)["t_read"] == 0.01
    with pytest.raises(ValueError, match="per_class"):
        fig5_settings("mnist", True, per_class=0)


@pytest.mark.slow
def test_photo_patches_quick(tmp_path):
    """Fig. 5 runs on the bundled colour patches (Lanczos route, classes = photographs)."""
    s = fig5_settings("photo-patches", True, train={"steps": 60}, n_times=3, k=6, n_samples=0,
                      trajectory_points=0, probes=16, n_cloud=300, lanczos_tol=1e-2, lanczos_maxiter=1)
    summ = reproduce_fig5(tmp_path, "photo-patches", quick=True, settings=s, progress=False)
    c = summ["dimension_small_t"]
    assert summ["d"] == 3072 and summ["spectra"]["method"] == "lanczos"
    assert sorted(c["routes"]["engine_tangent"]["per_class"]) == sorted(
        ["astronaut", "chelsea", "coffee", "rocket", "motorcycle", "china", "flower"])
    assert all(0 <= v <= 6 for v in c["routes"]["engine_tangent"]["per_image"])    # counted among the k values
    assert Spectrum.load(tmp_path / "class_spectra.npz").values.shape == (7, 1, 6)


@pytest.mark.slow
def test_network_score_adapter(run):
    from trained.train import load_model
    model = load_model(run["out"] / "checkpoint")
    x = np.load(run["out"] / "class_images.npz")["x0"][:3]
    ns = NetworkScore(model, batch=3)
    a = ns.score(x.reshape(3, -1), 0.1)
    with torch.no_grad():
        b = model.score(torch.as_tensor(x), 0.1).reshape(3, -1).double().numpy()
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ns.denoiser(x.reshape(3, -1), 0.1), x.reshape(3, -1) + 0.1 * b, rtol=1e-6,
                               atol=1e-6)
    with pytest.raises(ValueError, match="log-density"):
        ns.log_density(x.reshape(3, -1), 0.1)


@pytest.mark.slow
def test_cli_reuses_checkpoint(run, tmp_path, capsys, monkeypatch):
    """The command resumes the fixture's checkpoint and honours its options. The per-class dimension (checked on
    the fixture's run above) is measured here on two of its ten images only: it is 90 of the command's 110 s."""
    import specgap.reproduce.fig5 as fig5
    whole = fig5.class_dimensions
    monkeypatch.setattr(fig5, "class_dimensions",
                        lambda model, cloud, labels, rows, *a, **kw: whole(model, cloud, labels, rows[:2], *a, **kw))
    shutil.copytree(run["out"] / "checkpoint", tmp_path / "checkpoint")
    rc = main(["reproduce", "fig5", "--dataset", "mnist", "--quick", "--steps", str(STEPS), "--n-images", "2",
               "--times", "3", "--out", str(tmp_path), "--json"])
    assert rc == 0
    s = json.loads(capsys.readouterr().out)
    assert s["train"]["resumed_from"] == STEPS and s["train"]["steps"] == STEPS
    assert len(s["per_time"]) == 3 and s["spectra"]["n_images"] == 2
    assert json.loads((tmp_path / "summary.json").read_text())["per_time"] == s["per_time"]
    assert s["dimension_small_t"]["n_images"] == 2


@pytest.mark.parametrize("argv, needle", [
    (["--dataset", "cifar10", "--out", "X"], "--data-dir"),
    (["--n-images", "1", "--out", "X"], "--n-images"),
    (["--images", "X", "--out", "X"], "--diffusers or --denoiser"),
    (["--times", "2", "--out", "X"], "--times"),
    (["--per-class", "0", "--out", "X"], "--per-class"),
    (["--profile", "cpu", "--out", "X"], "--profile"),
    ([], "--out"),
    (["--dataset", "svhn", "--out", "X"], "dataset"),
    (["--dataset", "mnist", "--data-dir", "/nonexistent/mnist", "--out", "X"], "/nonexistent/mnist"),
])
def test_cli_bad_input(argv, needle, tmp_path, capsys):
    argv = [str(tmp_path / a) if a == "X" else a for a in argv]
    rc = main(["reproduce", "fig5", "--quick", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("dim, shape", [(5, "flat"), (2, "sphere")])
def test_pointcloud_estimators_on_known_dimension(dim, shape):
    rng = np.random.default_rng(3)
    n, D_amb = 1500, 40
    if shape == "flat":
        z = rng.standard_normal((n, dim))
    else:                                            # the unit 2-sphere in R^3
        z = rng.standard_normal((n, 3))
        z /= np.linalg.norm(z, axis=1, keepdims=True)
    Q = np.linalg.qr(rng.standard_normal((D_amb, z.shape[1])))[0]
    X = z @ Q.T
    r = pointcloud_dimensions(X, query=np.arange(20), knn=20, lpca_neighbors=50)
    assert r["mle"]["query_mean"] == pytest.approx(dim, rel=0.2)
    assert r["mle"]["global_mean"] == pytest.approx(dim, rel=0.1)
    assert r["twonn"]["global"] == pytest.approx(dim, rel=0.1)
    assert r["lpca"]["query_median"] == dim


def test_pointcloud_estimators_bad_input():
    with pytest.raises(ValueError, match="X must have more than"):
        pointcloud_dimensions(np.zeros((10, 3)), knn=20)
    with pytest.raises(ValueError, match="query"):
        pointcloud_dimensions(np.random.default_rng(0).standard_normal((100, 3)), query=[200], knn=5,
                              lpca_neighbors=10)


def test_time_readouts_by_hand():
    # two images, two times, d = 6; readouts worked out by hand (docs/theory.md 4-5, delta = 0.1)
    a = [[0.01, 0.02, 0.95, 0.97, 0.99, 1.0], [0.3, 0.5, 0.6, 0.9, 0.95, 1.0]]
    b = [[0.00, 0.05, 0.92, 0.96, 0.98, 1.0], [0.35, 0.45, 0.6, 0.93, 0.97, 1.0]]
    spec = Spectrum(np.array([a, b]), [0.01, 1.0], source="network", kind="singular values")
    pt = time_readouts(spec, delta=0.1, min_gap=0.2)
    assert [p["phase"] for p in pt] == ["consolidation", "coverage"]
    assert pt[1]["phase_counts"] == {"coverage": 2} and pt[1]["phase_majority"] == "coverage"
    assert pt[0]["largest_gap_dimension"]["per_point"] == [2, 2]
    assert pt[0]["effective_dimension"]["mean"] == 2 and pt[1]["effective_dimension"]["per_point"] == [1, 2]
    assert pt[1]["largest_gap_dimension"]["per_point"] == [3, 3]           # 0.6->0.9 and 0.6->0.93
    assert pt[0]["codimension"]["per_point"] == [4, 4]                     # > 0.9: 0.95.. and 0.92..
    assert pt[1]["largest_gap_dimension"]["sem"] == 0
    # the mean spectrum at t=0.01: [0.005, 0.035, 0.935, ...]: one gap wider than 0.2 above 2 values
    assert [(g["index"], round(g["width"], 6)) for g in pt[0]["gaps"]] == [(2, 0.9)]
    assert pt[0]["largest_gap_of_mean_spectrum"]["index"] == 2


def test_gap_opening_times_by_hand():
    # one point, d = 4, times 10 > 1 > 0.1 > 0.01; gaps above index 1 and 3 (widths by hand)
    v = [[0.90, 0.95, 0.97, 1.0],       # t = 10: no gap >= 0.1
         [0.50, 0.85, 0.88, 1.0],       # t = 1: gap above 1 = 0.35, above 3 = 0.12
         [0.10, 0.60, 0.65, 0.95],      # t = 0.1: above 1 = 0.5, above 3 = 0.30
         [0.01, 0.30, 0.35, 0.90]]      # t = 0.01: above 1 = 0.29, above 3 = 0.55
    spec = Spectrum(np.array([v]), [10.0, 1.0, 0.1, 0.01], source="network", kind="singular values")
    ev = gap_opening_times(spec, None, delta=0.1)
    assert [e["boundary"] for e in ev] == [1, 3]
    # boundary 1: width 0.05 at t=10, 0.35 at t=1 -> reaches 0.1 at log t = log 10 + (0.05/0.30) log(0.1)
    assert ev[0]["t_open"] == pytest.approx(10 * 0.1 ** (0.05 / 0.30), rel=1e-12)
    # boundary 3: 0.03 at t=10, 0.12 at t=1
    assert ev[1]["t_open"] == pytest.approx(10 * 0.1 ** (0.07 / 0.09), rel=1e-12)
    assert ev[1]["max_width"] == pytest.approx(0.55) and ev[1]["t_at_max_width"] == 0.01
    assert ev[0]["open_at_start"] is False


@pytest.mark.slow
def test_notebook_executes(run, tmp_path):
    shutil.copytree(run["out"] / "checkpoint", tmp_path / "checkpoint")
    run_notebook("fig5.ipynb", quick=True, out=str(tmp_path),
                 overrides={"train": {"steps": STEPS}, "n_images": 2, "n_times": 3, "n_samples": 2,
                            "trajectory_points": 0, "n_cloud": 200, "probes": 32})
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["train"]["resumed_from"] == STEPS and len(s["per_time"]) == 3
    assert (tmp_path / "fig5_spectra.png").stat().st_size > 0


def test_gpu_profile_on_bundled_mnist_holds_out_a_tenth():
    """The paper-sized profile trains on 'all' images; the bundled 5,000 digits have no test split, so it trains
    on 4,500 and measures the other 500 (none among the training digits); a training subset that leaves fewer
    than n_images + 2 is refused, naming n_train (it used to fall back to training images silently). The split
    is computed once: the training tensor is the one image_data builds for that size."""
    from dataclasses import replace

    from specgap.reproduce.fig5 import fig5_settings, fig5_split
    from trained.datasets import image_data, load_images
    s = fig5_settings("mnist", profile="gpu")
    assert s["n_train"] is None
    data, n_train, held, labels = fig5_split(replace(s, n_cloud=5000), None, 0)
    assert n_train == 4500 and held.shape[0] == 500 and labels.shape == (500,)
    ref = image_data("mnist", n=4500, resolution=28, seed=0)
    assert data.config == ref.config and torch.equal(data.x, ref.x) and data.sigma_data == ref.sigma_data
    s = replace(s, n_train=4500, n_cloud=5000)
    data, n_train, held, labels = fig5_split(s, None, 0)
    assert n_train == 4500 and held.shape[0] == 500 and labels.shape == (500,)
    train = load_images("mnist", n=4500, seed=0).images.reshape(4500, -1).numpy()
    H = held.reshape(500, -1).numpy()
    seen = {r.tobytes() for r in train}
    assert not any(h.tobytes() in seen for h in H)
    assert sorted(seen | {h.tobytes() for h in H}) == sorted(                    # together: the whole file
        r.tobytes() for r in load_images("mnist").images.reshape(5000, -1).numpy())
    with pytest.raises(ValueError, match="n_train: 4990 of the 5000 mnist images leave 10 held out"):
        fig5_split(replace(s, n_train=4990, n_images=32), None, 0)


def test_settings_are_one_validated_object():
    """fig5_settings returns a frozen Fig5Settings, checked once in __post_init__: read as a mapping, written to
    JSON as a dict in the historical key order, refusing bad values by parameter name."""
    import dataclasses
    s = fig5_settings("mnist", True, train={"steps": 7})
    assert isinstance(s, Mapping) and s["train"]["steps"] == 7 and s.d == D and dict(s) == s.as_dict()
    assert list(s.as_dict())[:4] == ["dataset", "quick", "profile", "resolution"] and list(s)[-1] == "d"
    assert json.loads(json.dumps(s.as_dict())) == s.as_dict()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.n_images = 3
    for over, name in ((dict(train={"steps": 0}), "steps"), (dict(k=0), "k"), (dict(threads=0), "threads"),
                       (dict(n_images=1), "n_images"), (dict(t_range=(1.0, 0.1)), "t_range"),
                       (dict(train={"sed": 1}), "train"), (dict(level=1.0), "level")):
        with pytest.raises(ValueError, match=f"^{name}"):
            fig5_settings("mnist", True, **over)
    with pytest.raises(ValueError, match="^k must be <= d=3072"):
        fig5_settings("photo-patches", True, k=4000)
    assert dataclasses.replace(s, n_train=100)["n_train"] == 100
