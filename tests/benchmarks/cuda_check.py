"""One prepared run of the CUDA paths of ``trained`` (not collected by pytest; needs a GPU to mean anything).

    PYTHONPATH=. python3 tests/benchmarks/cuda_check.py OUT_DIR [--device cuda] [--smoke]

Checks, each against an independent route, and timings, written to ``OUT_DIR/cuda_check.json``:

1. exact models on the GPU: the Jacobian engine (``exact`` and ``lanczos``) on ``simulate.models_torch``
   scores of a linear Gaussian model, against the closed-form ``eta`` (float64 on the GPU);
2. training: a residual MLP on linear-manifold data with ``trained.train`` on the GPU (AMP off and on),
   steps per second against the same steps on the CPU, and the relative score error against the exact score;
3. the engine on that trained network: GPU spectra against CPU spectra of the same weights (float32);
4. a UNet (scikit-learn's 8x8 digits upsampled to 16x16): GPU training steps, exact Jacobian spectra on the
   GPU against the CPU, and lanczos top-k against exact on the GPU;
5. checkpoints: a GPU checkpoint loads on the CPU and gives the same scores.
"""
from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch


T0 = time.perf_counter()


def _log(msg):
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main(out: Path, device: str = "cuda", smoke: bool = False) -> dict:
    """``smoke``: tiny step counts, to check the script itself on a CPU."""
    n_mlp, n_cpu, n_unet = (40, 20, 20) if smoke else (3000, 300, 1500)
    from rmt import LinearManifold, VarianceProfile
    from simulate import LinearGaussianModel
    from trained.data import linear_manifold_data
    from trained.datasets import image_data
    from trained.jacobian import jacobian_spectrum
    from trained.nets import build_model
    from trained.train import TrainConfig, load_model, score_error, train

    dev = torch.device(device if (device != "cuda" or torch.cuda.is_available()) else "cpu")
    rep = {"python": platform.python_version(), "torch": torch.__version__, "device": str(dev),
           "gpu": torch.cuda.get_device_name(0) if dev.type == "cuda" else None, "checks": {}}
    C = rep["checks"]

    # 1. exact model through the engine on the GPU
    M = LinearManifold(0.4, VarianceProfile([1.0, 0.01], [0.75, 0.25]))
    exact = LinearGaussianModel.from_manifold(200, M, seed=0)
    x = exact.sample_t(8, 0.05, 1)
    eta = np.sort(exact.eta(x, 0.05), -1)
    t0 = time.perf_counter()
    r = jacobian_spectrum(exact, x, method="exact", t=0.05, device=dev)
    rl = jacobian_spectrum(exact, x, method="lanczos", k=40, t=0.05, device=dev)
    C["exact_model"] = {"d": 200, "points": 8, "exact_max_error": float(np.abs(r.spectrum.values[:, 0] - eta).max()),
                        "lanczos_k40_max_error": float(np.abs(rl.spectrum.values[:, 0] - eta[:, :40]).max()),
                        "seconds": round(time.perf_counter() - t0, 3)}

    _log("exact model done")
    # 2. MLP training, GPU vs CPU, AMP off/on
    data = linear_manifold_data(d=100, alpha=0.4, levels=[1.0, 0.01], fractions=[0.75, 0.25], n=20000, seed=0)
    ex = data.exact_model("ve") if hasattr(data, "exact_model") else None
    mcfg = {"arch": "mlp", "net": {"d": 100, "width": 256, "depth": 2}, "schedule": "ve",
            "sigma_data": data.sigma_data}
    runs = {}
    for name, d_, steps, amp in (("cpu", torch.device("cpu"), n_cpu, False), ("gpu", dev, n_mlp, False),
                                 ("gpu_amp", dev, n_mlp, True)):
        model = build_model(mcfg, seed=0)
        cfg = TrainConfig(steps=steps, batch=256, seed=0, amp=amp)
        t0 = time.perf_counter()
        res = train(model, data, cfg, None, device=d_, progress=False)
        _sync(d_)
        sec = time.perf_counter() - t0
        err = [score_error(res.ema, ex, t, n=4096, seed=2) for t in (0.01, 0.1, 0.5)] if ex is not None else None
        runs[name] = {"steps": steps, "seconds": round(sec, 2), "steps_per_s": round(steps / sec, 1),
                      "loss_final": float(np.mean(res.losses[-50:])), "score_rel_error_t_0.01_0.1_0.5": err}
        if name == "gpu":
            gpu_model = res.ema
    runs["gpu_speedup_steps_per_s"] = round(runs["gpu"]["steps_per_s"] / runs["cpu"]["steps_per_s"], 1)
    C["mlp_training"] = runs

    _log("mlp training done")
    # 3. engine on the trained MLP: GPU against CPU (same weights)
    xs = ex.sample_t(16, 0.1, 3) if ex is not None else np.random.default_rng(0).standard_normal((16, 100))
    t0 = time.perf_counter()
    g = jacobian_spectrum(gpu_model, xs, method="exact", t=0.1, device=dev)
    _sync(dev)
    tg = time.perf_counter() - t0
    cpu_model = load_state_copy(gpu_model)
    t0 = time.perf_counter()
    c = jacobian_spectrum(cpu_model, xs, method="exact", t=0.1, device="cpu")
    tc = time.perf_counter() - t0
    C["mlp_engine"] = {"gpu_vs_cpu_max_abs": float(np.abs(g.spectrum.values - c.spectrum.values).max()),
                       "gpu_seconds": round(tg, 3), "cpu_seconds": round(tc, 3), "route": g.info.get("per_time")}

    _log("mlp engine done")
    # 4. UNet on digits upsampled to 16x16
    imgs = image_data("digits", n=1500, resolution=16, seed=0)
    ucfg = {"arch": "unet", "net": {"in_channels": 1, "resolution": 16, "width": 32, "channel_mult": [1, 2],
                                    "num_res_blocks": 1, "attention": True}, "schedule": "ve",
            "sigma_data": imgs.sigma_data}
    unet = build_model(ucfg, seed=0)
    t0 = time.perf_counter()
    ures = train(unet, imgs, TrainConfig(steps=n_unet, batch=128, lr=2e-3, seed=0, amp=True), out / "unet_ckpt",
                 device=dev, progress=False)
    _sync(dev)
    usec = time.perf_counter() - t0
    _log("unet training done")
    ux = imgs.x[:4].reshape(4, -1).double().numpy() + np.sqrt(0.05) * np.random.default_rng(5).standard_normal((4, 256))
    t0 = time.perf_counter()
    ug = jacobian_spectrum(ures.ema, ux, method="exact", t=0.05, device=dev)
    _sync(dev)
    tug = time.perf_counter() - t0
    ucpu = load_state_copy(ures.ema)
    t0 = time.perf_counter()
    uc = jacobian_spectrum(ucpu, ux, method="exact", t=0.05, device="cpu")
    tuc = time.perf_counter() - t0
    _log("unet exact spectra done")
    ul = jacobian_spectrum(ures.ema, ux, method="lanczos", k=20, t=0.05, device=dev, operator="denoiser",
                           tol=1e-6, maxiter=60)
    # the exact route's top-20 of the denoiser operator, for the lanczos comparison
    ud = jacobian_spectrum(ures.ema, ux, method="exact", t=0.05, device=dev, operator="denoiser")
    C["unet"] = {"train_steps": n_unet, "train_seconds_amp": round(usec, 2), "loss_initial": float(np.mean(ures.losses[:50])),
                 "loss_final": float(np.mean(ures.losses[-50:])),
                 "exact_gpu_vs_cpu_max_abs": float(np.abs(ug.spectrum.values - uc.spectrum.values).max()),
                 "exact_gpu_seconds": round(tug, 3), "exact_cpu_seconds": round(tuc, 3),
                 "lanczos_k20_vs_exact_max_abs": float(np.abs(ul.spectrum.values[:, 0] - ud.spectrum.values[:, 0, :20]).max())}

    _log("unet lanczos done")
    # 5. GPU checkpoint -> CPU
    cpu_loaded = load_model(out / "unet_ckpt" / "checkpoint.pt", device="cpu")
    xt = torch.as_tensor(ux[:2], dtype=torch.float32).reshape(2, 1, 16, 16)
    with torch.no_grad():
        a = cpu_loaded.score(xt, 0.05)
        b = ures.ema.score(xt.to(dev), 0.05).cpu()
    C["checkpoint_gpu_to_cpu_max_abs_score_diff"] = float((a - b).abs().max())
    (out / "cuda_check.json").write_text(json.dumps(rep, indent=2, default=str))
    return rep


def load_state_copy(model):
    """The same network on the CPU in float32 (a copy; the GPU model is left where it is)."""
    from trained.nets import build_model
    m = build_model(model.config, seed=None)
    m.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
    return m.eval().requires_grad_(False)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "cuda_check_out")
    out.mkdir(parents=True, exist_ok=True)
    dev = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cuda"
    print(json.dumps(main(out, dev, smoke="--smoke" in sys.argv), indent=2, default=str))
