"""Detection inputs: one image, a folder of images, or a video, read as a stream of frames.

Every frame is an ``(H, W, 3)`` uint8 RGB array. Images carry ``frame=None``; video frames carry
their 0-based index in decoding order. An unreadable image or video raises :class:`InputError`
naming it; with ``on_error="skip"`` an unreadable image of a folder is left out and listed in an
:class:`InputReport` instead. The report also holds a video's frames decoded and frames announced
by its header (fewer decoded than announced: a truncated video).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from otmark.datasets.check import image_size_problem, truncation

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
ON_ERROR = ("raise", "skip")


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


@dataclass
class InputReport:
    """What reading an input left out.

    Attributes:
        skipped: ``(source, reason)`` of each image left out with ``on_error="skip"``.
        frames_announced: a video's frame count from its header (``None`` for images; 0 when the
            container declares none).
        frames_decoded: the frames of a video actually decoded (``None`` for images).
    """

    skipped: list[tuple[str, str]] = field(default_factory=list)
    frames_announced: int | None = None
    frames_decoded: int | None = None

    @property
    def truncated(self) -> bool:
        """Whether a video decoded fewer frames than its header announces."""
        if not self.frames_announced or self.frames_decoded is None:
            return False
        return self.frames_decoded < self.frames_announced

    def to_json(self) -> dict:
        """``{"skipped": [{"source", "reason"}, ...]}`` plus, for a video, ``"video"`` with
        ``frames_decoded``, ``frames_announced`` and ``truncated``."""
        doc: dict = {"skipped": [{"source": s, "reason": r} for s, r in self.skipped]}
        if self.frames_decoded is not None:
            doc["video"] = {
                "frames_decoded": int(self.frames_decoded),
                "frames_announced": int(self.frames_announced or 0),
                "truncated": self.truncated,
            }
        return doc


def image_problem(image: np.ndarray, min_size: bool = True) -> str | None:
    """What makes ``image`` unusable, else None: not an ``(H, W, 3)`` uint8 RGB array, empty
    (no pixel), or, with ``min_size`` (the image holds a face crop or a given face box),
    smaller than :data:`otmark.datasets.check.MIN_IMAGE_SIDE` on a side. The messages are
    the ones ``otmark detect`` prints (:func:`otmark.datasets.check.image_size_problem`)."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        return f"expected an (H, W, 3) uint8 RGB image, got {img.shape} {img.dtype}"
    h, w = img.shape[:2]
    if min_size or min(h, w) == 0:
        return image_size_problem(w, h)
    return None


