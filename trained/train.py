"""Denoising score matching for an epsilon-prediction :class:`~trained.nets.ScoreModel`, with exact resume.

The whole method on one screen (:func:`train`): at step ``k`` a generator seeded by ``(seed, k)`` draws
the batch indices, ``u ~ U(0, 1)`` and the noise ``eps``; ``sqrt(tau) = sigma_min (sigma_max/sigma_min)^u``
(geometric), ``t = schedule.t_of_tau(tau)`` (VE: ``t = sigma^2``), ``x_t = a(t) x0 + s(t) eps`` and the loss is
``mean |eps_hat(x_t, t) - eps|^2``. AdamW or RAdam, gradient clipping, linear warm-up, EMA of the weights.
Because every random draw is a function of ``(seed, step)`` and the model, EMA and optimiser states are
saved, a run interrupted and resumed from a checkpoint reproduces the uninterrupted loss sequence on CPU.

Checkpoints (``checkpoint.pt`` in the output directory) are written atomically (temporary file, fsync,
``os.replace``): the file is ``MAGIC + sha256(payload) + payload`` with ``payload`` a ``torch.save`` of
plain tensors, numbers and strings (loadable with ``weights_only=True``); a truncated or corrupted file
fails the hash check and raises ``ValueError`` naming the file.
"""
from __future__ import annotations

import copy
import hashlib
import io
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from rmt.io import atomic_path
from rmt.validation import positive, positive_int
from simulate.models import ExactModel

from .data import TensorData, make_dataset
from .nets import ScoreModel, build_model, resolve_device

__all__ = ["TrainConfig", "TrainResult", "loss_summary", "train", "save_checkpoint", "load_checkpoint", "load_model",
           "checkpoint_dataset", "score_error", "CHECKPOINT_NAME"]

