"""Fig. 5 on a model specgap did not train (docs/theory.md section 13): a :class:`trained.protocol.DiffusionModel`
from :mod:`trained.adapters` read at the user's images, with the measurements of :mod:`specgap.reproduce.fig5`
(spectra over time, plateau time, dimension per class and pooled by the engine's route and the paper's
protocol) and its figures; nothing is trained or sampled.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from rmt.validation import finite_array, positive_int
from trained.network_spectra import NOISE_STREAM, gap_opening_times, network_spectra, noised_points, plateau_time, \
    time_readouts

from ._artefacts import stamp, use_agg, write_artefacts
from .fig5_measure import _engine_options, class_dimensions
from .fig5_plots import plot_fig5

__all__ = ["pretrained_settings", "fig5_pretrained", "reproduce_fig5_pretrained"]


def pretrained_settings(model, *, quick: bool = False, **overrides) -> dict:
    """Settings of Fig. 5 on a model specgap did not train (:func:`fig5_pretrained`), JSON-serialisable.

    Times: a tabulated (diffusers) schedule reads ``n_times`` training timesteps spaced geometrically from 1 to
    ``T - 1``; other schedules the times of ``tau`` in ``[1e-4, 1e2]``. Method ``exact`` up to ``d = 1024``, else
    ``lanczos`` with ``k = min(100, d // 4)``; the paper's protocol in the orthonormal frame with ``K = d``
    directions (2 d score calls; 64 directions in ``quick``).
    ``overrides`` replace any key (``n_times``, ``times``, ``method``, ``k``, ``per_class``, ``t_read``, ...).

    Parameters
    ----------
    model : the :class:`trained.protocol.DiffusionModel` (its ``data_shape`` and ``schedule``).
    quick : the small sizes (5 times, 64 directions, 2 images per class).
    **overrides : replaced keys, checked here.
    """
    d = int(np.prod(model.data_shape))
    sch = model.schedule
    s = {"dataset": "pretrained", "quick": bool(quick), "d": d, "method": "exact" if d <= 1024 else "lanczos",
         "k": min(100, max(1, d // 4)), "n_times": 5 if quick else 9, "times": None, "probes": 64 if quick else d,
         "per_class": 2 if quick else 8, "delta": 0.1, "min_gap": 0.02, "knn": 20, "lpca_neighbors": 50,
         "t_read": None, "n_boot": 2000, "level": 0.9, "lanczos_tol": 1e-5, "lanczos_maxiter": 30,
         "schedule": sch.to_dict()}
    for key, val in overrides.items():
        if key not in s:
            raise ValueError(f"unknown fig5 setting {key!r}; known: {sorted(s)}")
        s[key] = val
    if s["times"] is None:
        n = positive_int("n_times", s["n_times"], minimum=3)
        if getattr(sch, "n_steps", None):
            s["times"] = np.unique(np.rint(np.geomspace(1, sch.n_steps - 1, n))).tolist()
        else:
            s["times"] = [float(v) for v in sch.t_of_tau(np.geomspace(1e-4, 1e2, n))]
    s["times"] = sch.check_times(s["times"], "times").tolist()
    for key in ("probes", "per_class", "k"):
        s[key] = positive_int(key, s[key])
    if s["method"] not in ("exact", "lanczos", "finite-difference"):
        raise ValueError(f"method must be 'exact', 'lanczos' or 'finite-difference', got {s['method']!r}")
    return s


def fig5_pretrained(model, images, labels=None, class_names=None, *, settings: dict | None = None, seed: int = 0,
                    progress: bool = True) -> dict:
    """Fig. 5 on a model specgap did not train (a :class:`trained.protocol.DiffusionModel`, e.g.
    :func:`trained.adapters.from_diffusers`) at the user's ``images`` ``(N, *data_shape)`` in ``[-1, 1]``.

    The same measurements as :func:`fig5_data` without training or sampling: spectra of ``Jn`` at the first
    ``per_class`` images of each class (all images form the cloud of the point-cloud estimators) noised to each
    time, readouts, gap openings, the plateau time and the dimension per class and pooled by the engine's route
    and the paper's protocol with 90% bootstrap intervals (:func:`class_dimensions`). Returns the dict
    :func:`plot_fig5` draws (no samples).

    Parameters
    ----------
    model : the score model;  images : ``(N, *data_shape)``, N >= 5, finite.
    labels : class of each image (None: pooled only);  class_names : name of each class id.
    settings : :func:`pretrained_settings` (default: its defaults for ``model``).
    seed : integer >= 0 (noise, directions, bootstrap);  progress : progress bars.
    """
    t0 = time.perf_counter()
    s = settings if settings is not None else pretrained_settings(model)
    seed = positive_int("seed", seed, minimum=0)
    X = finite_array("images", np.asarray(images, dtype=float))
    if X.shape[1:] != tuple(model.data_shape):
        raise ValueError(f"images must have shape (N, {', '.join(map(str, model.data_shape))}), got {X.shape}")
    if X.shape[0] < 5:
        raise ValueError(f"images: at least 5 are needed (point-cloud estimators, bootstrap), got {X.shape[0]}")
    cl = None if labels is None else np.asarray(labels, dtype=int)
    if cl is None:
        rows = np.arange(min(s["per_class"], X.shape[0]))
    else:
        rows = np.sort(np.concatenate([np.nonzero(cl == c)[0][:s["per_class"]] for c in np.unique(cl)]))
    run = {**s, "schedule": model.schedule}
    times = np.asarray(s["times"], dtype=float)
    engine = _engine_options(run)
    x0 = X[rows].reshape(len(rows), -1)
    spec = network_spectra(model, noised_points(x0, times, model.schedule, seed, shared_noise=True), times,
                           method=s["method"], seed=seed, progress=progress,
                           meta={"dataset": "pretrained", "points": "the given images noised to x_t"}, **engine)
    per_time = time_readouts(spec, s["delta"], s["min_gap"])
    events = gap_opening_times(spec, None, s["delta"])
    if s["t_read"] is None:
        choice = plateau_time(spec, s["delta"])
    else:
        choice = {"t": float(model.schedule.check_times(s["t_read"], "t_read")[0]), "rule": "given (t_read)"}
    comp = class_dimensions(model, X, cl, rows, choice["t"], run, seed=seed, class_names=class_names,
                            progress=progress)
    class_spec = comp.pop("spectrum")
    comp["time_choice"] = choice
    comp["rows"] = rows.tolist()
    comp["images"] = "the given images"
    describe = model.describe() if hasattr(model, "describe") else {"model": type(model).__name__}
    name = Path(str(describe.get("source") or describe.get("model", "pretrained"))).name   # figure titles
    summary = {"figure": "fig5", "dataset": name,
               "model": describe, "d": s["d"], "quick": s["quick"], "seed": seed, "settings": s,
               "n_images": int(X.shape[0]), "class_names": class_names,
               "spectra": {"method": s["method"], "k": s["k"], "n_images": int(len(rows)), "n_values": int(spec.n),
                           "points": spec.meta["points"], "seconds": spec.meta["seconds"]},
               "per_time": per_time, "gap_openings": events, "dimension_small_t": comp,
               "runtime_s": round(time.perf_counter() - t0, 2)}
    return {"settings": s, "spectrum": spec, "samples": None, "held_out": X[rows], "class_spectrum": class_spec,
            "class_images": X[rows], "class_labels": None if cl is None else cl[rows], "summary": summary}


def reproduce_fig5_pretrained(out, model, images, labels=None, class_names=None, *, settings: dict | None = None,
                              seed: int = 0, progress: bool = True) -> dict:
    """:func:`fig5_pretrained` with its artefacts in ``out``: ``fig5_spectra.png``, ``fig5_dimension.png``,
    ``fig5_classes.png``, ``spectra.npz``, ``class_spectra.npz``, ``class_images.npz``, ``summary.json`` (``out``
    None: nothing written). Other parameters as in :func:`fig5_pretrained`; returns the stamped summary."""
    data = fig5_pretrained(model, images, labels, class_names, settings=settings, seed=seed, progress=progress)
    summary = data["summary"]
    if out is not None:
        use_agg()
        lab = data["class_labels"]
        arrays = {"class_images": {"x0": np.asarray(data["class_images"]),
                                   "rows": np.asarray(summary["dimension_small_t"]["rows"]),
                                   "labels": np.full(len(data["class_images"]), -1) if lab is None else lab,
                                   "t": np.array([summary["dimension_small_t"]["t"]]),
                                   "noise_seed": np.array([seed, NOISE_STREAM])}}
        write_artefacts(out, summary, figures={f"fig5_{k}": f for k, f in plot_fig5(data).items()},
                        spectra={"spectra": data["spectrum"], "class_spectra": data["class_spectrum"]}, arrays=arrays)
    return stamp(summary)
