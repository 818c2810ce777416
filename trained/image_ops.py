"""Operations on image arrays shared by the data set readers and the user's image folders: pixel scaling to and
from ``[-1, 1]``, the centre crop, resizing, and the patch grid of the ``photo-patches`` data set.

Images are float32 tensors ``(N, C, H, W)`` in ``[-1, 1]``: pixel ``v`` of an image with maximum value
``v_max`` maps to ``2 v / v_max - 1``. Resizing is bilinear with antialiasing
(``torch.nn.functional.interpolate``).
"""
from __future__ import annotations

import numpy as np
import torch

from rmt.validation import positive_int

__all__ = ["IMAGE_SUFFIXES", "to_signed", "to_uint8", "resize_images", "centre_crop", "photo_patch_grid",
           "PHOTO_PATCH", "PHOTO_STRIDE", "PHOTO_DOWNSCALE"]

#: file suffixes read as images (CelebA's folder, the user's ``--images DIR``)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
#: side of a ``photo-patches`` patch, in pixels of the downscaled photograph
PHOTO_PATCH = 32
#: stride of the ``photo-patches`` grid (overlapping patches)
PHOTO_STRIDE = 16
#: block size of the ``photo-patches`` downscaling (block means)
PHOTO_DOWNSCALE = 2


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

    Parameters
    ----------
    images : torch.Tensor ``(N, C, H, W)``.
    resolution : output side length in pixels (integer >= 1).
    """
    r = positive_int("resolution", resolution)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
    if tuple(images.shape[-2:]) == (r, r):
        return images
    if not images.numel():                                  # no image: nothing to interpolate or clamp to
        return images.new_empty(tuple(images.shape[:2]) + (r, r))
    lo, hi = images.min(), images.max()
    out = torch.nn.functional.interpolate(images, size=(r, r), mode="bilinear", align_corners=False,
                                          antialias=True)
    return out.clamp_(lo, hi)


def centre_crop(pixels: np.ndarray, crop: int) -> np.ndarray:
    """The central ``crop`` x ``crop`` square of an ``(H, W, ...)`` array (torchvision ``CenterCrop`` rounding:
    top ``round((H - crop) / 2)``, left ``round((W - crop) / 2)``).

    Parameters
    ----------
    pixels : array ``(H, W, ...)`` with ``H, W >= crop``;  crop : side of the square in pixels.
    """
    h, w = pixels.shape[:2]
    top, left = int(round((h - crop) / 2.0)), int(round((w - crop) / 2.0))
    return pixels[top:top + crop, left:left + crop]


def photo_patch_grid(image, patch=PHOTO_PATCH, stride=PHOTO_STRIDE, downscale=PHOTO_DOWNSCALE) -> np.ndarray:
    """Patches of one uint8 photograph ``(H, W, 3)``: ``downscale`` x ``downscale`` block means (rounded), then
    ``patch`` x ``patch`` windows at stride ``stride``, row-major from the top-left corner.

    Parameters
    ----------
    image : uint8 array ``(H, W, 3)``;  patch : window side;  stride : grid step;  downscale : block size.

    Returns
    -------
    np.ndarray uint8 ``(N, 3, patch, patch)``.
    """
    a = np.asarray(image, dtype=np.float64)
    f = positive_int("downscale", downscale)
    H, W = (a.shape[0] // f) * f, (a.shape[1] // f) * f
    a = a[:H, :W].reshape(H // f, f, W // f, f, a.shape[2]).mean(axis=(1, 3))
    a = np.clip(np.floor(a + 0.5), 0, 255).astype(np.uint8)
    rows = range(0, a.shape[0] - patch + 1, stride)
    cols = range(0, a.shape[1] - patch + 1, stride)
    out = np.stack([a[r:r + patch, c:c + patch] for r in rows for c in cols])
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
