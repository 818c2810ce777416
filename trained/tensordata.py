"""The interface every training data set follows: :class:`TensorData` (the registry is :mod:`trained.data`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["TensorData"]


@dataclass
class TensorData:
    """``n`` training points ``x`` (float32, CPU, shape ``(n, *shape)``) and how to rebuild them.

    Attributes
    ----------
    x : torch.Tensor, shape ``(n, *shape)``
    config : dict, ``make_dataset(**config)`` rebuilds ``x`` exactly (includes ``name``)
    sigma_data : float, standard deviation of ``x`` per coordinate
    """

    x: torch.Tensor
    config: dict
    sigma_data: float = field(default=None)

    def __post_init__(self):
        if not torch.is_tensor(self.x) or self.x.dim() < 2 or self.x.shape[0] < 1:
            raise ValueError(f"x must be a torch tensor of shape (n, ...), got {getattr(self.x, 'shape', self.x)!r}")
        self.x = self.x.detach().to("cpu", torch.float32).contiguous()
        if not torch.isfinite(self.x).all():
            raise ValueError("x must be finite")
        if "name" not in self.config:
            raise ValueError("config must contain the dataset 'name'")
        if self.sigma_data is None:
            self.sigma_data = float(self.x.double().std()) or 1.0

    @property
    def n(self) -> int:
        """Number of points ``n``."""
        return int(self.x.shape[0])

    @property
    def shape(self) -> tuple:
        """Shape of one data point."""
        return tuple(self.x.shape[1:])
