"""Adapters: the diffusion models people already have, as :class:`trained.protocol.DiffusionModel` objects
that the Jacobian engine, the descriptors and the dimension estimators measure (docs/theory.md section 13).

- :func:`from_diffusers`: a diffusers ``UNet2DModel`` (object, pipeline folder saved with ``save_pretrained``,
  or a hub id the user's ``huggingface_hub`` resolves) with a scheduler that has ``alphas_cumprod``.
  Time is the training timestep index ``k``; the schedule is the tabulated VP schedule of the scheduler,
  ``tau_k = (1 - alpha_bar_k) / alpha_bar_k``; the prediction is converted to the score of ``x_k``:

  ========================  ====================================================
  ``prediction_type``       ``eps_hat`` from the output ``o``
  ========================  ====================================================
  ``epsilon``               ``o``
  ``v_prediction``          ``a_k o + s_k x`` (``v = a eps - s x0``)
  ``sample``                ``(x - a_k o) / s_k``
  ========================  ====================================================

  and ``score = -eps_hat / s_k`` with ``a_k = sqrt(alpha_bar_k)``, ``s_k = sqrt(1 - alpha_bar_k)``. The input
  is ``x_k = a_k x0 + s_k eps`` itself (no rescaling: that is what the UNet was trained on).
- :func:`from_denoiser`: an EDM / k-diffusion denoiser ``D(x, sigma)``; time is ``sigma`` (:class:`rmt.schedules.EDM`,
  ``tau = sigma^2``) and ``score = (D(x, sigma) - x) / sigma^2``.
- :func:`from_score`: a score_sde-style ``score(x, t)`` with a given schedule.

A model folder is untrusted input: weights load from safetensors, or from a PyTorch file with
``weights_only=True``; a folder naming classes that diffusers does not define (custom pipelines, remote code)
is refused. Nothing is downloaded unless the user passes a hub id.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from rmt.schedules import EDM, Schedule, TabulatedVP, get_schedule

from .jacobian.backends import _module_device, _param_dtype, _torch_dtype
from .protocol import denoiser

__all__ = ["DiffusersModel", "DenoiserModel", "ScoreFunctionModel", "from_diffusers", "from_denoiser", "from_score",
           "PREDICTION_TYPES"]

#: what a diffusers UNet predicts: the noise, ``v`` or the clean sample
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
_LEARNED_VARIANCE = ("learned", "learned_range")


def _shape(name, shape):
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of positive integers, got {shape!r}") from None
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"{name} must be a non-empty sequence of positive integers, got {shape!r}")
    return shape


class _Adapter:
    """Shared parts: ``data_shape``, ``schedule``, ``module``; ``score`` on tensors ``(B, *data_shape)``."""

    schedule: Schedule
    data_shape: tuple
    module = None

    def _batched(self, x):
        if not torch.is_tensor(x):
            raise ValueError(f"x must be a torch tensor of shape (B, {', '.join(map(str, self.data_shape))}), "
                             f"got {type(x).__name__}")
        if tuple(x.shape) == self.data_shape:
            return x[None], True
        if tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(f"x must have shape (B, {', '.join(map(str, self.data_shape))}), got {tuple(x.shape)}")
        return x, False

    def _cast(self, x):
        """``x`` in the module's dtype/device, and a function casting results back to ``x``'s dtype/device."""
        if self.module is None:
            return x, lambda y: y
        dt, dev = _param_dtype(self.module) or torch.float32, _module_device(self.module) or torch.device("cpu")
        return x.to(dtype=dt, device=dev), lambda y: y.to(dtype=x.dtype, device=x.device)

    def denoiser(self, x, t):
        """Tweedie denoiser ``(x + s^2 score) / a`` (:func:`trained.protocol.denoiser`)."""
        return denoiser(self, x, t)

    def __call__(self, x, t):
        return self.score(x, t)


class DiffusersModel(_Adapter):
    """A diffusers ``UNet2DModel`` with its scheduler's ``alphas_cumprod`` and ``prediction_type``
    (see :func:`from_diffusers`). ``score(x, t)``: ``x`` (B, C, H, W), ``t`` a training timestep (float or int)."""

    def __init__(self, unet, alphas_cumprod, prediction_type="epsilon", *, class_labels=None, learned_variance=False,
                 source=None):
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r}")
        cfg = getattr(unet, "config", None)
        if cfg is None or not callable(unet):
            raise ValueError(f"unet must be a diffusers UNet2DModel (or a module with its config and call), "
                             f"got {type(unet).__name__}")
        self.module = unet.eval()
        self.schedule = TabulatedVP(tuple(np.asarray(alphas_cumprod, dtype=float)))
        size = cfg.get("sample_size") if hasattr(cfg, "get") else getattr(cfg, "sample_size", None)
        size = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
        c_in = int(cfg.get("in_channels") if hasattr(cfg, "get") else cfg.in_channels)
        self.data_shape = (c_in,) + tuple(int(s) for s in size)
        c_out = int(cfg.get("out_channels") if hasattr(cfg, "get") else cfg.out_channels)
        expected = 2 * c_in if learned_variance else c_in
        if c_out != expected:
            raise ValueError(f"unet has out_channels={c_out} but the scheduler's variance_type needs {expected} "
                             f"(in_channels={c_in}{', learned variance' if learned_variance else ''})")
        self.learned_variance = learned_variance
        self.prediction_type = prediction_type
        n_classes = (cfg.get("num_class_embeds") if hasattr(cfg, "get") else None)
        class_type = (cfg.get("class_embed_type") if hasattr(cfg, "get") else None)
        conditional = n_classes is not None or class_type is not None
        if conditional and class_labels is None:
            raise ValueError("class_labels must be given for a class-conditional UNet (num_class_embeds="
                             f"{n_classes}, class_embed_type={class_type!r})")
        if not conditional and class_labels is not None:
            raise ValueError("class_labels given but the UNet is not class-conditional")
        if class_labels is not None:
            cl = np.asarray(class_labels)
            if cl.ndim > 1 or not np.issubdtype(cl.dtype, np.integer) or np.any(cl < 0) or (
                    n_classes is not None and np.any(cl >= n_classes)):
                raise ValueError(f"class_labels must be one integer label or one per point in 0..{n_classes}, "
                                 f"got {class_labels!r}")
            self.class_labels = torch.as_tensor(cl, dtype=torch.long)
        else:
            self.class_labels = None
        self.source = source

    def model_output(self, x, t):
        """The UNet's raw output at ``x`` (B, C, H, W) and timestep ``t`` (the eps/v/x0 channels only)."""
        k = int(self.schedule.check_times(t)[0])
        x, back = self._cast(x)
        ts = torch.full((x.shape[0],), k, dtype=torch.long, device=x.device)
        kw = {}
        if self.class_labels is not None:
            cl = self.class_labels.to(x.device)
            kw["class_labels"] = cl.expand(x.shape[0]) if cl.dim() == 0 else cl
        out = self.module(x, ts, return_dict=False, **kw)[0]
        if self.learned_variance:
            out = out[:, :self.data_shape[0]]
        return back(out)

    def eps(self, x, t):
        """Predicted noise ``eps_hat(x, t)`` from any prediction type (module docstring)."""
        xb, single = self._batched(x)
        if torch.is_tensor(t) or np.ndim(t) != 0:
            raise ValueError(f"t must be one training timestep (a number), got {t!r}")
        k = self.schedule.check_times(t)[0]
        a, s = float(self.schedule.a(k)[()]), float(np.sqrt(self.schedule.s2(k)[()]))
        o = self.model_output(xb, k)
        if self.prediction_type == "epsilon":
            e = o
        elif self.prediction_type == "v_prediction":
            e = a * o + s * xb
        else:
            e = (xb - a * o) / s
        return e[0] if single else e

    def score(self, x, t):
        """``-eps_hat / s_k`` at timestep ``t`` (rounded to an integer timestep with a warning)."""
        k = self.schedule.check_times(t)[0]
        return -self.eps(x, k) / float(np.sqrt(self.schedule.s2(k)[()]))

    def describe(self) -> dict:
        """JSON-ready description: source, UNet class, prediction type, data shape, schedule, class labels and
        the UNet's scalar config entries.
        """
        cfg = dict(self.module.config) if hasattr(self.module, "config") else {}
        return {"model": "diffusers", "source": self.source, "class": type(self.module).__name__,
                "prediction_type": self.prediction_type, "data_shape": list(self.data_shape),
                "num_train_timesteps": self.schedule.n_steps, "schedule": self.schedule.to_dict(),
                "class_labels": None if self.class_labels is None else self.class_labels.tolist(),
                "config": {k: v for k, v in cfg.items() if isinstance(v, (int, float, str, bool, list, type(None)))}}


