"""Images from a user's folder as a model's inputs (``--images DIR``): PNG/JPEG files, centre-cropped, resized and
scaled to ``[-1, 1]`` like the bundled data sets (:mod:`trained.image_ops`); class subfolders give labels."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rmt.validation import positive_int

from .formats import DatasetFileError
from .image_ops import IMAGE_SUFFIXES, centre_crop, resize_images, to_signed

__all__ = ["read_image_folder", "read_image_classes"]


def read_image_folder(directory, size, channels: int = 3, n: int | None = None):
    """The PNG/JPEG images of a folder as a model's inputs: ``(images, names)``.

    Each image is converted to RGB (``channels=3``) or grey (``channels=1``), its central square cropped
    (torchvision ``CenterCrop`` of the shorter side) and resized to ``size`` x ``size`` with
    :func:`resize_images`, then scaled to ``[-1, 1]`` (``2 v / 255 - 1``, the range diffusers and EDM models
    are trained on). Files are read in sorted name order; ``n`` keeps the first ``n``.

    Parameters
    ----------
    directory : the folder;  size : output side in pixels;  channels : 3 (RGB) or 1 (grey);  n : None (all) or
        the number of files kept.

    Returns
    -------
    images : torch.Tensor float32 ``(N, channels, size, size)``;  names : list of file names
    """
    from PIL import Image, UnidentifiedImageError

    size = positive_int("size", size)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"images: no such folder {str(directory)!r}")
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if n is not None:
        files = files[:positive_int("n", n)]
    if not files:
        raise ValueError(f"images: {str(directory)!r} holds no {'/'.join(IMAGE_SUFFIXES)} files")
    out = []
    for path in files:
        try:
            with Image.open(path) as im:
                im.load()
                arr = np.asarray(im.convert("RGB" if channels == 3 else "L"))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise DatasetFileError(path, f"unreadable image ({type(exc).__name__}: {exc})") from None
        arr = arr[:, :, None] if arr.ndim == 2 else arr
        patch = centre_crop(arr, min(arr.shape[:2])).transpose(2, 0, 1)
        out.append(resize_images(to_signed(patch)[None], size)[0])
    return torch.stack(out), [p.name for p in files]


def read_image_classes(directory, size, channels: int = 3):
    """A folder of images with optional class subfolders (``DIR/<class>/*.png``, torchvision's ImageFolder
    layout): ``(images, labels, class_names)``; a flat folder gives ``labels = class_names = None``.

    Images as in :func:`read_image_folder`; classes are the subfolder names in sorted order.

    Parameters
    ----------
    directory : the folder;  size : output side in pixels;  channels : 3 (RGB) or 1 (grey).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"images: no such folder {str(directory)!r}")
    subs = sorted(p for p in directory.iterdir() if p.is_dir()
                  and any(f.suffix.lower() in IMAGE_SUFFIXES for f in p.iterdir() if f.is_file()))
    if not subs:
        return read_image_folder(directory, size, channels)[0], None, None
    if any(f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES for f in directory.iterdir()):
        raise ValueError(f"images: {str(directory)!r} mixes images and class subfolders; use one layout")
    parts = [read_image_folder(p, size, channels)[0] for p in subs]
    labels = np.concatenate([np.full(len(x), i) for i, x in enumerate(parts)])
    return torch.cat(parts), labels, [p.name for p in subs]
