"""The paper's Fig. 5: Jacobian spectra of UNets trained on real images (MNIST, CIFAR-10, CelebA).

Pipeline (docs/theory.md sections 5, 9, 10):

1. the split, computed once (:func:`fig5_split`): the training images from :func:`trained.datasets.image_data`
   (``[-1, 1]``, the ``images`` data set of the registry) and the held-out images - the test split where the data
   have one (:meth:`trained.catalogue.DatasetInfo.reads_test_split`), else the images of the training split
   outside the training subset (:func:`trained.datasets.split_images`, one read);
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

Settings (:mod:`specgap.reproduce.fig5_config`): one validated :class:`Fig5Settings` built by :func:`fig5_settings`
from a profile: ``quick`` (CPU minutes, for tests), ``cpu`` (the full run sized for 2 CPU cores: MNIST within 45
minutes, training included) and ``gpu`` (the paper-sized networks); the default is ``gpu`` when the run goes to
CUDA, else ``cpu``. Measurements: :mod:`specgap.reproduce.fig5_measure`; figures: :mod:`specgap.reproduce.fig5_plots`.

Run (minutes on a CPU; the notebook of the same name and the study's test run it in quick mode)::

    summary = reproduce_fig5("results/fig5", dataset="mnist", quick=True)   # figures, summary.json, .npz
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from rmt.validation import positive_int
from trained.catalogue import CATALOGUE
from trained.data import TensorData
from trained.datasets import image_data, load_images, split_images
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
from .fig5_config import CPU_PROFILES, FIG5_DATASETS, PROFILES, QUICK, Fig5Settings, default_profile, fig5_settings
from .fig5_measure import (
    POINTCLOUD_MIN,
    RELATIVE_WIDTH_GOAL,
    _engine_options,
    class_dimensions,
    dimension_intervals,
    pointcloud_dimensions,
)
from .fig5_plots import plot_fig5

__all__ = ["FIG5_DATASETS", "CPU_PROFILES", "QUICK", "PROFILES", "POINTCLOUD_MIN", "RELATIVE_WIDTH_GOAL",
           "Fig5Settings", "fig5_settings", "default_profile", "fig5_split", "train_image_model",
           "pointcloud_dimensions", "dimension_intervals", "class_dimensions", "fig5_data", "plot_fig5",
           "reproduce_fig5"]


# ------------------------------------------------------------------------------------------------
# data and training
# ------------------------------------------------------------------------------------------------
def fig5_split(s: Fig5Settings, data_dir=None, seed: int = 0):
    """The training data and the held-out images of a run, the split computed once.

    Held out: the test split where the data have one (:meth:`trained.catalogue.DatasetInfo.reads_test_split`);
    else the images of the training split outside the training subset, whose size is ``s.n_train`` or, for
    None, all but a tenth (at least ``n_images + 2`` held out), so that the measured images are never training
    images. The held-out pool is shuffled by ``seed`` and cut to ``max(n_cloud, n_images)``.

    Parameters
    ----------
    s : the run's settings.
    data_dir : the data set's files (None: the bundled copy).
    seed : the run's seed (integer >= 0, validated by the caller): training subset and shuffle.

    Returns
    -------
    data : TensorData
        The training images (``image_data(s.dataset, data_dir, n=n_train, resolution, seed)``).
    n_train : int or None
        The training images used (None: the whole training split).
    held : torch.Tensor ``(N, C, H, W)``;  labels : np.ndarray int64 ``(N,)`` or None.

    Raises
    ------
    ValueError naming ``n_train`` when fewer than ``n_images + 2`` images are left out.
    """
    if CATALOGUE[s.dataset].reads_test_split(data_dir):
        data = image_data(s.dataset, data_dir, n=s.n_train, resolution=s.resolution, seed=seed)
        test = load_images(s.dataset, data_dir, train=False, resolution=s.resolution)
        n_train, pool, labels = s.n_train, test.images, test.labels
    else:
        rule = s.n_train if s.n_train is not None else (lambda total: total - max(total // 10, s.n_images + 2))
        data, rest = split_images(s.dataset, data_dir, n=rule, resolution=s.resolution, seed=seed)
        n_train = data.config["n"]
        if len(rest) < s.n_images + 2:
            raise ValueError(f"n_train: {s.n_train} of the {data.n + len(rest)} {s.dataset} images leave {len(rest)} "
                             f"held out, fewer than n_images + 2 = {s.n_images + 2}; lower n_train")
        pool, labels = rest.images, rest.labels
    perm = np.random.default_rng([seed, 11]).permutation(pool.shape[0])[:max(s.n_cloud, s.n_images)]
    return data, n_train, pool[perm], None if labels is None else labels[perm].numpy()


def train_image_model(data: TensorData, settings: Fig5Settings, out=None, *, seed: int = 0, device="auto",
                      progress: bool = True):
    """Train the UNet of ``settings`` on ``data`` with :func:`trained.train.train`.

    With ``out``, the checkpoint lives in ``out`` and an existing compatible checkpoint is resumed (a
    finished run is loaded without further steps). Returns the :class:`~trained.train.TrainResult`.

    Parameters
    ----------
    data : the training images ``(N, C, R, R)``;  settings : the run's (``net``, ``train``, ``schedule``).
    out : checkpoint directory, or None (in memory);  seed : weights and training stream.
    device : where to train;  progress : progress bar.
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
# the whole figure
# ------------------------------------------------------------------------------------------------
def fig5_data(dataset: str = "mnist", data_dir=None, *, quick: bool = False, out=None, seed: int = 0,
              device="auto", progress: bool = True, settings: Fig5Settings | None = None) -> dict:
    """Train (or resume), measure spectra, readouts, samples and the dimension comparison (no plotting).

    Parameters
    ----------
    dataset, quick : the settings ``fig5_settings(dataset, quick)`` when ``settings`` is None (else unused).
    data_dir : the data set's files in their standard format (None: the bundled copy).
    out : directory of the training checkpoint (``out/checkpoint/``); None trains in memory.
    seed : integer >= 0: training, subsets, noise and samples.
    device : 'auto', 'cpu', 'cuda[:N]' (or a ``torch.device``).
    progress : show progress bars.
    settings : a :class:`Fig5Settings` (:func:`fig5_settings`).

    Returns
    -------
    dict with ``settings`` (as a dict, ``n_train`` the size used), ``train`` (TrainResult), ``spectrum`` (noised
    held-out images), ``trajectory_spectrum`` (reverse trajectories, or None), ``samples`` (N, C, H, W), the
    measured images and ``summary``.
    """
    from trained.nets import resolve_device, torch_threads
    seed = positive_int("seed", seed, minimum=0)
    device = resolve_device(device)
    s = settings if settings is not None else fig5_settings(dataset, quick, device=device)
    if not isinstance(s, Fig5Settings):
        raise ValueError(f"settings must be a Fig5Settings (from fig5_settings), got {type(s).__name__}")
    with torch_threads(s.threads):
        return _fig5_data(s, data_dir, out, seed, device, progress)


