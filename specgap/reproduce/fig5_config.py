"""Settings of a Fig. 5 run (:mod:`specgap.reproduce.fig5`): the per-data-set tables, the profiles and one validated
object, :class:`Fig5Settings`, checked once in ``__post_init__`` - the pipeline reads it and does not re-check.

Profiles: ``quick`` (CPU minutes, for tests), ``cpu`` (the full run sized for 2 CPU cores: MNIST within 45 minutes,
training included) and ``gpu`` (the paper-sized networks); the default is ``gpu`` when the run goes to CUDA, else
``cpu``. Errors name the parameter (``n_times``, ``per_class``, ``steps``, ...); the command line maps them to its
flags.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from rmt.validation import positive, positive_int, resolution
from trained.normal_bundle import FRAMES

__all__ = ["FIG5_DATASETS", "QUICK", "CPU_PROFILES", "PROFILES", "Fig5Settings", "fig5_settings", "default_profile"]

#: per dataset: resolution, ambient dimension, Jacobian method, and the full-mode settings (GPU-sized)
FIG5_DATASETS = {
    "mnist": {"resolution": 28, "channels": 1, "method": "exact", "k": None,
              "net": {"width": 64, "channel_mult": [1, 2, 2], "num_res_blocks": 2, "attention": False},
              "train": {"steps": 50000, "batch": 128, "lr": 2e-4, "warmup": 1000, "ema": 0.9995,
                        "sigma_min": 0.01, "sigma_max": 30.0},
              "n_train": None, "n_images": 32, "n_cloud": 5000, "n_times": 25, "t_range": (1e-4, 1e2)},
    "cifar10": {"resolution": 32, "channels": 3, "method": "lanczos", "k": 400,
                "net": {"width": 128, "channel_mult": [1, 2, 2, 2], "num_res_blocks": 2, "attention": True},
                "train": {"steps": 200000, "batch": 128, "lr": 2e-4, "warmup": 5000, "ema": 0.9999,
                          "sigma_min": 0.01, "sigma_max": 50.0},
                "n_train": None, "n_images": 16, "n_cloud": 10000, "n_times": 21, "t_range": (1e-4, 1e2)},
    "celeba": {"resolution": 64, "channels": 3, "method": "lanczos", "k": 400,
               "net": {"width": 128, "channel_mult": [1, 1, 2, 2, 4], "num_res_blocks": 2, "attention": [16]},
               "train": {"steps": 200000, "batch": 64, "lr": 2e-4, "warmup": 5000, "ema": 0.9999,
                         "sigma_min": 0.01, "sigma_max": 90.0},
               "n_train": None, "n_images": 16, "n_cloud": 10000, "n_times": 21, "t_range": (1e-4, 1e2)},
    # 32x32 colour patches of the bundled photographs (trained.datasets): a CIFAR-like run with no download;
    # 1508 patches in all, so the training subset leaves held-out patches
    "photo-patches": {"resolution": 32, "channels": 3, "method": "lanczos", "k": 400,
                      "net": {"width": 64, "channel_mult": [1, 2, 2], "num_res_blocks": 2, "attention": False},
                      "train": {"steps": 50000, "batch": 128, "lr": 2e-4, "warmup": 1000, "ema": 0.9995,
                                "sigma_min": 0.01, "sigma_max": 50.0},
                      "n_train": 1200, "n_images": 16, "n_cloud": 1500, "n_times": 21, "t_range": (1e-4, 1e2),
                      "quick": {"n_train": 1000, "n_cloud": 500, "probes": 64}},    # K = d: 6144 calls per image
}

#: CPU quick mode (minutes): a tiny UNet, a subset, few times and images; the paper's protocol in one whole
#: orthonormal frame (K = d, ~4 s per MNIST image on one thread)
QUICK = {
    "net": {"width": 16, "channel_mult": [1, 2], "num_res_blocks": 1, "attention": False, "emb_dim": 64},
    "train": {"steps": 1500, "batch": 32, "lr": 2e-3, "warmup": 20, "ema": 0.995, "sigma_min": 0.01},
    "n_train": 2000, "n_images": 2, "n_cloud": 1000, "n_times": 6, "t_range": (1e-3, 10.0), "k": 40,
    "n_samples": 16, "sample_steps": 60, "trajectory_points": 1, "probes": "d", "per_class": 1, "threads": 1,
}

#: the full run on CPU (no CUDA): sized so that the default ``specgap reproduce fig5 --dataset mnist`` finishes
#: within 45 minutes on 2 shared cores, training included (measured: README, docs/theory.md 10). The tiny UNet
#: of the quick mode trained 4x longer; one thread (torch threads on a shared 2-core machine thrash: 30x
#: slower training steps measured with 2 threads while another process ran); 8 held-out images per class;
#: the paper's protocol in the authors' orthonormal frame with K = d directions (2 d score calls, as many as the
#: Gaussian K = 2 d it replaced; Gaussian rows at K = d leave the smallest singular values of a square block
#: at zero, so the largest drop sits at the tail).
CPU_PROFILES = {
    "mnist": {"net": dict(QUICK["net"]),
              "train": {"steps": 6000, "batch": 32, "lr": 2e-3, "warmup": 100, "ema": 0.999, "sigma_min": 0.01},
              "n_train": 4000, "n_images": 3, "n_cloud": 1000, "n_times": 9, "t_range": (1e-4, 1e2),
              "n_samples": 16, "sample_steps": 200, "trajectory_points": 1, "probes": None, "per_class": 8,
              "threads": 1},
    "photo-patches": {"net": dict(QUICK["net"]),
                      "train": {"steps": 4000, "batch": 32, "lr": 2e-3, "warmup": 100, "ema": 0.999,
                                "sigma_min": 0.01},
                      "n_train": 1200, "n_images": 2, "n_cloud": 308, "n_times": 7, "t_range": (1e-4, 1e2), "k": 100,
                      "n_samples": 16, "sample_steps": 200, "trajectory_points": 0, "probes": None, "per_class": 4,
                      "threads": 1, "lanczos_tol": 1e-4, "lanczos_maxiter": 20},
}
#: the profiles of :func:`fig5_settings`
PROFILES = ("quick", "cpu", "gpu")
_METHODS = ("exact", "lanczos", "finite-difference")
#: ``probes`` given as a multiple of the ambient dimension ``d``
_PROBES_PER_D = {"d": 1, "2d": 2, "4d": 4}


def default_profile(device="auto") -> str:
    """``gpu`` when the run goes to CUDA (``device`` 'auto' with CUDA present, 'cuda[:N]' or such a
    ``torch.device``), else ``cpu``."""
    from trained.nets import resolve_device
    return "gpu" if resolve_device(device).type == "cuda" else "cpu"


@dataclass(frozen=True, eq=True)
class Fig5Settings(Mapping):
    """All settings of one Fig. 5 run, validated once (JSON: :meth:`as_dict`; read as a mapping, ``s["k"]``).

    Built by :func:`fig5_settings` from a profile. Data: ``dataset``, ``resolution``, ``channels`` (ambient
    dimension ``d = channels * resolution**2``, derived), ``n_train`` (training images; None: all, or all but a
    tenth where the data have no test split), ``n_images`` (held-out images the spectra are averaged over, >= 2),
    ``n_cloud`` (held-out images of the point cloud, >= 2), ``per_class`` (images measured per class). UNet and
    training: ``net``, ``train`` (:class:`trained.train.TrainConfig` keys), ``schedule``. Spectra: ``method``
    ('exact', 'lanczos', 'finite-difference'), ``k`` (Lanczos: values, <= d), ``lanczos_tol``,
    ``lanczos_maxiter``, ``n_times`` log-spaced times over ``t_range`` (increasing, > 0), ``delta`` (spectral
    resolution in (0, 0.5)), ``min_gap``. Samples: ``n_samples``, ``sample_steps``, ``trajectory_points``.
    Dimension: ``t_read`` (None: on the plateau, which needs ``n_times >= 3``), the paper's protocol in
    ``frame`` with ``probes`` directions (None: ``d`` in the orthonormal frame, ``4d`` for Gaussian rows; or
    'd', '2d', '4d'), ``knn``, ``lpca_neighbors``, ``n_boot`` (>= 10) resamples at ``level`` in (0, 1).
    ``threads``: torch CPU threads (None: unchanged). ``quick`` is ``profile == 'quick'``.

    Raises ``ValueError`` naming the parameter.
    """

    dataset: str
    quick: bool = field(init=False)
    profile: str
    resolution: int
    channels: int
    method: str
    k: int | None
    net: dict
    train: dict
    n_train: int | None
    n_images: int
    n_cloud: int
    n_times: int
    t_range: list
    n_samples: int
    sample_steps: int
    trajectory_points: int
    probes: int | str | None
    frame: str
    delta: float
    min_gap: float
    schedule: str
    knn: int
    lpca_neighbors: int
    per_class: int
    t_read: float | None
    n_boot: int
    level: float
    threads: int | None
    lanczos_tol: float
    lanczos_maxiter: int
    d: int = field(init=False)

    def __post_init__(self):
        if self.dataset not in FIG5_DATASETS:
            raise ValueError(f"dataset must be one of {sorted(FIG5_DATASETS)}, got {self.dataset!r}")
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {self.profile!r}")
        set_ = object.__setattr__.__get__(self)
        set_("quick", self.profile == "quick")
        set_("resolution", positive_int("resolution", self.resolution))
        set_("channels", positive_int("channels", self.channels))
        set_("d", self.channels * self.resolution ** 2)
        set_("n_train", None if self.n_train is None else positive_int("n_train", self.n_train))
        set_("t_range", self._time_range())
        self._check_training()
        self._check_spectra()
        self._check_dimension()

    def _time_range(self) -> list:
        if len(self.t_range) != 2:
            raise ValueError(f"t_range must be (low, high), got {self.t_range!r}")
        lo, hi = (positive("t_range", v) for v in self.t_range)
        if not lo < hi:
            raise ValueError(f"t_range must be increasing, got {list(self.t_range)}")
        return list(self.t_range)

    def _check_training(self):
        """``train`` as :class:`trained.train.TrainConfig` takes it (its checks, its messages)."""
        from trained.train import TrainConfig
        known = {f.name for f in fields(TrainConfig)} - {"seed", "checkpoint_every"}   # those two are the run's
        unknown = sorted(set(self.train) - known)
        if unknown:
            raise ValueError(f"train has unknown key(s) {unknown}; known: {sorted(known)}")
        TrainConfig(**self.train)
        if self.threads is not None:
            object.__setattr__(self, "threads", positive_int("threads", self.threads))

    def _check_spectra(self):
        set_ = object.__setattr__.__get__(self)
        if self.method not in _METHODS:
            raise ValueError(f"method must be 'exact', 'lanczos' or 'finite-difference', got {self.method!r}")
        if self.k is not None or self.method == "lanczos":          # Lanczos needs k; others ignore it
            set_("k", positive_int("k", self.k))
            if self.method == "lanczos" and self.k > self.d:
                raise ValueError(f"k must be <= d={self.d}, got {self.k}")
        if self.t_read is not None:
            set_("t_read", positive("t_read", self.t_read))
        elif self.n_times < 3:
            raise ValueError(f"n_times must be >= 3 to choose the reading time on the plateau (or give t_read), "
                             f"got {self.n_times}")
        for key in ("n_images", "n_times", "n_cloud"):
            set_(key, positive_int(key, getattr(self, key), minimum=2))
        set_("sample_steps", positive_int("sample_steps", self.sample_steps))
        for key in ("n_samples", "trajectory_points"):
            set_(key, positive_int(key, getattr(self, key), minimum=0))
        resolution(self.delta)
        set_("lanczos_tol", positive("lanczos_tol", self.lanczos_tol))
        set_("lanczos_maxiter", positive_int("lanczos_maxiter", self.lanczos_maxiter))

    def _check_dimension(self):
        set_ = object.__setattr__.__get__(self)
        if self.frame not in FRAMES:
            raise ValueError(f"frame must be one of {', '.join(map(repr, FRAMES))}, got {self.frame!r}")
        probes = self.probes
        if probes is None:                  # paper's protocol: K = d (orthonormal frame), 4 d (Gaussian rows)
            probes = "d" if self.frame == "orthonormal" else "4d"
        if probes in _PROBES_PER_D:
            probes = _PROBES_PER_D[probes] * self.d
        set_("probes", positive_int("probes", probes))
        set_("per_class", positive_int("per_class", self.per_class))
        set_("n_boot", positive_int("n_boot", self.n_boot, minimum=10))
        if not 0.0 < float(self.level) < 1.0:
            raise ValueError(f"level must lie in (0, 1), got {self.level!r}")

    # read-only mapping over the fields, in their order (``s["key"]``, ``dict(s)``, ``{**s}``)
    def __getitem__(self, key):
        if key not in self._names():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self):
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def as_dict(self) -> dict:
        """A JSON-serialisable copy (the ``settings`` of ``summary.json``), keys in field order."""
        return {name: copy.deepcopy(getattr(self, name)) for name in self._names()}


def fig5_settings(dataset: str = "mnist", quick: bool = False, profile: str | None = None, *, device="auto",
                  **overrides) -> Fig5Settings:
    """All settings of one Fig. 5 run: data, UNet, training, spectra, estimators (a validated :class:`Fig5Settings`).

    Parameters
    ----------
    dataset : one of :data:`FIG5_DATASETS`.
    quick : the 'quick' profile (same as ``profile='quick'``).
    profile : 'quick', 'cpu' or 'gpu' (:data:`QUICK`, :data:`CPU_PROFILES`, :data:`FIG5_DATASETS`); None:
        'quick' with ``quick=True``, else :func:`default_profile` of ``device``. A data set without a CPU profile
        (CIFAR-10, CelebA) keeps its GPU sizes under 'cpu'.
    device : the run's device ('auto', 'cpu', 'cuda[:N]'), read only to choose the default profile.
    **overrides : replace top-level settings (``n_images``, ``n_times``, ``t_range``, ``method``, ``k``,
        ``per_class``, ``t_read``, ...); ``net`` and ``train`` overrides are merged into their dicts.
    """
    if dataset not in FIG5_DATASETS:
        raise ValueError(f"dataset must be one of {sorted(FIG5_DATASETS)}, got {dataset!r}")
    if profile is None:
        profile = "quick" if quick else default_profile(device)
    if quick and profile != "quick":
        raise ValueError(f"profile must be 'quick' (or None) with quick=True, got {profile!r}")
    base = FIG5_DATASETS[dataset]
    s = {"dataset": dataset, "profile": profile, "resolution": base["resolution"],
         "channels": base["channels"], "method": base["method"], "k": base["k"],
         "net": dict(base["net"], emb_dim=128), "train": dict(base["train"]),
         "n_train": base["n_train"], "n_images": base["n_images"], "n_cloud": base["n_cloud"],
         "n_times": base["n_times"], "t_range": list(base["t_range"]), "n_samples": 64, "sample_steps": 500,
         "trajectory_points": 8, "probes": None, "frame": "orthonormal", "delta": 0.1, "min_gap": 0.02,
         "schedule": "ve", "knn": 20, "lpca_neighbors": 50, "per_class": 16, "t_read": None, "n_boot": 2000,
         "level": 0.9, "threads": None, "lanczos_tol": 1e-6, "lanczos_maxiter": 60}
    if profile == "cpu" and dataset in CPU_PROFILES:
        for key, val in CPU_PROFILES[dataset].items():
            s[key] = dict(s[key], **val) if key == "train" else (dict(val) if isinstance(val, dict) else val)
        s["t_range"] = list(s["t_range"])
    if profile == "quick":
        s["net"] = dict(QUICK["net"])
        s["train"] = dict(s["train"], **QUICK["train"])
        for key in ("n_train", "n_images", "n_cloud", "n_times", "n_samples", "sample_steps",
                    "trajectory_points", "probes", "per_class", "threads"):
            s[key] = QUICK[key]
        s["t_range"] = list(QUICK["t_range"])
        if s["method"] == "lanczos":
            s["k"] = QUICK["k"]
        s.update(base.get("quick", {}))                   # per-dataset quick settings (sizes of small sets)
    for key, val in overrides.items():
        if key in ("net", "train"):
            s[key] = dict(s[key], **val)
        elif key in s:
            s[key] = val
        else:
            raise ValueError(f"unknown fig5 setting {key!r}; known: {sorted(s)}")
    return Fig5Settings(**s)
