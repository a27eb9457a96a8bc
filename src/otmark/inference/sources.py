"""Detection inputs: one image, a folder of images, or a video, read as a stream of frames.

Every frame is an ``(H, W, 3)`` uint8 RGB array. Images carry ``frame=None``; video frames carry
their 0-based index in decoding order. An unreadable image or video raises :class:`InputError`
naming it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})


class InputError(ValueError):
    """An input that does not exist or cannot be decoded; the message names it."""


@dataclass
class Frame:
    """One image to detect on.

    Attributes:
        source: the image's name (relative to the input folder for folders; the file name for a
            single image or video).
        frame: 0-based frame index for videos, ``None`` for images.
        image: ``(H, W, 3)`` uint8 RGB.
    """

    source: str
    frame: int | None
    image: np.ndarray


def input_kind(path: str | os.PathLike[str]) -> str:
    """``"folder"``, ``"video"`` or ``"image"``, from the path (a folder, or the file suffix)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: input does not exist")
    if p.is_dir():
        return "folder"
    if p.suffix.lower() in VIDEO_EXTENSIONS:
        return "video"
    return "image"


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode an image file -> ``(H, W, 3)`` uint8 RGB; :class:`InputError` naming it if not."""
    import cv2

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: image file does not exist")
    data = np.fromfile(str(p), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise InputError(f"{p}: not a readable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def list_folder_images(folder: str | os.PathLike[str], recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (by suffix, see :data:`IMAGE_EXTENSIONS`), sorted by relative
    path; only those directly inside it unless ``recursive``."""
    folder = Path(folder)
    found = folder.rglob("*") if recursive else folder.iterdir()
    files = [p for p in found if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def iter_video(path: str | os.PathLike[str]) -> Iterator[Frame]:
    """Frames of a video in decoding order (``frame`` = 0, 1, ...).

    Raises :class:`InputError` naming the file when it cannot be opened or has no decodable frame.
    """
    import cv2

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: video file does not exist")
    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            raise InputError(f"{p}: not a readable video")
        index = 0
        while True:
            ok, bgr = cap.read()
            if not ok or bgr is None:
                break
            yield Frame(p.name, index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
        if index == 0:
            raise InputError(f"{p}: not a readable video (no frame could be decoded)")
    finally:
        cap.release()


def video_fps(path: str | os.PathLike[str], default: float = 25.0) -> float:
    """The frame rate a video declares, or ``default`` when it declares none."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS)) if cap.isOpened() else 0.0
    finally:
        cap.release()
    return fps if np.isfinite(fps) and fps > 0 else default


def iter_frames(path: str | os.PathLike[str], recursive: bool = False) -> Iterator[Frame]:
    """Frames of any input: an image (one frame), a folder (its images, sorted; with
    ``recursive`` also those in sub-folders) or a video.

    Raises :class:`InputError` naming the offending file; an empty folder is an error too.
    """
    p = Path(path)
    kind = input_kind(p)
    if kind == "image":
        yield Frame(p.name, None, read_image(p))
    elif kind == "folder":
        files = list_folder_images(p, recursive)
        if not files:
            where = "or its sub-folders " if recursive else ""
            exts = ", ".join(sorted(IMAGE_EXTENSIONS))
            hint = "" if recursive else "; --recursive also reads sub-folders"
            raise InputError(f"{p}: folder {where}holds no image ({exts}){hint}")
        for f in files:
            yield Frame(f.relative_to(p).as_posix(), None, read_image(f))
    else:
        yield from iter_video(p)