def _fig5_data(s: Fig5Settings, data_dir, out, seed: int, device, progress: bool) -> dict:
    import torch
    t0 = time.perf_counter()
    data, n_train, held, held_labels = fig5_split(s, data_dir, seed)
    ckpt_dir = None if out is None else Path(out) / "checkpoint"
    tr = train_image_model(data, s, ckpt_dir, seed=seed, device=device, progress=progress)
    model = tr.ema
    model.requires_grad_(False)

    times = np.geomspace(*s.t_range, s.n_times)
    q = np.arange(min(s.n_images, held.shape[0]))
    x0 = held[q].reshape(len(q), -1).numpy().astype(float)
    pts = noised_points(x0, times, s.schedule, seed, shared_noise=True)
    spec = network_spectra(model, pts, times, method=s.method, seed=seed, progress=progress,
                           meta={"dataset": s.dataset, "points": "held-out images noised to x_t"},
                           **_engine_options(s))
    samples, traj_spec = _samples_and_trajectories(model, s, times, seed, data.shape, progress)
    class_run = _class_dimensions_of(model, s, held, held_labels, spec, seed, progress)
    class_run["comparison"]["minutes"] = round((time.perf_counter() - t0) / 60, 2)
    summary = _summary(s, n_train, seed, data, tr, spec, traj_spec, class_run["comparison"])
    summary["torch_threads"] = int(torch.get_num_threads())
    summary["runtime_s"] = round(time.perf_counter() - t0, 2)
    summary["minutes"] = round(summary["runtime_s"] / 60, 2)
    return {"settings": summary["settings"], "train": tr, "spectrum": spec, "trajectory_spectrum": traj_spec,
            "samples": samples, "held_out": held[q], "class_spectrum": class_run["spectrum"],
            "class_images": class_run["images"], "class_labels": class_run["labels"], "summary": summary}


