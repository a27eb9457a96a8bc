"""Atomic file writing: write to a temporary file in the target folder, then ``os.replace``.

A reader never sees a half-written output, and a failed write leaves no partial file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same suffix); move it onto ``path`` on success.

    The temporary file keeps the target's suffix, so writers that choose a format from the file
    name (``cv2.imwrite``, ``cv2.VideoWriter``) behave as for the final name. On an exception the
    temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.stem}.tmp.", suffix=target.suffix, dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``Path(path)``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_image_atomic(path: str | os.PathLike[str], image_rgb) -> Path:
    """Write an ``(H, W, 3)`` uint8 RGB image atomically; the format follows ``path``'s suffix.

    Raises ``OSError`` naming ``path`` when OpenCV cannot encode it.
    """
    import cv2
    import numpy as np

    img = np.ascontiguousarray(image_rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"{path}: expected an (H, W, 3) uint8 image, got {img.shape} {img.dtype}")
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{path}: OpenCV could not write this image format")
    return Path(path)