class DenoiserModel(_Adapter):
    """An EDM / k-diffusion denoiser ``D(x, sigma)`` (see :func:`from_denoiser`); time is ``sigma``."""

    def __init__(self, D, data_shape, sigma_data=None):
        if not callable(D):
            raise ValueError(f"D must be callable D(x, sigma), got {type(D).__name__}")
        self.D = D
        self.module = D if isinstance(D, torch.nn.Module) else None
        if self.module is not None:
            self.module.eval()
        self.data_shape = _shape("data_shape", data_shape)
        if sigma_data is not None and not (np.isfinite(sigma_data) and sigma_data > 0):
            raise ValueError(f"sigma_data must be finite and > 0, got {sigma_data!r}")
        self.sigma_data = None if sigma_data is None else float(sigma_data)
        self.schedule = EDM()

    def denoise(self, x, sigma):
        """``D(x, sigma)``; with ``sigma_data`` the EDM preconditioning around the raw network
        ``c_skip x + c_out F(c_in x, c_noise)``, ``c_noise = ln(sigma)/4``."""
        xc, back = self._cast(x)
        sig = torch.full((xc.shape[0],), float(sigma), dtype=xc.dtype, device=xc.device)
        if self.sigma_data is None:
            return back(self.D(xc, sig))
        sd2, s2 = self.sigma_data ** 2, float(sigma) ** 2
        c_skip, c_out = sd2 / (s2 + sd2), float(sigma) * self.sigma_data / np.sqrt(s2 + sd2)
        c_in = 1.0 / np.sqrt(s2 + sd2)
        return back(c_skip * xc + c_out * self.D(c_in * xc, torch.log(sig) / 4))

    def score(self, x, t):
        """``(D(x, sigma) - x) / sigma^2`` with ``sigma = t``."""
        xb, single = self._batched(x)
        sigma = float(self.schedule.check_times(t, "sigma")[0])
        out = (self.denoise(xb, sigma) - xb) / sigma ** 2
        return out[0] if single else out

    def describe(self) -> dict:
        """JSON-ready description: the callable's name, data shape, ``sigma_data`` and schedule."""
        return {"model": "denoiser", "callable": getattr(self.D, "__qualname__", type(self.D).__name__),
                "data_shape": list(self.data_shape), "sigma_data": self.sigma_data,
                "schedule": self.schedule.to_dict()}


