"""File helpers of the dataset writers (atomic writing itself lives in :mod:`otmark.atomic`)."""

from __future__ import annotations

import os

import numpy as np

from otmark.atomic import atomic_path, write_bytes_atomic, write_image_atomic, write_text_atomic

__all__ = [
    "as_rgb_uint8",
    "atomic_path",
    "format_number",
    "write_bytes_atomic",
    "write_image",
    "write_text_atomic",
]


def as_rgb_uint8(image: np.ndarray, what: str = "image") -> np.ndarray:
    """Check/convert an image to ``(H, W, 3)`` uint8 (a ``(H, W)`` grey image is replicated)."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"{what}: expected uint8 pixels, got {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{what}: expected an (H, W, 3) RGB image, got shape {img.shape}")
    return img


def write_image(path: str | os.PathLike, image: np.ndarray, jpeg_quality: int = 95) -> None:
    """Encode an ``(H, W, 3)`` uint8 RGB image by the file suffix (``.png`` lossless, ``.jpg``)
    and write it atomically."""
    write_image_atomic(path, as_rgb_uint8(image, str(path)), jpeg_quality)


def format_number(value: float) -> str:
    """Shortest decimal that reads back as exactly ``value`` (no exponent)."""
    return np.format_float_positional(float(value), unique=True, trim="-")