def check_image(image: np.ndarray, min_size: bool = True, where: str | None = None) -> np.ndarray:
    """``image`` as an array; :class:`InputError` with :func:`image_problem`'s message (after
    ``"<where>: "`` when given) when it is unusable."""
    problem = image_problem(image, min_size)
    if problem is not None:
        raise InputError(f"{where}: {problem}" if where else problem)
    return np.asarray(image)


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
    p = Path(path)
    if p.is_symlink() and not p.exists():
        raise InputError(f"{p}: broken symbolic link (its target {os.readlink(p)} does not exist)")
    if not p.is_file():
        raise InputError(f"{p}: image file does not exist")
    try:
        data = np.fromfile(str(p), dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    problem = truncation(data.tobytes())  # decoders may fill a cut JPEG with grey silently
    if problem is not None:
        raise InputError(f"{p}: {problem}")
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise InputError(f"{p}: not a readable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def folder_videos(folder: str | os.PathLike[str], recursive: bool = False) -> list[Path]:
    """Video files in ``folder`` (by suffix, :data:`VIDEO_EXTENSIONS`), sorted: a folder input
    reads its images only, and reports these as skipped."""
    folder = Path(folder)
    found = folder.rglob("*") if recursive else folder.iterdir()
    videos = [p for p in found if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS]
    return sorted(videos, key=lambda p: p.relative_to(folder).as_posix())


def list_folder_images(folder: str | os.PathLike[str], recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (by suffix, see :data:`IMAGE_EXTENSIONS`), sorted by relative
    path; only those directly inside it unless ``recursive``. Broken symbolic links with an
    image suffix are listed too (reading them fails with their reason: they are not dropped
    silently)."""
    folder = Path(folder)
    found = folder.rglob("*") if recursive else folder.iterdir()
    files = [
        p
        for p in found
        if (p.is_file() or (p.is_symlink() and not p.exists()))
        and p.suffix.lower() in IMAGE_EXTENSIONS
    ]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def iter_video(path: str | os.PathLike[str], report: InputReport | None = None) -> Iterator[Frame]:
    """Frames of a video in decoding order (``frame`` = 0, 1, ...).

    Raises :class:`InputError` naming the file when it cannot be opened or has no decodable frame.
    ``report`` (optional) receives the frames announced by the header and the frames decoded.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: video file does not exist")
    report = report if report is not None else InputReport()
    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            raise InputError(f"{p}: not a readable video")
        report.frames_announced = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        report.frames_decoded = 0
        index = 0
        while True:
            ok, bgr = cap.read()
            if not ok or bgr is None:
                break
            index += 1
            report.frames_decoded = index
            yield Frame(p.name, index - 1, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        if index == 0:
            raise InputError(
                f"{p}: not a readable video (no frame could be decoded; the header announces "
                f"{report.frames_announced})"
            )
    finally:
        cap.release()


def video_fps(path: str | os.PathLike[str], default: float = 25.0) -> float:
    """The frame rate a video declares, or ``default`` when it declares none."""
    cap = cv2.VideoCapture(str(path))
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS)) if cap.isOpened() else 0.0
    finally:
        cap.release()
    return fps if np.isfinite(fps) and fps > 0 else default


def iter_frames(
    path: str | os.PathLike[str],
    recursive: bool = False,
    on_error: str = "raise",
    report: InputReport | None = None,
    min_size: bool = False,
) -> Iterator[Frame]:
    """Frames of any input: an image (one frame), a folder (its images, sorted; with
    ``recursive`` also those in sub-folders) or a video.

    Raises :class:`InputError` naming the offending file; an empty folder is an error too. With
    ``on_error="skip"`` an unreadable image (alone or in a folder) is left out and recorded in
    ``report.skipped``; a video is read up to its first undecodable frame either way (``report``
    gets its frames decoded and announced). With ``min_size`` (the whole image is the face
    crop), an image smaller than :data:`otmark.datasets.check.MIN_IMAGE_SIDE` on a side is
    refused like an unreadable one, and so is a video whose frames are.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    report = report if report is not None else InputReport()
    p = Path(path)
    kind = input_kind(p)
    if kind == "video":
        for frame in iter_video(p, report):
            if min_size and frame.frame == 0:
                h, w = frame.image.shape[:2]
                if (problem := image_size_problem(w, h)) is not None:
                    raise InputError(f"{p}: frame 0: {problem}")
            yield frame
        return
    if kind == "image":
        named = [(p.name, p)]
    else:
        files = list_folder_images(p, recursive)
        if not files:
            where = "or its sub-folders " if recursive else ""
            exts = ", ".join(sorted(IMAGE_EXTENSIONS))
            hint = "" if recursive else "; --recursive also reads sub-folders"
            raise InputError(f"{p}: folder {where}holds no image ({exts}){hint}")
        named = [(f.relative_to(p).as_posix(), f) for f in files]
        for video in folder_videos(p, recursive):  # listed, not dropped silently
            report.skipped.append(
                (video.relative_to(p).as_posix(), "a video: give it as an input of its own")
            )
    for name, f in named:
        try:
            image = read_image(f)
            if min_size and (problem := image_size_problem(*image.shape[1::-1])) is not None:
                raise InputError(f"{f}: {problem}")
        except InputError as exc:
            if on_error == "raise":
                raise
            prefix = f"{f}: "
            text = str(exc)
            report.skipped.append((name, text[len(prefix) :] if text.startswith(prefix) else text))
            continue
        yield Frame(name, None, image)
