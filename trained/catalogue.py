"""The names of the image data sets and their aliases, without importing torch.

The command line resolves a name (``cifar`` -> ``cifar10``) to learn which optional packages reading it needs
before any heavy import; :mod:`trained.datasets` resolves names through the same table.
"""
from __future__ import annotations

__all__ = ["ALIASES", "canonical_name"]

#: other spellings a user may type -> the registry name of :data:`trained.datasets.DATASETS`
ALIASES = {"cifar": "cifar10", "cifar-10": "cifar10", "cifar_10": "cifar10", "sklearn-digits": "digits",
           "mnist5k": "mnist", "celeba64": "celeba", "patches": "photo-patches", "photo_patches": "photo-patches"}


def canonical_name(name) -> str | None:
    """The registry name for ``name`` (case and surrounding spaces ignored; aliases resolved), ``None`` for a
    non-string. Whether the name exists is :func:`trained.datasets.load_images`'s to say."""
    if not isinstance(name, str):
        return None
    key = name.strip().lower()
    return ALIASES.get(key, key)
