"""Atomic file writing, shared by every writer in otmark.

Each function writes to a temporary file in the target's folder and moves it onto the target
with ``os.replace``: a reader (or a resumed run) sees the old file or the new one, never a
partial one, and a failed write leaves no temporary file behind. New files get the permissions a
plain ``open()`` would give them (``mkstemp`` alone would make them 0600).

Temporary files are named ``.<stem>.tmp.<random><suffix>`` (:func:`is_temporary_name`), so an
error about one (a full disk) can be reported against the folder of the file being written.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

#: the mark between the target's stem and the random part of a temporary file's name
TEMP_MARK = ".tmp."


def is_temporary_name(path: str | os.PathLike[str]) -> bool:
    """Whether ``path``'s file name is one :func:`atomic_path` gives its temporary files."""
    name = os.path.basename(os.fspath(path))
    return name.startswith(".") and TEMP_MARK in name


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same suffix); move it onto ``path`` on success.

    For writers that need a file name (``cv2.VideoWriter``, h5py, ``torch.save``): the temporary
    file keeps the target's suffix, so writers that choose a format from the name behave as for
    the final name. The parent folder is created.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.stem}{TEMP_MARK}", suffix=target.suffix, dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _umask_mode())
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def _errors_name(path: str | os.PathLike[str]) -> Iterator[None]:
    """Give an ``OSError`` raised without a file name (a full disk while writing) ``path``."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror or str(exc), os.fspath(path)) from exc
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes | memoryview) -> Path:
    """Write ``data`` to ``path`` atomically. An ``OSError`` (a full disk, a read-only folder)
    names ``path`` or the temporary file next to it."""
    with _errors_name(path), atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (line ends kept as given)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike[str], data: Any, indent: int | None = 1) -> Path:
    """``json.dumps(data)`` (keys sorted, trailing newline) to ``path`` atomically."""
    return write_text_atomic(path, json.dumps(data, indent=indent, sort_keys=True) + "\n")


def write_image_atomic(
    path: str | os.PathLike[str], image: np.ndarray, jpeg_quality: int = 95
) -> Path:
    """Encode an ``(H, W, 3)`` uint8 RGB image (or ``(H, W)`` grey) by the file suffix
    (``.png`` lossless, ``.jpg`` at ``jpeg_quality``) and write it atomically.

    Raises ``ValueError`` naming ``path`` for a wrong array or an unknown format.
    """
    import cv2  # lazy: keeps `otmark --help` (which imports otmark.atomic) free of cv2

    img = np.ascontiguousarray(image)
    if img.dtype != np.uint8 or not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise ValueError(f"{path}: expected an (H, W, 3) uint8 image, got {img.shape} {img.dtype}")
    suffix = Path(path).suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if suffix in (".jpg", ".jpeg") else []
    bgr = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    try:
        ok, buf = cv2.imencode(suffix, bgr, params)
    except cv2.error:
        ok = False
    if not ok:
        raise ValueError(f"{path}: OpenCV cannot encode an image as {suffix!r}")
    return write_bytes_atomic(path, buf.tobytes())


def save_torch_atomic(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (a crash, even SIGKILL, leaves the old file).

    The object is serialised in memory first, so that a full disk raises an ``OSError`` naming
    the file (``torch.save`` writing to a file reports it as an unspecific ``RuntimeError``).
    """
    import torch  # lazy: keeps `otmark --help` (which imports otmark.atomic) free of torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return write_bytes_atomic(path, buf.getbuffer())


def save_figure_atomic(fig: Any, path: str | os.PathLike[str], **savefig_kwargs: Any) -> Path:
    """``fig.savefig(**savefig_kwargs)`` (a matplotlib figure) to ``path`` atomically.

    The format follows ``path``'s suffix (the temporary file keeps it); the figure stays open.
    """
    with _errors_name(path), atomic_path(path) as tmp:
        fig.savefig(tmp, **savefig_kwargs)
    return Path(path)