#: file name of the training checkpoint inside ``out``
CHECKPOINT_NAME = "checkpoint.pt"
MAGIC = b"SPECGAP-CKPT-1\n"
FORMAT_VERSION = 1
#: training-config fields that may change when resuming (everything else must match the checkpoint)
RESUME_MAY_CHANGE = ("steps", "checkpoint_every")


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train` (JSON-serialisable; saved in every checkpoint).

    ``sigma_min``/``sigma_max`` bound ``sqrt(tau)`` (VE: the noise std, ``t = sigma^2``); ``ema`` is the EMA
    decay (effective ``min(ema, (1 + k)/(10 + k))`` at step ``k``); ``checkpoint_every = 0`` writes only the
    final checkpoint; ``amp`` enables mixed precision on CUDA (ignored on CPU).
    """

    steps: int = 2000
    batch: int = 256
    lr: float = 2e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    warmup: int = 100
    grad_clip: float = 1.0
    ema: float = 0.999
    sigma_min: float = 0.01
    sigma_max: float = 10.0
    seed: int = 0
    checkpoint_every: int = 0
    amp: bool = False

    def __post_init__(self):
        self.steps = positive_int("steps", self.steps)
        self.batch = positive_int("batch", self.batch)
        self.lr = positive("lr", self.lr)
        if self.optimizer not in ("adamw", "radam"):
            raise ValueError(f"optimizer must be 'adamw' or 'radam', got {self.optimizer!r}")
        self.weight_decay = positive("weight_decay", self.weight_decay, allow_zero=True)
        self.warmup = positive_int("warmup", self.warmup, minimum=0)
        self.grad_clip = positive("grad_clip", self.grad_clip, allow_zero=True)
        self.ema = positive("ema", self.ema, allow_zero=True)
        if self.ema >= 1:
            raise ValueError(f"ema must lie in [0, 1), got {self.ema}")
        self.sigma_min = positive("sigma_min", self.sigma_min)
        self.sigma_max = positive("sigma_max", self.sigma_max)
        if not self.sigma_min < self.sigma_max:
            raise ValueError(f"sigma_min must be < sigma_max, got {self.sigma_min} and {self.sigma_max}")
        self.seed = positive_int("seed", self.seed, minimum=0)
        self.checkpoint_every = positive_int("checkpoint_every", self.checkpoint_every, minimum=0)
        self.amp = bool(self.amp)


def loss_summary(losses) -> dict:
    """The house rule for a training curve's two numbers: ``loss_initial`` and ``loss_final`` are the means of
    its first and last ``k = max(1, min(100, n // 10))`` steps (``n`` steps in all), so that one noisy step
    neither starts nor ends a short run. ``losses``: shape (n,), n >= 1."""
    L = np.asarray(losses, dtype=float).ravel()
    if L.size == 0:
        raise ValueError("losses is empty: no training step was recorded")
    k = max(1, min(100, L.size // 10))
    return {"loss_initial": float(np.mean(L[:k])), "loss_final": float(np.mean(L[-k:]))}


@dataclass
class TrainResult:
    """``model`` (raw weights) and ``ema`` (EMA weights, use these for spectra), the per-step ``losses``
    (whole run, resumed parts included), the final ``step``, wall ``seconds`` of this call and the
    ``checkpoint`` path (None without an output directory)."""

    model: ScoreModel
    ema: ScoreModel
    losses: np.ndarray
    step: int
    seconds: float
    checkpoint: Path | None = None
    resumed_from: int | None = None
    info: dict = field(default_factory=dict)


def _step_generator(seed: int, step: int) -> torch.Generator:
    """CPU generator whose state depends only on ``(seed, step)``."""
    s = np.random.SeedSequence([seed, step]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(s[0]) << 32 | int(s[1]))


def _optimizer(params, cfg: TrainConfig):
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.RAdam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, decoupled_weight_decay=True)


def train(model: ScoreModel, data: TensorData, config: TrainConfig, out=None, *, resume: bool = False,
          device="auto", progress: bool = True) -> TrainResult:
    """Train ``model`` in place on ``data`` by denoising score matching.

    Parameters
    ----------
    model : ScoreModel (its ``data_shape`` must equal ``data.shape``)
    data : TensorData, ``x`` of shape ``(n, *shape)``
    config : TrainConfig
    out : directory for ``checkpoint.pt`` (None: no checkpoints)
    resume : continue from ``out/checkpoint.pt`` if it exists (its model, data and training configs must
        match, except ``steps`` and ``checkpoint_every``); without ``resume`` an existing checkpoint is an error
    device : 'auto' | 'cpu' | 'cuda[:N]';  progress : tqdm bar with the loss on stderr

    Returns
    -------
    TrainResult
    """
    if not isinstance(model, ScoreModel):
        raise ValueError(f"model must be a ScoreModel, got {type(model).__name__}")
    if not isinstance(data, TensorData):
        raise ValueError(f"data must be a TensorData, got {type(data).__name__}")
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    if tuple(model.data_shape) != data.shape:
        raise ValueError(f"model data_shape {model.data_shape} does not match data shape {data.shape}")
    dev = resolve_device(device)
    cfg, sch = config, model.schedule
    model.to(dev).train()
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = _optimizer(model.parameters(), cfg)
    use_amp = cfg.amp and dev.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    X = data.x.to(dev)
    losses, start, resumed_from = [], 0, None

    ckpt_path = Path(out) / CHECKPOINT_NAME if out is not None else None
    if ckpt_path is not None and ckpt_path.exists():
        if not resume:
            raise ValueError(f"out {str(out)!r} already holds {CHECKPOINT_NAME}; pass resume=True (--resume) "
                             f"or choose another directory")
        ck = load_checkpoint(ckpt_path)
        _check_compatible(ck, model, data, cfg, ckpt_path)
        _restore(ck, model, ema, opt, scaler, ckpt_path)
        losses, start = list(ck["losses"]), int(ck["step"])
        resumed_from = start
    state = {"model": model, "ema": ema, "opt": opt, "scaler": scaler, "cfg": cfg, "data": data}

    log_s_min, log_s_max = np.log(cfg.sigma_min), np.log(cfg.sigma_max)
    bar = _progress(start, cfg.steps, progress)
    t0 = time.perf_counter()
    with _StopRequest(enabled=ckpt_path is not None) as stop:  # SIGINT/SIGTERM stop at a step boundary
        _steps(start, cfg, data, X, dev, sch, model, ema, opt, scaler, losses, log_s_min, log_s_max, use_amp,
               amp_dtype, bar, ckpt_path, state, stop)
    bar.close()
    seconds = time.perf_counter() - t0
    if ckpt_path is not None and (start < cfg.steps or not ckpt_path.exists()):
        save_checkpoint(ckpt_path, max(start, cfg.steps), losses, **state)
    model.eval()
    ema.eval()
    return TrainResult(model=model, ema=ema, losses=np.asarray(losses), step=max(start, cfg.steps),
                       seconds=seconds, checkpoint=ckpt_path, resumed_from=resumed_from,
                       info={"device": str(dev), "amp": use_amp, "params": sum(p.numel() for p in model.parameters())})


class _StopRequest:
    """Within the block, SIGINT and SIGTERM set ``requested`` instead of raising at an arbitrary point, so the
    training loop stops between steps and writes a checkpoint that resumes exactly. The previous handlers
    are restored on exit; off the main thread (or without a checkpoint directory) nothing is installed."""

    def __init__(self, enabled: bool):
        self.enabled, self.requested, self.old = enabled, False, {}

    def __enter__(self):
        import signal
        import threading
        if self.enabled and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        import signal
        for sig, h in self.old.items():
            signal.signal(sig, h)
        return False


def _steps(start, cfg, data, X, dev, sch, model, ema, opt, scaler, losses, log_s_min, log_s_max, use_amp,
           amp_dtype, bar, ckpt_path, state, stop):
    """The training loop (steps ``start .. cfg.steps - 1``); on a stop request: checkpoint, then KeyboardInterrupt."""
    for step in range(start, cfg.steps):
        if stop.requested:
            save_checkpoint(ckpt_path, step, losses, **state)
            bar.close()
            raise KeyboardInterrupt(f"interrupted at step {step} of {cfg.steps}; checkpoint written to "
                                    f"{str(ckpt_path)!r}; rerun with --resume to continue")
        g = _step_generator(cfg.seed, step)
        x0 = X[torch.randint(data.n, (cfg.batch,), generator=g).to(dev)]
        u = torch.rand(cfg.batch, generator=g, dtype=torch.float64).numpy()
        t = sch.t_of_tau(np.exp(2 * (log_s_min + u * (log_s_max - log_s_min))))
        noise = torch.randn((cfg.batch,) + data.shape, generator=g).to(dev)
        with torch.autocast(dev.type, dtype=amp_dtype, enabled=use_amp):
            loss = (model.eps(sch.noise(x0, t, noise), t).float() - noise).square().mean()
        for group in opt.param_groups:
            group["lr"] = cfg.lr * min(1.0, (step + 1) / cfg.warmup) if cfg.warmup else cfg.lr
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.grad_clip:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(opt)
        scaler.update()
        with torch.no_grad():
            decay = min(cfg.ema, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - decay)
            for be, bm in zip(ema.buffers(), model.buffers()):
                be.copy_(bm)
        losses.append(float(loss.detach()))
        if not np.isfinite(losses[-1]):
            raise FloatingPointError(f"non-finite loss at step {step}; lower lr or raise sigma_min")
        bar.update(1)
        if step % 10 == 0 or step + 1 == cfg.steps:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        if ckpt_path is not None and cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0:
            save_checkpoint(ckpt_path, step + 1, losses, **state)


def _progress(start, total, enabled):
    from tqdm import tqdm
    return tqdm(total=total, initial=start, desc="train", file=sys.stderr, disable=not enabled,
                dynamic_ncols=True, leave=False, mininterval=1.0)


# ------------------------------------------------------------------------------------------------
# checkpoints
# ------------------------------------------------------------------------------------------------
def _rng_states() -> dict:
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "numpy": {"name": np_state[0], "key": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": {"version": py_state[0], "state": list(py_state[1]),
                   "gauss_next": py_state[2]},
    }


def _set_rng_states(st: dict) -> None:
    torch.set_rng_state(st["torch"])
    if st["cuda"] and torch.cuda.is_available() and len(st["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(st["cuda"])
    n = st["numpy"]
    np.random.set_state((n["name"], n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = st["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))


def save_checkpoint(path, step, losses, *, model, ema, opt, scaler, cfg, data) -> Path:
    """Write ``path`` atomically: model, EMA, optimiser (and AMP scaler) states, RNG states, step, configs, losses."""
    path = Path(path)
    payload = {
        "format": "specgap-checkpoint", "version": FORMAT_VERSION, "step": int(step),
        "model_config": model.config, "data_config": data.config, "train_config": asdict(cfg),
        "sigma_data": float(data.sigma_data),
        "model": model.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
        "scaler": scaler.state_dict(), "rng": _rng_states(),
        "losses": torch.tensor(losses, dtype=torch.float64),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    raw = buf.getvalue()
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:   # an interrupted write leaves the old file
        fh.write(MAGIC + hashlib.sha256(raw).digest() + raw)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read and verify a checkpoint; ``ValueError`` naming the file if it is missing, truncated or corrupted.

    ``path`` may be the file or its directory. Returns the payload dict (``losses`` as a list of floats).
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise ValueError(f"checkpoint {str(path)!r} does not exist")
    raw = path.read_bytes()
    head = len(MAGIC) + 32
    if not raw.startswith(MAGIC):
        raise ValueError(f"checkpoint {str(path)!r} is not a specgap checkpoint (bad header: corrupted or another format)")
    if len(raw) <= head or hashlib.sha256(raw[head:]).digest() != raw[len(MAGIC):head]:
        raise ValueError(f"checkpoint {str(path)!r} is corrupted or truncated (checksum mismatch)")
    try:
        ck = torch.load(io.BytesIO(raw[head:]), map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file
        raise ValueError(f"checkpoint {str(path)!r} cannot be read: {type(e).__name__}: {e}") from None
    need = ("format", "version", "step", "model_config", "data_config", "train_config", "model", "ema",
            "optimizer", "rng", "losses")
    if not isinstance(ck, dict) or ck.get("format") != "specgap-checkpoint" or any(k not in ck for k in need):
        raise ValueError(f"checkpoint {str(path)!r} lacks the specgap fields {need}")
    if ck["version"] != FORMAT_VERSION:
        raise ValueError(f"checkpoint {str(path)!r} has format version {ck['version']}, expected {FORMAT_VERSION}")
    ck["losses"] = ck["losses"].tolist()
    ck["path"] = str(path)
    return ck


def _same(x, y) -> bool:
    """Equal configs; floats to 1e-9 relative (a data statistic such as ``sigma_data`` is summed in another
    order under another thread count and moves in the last digits)."""
    if isinstance(x, float) and isinstance(y, float):
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=0.0)
    return x == y


def _diff(a: dict, b: dict, prefix: str) -> list[str]:
    keys = sorted(set(a) | set(b))
    return [f"{prefix}{k}: checkpoint {a.get(k)!r} vs now {b.get(k)!r}" for k in keys if not _same(a.get(k), b.get(k))]


def _check_compatible(ck, model, data, cfg, path):
    now_train = {k: v for k, v in asdict(cfg).items() if k not in RESUME_MAY_CHANGE}
    then_train = {k: v for k, v in ck["train_config"].items() if k not in RESUME_MAY_CHANGE}
    bad = (_diff(ck["model_config"], model.config, "model.") + _diff(ck["data_config"], data.config, "data.")
           + _diff(then_train, now_train, "train."))
    if bad:
        raise ValueError(f"checkpoint {str(path)!r} does not match this run: " + "; ".join(bad))
    if ck["step"] > cfg.steps:
        raise ValueError(f"checkpoint {str(path)!r} is at step {ck['step']} > steps={cfg.steps}")


def _restore(ck, model, ema, opt, scaler, path):
    try:
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["optimizer"])
        if ck.get("scaler"):
            scaler.load_state_dict(ck["scaler"])
    except (RuntimeError, KeyError, ValueError) as e:
        raise ValueError(f"checkpoint {str(path)!r} does not fit the model: {str(e).splitlines()[0]}") from None
    _set_rng_states(ck["rng"])


def load_model(path, *, ema: bool = True, device="cpu") -> ScoreModel:
    """The trained :class:`ScoreModel` of a checkpoint (EMA weights by default), in eval mode on ``device``."""
    ck = load_checkpoint(path)
    model = build_model(ck["model_config"], seed=None)
    try:
        model.load_state_dict(ck["ema" if ema else "model"])
    except RuntimeError as e:
        raise ValueError(f"checkpoint {ck['path']!r} does not fit its model config: {str(e).splitlines()[0]}") from None
    return model.to(resolve_device(device)).eval().requires_grad_(False)


def checkpoint_dataset(path_or_ckpt) -> TensorData:
    """Rebuild the training data of a checkpoint (a path or a dict from :func:`load_checkpoint`)."""
    ck = path_or_ckpt if isinstance(path_or_ckpt, dict) else load_checkpoint(path_or_ckpt)
    return make_dataset(**ck["data_config"])


# ------------------------------------------------------------------------------------------------
# evaluation against an exact score
# ------------------------------------------------------------------------------------------------
@torch.no_grad()
def score_error(model: ScoreModel, exact: ExactModel, t, n: int = 4096, seed: int = 0) -> float:
    """Relative score error ``sqrt(E|s_hat - s|^2 / E|s|^2)`` over ``x ~ p_t`` (the exact noised marginal).

    Parameters
    ----------
    model : ScoreModel;  exact : simulate ExactModel with the same schedule;  t : process time (> 0)
    n : number of test points;  seed : draws of ``x`` (``exact.sample_t``)
    """
    if exact.schedule != model.schedule:
        raise ValueError(f"exact schedule {exact.schedule.name!r} differs from the model's {model.schedule.name!r}")
    t = positive("t", t)
    x = exact.sample_t(positive_int("n", n), t, seed)
    ref = exact.score(x, t)
    p = next(model.parameters())
    est = model.score(torch.as_tensor(x, dtype=p.dtype, device=p.device), t).double().cpu().numpy()
    return float(np.sqrt(np.sum((est - ref) ** 2) / np.sum(ref ** 2)))

