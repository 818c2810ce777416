"""The paper's Fig. 5: Jacobian spectra of UNets trained on real images (MNIST, CIFAR-10, CelebA).

Pipeline (docs/theory.md sections 5, 9, 10):

1. images from :func:`trained.datasets.load_images` (``[-1, 1]``), wrapped as a :class:`TensorData`
   (:func:`trained.datasets.image_data`, the ``images`` data set of the registry);
2. a UNet trained by denoising score matching with :func:`trained.train.train` (EMA, atomic checkpoint in
   ``OUT/checkpoint/``, exact resume: rerunning with the same settings reuses or continues the run);
3. spectra of the normalised Jacobian ``Jn = s(t)^2 J`` through the one engine
   (:func:`trained.jacobian.jacobian_spectrum`) at held-out images noised to ``x_t = a x0 + s eps``, over a
   grid of times, averaged over images (mean and standard error of the sorted spectra), in the shared
   :class:`rmt.spectrum.Spectrum`. ``exact`` singular values of ``Jn`` at ``d = 784``; at ``d = 3072`` and
   ``12288`` the matrix-free ``lanczos`` route: the top-``k`` singular values ``sigma_i`` of the denoiser
   Jacobian ``D' = (I + Jn)/a`` (the tangent directions), stored as ``1 - a sigma_i`` (= ``eta`` for a
   symmetric Jacobian) - the ``k`` smallest values of the spectrum, the other ``d - k`` lie above them;
4. readouts per image and time (:func:`trained.network_spectra.time_readouts`): phase, largest-gap dimension,
   ``D_eff``, gaps of the image-averaged sorted spectrum, and the times where gaps open
   (:func:`trained.network_spectra.gap_opening_times`, the one definition of opening);
5. samples from the reverse SDE of :mod:`simulate.samplers` driven by the network score
   (:func:`trained.network_spectra.reverse_trajectories`), and the spectra along those trajectories;
6. the dimension of held-out images, per class and pooled, at one time chosen on the plateau of the tangent
   count over the time grid (:func:`trained.network_spectra.plateau_time`), by two routes on the same images:
   the engine's exact route (the tangent count ``n - codimension`` and ``D_eff`` of the spectrum of ``Jn``) and
   the paper's protocol (:class:`trained.estimators.NormalBundle` with ``protocol="paper"``: the authors'
   Haar-orthonormal frame, ``K = d``, read with ``floor = delta``), beside
   scikit-dimension's MLE (Levina-Bickel), TwoNN (Facco et al.) and local PCA (:func:`pointcloud_dimensions`);
   each as the median over images with a 90% bootstrap interval (:func:`dimension_intervals`).

Settings come in profiles (:func:`fig5_settings`): ``quick`` (CPU minutes, for tests), ``cpu`` (the full
run sized for 2 CPU cores: MNIST within 45 minutes, training included) and ``gpu`` (the paper-sized
networks); the default is ``gpu`` when CUDA is present, else ``cpu``.

>>> summary = reproduce_fig5("results/fig5", dataset="mnist", quick=True)   # figures, summary.json, .npz
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from rmt import readouts
from rmt.validation import finite_array, positive, positive_int, resolution
from simulate.agreement import mean_sem
from trained.data import TensorData
from trained.datasets import image_data, load_images
from trained.estimators import NormalBundle, bootstrap_interval
from trained.normal_bundle import FRAMES
from trained.network_spectra import (
    NOISE_STREAM,
    gap_opening_times,
    network_spectra,
    noised_points,
    plateau_time,
    reverse_trajectories,
    time_readouts,
)

from ._artefacts import stamp, use_agg, write_artefacts
from .fig5_plots import plot_fig5

__all__ = ["FIG5_DATASETS", "CPU_PROFILES", "PROFILES", "RELATIVE_WIDTH_GOAL", "fig5_settings", "default_profile",
           "train_image_model", "training_size", "pointcloud_dimensions", "dimension_intervals", "class_dimensions",
           "fig5_data", "plot_fig5", "reproduce_fig5"]

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
PROFILES = ("quick", "cpu", "gpu")
#: fewest images of a cloud for scikit-dimension's MLE / local PCA / TwoNN (scikit-learn's check in skdim)
POINTCLOUD_MIN = 101
#: the goal: the 90% interval narrower than this fraction of the dimension
RELATIVE_WIDTH_GOAL = 0.3
_PAPER_DEFINITION = {
    "orthonormal": "NormalBundle(protocol='paper', frame='orthonormal'): (score(x0 + s q_i) - score(x0 - s q_i))/2 "
                   "along K Haar-orthonormal directions, singular values normalised by the maximum, values below "
                   "the largest drop of log max(s, floor)",
    "gaussian": "NormalBundle(protocol='paper', frame='gaussian'): stacked scores at K noised copies x0 + s eps_i, "
                "first singular value dropped, normalised by the maximum, values below the largest drop of "
                "log max(s, floor)"}


def default_profile(device="auto") -> str:
    """``gpu`` when the run goes to CUDA (``device`` 'auto' with CUDA present, or 'cuda[:N]'), else ``cpu``."""
    from trained.nets import resolve_device
    return "gpu" if resolve_device(device).type == "cuda" else "cpu"


def fig5_settings(dataset: str = "mnist", quick: bool = False, profile: str | None = None, **overrides) -> dict:
    """All settings of one Fig. 5 run (JSON-serialisable): data, UNet, training, spectra, estimators.

    ``profile``: 'quick' (same as ``quick=True``), 'cpu' or 'gpu' (:data:`CPU_PROFILES`, :data:`FIG5_DATASETS`);
    None: 'quick' with ``quick=True``, else :func:`default_profile` (gpu when CUDA is present). A data set
    without a CPU profile (CIFAR-10, CelebA) keeps its GPU sizes under 'cpu'.
    ``overrides`` replace top-level keys (``n_images``, ``n_times``, ``t_range``, ``method``, ``k``,
    ``per_class``, ``t_read``, ...); ``net`` and ``train`` overrides are merged into their dicts.
    """
    if dataset not in FIG5_DATASETS:
        raise ValueError(f"dataset must be one of {sorted(FIG5_DATASETS)}, got {dataset!r}")
    if profile is None:
        profile = "quick" if quick else default_profile()
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    if quick and profile != "quick":
        raise ValueError(f"profile must be 'quick' (or None) with quick=True, got {profile!r}")
    quick = profile == "quick"
    base = FIG5_DATASETS[dataset]
    s = {"dataset": dataset, "quick": bool(quick), "profile": profile, "resolution": base["resolution"],
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
    if quick:
        q = QUICK
        s["net"] = dict(q["net"])
        s["train"] = dict(s["train"], **q["train"])
        for key in ("n_train", "n_images", "n_cloud", "n_times", "n_samples", "sample_steps",
                    "trajectory_points", "probes", "per_class", "threads"):
            s[key] = q[key]
        s["t_range"] = list(q["t_range"])
        if s["method"] == "lanczos":
            s["k"] = q["k"]
        s.update(base.get("quick", {}))                   # per-dataset quick settings (sizes of small sets)
    for key, val in overrides.items():
        if key in ("net", "train"):
            s[key] = dict(s[key], **val)
        elif key in s:
            s[key] = val
        else:
            raise ValueError(f"unknown fig5 setting {key!r}; known: {sorted(s)}")
    s["d"] = s["channels"] * s["resolution"] ** 2
    if s["frame"] not in FRAMES:
        raise ValueError(f"frame must be one of {', '.join(map(repr, FRAMES))}, got {s['frame']!r}")
    if s["probes"] is None:                       # paper's protocol: K = d (orthonormal frame), 4 d (Gaussian rows)
        s["probes"] = "d" if s["frame"] == "orthonormal" else "4d"
    if s["probes"] in ("d", "2d", "4d"):
        s["probes"] = {"d": 1, "2d": 2, "4d": 4}[s["probes"]] * s["d"]
    s["probes"] = positive_int("probes", s["probes"])
    s["per_class"] = positive_int("per_class", s["per_class"])
    s["n_boot"] = positive_int("n_boot", s["n_boot"], minimum=10)
    if not 0.0 < float(s["level"]) < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {s['level']!r}")
    if s["t_read"] is not None:
        s["t_read"] = positive("t_read", s["t_read"])
    elif s["n_times"] < 3:
        raise ValueError(f"n_times must be >= 3 to choose the reading time on the plateau (or give t_read), "
                         f"got {s['n_times']}")
    if s["threads"] is not None:
        s["threads"] = positive_int("threads", s["threads"])
    if s["method"] not in ("exact", "lanczos", "finite-difference"):
        raise ValueError(f"method must be 'exact', 'lanczos' or 'finite-difference', got {s['method']!r}")
    if s["method"] == "lanczos":
        s["k"] = positive_int("k", s["k"])
        if s["k"] > s["d"]:
            raise ValueError(f"k must be <= d={s['d']}, got {s['k']}")
    for key in ("n_images", "n_times", "n_cloud", "sample_steps"):
        s[key] = positive_int(key, s[key], minimum=2 if key in ("n_images", "n_times", "n_cloud") else 1)
    for key in ("n_samples", "trajectory_points"):
        s[key] = positive_int(key, s[key], minimum=0)
    lo, hi = (positive("t_range", v) for v in s["t_range"])
    if not lo < hi:
        raise ValueError(f"t_range must be increasing, got {s['t_range']}")
    resolution(s["delta"])
    return s


# ------------------------------------------------------------------------------------------------
# training
# ------------------------------------------------------------------------------------------------
def train_image_model(data: TensorData, settings: dict, out=None, *, seed: int = 0, device="auto",
                      progress: bool = True):
    """Train the UNet of ``settings`` on ``data`` with :func:`trained.train.train`.

    With ``out``, the checkpoint lives in ``out`` and an existing compatible checkpoint is resumed (a
    finished run is loaded without further steps). Returns the :class:`~trained.train.TrainResult`.
    """
    from trained.nets import build_model
    from trained.train import TrainConfig, train
    C, R = data.shape[0], data.shape[1]
    net = dict(settings["net"], in_channels=C, resolution=R)
    model = build_model({"arch": "unet", "net": net, "schedule": settings["schedule"],
                         "sigma_data": data.sigma_data}, seed=seed)
    cfg = TrainConfig(seed=seed, checkpoint_every=max(1, settings["train"]["steps"] // 10),
                      **settings["train"])
    return train(model, data, cfg, out, resume=True, device=device, progress=progress)


# ------------------------------------------------------------------------------------------------
# point-cloud dimension estimators (scikit-dimension) and the comparison
# ------------------------------------------------------------------------------------------------
def pointcloud_dimensions(X, query=None, *, knn: int = 20, lpca_neighbors: int = 50, lpca_sample: int = 200) -> dict:
    """Standard intrinsic-dimension estimators of the point cloud ``X`` (n, d), via scikit-dimension.

    - ``mle``: Levina-Bickel maximum likelihood with ``knn`` neighbours (``skdim.id.MLE``), pointwise;
    - ``twonn``: Facco et al.'s two-nearest-neighbour estimator (``skdim.id.TwoNN``), global;
    - ``lpca``: local PCA (``skdim.id.lPCA``, Fukunaga-Olsen threshold 0.05) on the ``lpca_neighbors``
      nearest neighbours of each point, pointwise.

    Pointwise estimates are reported at the rows ``query`` (indices into ``X``; default all) as mean,
    s.e.m. and median, plus the mean over all of ``X`` (MLE) or over the query rows and a random sample of
    the others, ``lpca_sample`` rows in all (local PCA).
    """
    try:
        import skdim
    except ImportError:
        raise ValueError("the point-cloud estimators need scikit-dimension: pip install scikit-dimension") from None
    X = finite_array("X", X)
    X = X.reshape(X.shape[0], -1)
    n = X.shape[0]
    knn = positive_int("knn", knn, minimum=2)
    lpca_neighbors = positive_int("lpca_neighbors", lpca_neighbors, minimum=3)
    if n <= max(knn, lpca_neighbors):
        raise ValueError(f"X must have more than max(knn, lpca_neighbors) = {max(knn, lpca_neighbors)} points, "
                         f"got {n}")
    q = np.arange(n) if query is None else np.asarray(query, dtype=int)
    if q.ndim != 1 or q.size == 0 or q.min() < 0 or q.max() >= n:
        raise ValueError(f"query must be indices into X (0..{n - 1}), got {query!r}")
    out = {}
    mle = skdim.id.MLE(K=knn).fit(X, n_neighbors=knn)                  # pointwise estimates in dimension_pw_
    pw = np.asarray(mle.dimension_pw_, dtype=float)
    out["mle"] = _pointwise(pw, q, {"knn": knn, "estimator": "skdim.id.MLE (Levina-Bickel)"})
    two = skdim.id.TwoNN().fit(X)
    out["twonn"] = {"global": float(two.dimension_), "estimator": "skdim.id.TwoNN (Facco et al.)",
                    "discard_fraction": 0.1}
    # local PCA at the query points and at up to ``lpca_sample`` other points (one SVD per neighbourhood:
    # all n points took ~100 s at n = 2000, d = 784)
    from sklearn.neighbors import NearestNeighbors
    rest = np.setdiff1d(np.arange(n), q)
    extra = np.random.default_rng(0).permutation(rest)[:max(0, lpca_sample - q.size)]
    sel = np.concatenate([q, np.sort(extra)])
    knn_idx = NearestNeighbors(n_neighbors=lpca_neighbors + 1).fit(X).kneighbors(X[sel])[1][:, 1:]
    lp = skdim.id.lPCA(ver="FO", alphaFO=0.05, verbose=False).fit_pw(X, precomputed_knn=knn_idx, n_jobs=1)
    pw = np.asarray(lp.dimension_pw_, dtype=float)
    res = _pointwise(pw, np.arange(q.size), {"neighbors": lpca_neighbors, "estimator": "skdim.id.lPCA (FO, 0.05)",
                                             "global_points": int(sel.size)})
    out["lpca"] = res
    return out


def _pointwise(pw, q, extra):
    m, s = mean_sem(pw[q])
    return {"query_mean": float(m), "query_sem": float(s), "query_median": float(np.median(pw[q])),
            "global_mean": float(np.mean(pw)), "query_values": pw[q].tolist(), **extra}


def dimension_intervals(values, labels=None, *, n_boot: int = 2000, seed: int = 0, level: float = 0.9,
                        class_names=None) -> dict:
    """Median of per-image dimensions with its bootstrap interval, pooled and per class.

    Each group (all images; the images of each label) gets :func:`trained.estimators.bootstrap_interval`
    with the same ``seed``: ``{"value" (median), "interval" [low, high], "relative_width" ((high - low) /
    value), "narrow" (relative width below :data:`RELATIVE_WIDTH_GOAL`), "n_images"}``. Returns
    ``{"pooled": {...}, "per_class": {name: {...}}}`` (``per_class`` empty without labels).
    """
    v = finite_array("values", values).ravel()

    def one(x):
        med = float(np.median(x))
        lo, hi = bootstrap_interval(x, n_boot, seed, level)
        rel = (hi - lo) / abs(med) if med != 0 else float("inf")
        return {"value": med, "interval": [lo, hi], "relative_width": float(rel),
                "narrow": bool(rel < RELATIVE_WIDTH_GOAL), "n_images": int(x.size)}
    out = {"pooled": one(v), "per_class": {}}
    if labels is not None:
        lab = np.asarray(labels).ravel()
        if lab.shape != v.shape:
            raise ValueError(f"labels must have one entry per value ({v.size}), got shape {lab.shape}")
        for c in np.unique(lab):
            name = str(class_names[int(c)]) if class_names is not None else str(int(c))
            out["per_class"][name] = one(v[lab == c])
    return out


def class_dimensions(model, cloud, cloud_labels, query, t: float, settings: dict, *, seed: int = 0,
                     class_names=None, progress: bool = False) -> dict:
    """Dimension of the images ``cloud[query]`` at time ``t``, per class and pooled, by every route.

    - ``engine_tangent``: the engine's spectrum of ``Jn`` at ``x_t = a x0 + s eps``
      (:func:`trained.network_spectra.network_spectra`, the method of ``settings``), tangent count
      ``n - codimension(values, delta)`` (values below ``1 - delta``, :mod:`rmt.readouts`);
    - ``engine_d_eff``: ``D_eff = #{values < 1/2}`` of the same spectra;
    - ``paper_protocol``: :class:`trained.estimators.NormalBundle` with ``protocol="paper"`` at the same ``tau``,
      ``settings["probes"]`` perturbations in ``settings["frame"]`` (default the authors' orthonormal frame),
      read with ``floor = delta`` (values below ``delta`` of the largest sit at one level: the tail of directions
      the network passes almost unchanged held the largest log drop, a dimension of 1-2 on MNIST);
    - ``mle``, ``lpca``: scikit-dimension's pointwise estimates at the same images within the cloud
      (:func:`pointcloud_dimensions`); ``twonn``: global, on the cloud and on each class's part of it.

    ``cloud_labels``: class of each cloud image (None: pooled only); ``query``: rows of ``cloud`` to measure.
    Returns a dict of routes, each with ``per_image`` and :func:`dimension_intervals`, plus the spectra
    (``spectrum``).
    """
    s = settings
    X = np.asarray(cloud, dtype=float).reshape(len(cloud), -1)
    q = np.asarray(query, dtype=int)
    x0 = X[q]
    cl = None if cloud_labels is None else np.asarray(cloud_labels, dtype=int)
    if cl is not None and cl.shape != (X.shape[0],):
        raise ValueError(f"cloud_labels must have one label per cloud image ({X.shape[0]}), got shape {cl.shape}")
    lab = None if cl is None else cl[q]
    meth = s["method"]
    engine = _engine_options(s)
    pts = noised_points(x0, [t], s["schedule"], seed, shared_noise=True)
    spec = network_spectra(model, pts, [t], method=meth, seed=seed, progress=progress, desc="per-class spectra",
                           meta={"dataset": s["dataset"], "points": "held-out images per class, noised to x_t"},
                           **engine)
    v = spec.values[:, 0]
    tangent = spec.n - readouts.codimension(v, s["delta"])
    d_eff = readouts.effective_dimension(v)
    frame = s.get("frame", "orthonormal")
    nb = NormalBundle(tau=float(spec.tau[0]), probes=s["probes"], n_points=len(q), schedule=spec.schedule,
                      protocol="paper", frame=frame, floor=s["delta"], random_state=seed).fit_pw(x0, score=model)
    pc = None
    if X.shape[0] >= POINTCLOUD_MIN:
        pc = pointcloud_dimensions(X, q, knn=min(s["knn"], X.shape[0] - 2),
                                   lpca_neighbors=min(s["lpca_neighbors"], X.shape[0] - 2))
    kw = {"n_boot": s["n_boot"], "seed": seed, "level": s["level"], "class_names": class_names}
    routes = {
        "engine_tangent": {"per_image": tangent.tolist(), **dimension_intervals(tangent, lab, **kw),
                           "definition": f"n - codimension: values of Jn below 1 - delta = {1 - s['delta']:g}",
                           "method": meth},
        "engine_d_eff": {"per_image": d_eff.tolist(), **dimension_intervals(d_eff, lab, **kw),
                         "definition": "D_eff = #{values of Jn < 1/2}", "method": meth},
        "paper_protocol": {"per_image": np.asarray(nb.dimension_pw_).tolist(),
                           **dimension_intervals(nb.dimension_pw_, lab, **kw), "probes": int(s["probes"]),
                           "frame": frame, "floor": float(s["delta"]), "tau": float(nb.tau_),
                           "definition": _PAPER_DEFINITION[frame]},
    }
    if pc is None:
        twonn = {"global": None, "per_class": {}, "skipped": f"the point-cloud estimators (MLE, local PCA, TwoNN) "
                 f"need at least {POINTCLOUD_MIN} images, the cloud has {X.shape[0]}"}
    for name in ("mle", "lpca") if pc is not None else ():
        vals = np.asarray(pc[name]["query_values"], dtype=float)
        routes[name] = {"per_image": vals.tolist(), **dimension_intervals(vals, lab, **kw),
                        "estimator": pc[name]["estimator"], "global_mean": pc[name]["global_mean"]}
    if pc is not None:
        twonn = {"global": pc["twonn"]["global"], "estimator": pc["twonn"]["estimator"], "per_class": {}}
    if lab is not None and pc is not None:
        import skdim
        for c in np.unique(lab):
            name = str(class_names[int(c)]) if class_names is not None else str(int(c))
            twonn["per_class"][name] = float(skdim.id.TwoNN().fit(X[cl == c]).dimension_)
    return {"t": float(t), "tau": float(spec.tau[0]), "d": int(X.shape[1]), "n_cloud": int(X.shape[0]),
            "n_images": int(len(q)), "labels": None if lab is None else lab.tolist(), "routes": routes,
            "twonn": twonn, "spectrum": spec}


# ------------------------------------------------------------------------------------------------
# the whole figure
# ------------------------------------------------------------------------------------------------
def fig5_data(dataset: str = "mnist", data_dir=None, *, quick: bool = False, out=None, seed: int = 0,
              device="auto", progress: bool = True, settings: dict | None = None) -> dict:
    """Train (or resume), measure spectra, readouts, samples and the dimension comparison (no plotting).

    ``out``: directory of the training checkpoint (``out/checkpoint/``); None trains in memory.
    Returns a dict with ``settings``, ``train`` (TrainResult), ``spectrum`` (noised held-out images),
    ``trajectory_spectrum`` (reverse trajectories, or None), ``samples`` (N, C, H, W), ``summary``.
    """
    from trained.nets import torch_threads
    s = settings if settings is not None else fig5_settings(dataset, quick)
    with torch_threads(s.get("threads")):
        return _fig5_data(s, data_dir, out, seed, device, progress)


def _fig5_data(s, data_dir, out, seed, device, progress):
    import torch
    t0 = time.perf_counter()
    seed = positive_int("seed", seed, minimum=0)
    s = {**s, "n_train": training_size(s, data_dir)}              # the summary records the size used
    n_train = s["n_train"]
    data = image_data(s["dataset"], data_dir, n=n_train, resolution=s["resolution"], seed=seed)
    ckpt_dir = None if out is None else Path(out) / "checkpoint"
    tr = train_image_model(data, s, ckpt_dir, seed=seed, device=device, progress=progress)
    model = tr.ema
    model.requires_grad_(False)

    # held-out images (test split when the format has one; else images outside the training subset)
    held, held_labels = _held_out(s, data_dir, data, seed)
    times = np.geomspace(*s["t_range"], s["n_times"])
    q = np.arange(min(s["n_images"], held.shape[0]))
    x0 = held[q].reshape(len(q), -1).numpy().astype(float)
    pts = noised_points(x0, times, s["schedule"], seed, shared_noise=True)
    meth = s["method"]
    engine = _engine_options(s)
    spec = network_spectra(model, pts, times, method=meth, seed=seed, progress=progress,
                           meta={"dataset": s["dataset"], "points": "held-out images noised to x_t"}, **engine)
    per_time = time_readouts(spec, s["delta"], s["min_gap"])
    events = gap_opening_times(spec, None, s["delta"])

    # samples, and spectra along reverse trajectories
    samples, traj_spec, traj_summary = None, None, None
    if s["n_samples"] or s["trajectory_points"]:
        ns = max(s["n_samples"], s["trajectory_points"])
        X, sres = reverse_trajectories(model, times, ns, steps=s["sample_steps"], seed=seed, method="sde",
                                       progress=progress)
        samples = torch.as_tensor(sres.denoised).float().reshape((ns,) + tuple(data.shape)).clamp(-1, 1)
        if s["trajectory_points"]:
            traj_spec = network_spectra(model, X[:s["trajectory_points"]], times, method=meth, seed=seed,
                                        progress=progress, desc="trajectory spectra",
                                        meta={"dataset": s["dataset"], "points": "reverse-SDE trajectories"},
                                        **engine)
            traj_summary = time_readouts(traj_spec, s["delta"], s["min_gap"])

    # dimension per class and pooled at one time on the plateau of the tangent count (or t_read): the cloud is
    # the held-out pool, the measured images the first per_class of each class in it
    if s["t_read"] is None:
        choice = plateau_time(spec, s["delta"])
        t_read = choice["t"]
    else:
        t_read = float(s["t_read"])
        choice = {"t": t_read, "rule": "given (settings t_read)"}
    cloud = held[:s["n_cloud"]]
    cl = None if held_labels is None else held_labels[:s["n_cloud"]]
    if cl is None:
        rows = np.arange(min(s["per_class"], cloud.shape[0]))
    else:
        rows = np.sort(np.concatenate([np.nonzero(cl == c)[0][:s["per_class"]] for c in np.unique(cl)]))
    names = _class_names(s["dataset"])
    comp = class_dimensions(model, cloud.numpy(), cl, rows, t_read, s, seed=seed, class_names=names,
                            progress=progress)
    class_spec = comp.pop("spectrum")
    comp["time_choice"] = choice
    comp["rows"] = rows.tolist()
    comp["minutes"] = round((time.perf_counter() - t0) / 60, 2)

    L = tr.losses
    kk = max(1, min(100, L.size // 10))
    summary = {
        "figure": "fig5", "dataset": s["dataset"], "d": s["d"], "quick": s["quick"], "seed": seed,
        "settings": s, "data": data.config,
        "train": {"steps": int(tr.step), "resumed_from": tr.resumed_from, "seconds": round(tr.seconds, 2),
                  "loss_initial": float(np.mean(L[:kk])), "loss_final": float(np.mean(L[-kk:])),
                  "parameters": tr.info["params"], "device": tr.info["device"]},
        "spectra": {"method": meth, "k": s["k"], "n_images": int(len(q)), "n_values": int(spec.n),
                    "points": spec.meta["points"], "seconds": spec.meta["seconds"]},
        "per_time": per_time,
        "gap_openings": events,
        "trajectory_per_time": traj_summary,
        "dimension_small_t": comp,
        "device": tr.info["device"], "torch_threads": int(torch.get_num_threads()),
        "runtime_s": None, "minutes": None,
    }
    summary["runtime_s"] = round(time.perf_counter() - t0, 2)
    summary["minutes"] = round(summary["runtime_s"] / 60, 2)
    return {"settings": s, "train": tr, "spectrum": spec, "trajectory_spectrum": traj_spec, "samples": samples,
            "held_out": held[q], "class_spectrum": class_spec, "class_images": cloud[rows],
            "class_labels": None if cl is None else cl[rows], "summary": summary}


def _engine_options(s):
    """Engine keywords of the settings' method: ``k`` and the Krylov ``tol``/``maxiter`` for Lanczos."""
    if s["method"] != "lanczos":
        return {}
    return {"k": s["k"], "tol": s["lanczos_tol"], "maxiter": s["lanczos_maxiter"]}


def _class_names(dataset):
    from trained.datasets import DATASETS
    names = DATASETS[dataset].class_names
    return None if names is None else list(names)


def training_size(s: dict, data_dir=None) -> int | None:
    """Training images of a run: ``s['n_train']``; when that is None (all) and the data have no test split
    (e.g. the bundled 5,000 MNIST digits), all but a tenth (at least ``n_images + 2``), so that the measured
    images are held out."""
    if s["n_train"] is not None or _has_test_split(s, data_dir):
        return s["n_train"]
    total = len(load_images(s["dataset"], data_dir, train=True, resolution=s["resolution"]))
    return total - max(total // 10, s["n_images"] + 2)


def _has_test_split(s, data_dir) -> bool:
    try:
        load_images(s["dataset"], data_dir, train=False, resolution=s["resolution"], n=1)
        return True
    except (ValueError, FileNotFoundError):
        return False


def _held_out(s, data_dir, data, seed):
    """Images not used for training, with their labels (None for unlabelled data): the test split where it
    exists, else the complement of the training subset (``ValueError`` naming ``n_train`` when fewer than
    ``n_images + 2`` are left); shuffled by ``seed``, at most ``max(n_cloud, n_images)`` of them."""
    try:
        imgs = load_images(s["dataset"], data_dir, train=False, resolution=s["resolution"])
        pool, labels = imgs.images, imgs.labels
    except (ValueError, FileNotFoundError):
        imgs = load_images(s["dataset"], data_dir, train=True, resolution=s["resolution"])
        used = set(load_images(s["dataset"], data_dir, n=s["n_train"], resolution=s["resolution"],
                               seed=seed).indices.tolist())                   # n_train None: all of them
        keep = [i for i, j in enumerate(imgs.indices.tolist()) if j not in used]
        if len(keep) < s["n_images"] + 2:
            raise ValueError(f"n_train: {s['n_train']} of the {len(imgs)} {s['dataset']} images leave {len(keep)} "
                             f"held out, fewer than n_images + 2 = {s['n_images'] + 2}; lower n_train")
        pool, labels = imgs.images[keep], None if imgs.labels is None else imgs.labels[keep]
    perm = np.random.default_rng([seed, 11]).permutation(pool.shape[0])[:max(s["n_cloud"], s["n_images"])]
    return pool[perm], None if labels is None else labels[perm].numpy()


def reproduce_fig5(out=None, dataset: str = "mnist", data_dir=None, *, quick: bool = False, seed: int = 0,
                   device="auto", progress: bool = True, settings: dict | None = None) -> dict:
    """Reproduce Fig. 5 for one data set and return its summary.

    ``out`` receives ``fig5_spectra.png``, ``fig5_dimension.png``, ``fig5_classes.png`` (dimension per class,
    both routes), ``fig5_samples.png``, ``spectra.npz``, ``class_spectra.npz`` and ``class_images.npz`` (the
    per-class images, their rows in the held-out pool, labels, ``t``), ``images.npz`` (those images ``x0``;
    the points are ``noised_points(x0, t, schedule, seed, shared_noise=True)``),
    ``trajectory_spectra.npz``, ``samples.npz``, ``summary.json`` and the training
    checkpoint ``checkpoint/checkpoint.pt`` (reused by a rerun with the same settings).
    """
    data = fig5_data(dataset, data_dir, quick=quick, out=out, seed=seed, device=device, progress=progress,
                     settings=settings)
    summary = data["summary"]
    if out is not None:
        use_agg()
        spectra = {"spectra": data["spectrum"]}
        if data["trajectory_spectrum"] is not None:
            spectra["trajectory_spectra"] = data["trajectory_spectrum"]
        arrays = {"images": {"x0": data["held_out"].numpy(), "t": data["spectrum"].t, "seed": seed,
                             "noise_seed": np.array([seed, NOISE_STREAM])}}
        if data["samples"] is not None:
            arrays["samples"] = {"samples": data["samples"].numpy()}
        spectra["class_spectra"] = data["class_spectrum"]
        lab = data["class_labels"]
        arrays["class_images"] = {"x0": data["class_images"].numpy(),
                                  "rows": np.asarray(summary["dimension_small_t"]["rows"]),
                                  "labels": np.full(len(data["class_images"]), -1) if lab is None else lab,
                                  "t": np.array([summary["dimension_small_t"]["t"]]),
                                  "noise_seed": np.array([seed, NOISE_STREAM])}
        write_artefacts(out, summary, figures={f"fig5_{k}": f for k, f in plot_fig5(data).items()},
                        spectra=spectra, arrays=arrays, extra_files=["checkpoint/checkpoint.pt"])
    return stamp(summary)
