"""The command line on models specgap did not train: `--diffusers DIR`, `--denoiser MODULE:FUNCTION`,
`--images DIR` (a random attention UNet saved as a pipeline folder, PNG images written here; no network)."""
import json
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")
from diffusers import DDPMScheduler, UNet2DModel  # noqa: E402
from PIL import Image  # noqa: E402

from specgap.cli import main  # noqa: E402
from trained.adapters import from_diffusers  # noqa: E402
from trained.images import read_image_folder  # noqa: E402
from trained.descriptors import ddim_map, local_geometry  # noqa: E402
from trained.jacobian import jacobian_spectrum  # noqa: E402
from trained.network_spectra import noised_points  # noqa: E402


def run_json(argv, capsys):
    code = main(argv + ["--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrained")
    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=4, attention_head_dim=4)
    unet.save_pretrained(root / "pipe" / "unet")
    DDPMScheduler(num_train_timesteps=200).save_pretrained(root / "pipe" / "scheduler")
    (root / "imgs").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):                      # RGB, not square: converted to grey, centre-cropped, resized to 8x8
        Image.fromarray(rng.integers(0, 256, (12, 10 + 2 * i, 3), dtype=np.uint8)).save(root / "imgs" / f"{i}.png")
    return root


def test_read_image_folder_crops_scales_and_converts(tmp_path):
    a = np.zeros((6, 10, 3), np.uint8)
    a[:, 2:8] = 255                                           # the central 6x6 square is white, the sides black
    Image.fromarray(a).save(tmp_path / "b.png")
    Image.fromarray(np.full((4, 4, 3), 51, np.uint8)).save(tmp_path / "a.jpg", quality=100)
    (tmp_path / "notes.txt").write_text("not an image")
    x, names = read_image_folder(tmp_path, 3, channels=3)
    assert names == ["a.jpg", "b.png"] and x.shape == (2, 3, 3, 3) and x.dtype == torch.float32
    np.testing.assert_allclose(x[0].numpy(), 2 * 51 / 255 - 1, atol=2 / 255)    # JPEG may move a level by 1
    np.testing.assert_array_equal(x[1].numpy(), 1.0)                              # the crop kept the centre only
    g, _ = read_image_folder(tmp_path, 2, channels=1, n=1)
    assert g.shape == (1, 1, 2, 2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no"):
        read_image_folder(tmp_path / "empty", 4)


def test_spectra_on_pipeline_folder_and_images_equals_library(folders, capsys):
    r = run_json(["spectra", "--diffusers", str(folders / "pipe"), "--images", str(folders / "imgs"),
                  "--t", "5,150", "--points", "3", "--seed", "2", "--out", str(folders / "out_spectra")], capsys)
    assert r["model"] == "diffusers" and r["schedule"] == "tabulated-vp"
    assert r["schedule_parameters"]["name"] == "tabulated-vp" and len(r["schedule_parameters"]["alphas_cumprod"]) == 200
    model = from_diffusers(folders / "pipe")
    x0 = read_image_folder(folders / "imgs", 8, channels=1)[0].reshape(3, -1).double().numpy()
    ab = DDPMScheduler(num_train_timesteps=200).alphas_cumprod.double().numpy()
    for row, k in zip(r["times"], (5, 150)):
        assert row["tau"] == pytest.approx((1 - ab[k]) / ab[k], rel=1e-12)
    # the same points through the library: noised with the same stream, the engine's exact route
    rng = np.random.default_rng(2)
    xs = []
    for k in (5, 150):
        a, s2 = float(model.schedule.a(k)), float(model.schedule.s2(k))
        xs.append(a * x0 + np.sqrt(s2) * rng.standard_normal(x0.shape))
    lib = np.stack([jacobian_spectrum(model, xt, t=k).spectrum.values[:, 0] for xt, k in zip(xs, (5, 150))], 1)
    np.testing.assert_allclose(np.array([row["mean_sorted"] for row in r["times"]]), lib.mean(0), rtol=1e-5)
    # the stored spectrum keeps the tabulated schedule
    with np.load(folders / "out_spectra" / "spectra.npz") as z:
        assert z["measured"].shape == (3, 2, 64)


def test_descriptors_and_dimension_on_pipeline_folder(folders, capsys):
    r = run_json(["descriptors", "--diffusers", str(folders / "pipe"), "--images", str(folders / "imgs"),
                  "--t", "100", "--map", "step", "--points", "2"], capsys)
    model = from_diffusers(folders / "pipe")
    x0 = read_image_folder(folders / "imgs", 8, channels=1)[0].reshape(3, -1).double().numpy()
    rows = np.sort(np.random.default_rng(0).choice(3, size=2, replace=False))
    X = noised_points(x0[rows], [100], model.schedule, seed=0)[:, 0]
    g = local_geometry(ddim_map(model, 100), X)
    np.testing.assert_allclose(r["psi"], g["psi"], rtol=1e-5)
    assert r["t_end"] == float(model.schedule.t_of_tau(float(model.schedule.tau(100)) / 2))
    d = run_json(["dimension", "--diffusers", str(folders / "pipe"), "--images", str(folders / "imgs"),
                  "--points", "2", "--tau", "0.05", "--estimator", "deff"], capsys)
    assert d["score"] == "diffusers" and d["n"] == 3 and d["d"] == 64
    ab = DDPMScheduler(num_train_timesteps=200).alphas_cumprod.double().numpy()
    taus = (1 - ab) / ab                             # read at the training timestep nearest tau = 0.05
    assert d["estimators"]["deff"]["tau"] == pytest.approx(taus[np.argmin(np.abs(np.log(taus / 0.05)))], rel=1e-12)


def test_denoiser_module_function_gives_eta(tmp_path, monkeypatch, capsys):
    """An exact Gaussian denoiser importable as MODULE:FUNCTION: the command reports tau/(lambda + tau)."""
    (tmp_path / "my_edm.py").write_text(
        "import torch\n"
        "LAM = torch.tensor([4.0, 1.0, 0.25, 0.0], dtype=torch.float64)\n"
        "def denoise(x, sigma):\n"
        "    s2 = (sigma ** 2)[:, None]\n"
        "    return x * (LAM / (LAM + s2)).to(x.dtype)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    np.save(tmp_path / "x0.npy", np.random.default_rng(0).standard_normal((3, 4)))
    r = run_json(["spectra", "--denoiser", "my_edm:denoise", "--data-shape", "4", "--data", str(tmp_path / "x0.npy"),
                  "--t", "0.1,1.5", "--points", "2"], capsys)
    d = run_json(["dimension", "--denoiser", "my_edm:denoise", "--data-shape", "4", "--data", str(tmp_path / "x0.npy"),
                  "--estimator", "deff", "--tau", "0.3", "--points", "2"], capsys)
    assert d["dimension"] == 2 and d["estimators"]["deff"]["per_point"] == [2, 2]    # #{lambda > tau = 0.3}
    sys.modules.pop("my_edm", None)
    lam = np.array([4.0, 1.0, 0.25, 0.0])
    for row, sigma in zip(r["times"], (0.1, 1.5)):
        tau = sigma ** 2
        assert row["tau"] == pytest.approx(tau)
        np.testing.assert_allclose(row["mean_sorted"], np.sort(tau / (lam + tau)), atol=2e-6)   # float32 data


@pytest.mark.parametrize("argv,needle", [
    (["spectra", "--diffusers", "PIPE"], "--images DIR or --data"),
    (["spectra", "--diffusers", "PIPE", "--images", "IMGS", "--t", "500"], "--t must be timesteps in 0..199"),
    (["spectra", "--diffusers", "/no/such/dir/x", "--images", "IMGS"], "neither a folder nor a hub id"),
    (["spectra", "--denoiser", "nocolon", "--data-shape", "4"], "MODULE:FUNCTION"),
    (["spectra", "--denoiser", "os:path_that_is_missing", "--data-shape", "4"], "has no attribute"),
    (["spectra", "--denoiser", "os:sep"], "--data-shape is required"),
    (["spectra", "--diffusers", "PIPE", "--denoiser", "a:b"], "exclusive"),
    (["spectra", "--data-shape", "3,8,8"], "needs --diffusers or --denoiser"),
    (["dimension", "--images", "IMGS"], "--images needs --diffusers"),
    (["descriptors", "--diffusers", "PIPE", "--images", "IMGS", "--map", "score", "--radius", "0.1"], "--radius"),
])
def test_usage_errors_exit_2_with_one_line(folders, argv, needle, capsys):
    argv = [str(folders / "pipe") if a == "PIPE" else str(folders / "imgs") if a == "IMGS" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err


def test_fig5_on_a_pipeline_folder_with_class_subfolders(folders, tmp_path, capsys):
    """`reproduce fig5 --diffusers DIR --images DIR`: classes from subfolders, per-class and pooled dimension by
    the engine's route and the paper's protocol; the engine's tangent count equals the count read off the
    stored per-class spectra, and the plateau time is one of the model's training timesteps."""
    rng = np.random.default_rng(7)
    for c in ("a", "b"):
        (tmp_path / "cls" / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(tmp_path / "cls" / c / f"{i}.png")
    out = tmp_path / "f5"
    s = run_json(["reproduce", "fig5", "--diffusers", str(folders / "pipe"), "--images", str(tmp_path / "cls"),
                  "--quick", "--per-class", "2", "--no-progress", "--out", str(out)], capsys)
    dim = s["dimension_small_t"]
    assert s["class_names"] == ["a", "b"] and s["n_images"] == 6 and dim["n_images"] == 4
    assert dim["t"] in s["settings"]["times"] and float(dim["t"]).is_integer()
    assert set(dim["routes"]) == {"engine_tangent", "engine_d_eff", "paper_protocol"}
    assert set(dim["routes"]["engine_tangent"]["per_class"]) == {"a", "b"}
    assert "at least 101 images" in dim["twonn"]["skipped"]
    with np.load(out / "class_spectra.npz") as z:
        v = z["eta"][:, 0]
    assert dim["routes"]["engine_tangent"]["per_image"] == (64 - np.sum(v >= 0.9, axis=-1)).tolist()
    for name in ("fig5_spectra.png", "fig5_dimension.png", "fig5_classes.png", "summary.json"):
        assert (out / name).is_file()
    assert main(["reproduce", "fig5", "--diffusers", str(folders / "pipe"), "--images", str(tmp_path / "cls"),
                 "--steps", "10", "--out", str(tmp_path / "g")]) == 2
    assert "--steps does not apply to a pretrained model" in capsys.readouterr().err


def test_missing_diffusers_exits_2_naming_the_extra(folders, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "diffusers", None)          # as if the [diffusers] extra were not installed
    assert main(["spectra", "--diffusers", str(folders / "pipe"), "--images", str(folders / "imgs")]) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install 'specgap[diffusers]'" in err and "\n" not in err