class ScoreFunctionModel(_Adapter):
    """A score function ``fn(x, t)`` with a given schedule (see :func:`from_score`)."""

    def __init__(self, fn, schedule, data_shape, time="tensor"):
        if not callable(fn):
            raise ValueError(f"fn must be callable fn(x, t), got {type(fn).__name__}")
        if time not in ("tensor", "float"):
            raise ValueError(f"time must be 'tensor' or 'float', got {time!r}")
        self.fn, self.time = fn, time
        self.module = fn if isinstance(fn, torch.nn.Module) else None
        if self.module is not None:
            self.module.eval()
        self.schedule = get_schedule(schedule)
        self.data_shape = _shape("data_shape", data_shape)

    def score(self, x, t):
        """``fn(x, t)`` at ``x`` ``(B, *data_shape)`` and process time ``t`` (passed as a (B,) tensor or a float, per
        ``time``), cast to the module's dtype/device and back; same shape as ``x``.
        """
        xb, single = self._batched(x)
        tt = float(self.schedule.check_times(t)[0])
        xc, back = self._cast(xb)
        targ = torch.full((xc.shape[0],), tt, dtype=xc.dtype, device=xc.device) if self.time == "tensor" else tt
        out = back(self.fn(xc, targ))
        if tuple(out.shape) != tuple(xb.shape):
            raise ValueError(f"fn(x, t) returned shape {tuple(out.shape)}, expected {tuple(xb.shape)}")
        return out[0] if single else out

    def describe(self) -> dict:
        """JSON-ready description: the callable's name, data shape, schedule and time convention."""
        return {"model": "score", "callable": getattr(self.fn, "__qualname__", type(self.fn).__name__),
                "data_shape": list(self.data_shape), "schedule": self.schedule.to_dict(), "time": self.time}


