"""The measurements of Fig. 5 shared by a trained run (:mod:`specgap.reproduce.fig5`) and a pretrained model
(:mod:`specgap.reproduce.fig5_pretrained`): the dimension of images per class and pooled by every route
(:func:`class_dimensions`), the point-cloud estimators of scikit-dimension (:func:`pointcloud_dimensions`) and
the bootstrap intervals (:func:`dimension_intervals`).
"""
from __future__ import annotations

import numpy as np

from rmt import readouts
from rmt.validation import finite_array, positive_int
from simulate.agreement import mean_sem
from trained.estimators import NormalBundle, bootstrap_interval
from trained.network_spectra import network_spectra, noised_points

__all__ = ["POINTCLOUD_MIN", "RELATIVE_WIDTH_GOAL", "pointcloud_dimensions", "dimension_intervals",
           "class_dimensions"]

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


def pointcloud_dimensions(X, query=None, *, knn: int = 20, lpca_neighbors: int = 50, lpca_sample: int = 200) -> dict:
    """Standard intrinsic-dimension estimators of the point cloud ``X`` (n, d), via scikit-dimension.

    - ``mle``: Levina-Bickel maximum likelihood with ``knn`` neighbours (``skdim.id.MLE``), pointwise;
    - ``twonn``: Facco et al.'s two-nearest-neighbour estimator (``skdim.id.TwoNN``), global;
    - ``lpca``: local PCA (``skdim.id.lPCA``, Fukunaga-Olsen threshold 0.05) on the ``lpca_neighbors``
      nearest neighbours of each point, pointwise.

    Pointwise estimates are reported at the rows ``query`` (indices into ``X``; default all) as mean,
    s.e.m. and median, plus the mean over all of ``X`` (MLE) or over the query rows and a random sample of
    the others, ``lpca_sample`` rows in all (local PCA).

    Parameters
    ----------
    X : array ``(n, ...)``, flattened to ``(n, d)``; finite.
    query : indices into ``X`` (default all rows).
    knn : neighbours of the MLE (>= 2);  lpca_neighbors : neighbours of local PCA (>= 3); both < n.
    lpca_sample : rows local PCA is evaluated at (the query rows and a seeded sample of the others).

    Returns
    -------
    dict with ``mle``, ``twonn`` and ``lpca`` entries.
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

    Parameters
    ----------
    values : per-image dimensions (finite).
    labels : class of each value, or None (pooled only).
    n_boot, seed, level : resamples, their seed, and the interval's coverage (:func:`bootstrap_interval`).
    class_names : name of each class id (None: the ids as strings).
    """
    v = finite_array("values", values).ravel()

    def one(x):
        """Median, interval and relative width of one group's values."""
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


def _pointcloud_routes(routes, X, q, cl, s, kw, class_names):
    """Add the ``mle`` and ``lpca`` routes (scikit-dimension, pointwise at the rows ``q`` of the cloud ``X``) to
    ``routes`` and return the TwoNN readout (global and per class), or a ``skipped`` note below
    ``POINTCLOUD_MIN`` images. ``cl``: class of each cloud image or None; ``kw``: :func:`dimension_intervals`
    options."""
    if X.shape[0] < POINTCLOUD_MIN:
        return {"global": None, "per_class": {}, "skipped": f"the point-cloud estimators (MLE, local PCA, TwoNN) "
                f"need at least {POINTCLOUD_MIN} images, the cloud has {X.shape[0]}"}
    lab = None if cl is None else cl[q]
    pc = pointcloud_dimensions(X, q, knn=min(s["knn"], X.shape[0] - 2),
                               lpca_neighbors=min(s["lpca_neighbors"], X.shape[0] - 2))
    for name in ("mle", "lpca"):
        vals = np.asarray(pc[name]["query_values"], dtype=float)
        routes[name] = {"per_image": vals.tolist(), **dimension_intervals(vals, lab, **kw),
                        "estimator": pc[name]["estimator"], "global_mean": pc[name]["global_mean"]}
    twonn = {"global": pc["twonn"]["global"], "estimator": pc["twonn"]["estimator"], "per_class": {}}
    if lab is not None:
        import skdim
        for c in np.unique(lab):
            name = str(class_names[int(c)]) if class_names is not None else str(int(c))
            twonn["per_class"][name] = float(skdim.id.TwoNN().fit(X[cl == c]).dimension_)
    return twonn


def class_dimensions(model, cloud, cloud_labels, query, t: float, settings: dict, *, seed: int = 0,
                     class_names=None, progress: bool = False) -> dict:
    """Dimension of the images ``cloud[query]`` at time ``t``, per class and pooled, by every route.

    - ``engine_tangent``: the engine's spectrum of ``Jn`` at ``x_t = a x0 + s eps``
      (:func:`trained.network_spectra.network_spectra`, the method of ``settings``), tangent count
      ``tangent_count(values, threshold=delta)`` (values below ``1 - delta``, :mod:`rmt.readouts`);
    - ``engine_d_eff``: ``D_eff = #{values < 1/2}`` of the same spectra;
    - ``paper_protocol``: :class:`trained.estimators.NormalBundle` with ``protocol="paper"`` at the same ``tau``,
      ``settings["probes"]`` perturbations in ``settings["frame"]`` (default the authors' orthonormal frame),
      read with ``floor = delta`` (values below ``delta`` of the largest sit at one level: the tail of directions
      the network passes almost unchanged held the largest log drop, a dimension of 1-2 on MNIST);
    - ``mle``, ``lpca``: scikit-dimension's pointwise estimates at the same images within the cloud
      (:func:`pointcloud_dimensions`); ``twonn``: global, on the cloud and on each class's part of it.

    Parameters
    ----------
    model : the score model (:class:`trained.protocol.DiffusionModel`).
    cloud : images ``(n, ...)`` of the point cloud;  cloud_labels : class of each (None: pooled only).
    query : rows of ``cloud`` to measure;  t : the reading time.
    settings : the run's settings (:class:`specgap.reproduce.fig5_config.Fig5Settings`, or the mapping of
        :func:`specgap.reproduce.fig5_pretrained.pretrained_settings` with its schedule), taken as validated.
    seed : noise and bootstrap seed;  class_names : name of each class id;  progress : progress bars.

    Returns
    -------
    dict of routes, each with ``per_image`` and :func:`dimension_intervals`, plus the spectra (``spectrum``).
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
    tangent = readouts.tangent_count(v, threshold=s["delta"])
    d_eff = readouts.effective_dimension(v)
    frame = s.get("frame", "orthonormal")
    nb = NormalBundle(tau=float(spec.tau[0]), probes=s["probes"], n_points=len(q), schedule=spec.schedule,
                      protocol="paper", frame=frame, floor=s["delta"], random_state=seed).fit_pw(x0, score=model)
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
    twonn = _pointcloud_routes(routes, X, q, cl, s, kw, class_names)
    return {"t": float(t), "tau": float(spec.tau[0]), "d": int(X.shape[1]), "n_cloud": int(X.shape[0]),
            "n_images": int(len(q)), "labels": None if lab is None else lab.tolist(), "routes": routes,
            "twonn": twonn, "spectrum": spec}


def _engine_options(s):
    """Engine keywords of the settings' method: ``k`` and the Krylov ``tol``/``maxiter`` for Lanczos."""
    if s["method"] != "lanczos":
        return {}
    return {"k": s["k"], "tol": s["lanczos_tol"], "maxiter": s["lanczos_maxiter"]}
