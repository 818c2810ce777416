"""Training data for score networks, and a registry that image datasets plug into.

Interface every dataset follows (:class:`TensorData`): ``x``, a float32 torch tensor of shape ``(n, *shape)``
on the CPU, with a documented range (linear manifolds: unbounded, per-coordinate variance about
``alpha * mean level``; images: ``[-1, 1]``), ``sigma_data`` (its standard deviation per coordinate, the
networks' input scale) and ``config``, a JSON-serialisable dict with which ``make_dataset(**config)``
rebuilds the identical data (stored in checkpoints and checked on resume).

The built-in kinds are declared in one table, :data:`BUILTIN_DATASETS`: ``linear`` (below) and ``images``
(:func:`trained.datasets.image_data`). Register a new kind with ``register_dataset(name, factory)``;
``factory(**kwargs)`` returns a :class:`TensorData`. Importing this module changes no state.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch

from rmt.validation import positive_int
from rmt.manifold import LinearManifold
from rmt.profiles import ContinuousProfile, VarianceProfile
from simulate.fmatrix import sample_F
from simulate.models import LinearGaussianModel

from .datasets import image_data
from .tensordata import TensorData

__all__ = ["TensorData", "LinearManifoldData", "linear_manifold_data", "register_dataset", "make_dataset",
           "dataset_names", "BUILTIN_DATASETS"]


@dataclass
class LinearManifoldData(TensorData):
    """Gaussian data on a linear manifold, ``x0 = F z`` (docs/theory.md 1), with ``F`` (d, m) kept.

    Besides the attributes of :class:`TensorData`:

    Attributes
    ----------
    F : ndarray (d, m), float64 - the dataset's fixed ``F``
    manifold : rmt.LinearManifold
    """

    F: np.ndarray = None
    manifold: LinearManifold = None

    def exact_model(self, schedule="ve") -> LinearGaussianModel:
        """The exact score model of the *population* (``C = F F^T``) under ``schedule``."""
        return LinearGaussianModel(self.F, schedule)


def _profile_from(levels, fractions, profile):
    if profile is not None:
        if isinstance(profile, (VarianceProfile, ContinuousProfile)):
            return profile
        if isinstance(profile, dict) and profile.get("continuous") == "uniform":
            return ContinuousProfile.uniform(profile["low"], profile["high"])
        if isinstance(profile, dict) and "levels" in profile:
            return VarianceProfile(profile["levels"], profile.get("fractions"))
        raise ValueError(f"profile must be a VarianceProfile, ContinuousProfile.uniform or its as_dict(), got {profile!r}")
    if levels is None:
        raise ValueError("levels must be given (or a profile)")
    return VarianceProfile(levels, fractions)


def linear_manifold_data(d: int = 100, alpha: float = 0.4, levels=None, fractions=None, n: int = 20000,
                         seed: int = 0, profile=None, name: str = "linear") -> LinearManifoldData:
    """``n`` points ``x_i = F z_i`` with one fixed ``F`` drawn for the dataset.

    ``F = simulate.fmatrix.sample_F(manifold, d, draws=1, seed=seed)[0]`` (so the same ``seed`` gives the same
    ``F`` as the simulator's draw 0) and ``z_i ~ N(0, I_m)`` from ``numpy.random.default_rng([seed, 1])``.

    Parameters
    ----------
    d : ambient dimension;  alpha : m/d;  levels, fractions : the variance profile (or ``profile``:
        a VarianceProfile, ContinuousProfile.uniform, or their ``as_dict()``);  n : training points;  seed : int >= 0

    Returns
    -------
    LinearManifoldData with ``x`` of shape (n, d), float32.
    """
    d = positive_int("d", d)
    n = positive_int("n", n)
    seed = positive_int("seed", seed, minimum=0)
    prof = _profile_from(levels, fractions, profile)
    M = LinearManifold(alpha, prof)
    F = sample_F(M, d, draws=1, seed=seed)[0]
    z = np.random.default_rng([seed, 1]).standard_normal((n, F.shape[1]))
    x = torch.from_numpy(z @ F.T)
    cfg = {"name": name, "d": d, "alpha": float(M.alpha), "profile": prof.as_dict(), "n": n, "seed": seed}
    sigma = float(np.sqrt(np.trace(F @ F.T) / d))          # population std per coordinate
    return LinearManifoldData(x=x, config=cfg, sigma_data=sigma, F=F, manifold=M)


#: the built-in training data sets by name: ``factory(**kwargs) -> TensorData``
BUILTIN_DATASETS = MappingProxyType({"linear": linear_manifold_data, "images": image_data})
#: data sets added by :func:`register_dataset` (a plug-in of the same name replaces a built-in one)
_PLUGINS: dict = {}


def _factories() -> dict:
    return {**BUILTIN_DATASETS, **_PLUGINS}


def register_dataset(name: str, factory) -> None:
    """Register ``factory(**kwargs) -> TensorData`` under ``name`` (the ``--data`` option of ``specgap train``).

    Parameters
    ----------
    name : non-empty string; a built-in name is replaced for this process.
    factory : callable returning a :class:`TensorData`.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise ValueError(f"factory must be callable, got {factory!r}")
    _PLUGINS[name] = factory


def dataset_names() -> list[str]:
    """Registered dataset names (built-in and plug-ins), sorted."""
    return sorted(_factories())


def make_dataset(name: str, **kwargs) -> TensorData:
    """Build dataset ``name`` with ``kwargs`` (``make_dataset(**data.config)`` rebuilds ``data``).

    Parameters
    ----------
    name : one of :func:`dataset_names`.
    **kwargs : the factory's arguments (unknown ones are refused, naming them).

    Examples
    --------
    >>> data = make_dataset("linear", d=50, alpha=0.2, levels=[1.0], n=4000, seed=0)
    >>> data.x.shape, data.F.shape                                   # m = alpha d = 10 latent directions
    (torch.Size([4000, 50]), (50, 10))
    >>> int(np.linalg.matrix_rank(data.x.double().numpy(), tol=1e-4))   # the points span the m-dim subspace
    10
    >>> bool(abs(data.sigma_data - np.sqrt(0.2 * 1.0)) < 0.02)      # per-coordinate std ~ sqrt(alpha * level)
    True
    >>> bool(torch.equal(make_dataset(**data.config).x, data.x))    # the config rebuilds the same data
    True
    """
    factories = _factories()
    if name not in factories:
        raise ValueError(f"data must be one of {sorted(factories)}, got {name!r}")
    factory = factories[name]
    params = inspect.signature(factory).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            raise ValueError(f"data {name!r} takes no argument(s) {unknown}; it takes {sorted(params)}")
    data = factory(**kwargs)
    if not isinstance(data, TensorData):
        raise ValueError(f"dataset factory {name!r} must return a TensorData, got {type(data).__name__}")
    return data