# ------------------------------------------------------------------------------------------------
# diffusers
# ------------------------------------------------------------------------------------------------
def _diffusers():
    try:
        import diffusers
    except ModuleNotFoundError:
        raise ModuleNotFoundError("the diffusers adapters need the 'diffusers' package "
                                  "(pip install 'specgap[diffusers]')", name="diffusers") from None
    return diffusers


def _read_json(path: Path) -> dict:
    try:
        with open(path) as fh:
            out = json.load(fh)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read {path}: {e}") from None
    if not isinstance(out, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return out


def _component_dir(root: Path, name: str, subfolder):
    """``root/subfolder`` or ``root/name`` (pipeline layout) or ``root`` itself (a bare component folder)."""
    for cand in ([root / subfolder] if subfolder else []) + [root / name, root]:
        cfg = cand / ("scheduler_config.json" if name == "scheduler" else "config.json")
        if cfg.is_file():
            return cand
    return None


def _check_pipeline_index(root: Path):
    idx = root / "model_index.json"
    if not idx.is_file():
        return
    info = _read_json(idx)
    cls = info.get("_class_name", "")
    diffusers = _diffusers()
    if not isinstance(cls, str) or (cls and not hasattr(diffusers, cls)):
        raise ValueError(f"{idx}: pipeline class {cls!r} is not a diffusers class (custom pipeline code is "
                         "not run; load its UNet and scheduler yourself and pass the objects)")
    for comp, spec in info.items():
        if comp.startswith("_") or not isinstance(spec, list) or len(spec) != 2 or spec[0] is None:
            continue
        if spec[0] not in ("diffusers", "transformers"):
            raise ValueError(f"{idx}: component {comp!r} comes from {spec[0]!r}, not diffusers (remote code is "
                             "never run)")


def _load_unet(folder: Path, dtype, diffusers):
    cfg = _read_json(folder / "config.json")
    cls = cfg.get("_class_name")
    if cls != "UNet2DModel":
        raise ValueError(f"{folder / 'config.json'}: _class_name {cls!r} is not supported (UNet2DModel only: "
                         "text- or image-conditioned UNets need conditioning specgap does not supply)")
    has_st = any(folder.glob("*.safetensors"))
    has_bin = any(folder.glob("*.bin"))
    if not (has_st or has_bin):
        raise ValueError(f"{folder}: no weights (diffusion_pytorch_model.safetensors or .bin)")
    try:
        # safetensors when present; a .bin goes through torch.load(weights_only=True) inside diffusers
        return diffusers.UNet2DModel.from_pretrained(folder, use_safetensors=has_st, torch_dtype=dtype,
                                                     low_cpu_mem_usage=False)
    except Exception as e:  # unpickling refusals and format errors, as one line
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{folder}: cannot load the UNet weights safely ({type(e).__name__}: {msg[:200]})") from None


def _load_scheduler(folder: Path, diffusers):
    cfg = _read_json(folder / "scheduler_config.json")
    cls = cfg.get("_class_name")
    klass = getattr(diffusers, cls, None) if isinstance(cls, str) else None
    if klass is None or not issubclass(klass, diffusers.SchedulerMixin):
        raise ValueError(f"{folder / 'scheduler_config.json'}: _class_name {cls!r} is not a diffusers scheduler")
    return klass.from_pretrained(folder)


def _scheduler_terms(scheduler):
    ab = getattr(scheduler, "alphas_cumprod", None)
    if ab is None:
        raise ValueError(f"scheduler {type(scheduler).__name__} has no alphas_cumprod (a DDPM-family scheduler "
                         "is needed: DDPM, DDIM, PNDM, ...; for EDM/k-diffusion use from_denoiser)")
    ab = np.asarray(ab.detach().cpu().double() if torch.is_tensor(ab) else ab, dtype=float)
    cfg = getattr(scheduler, "config", {})
    get = cfg.get if hasattr(cfg, "get") else (lambda k, d=None: getattr(cfg, k, d))
    pred = get("prediction_type", "epsilon")
    if pred not in PREDICTION_TYPES:
        raise ValueError(f"scheduler prediction_type {pred!r} is not supported (one of {PREDICTION_TYPES})")
    var = get("variance_type", None)
    return ab, pred, var in _LEARNED_VARIANCE


def from_diffusers(unet_or_folder, scheduler=None, *, subfolder=None, dtype=None, device=None,
                   class_labels=None) -> DiffusersModel:
    """A diffusers ``UNet2DModel`` as a :class:`DiffusersModel` (time = training timestep index).

    Parameters
    ----------
    unet_or_folder : a ``UNet2DModel`` object; a folder written by ``save_pretrained`` (a pipeline folder with
        ``unet/`` and ``scheduler/``, or a UNet folder); or a hub id (``"org/name"``) that the user's
        ``huggingface_hub`` resolves (fetched only when a hub id is passed)
    scheduler : a diffusers scheduler with ``alphas_cumprod`` and ``config.prediction_type`` (``epsilon``,
        ``v_prediction`` or ``sample``); required with a UNet object, read from ``scheduler/`` otherwise
    subfolder : the UNet's subfolder inside a folder or hub repository (default ``unet``)
    dtype, device : where the UNet runs (``'float32'``, ``'float64'``, ... ; ``'cpu'``, ``'cuda'``)
    class_labels : fixed class label(s) for a class-conditional UNet (one, or one per point)

    Returns
    -------
    DiffusersModel with ``schedule`` the tabulated VP schedule of the scheduler and ``data_shape`` (C, H, W).
    """
    diffusers = _diffusers()
    source = None
    if isinstance(unet_or_folder, (str, os.PathLike)):
        root = Path(unet_or_folder).expanduser()
        source = str(unet_or_folder)
        if root.is_dir():
            _check_pipeline_index(root)
            udir = _component_dir(root, "unet", subfolder)
            if udir is None:
                raise ValueError(f"{root}: no UNet config (expected unet/config.json or config.json)")
            unet = _load_unet(udir, _torch_dtype(dtype), diffusers)
            if scheduler is None:
                sdir = _component_dir(root, "scheduler", None)
                if sdir is None:
                    raise ValueError(f"{root}: no scheduler/scheduler_config.json; pass scheduler=")
                scheduler = _load_scheduler(sdir, diffusers)
        elif root.exists() or str(unet_or_folder).count("/") != 1 or str(unet_or_folder).startswith((".", "/", "~")):
            raise ValueError(f"unet_or_folder {str(unet_or_folder)!r} is neither a folder nor a hub id 'org/name'")
        else:
            unet = diffusers.UNet2DModel.from_pretrained(str(unet_or_folder), subfolder=subfolder or "unet",
                                                         use_safetensors=True, torch_dtype=_torch_dtype(dtype))
            if scheduler is None:
                scheduler = diffusers.DDPMScheduler.from_pretrained(str(unet_or_folder), subfolder="scheduler")
    else:
        unet = unet_or_folder
        if not isinstance(unet, torch.nn.Module):
            raise ValueError(f"unet_or_folder must be a UNet2DModel, a folder or a hub id, got {type(unet).__name__}")
        if scheduler is None:
            raise ValueError("scheduler must be given with a UNet object (its alphas_cumprod define the time)")
        source = type(unet).__name__
    ab, pred, learned = _scheduler_terms(scheduler)
    if dtype is not None or device is not None:
        unet = unet.to(**{k: v for k, v in (("dtype", _torch_dtype(dtype)), ("device", device)) if v is not None})
    return DiffusersModel(unet, ab, pred, class_labels=class_labels, learned_variance=learned, source=source)


def from_denoiser(D, *, data_shape, sigma_data=None) -> DenoiserModel:
    """An EDM / k-diffusion denoiser ``D(x, sigma)`` (``sigma`` a tensor of shape (B,)) as a diffusion model.

    Time is ``sigma`` (schedule :class:`rmt.schedules.EDM`: ``a = 1``, ``s = sigma``, ``tau = sigma^2``);
    ``score = (D(x, sigma) - x) / sigma^2``. With ``sigma_data`` given, ``D`` is the raw network ``F(x_in,
    c_noise)`` and the EDM preconditioning is applied around it (Karras et al. 2022, Table 1).

    Examples
    --------
    The Bayes denoiser of Gaussian data with covariance ``C = diag(4, 1, 0)`` is ``D(x, sigma) = lambda x / (lambda +
    sigma^2)``; its spectrum is ``eta = tau / (lambda + tau)`` at ``tau = sigma^2``:

    >>> from trained import jacobian_spectrum
    >>> lam = torch.tensor([4.0, 1.0, 0.0], dtype=torch.float64)
    >>> model = from_denoiser(lambda x, sigma: lam / (lam + sigma[:, None] ** 2) * x, data_shape=(3,))
    >>> r = jacobian_spectrum(model, np.zeros((1, 3)), t=[1.0, 2.0])             # sigma = 1, 2: tau = 1, 4
    >>> r.spectrum.tau.tolist(), r.spectrum.values.round(6).tolist()
    ([1.0, 4.0], [[[0.2, 0.5, 1.0], [0.5, 0.8, 1.0]]])
    """
    return DenoiserModel(D, data_shape, sigma_data)


def from_score(fn, *, schedule, data_shape, time="tensor") -> ScoreFunctionModel:
    """A score_sde-style score ``fn(x, t)`` with its ``schedule`` (an :mod:`rmt.schedules` schedule or name).

    ``t`` reaches ``fn`` as a tensor of shape (B,) (score_sde's convention; ``time='float'``: a Python float).

    Examples
    --------
    The exact score of Gaussian data with covariance ``C = diag(4, 1, 0)`` under VE, ``-x / (lambda + t)``:

    >>> from trained import jacobian_spectrum
    >>> lam = torch.tensor([4.0, 1.0, 0.0], dtype=torch.float64)
    >>> model = from_score(lambda x, t: -x / (lam + t[:, None]), schedule="ve", data_shape=(3,))
    >>> model.score(torch.ones(1, 3, dtype=torch.float64), 1.0).tolist()
    [[-0.2, -0.5, -1.0]]
    >>> jacobian_spectrum(model, np.zeros((1, 3)), t=[1.0, 4.0]).spectrum.values.round(6).tolist()   # t/(lambda + t)
    [[[0.2, 0.5, 1.0], [0.5, 0.8, 1.0]]]
    """
    return ScoreFunctionModel(fn, schedule, data_shape, time)
