"""Atomic file writing (temp file in the same folder + ``os.replace``) and image files."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same suffix); on success it replaces ``path``.

    For writers that need a file name (OpenCV's VideoWriter, h5py). The parent folder is created.
    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (``\\n`` line ends)."""
    write_bytes_atomic(path, text.encode("utf-8"))


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
    import cv2

    path = Path(path)
    img = as_rgb_uint8(image, str(path))
    params = (
        [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    )
    ok, buf = cv2.imencode(path.suffix, cv2.cvtColor(img, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError(f"{path}: could not encode the image as {path.suffix}")
    write_bytes_atomic(path, buf.tobytes())


def format_number(value: float) -> str:
    """Shortest decimal that reads back as exactly ``value`` (no exponent)."""
    return np.format_float_positional(float(value), unique=True, trim="-")
