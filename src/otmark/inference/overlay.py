"""Overlays: landmarks and face boxes drawn on images, written as PNGs or as a video.

Drawing is sub-pixel: OpenCV's ``shift`` argument places each dot at its float coordinate
(pixel centres at integers, like the landmarks).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from otmark.atomic import atomic_path
from otmark.inference.results import Face

_SHIFT = 4  # fractional bits for cv2 drawing: 1/16 px resolution
_ONE = 1 << _SHIFT

#: video container suffix -> FourCC code that OpenCV's bundled FFmpeg can encode
VIDEO_CODECS = {".mp4": "mp4v", ".avi": "MJPG"}


def _fixed(values: np.ndarray) -> tuple[int, ...]:
    return tuple(int(round(float(v) * _ONE)) for v in values)


def draw_faces(
    image: np.ndarray,
    faces: list[Face],
    point_color: tuple[int, int, int] = (0, 255, 0),
    box_color: tuple[int, int, int] = (255, 160, 0),
    radius: float | None = None,
    draw_boxes: bool = True,
) -> np.ndarray:
    """A copy of ``image: (H, W, 3)`` uint8 RGB with each face's landmarks (and box) drawn.

    ``radius`` defaults to 1 % of the face box side (at least 1 px). Colours are RGB.
    """
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    for face in faces:
        box = np.asarray(face.box, dtype=np.float64).reshape(4)
        side = max(box[2] - box[0], box[3] - box[1])
        r = radius if radius is not None else max(1.0, 0.01 * side)
        thickness = max(1, int(round(r / 2)))
        if draw_boxes:
            cv2.rectangle(
                out, _fixed(box[:2]), _fixed(box[2:]), box_color, thickness, cv2.LINE_AA, _SHIFT
            )
        for x, y in np.asarray(face.landmarks, dtype=np.float64).reshape(-1, 2):
            if np.isfinite(x) and np.isfinite(y):
                cv2.circle(
                    out, _fixed((x, y)), int(round(r * _ONE)), point_color, -1, cv2.LINE_AA, _SHIFT
                )
    return out


class VideoOverlayWriter:
    """Write frames to a video file atomically (a temporary file moved into place on close).

    The container follows ``path``'s suffix (``.mp4``: MPEG-4 part 2; ``.avi``: Motion-JPEG).
    Use as a context manager; if the block raises, the temporary file is removed and ``path`` is
    left untouched. The frame size is fixed by the first frame; later frames of another size are
    resized to it.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in VIDEO_CODECS:
            raise ValueError(f"{self.path}: video output must end in {sorted(VIDEO_CODECS)}")
        self.fps = float(fps)
        self.frames_written = 0
        self._stack = contextlib.ExitStack()
        self._tmp: Path | None = None
        self._writer = None
        self._size: tuple[int, int] | None = None

    def __enter__(self) -> VideoOverlayWriter:
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        return self

    def write(self, image: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` uint8 RGB frame."""
        if self._tmp is None:
            raise RuntimeError("VideoOverlayWriter.write() outside its `with` block")
        h, w = image.shape[:2]
        if self._writer is None:
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_CODECS[self.path.suffix.lower()])
            self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, (w, h))
            if not self._writer.isOpened():
                raise OSError(f"{self.path}: OpenCV could not open a video writer")
            self._size = (w, h)
        if (w, h) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._writer is not None:
            self._writer.release()
        if exc_type is None and self.frames_written == 0:
            err = ValueError(f"{self.path}: no frame to write")
            self._stack.__exit__(ValueError, err, None)  # removes the temporary file
            raise err
        self._stack.__exit__(exc_type, exc, tb)
