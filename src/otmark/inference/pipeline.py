"""Detection over a whole input (image, folder or video) with its output files.

Outputs written to ``out_dir`` (all atomically):

* ``landmarks.json`` and ``landmarks.csv`` (formats in :mod:`otmark.inference.results`);
* overlays: for images, ``overlays/<name>.png`` (the image's relative path, suffix ``.png``);
  for a video, ``<video stem>_landmarks.mp4`` (or ``.avi``) with the landmarks drawn.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from otmark.inference.boxes import lookup_boxes, validate_boxes, whole_image_box
from otmark.inference.detector import Detector
from otmark.inference.overlay import VideoOverlayWriter, draw_faces
from otmark.inference.results import FrameResult, write_results_csv, write_results_json
from otmark.inference.sources import Frame, input_kind, iter_frames, video_fps

#: ``boxes_for(frame) -> (N, 4)`` boxes, or None to let the detector find the faces
BoxSource = Callable[[Frame], "np.ndarray | None"]


def fixed_boxes(boxes: np.ndarray) -> BoxSource:
    """A box source giving the same boxes ``(N, 4)`` to every image/frame."""
    b = validate_boxes(boxes)
    return lambda frame: b


def table_boxes(table: dict[str, np.ndarray]) -> BoxSource:
    """A box source reading a box table (:func:`otmark.inference.boxes.load_box_file`).

    Images/frames absent from the table get no box (recorded with ``faces: []``).
    """
    return lambda frame: lookup_boxes(table, frame.source, frame.frame)


def whole_image_boxes(frame: Frame) -> np.ndarray:
    """A box source treating every image/frame as one face crop (the whole image is the box)."""
    return whole_image_box(frame.image)


def found_boxes(frame: Frame) -> None:
    """The default box source: let the detector's face finder (Haar cascade) find faces."""
    return None


def detect_frames(
    detector: Detector,
    frames: Iterable[Frame],
    boxes_for: BoxSource = found_boxes,
    chunk: int | None = None,
) -> Iterator[tuple[Frame, FrameResult]]:
    """Run the detector on each frame; yields ``(frame, result)`` in input order.

    Frames are taken ``chunk`` at a time (default: the detector's ``batch_size``) so that the
    faces of consecutive frames share backend batches.
    """
    size = chunk or detector.batch_size
    it = iter(frames)
    while group := list(itertools.islice(it, size)):
        faces = detector.detect_many([f.image for f in group], [boxes_for(f) for f in group])
        for frame, found in zip(group, faces):
            h, w = frame.image.shape[:2]
            yield frame, FrameResult(frame.source, frame.frame, w, h, found)


@dataclass
class DetectionRun:
    """What :func:`run_detection` produced: the results and the files it wrote."""

    results: list[FrameResult]
    files: list[Path] = field(default_factory=list)

    @property
    def num_faces(self) -> int:
        """Total faces over all images/frames."""
        return sum(len(r.faces) for r in self.results)


def overlay_png_path(out_dir: Path, source: str, taken: set[Path] | None = None) -> Path:
    """Where the overlay of image ``source`` (a relative name) goes: ``overlays/<name>.png``.

    When that path is in ``taken`` (``a.jpg`` after ``a.png``), the source suffix is kept in the
    name instead: ``overlays/a_jpg.png``. The chosen path is added to ``taken``.
    """
    src = Path(source)
    path = out_dir / "overlays" / src.with_suffix(".png")
    if taken is not None:
        if path in taken:
            path = path.with_name(f"{src.stem}_{src.suffix.lstrip('.').lower()}.png")
        taken.add(path)
    return path


def run_detection(
    detector: Detector,
    input_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    boxes_for: BoxSource = found_boxes,
    overlays: bool = True,
    video_suffix: str = ".mp4",
    progress: Callable[[FrameResult], None] | None = None,
    recursive: bool = False,
) -> DetectionRun:
    """Detect landmarks on every image/frame of ``input_path`` and write the outputs.

    Args:
        detector: the landmark detector.
        input_path: an image, a folder of images or a video.
        out_dir: output folder (created).
        boxes_for: where face boxes come from (:func:`fixed_boxes`, :func:`table_boxes`, or the
            detector's face finder by default).
        overlays: also write overlay PNGs (images) or an overlay video (video input).
        video_suffix: ``".mp4"`` or ``".avi"`` for the overlay video.
        progress: called with each frame's result as it is done.
        recursive: for a folder, also read the images in its sub-folders.

    Raises:
        otmark.inference.sources.InputError naming an unreadable input.
    """
    input_path = Path(input_path)
    out = Path(out_dir)
    kind = input_kind(input_path)
    run = DetectionRun(results=[])
    frames = iter_frames(input_path, recursive=recursive)

    def consume(pairs: Iterable[tuple[Frame, FrameResult]], on_frame) -> None:
        for frame, result in pairs:
            run.results.append(result)
            if on_frame is not None:
                on_frame(frame, result)
            if progress is not None:
                progress(result)

    if kind == "video" and overlays:
        path = out / f"{input_path.stem}_landmarks{video_suffix}"
        with VideoOverlayWriter(path, video_fps(input_path)) as writer:
            consume(
                detect_frames(detector, frames, boxes_for),
                lambda f, r: writer.write(draw_faces(f.image, r.faces)),
            )
        run.files.append(path)
    elif overlays:
        from otmark.atomic import write_image_atomic

        taken: set[Path] = set()

        def save(frame: Frame, result: FrameResult) -> None:
            path = overlay_png_path(out, frame.source, taken)
            run.files.append(write_image_atomic(path, draw_faces(frame.image, result.faces)))

        consume(detect_frames(detector, frames, boxes_for), save)
    else:
        consume(detect_frames(detector, frames, boxes_for), None)

    k, scheme = detector.num_landmarks, detector.scheme.name
    json_path = write_results_json(out / "landmarks.json", run.results, scheme, k)
    csv_path = write_results_csv(out / "landmarks.csv", run.results, k)
    run.files[:0] = [json_path, csv_path]
    return run
