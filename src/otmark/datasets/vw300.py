"""300VW: one folder per video with ``vid.avi`` and ``annot/000001.pts``, ...

Layout under ``root``: ``<video id>/vid.avi`` and ``<video id>/annot/<n>.pts`` where ``n`` is the
**1-based** frame number (6 digits); ``ImageRef(vid.avi, frame=n - 1)`` is 0-based.

Splits (:mod:`otmark.datasets.vw300_lists`): ``train`` (50 videos), ``test1`` / ``test2`` /
``test3`` (the challenge's categories: 31 / 19 / 14 videos) and ``test`` (all 64). Rules:

- Standard-list videos absent from ``root`` are left out without an error (a partial download
  still loads) and listed in ``LoadResult.excluded``; if *none* of the split's videos is present,
  :class:`DatasetError` is raised. With an explicit ``videos=[...]`` a missing video is an error.
- mmpose's known broken frames are left out and listed in ``LoadResult.excluded`` (pass
  ``skip_broken=False`` to keep them).
- A video whose ``vid.avi`` is missing or has no decodable frames, and an annotation whose frame
  number exceeds the video's frame count, are errors (``on_error`` decides).

Sample ids are ``<video id>/<6-digit frame number>``; ``attributes`` hold ``video`` and
``frame_number`` (1-based). Loading opens each video once to read its frame count but decodes no
frame.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from otmark.datasets.common import check_landmarks, check_split, existing_root
from otmark.datasets.errors import Collector, DatasetError, LoadResult
from otmark.datasets.fileio import as_rgb_uint8, atomic_path
from otmark.datasets.pts import read_pts, write_pts
from otmark.datasets.records import ImageRef, Sample
from otmark.datasets.vw300_lists import SPLIT_VIDEOS, broken_frames
from otmark.schemes import get_scheme

SCHEME = "300vw"
VIDEO_NAME = "vid.avi"
ANNOT_DIR = "annot"
SPLITS: tuple[str, ...] = tuple(SPLIT_VIDEOS)


def video_frame_count(path: Path) -> int:
    """Number of frames OpenCV reports for a video (0 if it cannot be opened)."""
    import cv2  # lazy: keeps `otmark --help` (which imports otmark.datasets) free of cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return 0
        return max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
    finally:
        cap.release()


def _load_video(folder: Path, video: str, collector: Collector, skip_broken: bool) -> None:
    k = get_scheme(SCHEME).num_points
    avi = folder / VIDEO_NAME
    annot = folder / ANNOT_DIR
    if not annot.is_dir():
        collector.fail(DatasetError(annot, f"300VW video {video} has no annotation folder"))
        return
    pts_files = sorted(annot.glob("*.pts"))
    if not pts_files:
        collector.fail(DatasetError(annot, f"300VW video {video} has no .pts annotations"))
        return
    if not avi.is_file():
        collector.fail(DatasetError(avi, "video file does not exist"))
        return
    n_frames = video_frame_count(avi)
    if n_frames == 0:
        collector.fail(DatasetError(avi, "video has no decodable frames"))
        return
    broken = broken_frames(video) if skip_broken else frozenset()
    for pts in pts_files:
        try:
            number = int(pts.stem)
        except ValueError:
            collector.fail(DatasetError(pts, "annotation name is not a frame number"))
            continue
        if number in broken:
            collector.exclude(str(pts), "known broken frame (mmpose list)")
            continue
        try:
            if not 1 <= number <= n_frames:
                raise DatasetError(pts, f"frame {number} is beyond the video's {n_frames} frames")
            landmarks = read_pts(pts, num_points=k)
        except DatasetError as exc:
            collector.fail(exc)
            continue
        collector.add(
            Sample(
                ImageRef(avi, frame=number - 1),
                landmarks,
                SCHEME,
                attributes={"video": video, "frame_number": number},
                id=f"{video}/{number:06d}",
            )
        )


def load_300vw(
    root: str | os.PathLike,
    split: str,
    on_error: str = "raise",
    videos: Sequence[str] | None = None,
    skip_broken: bool = True,
) -> LoadResult:
    """Load 300VW frames (see the module docstring) as ``(68, 2)``-landmark samples.

    Args:
        root: folder holding one sub-folder per video.
        split: ``train``, ``test1``, ``test2``, ``test3`` or ``test``; ignored when ``videos``
            is given.
        on_error: ``"raise"`` or ``"skip"`` for per-frame and per-video problems.
        videos: explicit video ids (each must exist).
        skip_broken: leave out mmpose's known broken frames.
    """
    base = existing_root(root)
    collector = Collector(on_error)
    if videos is None:
        check_split("300vw", split, SPLITS)
        listed = SPLIT_VIDEOS[split]
        present = [v for v in listed if (base / v).is_dir()]
        for v in listed:
            if v not in present:
                collector.exclude(str(base / v), "video not present in root")
        if not present:
            raise DatasetError(
                base, f"none of the {len(listed)} videos of 300VW split {split!r} found"
            )
    else:
        present = [str(v) for v in videos]
        for v in present:
            if not (base / v).is_dir():
                raise DatasetError(base / v, "300VW video folder does not exist")
    for v in present:
        _load_video(base / v, v, collector, skip_broken)
    return collector.result


def write_300vw_video(
    root: str | os.PathLike,
    video: str,
    frames: Sequence[np.ndarray],
    landmarks: Sequence[np.ndarray | None],
    fps: float = 25.0,
    quality: int = 100,
) -> Path:
    """Write one 300VW video folder: ``vid.avi`` (MJPG) and ``annot/<n>.pts``.

    Args:
        root: dataset root.
        video: video id (folder name).
        frames: ``T`` images ``(H, W, 3)`` uint8 RGB, all the same size.
        landmarks: ``T`` entries, each ``(68, 2)`` 0-based or ``None`` (frame not annotated).
        fps: frame rate stored in the file.
        quality: MJPG quality 0-100.
    Returns:
        the video folder.
    """
    import cv2  # lazy: keeps `otmark --help` (which imports otmark.datasets) free of cv2

    if len(frames) == 0 or len(frames) != len(landmarks):
        raise ValueError(
            f"need one landmark entry per frame, got {len(frames)} frames and "
            f"{len(landmarks)} landmark entries"
        )
    k = get_scheme(SCHEME).num_points
    imgs = [as_rgb_uint8(f, f"frame {i}") for i, f in enumerate(frames)]
    h, w = imgs[0].shape[:2]
    if any(im.shape[:2] != (h, w) for im in imgs):
        raise ValueError("all frames of a video must have the same size")
    lms = [
        None if lm is None else check_landmarks(lm, k, f"frame {i}")
        for i, lm in enumerate(landmarks)
    ]
    folder = Path(root) / video
    with atomic_path(folder / VIDEO_NAME) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), float(fps), (w, h))
        if not writer.isOpened():
            raise ValueError(f"{folder / VIDEO_NAME}: OpenCV cannot write MJPG video")
        try:
            writer.set(cv2.VIDEOWRITER_PROP_QUALITY, float(quality))
            for im in imgs:
                writer.write(cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
    for i, lm in enumerate(lms):
        if lm is not None:
            write_pts(folder / ANNOT_DIR / f"{i + 1:06d}.pts", lm)
    return folder