def _samples_and_trajectories(model, s: Fig5Settings, times, seed: int, shape, progress: bool):
    """Samples of the reverse SDE (``n_samples``) and the spectra along ``trajectory_points`` of its
    trajectories: ``(samples (N, C, H, W) or None, trajectory Spectrum or None)``."""
    import torch
    if not (s.n_samples or s.trajectory_points):
        return None, None
    ns = max(s.n_samples, s.trajectory_points)
    X, sres = reverse_trajectories(model, times, ns, steps=s.sample_steps, seed=seed, method="sde", progress=progress)
    samples = torch.as_tensor(sres.denoised).float().reshape((ns,) + tuple(shape)).clamp(-1, 1)
    traj_spec = None
    if s.trajectory_points:
        traj_spec = network_spectra(model, X[:s.trajectory_points], times, method=s.method, seed=seed,
                                    progress=progress, desc="trajectory spectra",
                                    meta={"dataset": s.dataset, "points": "reverse-SDE trajectories"},
                                    **_engine_options(s))
    return samples, traj_spec


def _class_dimensions_of(model, s: Fig5Settings, held, held_labels, spec, seed: int, progress: bool) -> dict:
    """The dimension per class and pooled at one time on the plateau of the tangent count (or ``t_read``): the
    cloud is the held-out pool, the measured images the first ``per_class`` of each class in it."""
    if s.t_read is None:
        choice = plateau_time(spec, s.delta)
    else:
        choice = {"t": float(s.t_read), "rule": "given (settings t_read)"}
    cloud = held[:s.n_cloud]
    cl = None if held_labels is None else held_labels[:s.n_cloud]
    if cl is None:
        rows = np.arange(min(s.per_class, cloud.shape[0]))
    else:
        rows = np.sort(np.concatenate([np.nonzero(cl == c)[0][:s.per_class] for c in np.unique(cl)]))
    names = CATALOGUE[s.dataset].class_names
    comp = class_dimensions(model, cloud.numpy(), cl, rows, choice["t"], s, seed=seed,
                            class_names=None if names is None else list(names), progress=progress)
    class_spec = comp.pop("spectrum")
    comp["time_choice"] = choice
    comp["rows"] = rows.tolist()
    return {"comparison": comp, "spectrum": class_spec, "images": cloud[rows],
            "labels": None if cl is None else cl[rows]}


def _summary(s: Fig5Settings, n_train, seed: int, data, tr, spec, traj_spec, comp) -> dict:
    """The JSON summary of a run (timings filled in by the caller)."""
    from trained.train import loss_summary
    settings = {**s.as_dict(), "n_train": n_train}                  # the summary records the size used
    return {
        "figure": "fig5", "dataset": s.dataset, "d": s.d, "quick": s.quick, "seed": seed,
        "settings": settings, "data": data.config,
        "train": {"steps": int(tr.step), "resumed_from": tr.resumed_from, "seconds": round(tr.seconds, 2),
                  **loss_summary(tr.losses), "parameters": tr.info["params"], "device": tr.info["device"]},
        "spectra": {"method": s.method, "k": s.k, "n_images": int(spec.values.shape[0]), "n_values": int(spec.n),
                    "points": spec.meta["points"], "seconds": spec.meta["seconds"]},
        "per_time": time_readouts(spec, s.delta, s.min_gap),
        "gap_openings": gap_opening_times(spec, None, s.delta),
        "trajectory_per_time": None if traj_spec is None else time_readouts(traj_spec, s.delta, s.min_gap),
        "dimension_small_t": comp,
        "device": tr.info["device"], "torch_threads": None,
        "runtime_s": None, "minutes": None,
    }


def reproduce_fig5(out=None, dataset: str = "mnist", data_dir=None, *, quick: bool = False, seed: int = 0,
                   device="auto", progress: bool = True, settings: Fig5Settings | None = None) -> dict:
    """Reproduce Fig. 5 for one data set and return its summary (arguments as in :func:`fig5_data`).

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
