"""Detection over a whole input (image, folder or video) with its output files.

Outputs written to ``out_dir`` (all atomically):

* ``landmarks.json`` and ``landmarks.csv`` (formats in :mod:`otmark.inference.results`);
* overlays: for images, ``overlays/<name>.png`` (the image's relative path, suffix ``.png``);
  for a video, ``<video stem>_landmarks.mp4`` (or ``.avi``) with the landmarks drawn.

``landmarks.json`` also records what the input left out (:class:`InputReport`): images skipped
with ``on_error="skip"`` (``"skipped"``: source and reason) and, for a video, the frames decoded
and announced (``"video"``). Given boxes (``--box``, a box file) lying entirely outside an image
raise :class:`InputError`; :func:`box_table_coverage` tells which keys of a box file match the
input at all.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from otmark.atomic import write_image_atomic
from otmark.inference.annotations import score_video, video_annotations
from otmark.inference.boxes import (
    check_face_boxes,
    lookup_boxes,
    validate_boxes,
    whole_image_box,
)
from otmark.inference.detector import Detector
from otmark.inference.overlay import VideoOverlayWriter, draw_faces
from otmark.inference.results import FrameResult, write_results_csv, write_results_json
from otmark.inference.sources import (
    Frame,
    InputError,
    InputReport,
    input_kind,
    iter_frames,
    list_folder_images,
    video_fps,
)
from otmark.inference.tracking import FaceTracker, VideoOptions, smooth_results, track_frames

#: ``boxes_for(frame) -> (N, 4)`` boxes, or None to let the detector find the faces
BoxSource = Callable[[Frame], "np.ndarray | None"]


def check_boxes_overlap(boxes: np.ndarray, frame: Frame, label: str) -> np.ndarray:
    """``boxes (N, 4)`` unchanged; :class:`InputError` naming ``label`` (e.g. ``"--box"``) and
    the image when one lies entirely outside it (the image covers ``[-0.5, W - 0.5] x
    [-0.5, H - 0.5]``): its landmarks would be guesses outside the image."""
    where = frame.source if frame.frame is None else f"{frame.source} frame {frame.frame}"
    check_face_boxes(boxes, frame.image, label, where)  # the Python API's check too
    return boxes


def fixed_boxes(boxes: np.ndarray, label: str = "--box") -> BoxSource:
    """A box source giving the same boxes ``(N, 4)`` to every image/frame (a box entirely
    outside an image raises :class:`InputError` naming ``label``)."""
    b = validate_boxes(boxes)
    return lambda frame: check_boxes_overlap(b, frame, label)


def table_boxes(table: dict[str, np.ndarray], label: str = "box file") -> BoxSource:
    """A box source reading a box table (:func:`otmark.inference.boxes.load_box_file`).

    Images/frames absent from the table get no box (recorded with ``faces: []``); a box
    entirely outside its image raises :class:`InputError` naming ``label``.
    """
    return lambda frame: check_boxes_overlap(
        lookup_boxes(table, frame.source, frame.frame), frame, f"{label}: box"
    )


def box_table_coverage(
    table: dict[str, np.ndarray], input_path: str | os.PathLike[str], recursive: bool = False
) -> tuple[list[str], list[str]]:
    """``(matched, unmatched)`` keys of a box table for an input, before any decoding.

    Images match by relative name or bare file name (as :func:`lookup_boxes` looks them up);
    video frames by their 0-based index below the frame count the header announces (any
    index when it announces none).
    """
    p = Path(input_path)
    kind = input_kind(p)
    if kind == "video":
        cap = cv2.VideoCapture(str(p))
        try:
            announced = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0) if cap.isOpened() else 0
        finally:
            cap.release()

        def ok(key: str) -> bool:
            return (
                key.isdigit() and str(int(key)) == key and (not announced or int(key) < announced)
            )

    else:
        files = [p] if kind == "image" else list_folder_images(p, recursive)
        names = {p.name} if kind == "image" else set()
        for f in files:
            if kind == "folder":
                names.add(f.relative_to(p).as_posix())
            names.add(f.name)

        def ok(key: str) -> bool:
            return key in names

    matched = [k for k in table if ok(k)]
    unmatched = [k for k in table if not ok(k)]
    return matched, unmatched


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


def video_pairs(
    detector: Detector,
    frames: Iterable[Frame],
    boxes_for: BoxSource,
    options: VideoOptions | None,
    fps: float,
    info: dict | None = None,
) -> Iterator[tuple[Frame, FrameResult]]:
    """The results of a video's frames, in order.

    With ``options`` tracking and faces from the face finder (``boxes_for`` is
    :func:`found_boxes`): a :class:`otmark.inference.tracking.FaceTracker` over the frames; with
    given boxes (or ``track`` off): :func:`detect_frames`, smoothed
    (:func:`otmark.inference.tracking.smooth_results`) when ``options.smooth``. Without
    ``options``: :func:`detect_frames`. ``info`` receives ``"tracking"``: the options, whether
    the frames were tracked and the frames where the finder ran.
    """
    if options is None:
        yield from detect_frames(detector, frames, boxes_for)
        return
    tracked = options.track and boxes_for is found_boxes
    finder_frames: list[int] = []
    if info is not None:
        info["tracking"] = {**options.to_json(), "tracked": tracked}
        if tracked:
            info["tracking"]["finder_frames"] = finder_frames
    if tracked:
        tracker = FaceTracker(
            detector,
            threshold=options.threshold,
            redetect_every=options.redetect_every,
            max_faces=options.max_faces,
            smoother=options.smoother(),
            fps=fps,
        )
        for frame, result, step in track_frames(tracker, frames):
            if step.found:
                finder_frames.append(int(frame.frame or 0))
            yield frame, result
        return
    pairs = detect_frames(detector, frames, boxes_for)
    smoother = options.smoother()
    yield from pairs if smoother is None else smooth_results(pairs, smoother, fps)


@dataclass
class DetectionRun:
    """What :func:`run_detection` produced: the results and the files it wrote."""

    results: list[FrameResult]
    files: list[Path] = field(default_factory=list)
    report: InputReport = field(default_factory=InputReport)
    #: one entry per video input: ``source``, frames decoded/announced and ``tracking``
    videos: list[dict] = field(default_factory=list)

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
    input_path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    boxes_for: BoxSource = found_boxes,
    overlays: bool = True,
    video_suffix: str = ".mp4",
    progress: Callable[[FrameResult], None] | None = None,
    recursive: bool = False,
    on_error: str = "raise",
    min_size: bool | None = None,
    video: VideoOptions | None = None,
) -> DetectionRun:
    """Detect landmarks on every image/frame of ``input_path`` and write the outputs.

    Args:
        detector: the landmark detector.
        input_path: an image, a folder of images or a video, or a list of them (one
            ``landmarks.json`` for all; a folder's images are then named ``FOLDER/NAME``, and
            two inputs giving the same name are refused).
        out_dir: output folder (created).
        boxes_for: where face boxes come from (:func:`fixed_boxes`, :func:`table_boxes`, or the
            detector's face finder by default).
        overlays: also write overlay PNGs (images) or an overlay video (video input).
        video_suffix: ``".mp4"`` or ``".avi"`` for the overlay video.
        progress: called with each frame's result as it is done.
        recursive: for a folder, also read the images in its sub-folders.
        on_error: ``"raise"`` (an unreadable image stops the run) or ``"skip"`` (it is left out
            and listed in ``run.report.skipped`` and in ``landmarks.json``).
        min_size: refuse (or skip) images smaller than
            :data:`otmark.datasets.check.MIN_IMAGE_SIDE` on a side, as unreadable ones are;
            default: unless ``boxes_for`` is :func:`found_boxes` (the image is the face crop,
            or it holds given boxes).
        video: tracking and smoothing of videos (:class:`otmark.inference.tracking.VideoOptions`;
            None: every frame on its own, as for images). ``landmarks.json`` records the options
            and the frames where the face finder ran under ``"tracking"``, and the NME and
            jitter against the annotations of a 300VW-layout video under ``"evaluation"``
            (:mod:`otmark.inference.annotations`); ``"videos"``, one entry per video, for
            several inputs.

    Raises:
        otmark.inference.sources.InputError naming an unreadable input (or, with
        ``on_error="skip"``, an input where no image at all could be read), or a given box
        entirely outside its image.
    """
    paths = (
        [Path(input_path)]
        if isinstance(input_path, str | os.PathLike)
        else [Path(p) for p in input_path]
    )
    if not paths:
        raise InputError("no input given")
    out = Path(out_dir)
    run = DetectionRun(results=[])
    if min_size is None:  # the image holds a crop or a given box: a face finder finds none
        min_size = boxes_for is not found_boxes
    several = len(paths) > 1
    sources: dict[str, Path] = {}
    taken: set[Path] = set()
    videos: list[dict] = []

    def renamed(frames: Iterable[Frame], path: Path, prefix: str) -> Iterator[Frame]:
        for frame in frames:
            if prefix:
                frame = replace(frame, source=prefix + frame.source)
            if frame.frame is None or frame.frame == 0:
                if frame.source in sources and sources[frame.source] != path:
                    raise InputError(
                        f"{path}: an earlier input ({sources[frame.source]}) already gave an "
                        f"image named {frame.source!r}; detect on them in separate runs"
                    )
                sources[frame.source] = path
            yield frame

    def consume(pairs: Iterable[tuple[Frame, FrameResult]], on_frame) -> None:
        for frame, result in pairs:
            run.results.append(result)
            if on_frame is not None:
                on_frame(frame, result)
            if progress is not None:
                progress(result)

    for path in paths:
        kind = input_kind(path)
        report = InputReport() if several else run.report
        prefix = f"{path.name}/" if several and kind == "folder" else ""
        frames = renamed(
            iter_frames(
                path, recursive=recursive, on_error=on_error, report=report, min_size=min_size
            ),
            path,
            prefix,
        )
        info: dict = {}
        start = len(run.results)
        if kind == "video":
            fps = video_fps(path)
            pairs = video_pairs(detector, frames, boxes_for, video, fps, info)
        else:
            pairs = detect_frames(detector, frames, boxes_for)
        if kind == "video" and overlays:
            overlay = out / f"{path.stem}_landmarks{video_suffix}"
            with VideoOverlayWriter(overlay, fps) as writer:
                consume(pairs, lambda f, r: writer.write(draw_faces(f.image, r.faces)))
            run.files.append(overlay)
        elif overlays:

            def save(frame: Frame, result: FrameResult) -> None:
                png = overlay_png_path(out, frame.source, taken)
                run.files.append(write_image_atomic(png, draw_faces(frame.image, result.faces)))

            consume(pairs, save)
        else:
            consume(pairs, None)
        if kind == "video":
            truth = video_annotations(path)  # 300VW layout: annot/*.pts beside the video
            if truth is not None:
                info["evaluation"] = score_video(run.results[start:], truth, detector.scheme.name)
            videos.append({"source": path.name, **report.to_json().get("video", {}), **info})
        if several:
            run.report.skipped += [(prefix + s, r) for s, r in report.skipped]

    if not run.results and run.report.skipped:
        source, reason = run.report.skipped[0]
        where = paths[0] if not several else ", ".join(map(str, paths))
        raise InputError(
            f"{where}: none of the {len(run.report.skipped)} image(s) could be read "
            f"(e.g. {source}: {reason})"
        )
    run.videos = videos
    extra = run.report.to_json()
    if several and videos:
        extra["videos"] = videos
    elif videos:
        extra.update({k: videos[0][k] for k in ("tracking", "evaluation") if k in videos[0]})
    k, scheme = detector.num_landmarks, detector.scheme.name
    json_path = write_results_json(out / "landmarks.json", run.results, scheme, k, extra=extra)
    csv_path = write_results_csv(out / "landmarks.csv", run.results, k)
    run.files[:0] = [json_path, csv_path]
    return run
