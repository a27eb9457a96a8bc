"""Face boxes for detection: given on the command line, read from a file, or found by OpenCV.

A box is ``(x0, y0, x1, y1)`` in image pixel coordinates (pixel centres at integers, like the
landmarks). Boxes given by the user are taken to follow the **training convention**: the tight box
around the face's landmarks (what the crop's centre/scale are computed from). Boxes found by the
Haar cascade follow OpenCV's own convention and are adapted to the training one by
:func:`adapt_haar_boxes`. OpenCV 5 no longer ships the Haar cascades in its main package: there
:class:`HaarFaceDetector` raises :class:`FaceFinderUnavailable` and boxes must be given.

Box files map an image name or a video frame index to boxes:

* JSON: ``{"img_001.jpg": [[x0, y0, x1, y1], ...], "17": [[...]], "other.png": []}``; a single
  box may be given as a flat list of 4 numbers.
* CSV: header ``name,x0,y0,x1,y1``, one row per box (several rows per name allowed).

Names are image file names (relative to the input folder, or the bare file name) or 0-based frame
indices of a video written as integers.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from otmark.datasets.check import MIN_IMAGE_SIDE
from otmark.inference.sources import InputError, check_image
from otmark.jsonfile import read_json

#: Where OpenCV ships its frontal-face Haar cascade.
HAAR_CASCADE_FILE = "haarcascade_frontalface_default.xml"
#: a face box's larger side must be at least this many pixels (like an image holding a face
#: crop, :data:`otmark.datasets.check.MIN_IMAGE_SIDE`)
MIN_FACE_SIDE = MIN_IMAGE_SIDE


def validate_boxes(boxes: np.ndarray, where: str = "boxes") -> np.ndarray:
    """Return ``boxes`` as a float64 ``(N, 4)`` array; raise ``ValueError`` naming ``where``.

    Each box must be finite with ``x1 > x0`` and ``y1 > y0``.
    """
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None]
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{where}: expected boxes of 4 numbers x0,y0,x1,y1, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: box coordinates must be finite numbers")
    bad = (arr[:, 2] <= arr[:, 0]) | (arr[:, 3] <= arr[:, 1])
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{where}: box {arr[i].tolist()} needs x1 > x0 and y1 > y0")
    return arr


def box_text(box: np.ndarray) -> str:
    """``x0,y0,x1,y1`` as ``--box`` takes it (for messages)."""
    return ",".join(f"{float(v):g}" for v in np.asarray(box).reshape(-1))


def box_problem(box: np.ndarray, width: int, height: int, label: str = "box") -> str | None:
    """What makes a face box ``(4,)`` unusable on a ``width`` x ``height`` image, else None:
    lying entirely outside it (the image covers ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``; its
    landmarks would be guesses in the padding) or a larger side below :data:`MIN_FACE_SIDE`
    pixels. ``label`` starts the message (``"--box"``, ``"box"``...)."""
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    if x1 <= -0.5 or x0 >= width - 0.5 or y1 <= -0.5 or y0 >= height - 0.5:
        return f"{label} {box_text(box)} lies entirely outside the {width}x{height} image"
    side = max(x1 - x0, y1 - y0)
    if side < MIN_FACE_SIDE:
        return (
            f"{label} {box_text(box)} is {side:g} pixels on its larger side, smaller than "
            f"the {MIN_FACE_SIDE}-pixel minimum face"
        )
    return None


def check_face_boxes(
    boxes: np.ndarray, image: np.ndarray, label: str = "box", where: str | None = None
) -> np.ndarray:
    """The one check of given face boxes, for ``otmark detect`` and the Python API alike.

    Args:
        boxes: ``(N, 4)`` (or ``(4,)``) boxes ``x0, y0, x1, y1``.
        image: the ``(H, W, 3)`` uint8 image they are on.
        label: names the boxes in messages (``"--box"``, ``"box file: box"``, ``"box"``).
        where: names the image in messages (its file, or ``"<file> frame <n>"``), or None.
    Returns:
        the boxes as float64 ``(N, 4)`` (:func:`validate_boxes`).
    Raises:
        InputError: the image is not an ``(H, W, 3)`` uint8 array or, with boxes, smaller than
            :data:`otmark.datasets.check.MIN_IMAGE_SIDE` on a side (``"<where>: image is 1x1
            pixels, smaller than 8x8"``); a box lies entirely outside the image or is smaller
            than :data:`MIN_FACE_SIDE` (``"box 70,10,90,30 lies entirely outside the 64x48
            image <where>"``).
    """
    b = validate_boxes(boxes, where=label)
    img = check_image(image, min_size=len(b) > 0, where=where)
    h, w = img.shape[:2]
    for box in b:
        problem = box_problem(box, w, h, label)
        if problem is not None:
            raise InputError(f"{problem} {where}" if where else problem)
    return b


def parse_box_arg(text: str) -> np.ndarray:
    """Parse ``"x0,y0,x1,y1"`` (the ``--box`` option) into a ``(1, 4)`` float64 array."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise ValueError(f"--box {text!r}: expected 4 comma-separated numbers x0,y0,x1,y1")
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise ValueError(f"--box {text!r}: not a number ({exc})") from None
    return validate_boxes(np.array(values), where=f"--box {text!r}")


def load_box_file(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a JSON or CSV box file (see the module docstring) -> ``{name: (N, 4) boxes}``.

    Raises ``FileNotFoundError``/``ValueError`` naming the file (and the CSV line) on bad input.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: box file does not exist")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _load_box_json(path)
    if suffix == ".csv":
        return _load_box_csv(path)
    raise ValueError(f"{path}: box file must end in .json or .csv")


def _load_box_json(path: Path) -> dict[str, np.ndarray]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object mapping image name/frame -> boxes")
    table: dict[str, np.ndarray] = {}
    for key, value in data.items():
        where = f"{path}: entry {key!r}"
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list of boxes")
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: boxes must be lists of 4 numbers") from None
        table[str(key)] = validate_boxes(arr, where=where)
    return table


def _load_box_csv(path: Path) -> dict[str, np.ndarray]:
    rows: dict[str, list[list[float]]] = {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        expected = ["name", "x0", "y0", "x1", "y1"]
        if header is None or [h.strip() for h in header] != expected:
            raise ValueError(f"{path}:1: expected the header {','.join(expected)}, got {header}")
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != 5:
                raise ValueError(f"{path}:{line}: expected 5 columns, got {len(row)}")
            try:
                box = [float(c) for c in row[1:]]
            except ValueError:
                raise ValueError(f"{path}:{line}: box coordinates must be numbers: {row}") from None
            validate_boxes(np.array(box), where=f"{path}:{line}")
            rows.setdefault(row[0].strip(), []).append(box)
    return {k: np.asarray(v, dtype=np.float64) for k, v in rows.items()}


def lookup_boxes(table: dict[str, np.ndarray], source: str, frame: int | None) -> np.ndarray:
    """The boxes a box table gives to one image or video frame; ``(0, 4)`` when it has none.

    Video frames are looked up by their 0-based index (``"17"``); images by their name relative
    to the input folder, then by their bare file name.
    """
    keys = [str(frame)] if frame is not None else [source, Path(source).name]
    for key in keys:
        if key in table:
            return table[key]
    return np.zeros((0, 4), dtype=np.float64)


@dataclass(frozen=True)
class BoxAdaptation:
    """How a detector's box is turned into a training-convention box.

    The adapted box keeps the detector box's width/height ratio; its centre moves by
    ``(shift_x * w, shift_y * h)`` and its sides are multiplied by ``scale``.
    """

    shift_x: float = 0.0
    shift_y: float = 0.0
    scale: float = 1.0


#: OpenCV's frontal-face Haar boxes are square and reach up onto the forehead; the tight landmark
#: box starts at the eyebrows. Measured with ``scripts/calibrate_haar.py`` on the real-face
#: development set of ``benchmarks/real_faces.py`` (44 faces of photographs, landmarks from
#: dlib's 68-point model; docs/real_faces.md): the landmark box centre lies 0.14 box heights below
#: the Haar centre (IQR 0.12-0.16), no horizontal shift to speak of (median 0.03, IQR
#: -0.02-0.08, set to 0 by symmetry), and its larger side is 0.82 of the Haar side (IQR
#: 0.78-0.86). On 200 generated 300W faces (``otmark synth --num 200 --seed 7``; Haar found 138)
#: the same script gives 0.14 and 0.85.
HAAR_ADAPTATION = BoxAdaptation(shift_x=0.0, shift_y=0.14, scale=0.82)


def adapt_boxes(boxes: np.ndarray, adaptation: BoxAdaptation) -> np.ndarray:
    """Apply a :class:`BoxAdaptation` to ``boxes: (N, 4)`` -> ``(N, 4)``."""
    b = validate_boxes(boxes)
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    cx = (b[:, 0] + b[:, 2]) / 2 + adaptation.shift_x * w
    cy = (b[:, 1] + b[:, 3]) / 2 + adaptation.shift_y * h
    hw = adaptation.scale * w / 2
    hh = adaptation.scale * h / 2
    return np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1)


def fit_box_adaptation(found: np.ndarray, target: np.ndarray) -> BoxAdaptation:
    """The :class:`BoxAdaptation` that best maps detector boxes onto training-convention boxes.

    Robust (median) fit over matched pairs: ``shift_x`` = median of ``(cx_t - cx_f) / w_f``,
    ``shift_y`` = median of ``(cy_t - cy_f) / h_f``, ``scale`` = median of
    ``max(w_t, h_t) / max(w_f, h_f)`` (the crop only depends on the larger side).

    Args:
        found: ``(N, 4)`` detector boxes.
        target: ``(N, 4)`` boxes of the same faces in the training convention (e.g. the tight
            box of the annotated landmarks, :func:`otmark.transforms.tight_box`).
    """
    f = validate_boxes(found, "found boxes")
    t = validate_boxes(target, "target boxes")
    if len(f) != len(t) or len(f) == 0:
        raise ValueError(f"need matched, non-empty box lists, got {len(f)} and {len(t)}")
    wf, hf = f[:, 2] - f[:, 0], f[:, 3] - f[:, 1]
    wt, ht = t[:, 2] - t[:, 0], t[:, 3] - t[:, 1]
    dx = ((t[:, 0] + t[:, 2]) - (f[:, 0] + f[:, 2])) / 2 / wf
    dy = ((t[:, 1] + t[:, 3]) - (f[:, 1] + f[:, 3])) / 2 / hf
    ratio = np.maximum(wt, ht) / np.maximum(wf, hf)
    return BoxAdaptation(float(np.median(dx)), float(np.median(dy)), float(np.median(ratio)))


def adapt_haar_boxes(boxes: np.ndarray) -> np.ndarray:
    """Haar cascade boxes ``(N, 4)`` -> training-convention boxes (see :data:`HAAR_ADAPTATION`)."""
    return adapt_boxes(boxes, HAAR_ADAPTATION)


class FaceFinderUnavailable(RuntimeError):
    """No automatic face finder can run here (e.g. an OpenCV build without Haar cascades)."""


def _cascade_class():
    """OpenCV's ``CascadeClassifier`` class, or None when this OpenCV build has none.

    OpenCV 4.x ships it (and the cascade XML files) in the main package; OpenCV 5 moved the
    Haar cascades out of it (``cv2.xobjdetect`` in the contrib build, when installed).
    """
    cls = getattr(cv2, "CascadeClassifier", None)
    if cls is None and hasattr(cv2, "xobjdetect"):
        cls = getattr(cv2.xobjdetect, "CascadeClassifier", None)
    return cls


def default_cascade_path() -> Path:
    """``cv2.data.haarcascades / haarcascade_frontalface_default.xml`` (may not exist)."""
    base = getattr(getattr(cv2, "data", None), "haarcascades", "")
    return Path(base) / HAAR_CASCADE_FILE


def haar_available(cascade_path: str | os.PathLike[str] | None = None) -> bool:
    """Whether :class:`HaarFaceDetector` can run: the class and the cascade file exist."""
    path = Path(cascade_path) if cascade_path is not None else default_cascade_path()
    return _cascade_class() is not None and path.is_file()


class HaarFaceDetector:
    """OpenCV's bundled frontal-face Haar cascade (``cv2.data.haarcascades``).

    Limits: near-frontal, upright faces only (no profiles, little in-plane rotation), misses small
    or strongly occluded faces, and can fire on face-like texture. Its boxes are adapted to the
    training convention (:func:`adapt_haar_boxes`) unless ``adapt=False``.

    OpenCV 5 removed the Haar cascades from the main ``opencv-python(-headless)`` package: there
    the constructor raises :class:`FaceFinderUnavailable` (give boxes instead, or install
    ``opencv-python-headless<5``).

    Args:
        scale_factor, min_neighbors: passed to ``CascadeClassifier.detectMultiScale``.
        min_size_frac: smallest face side as a fraction of the image's shorter side.
        adapt: whether to apply :data:`HAAR_ADAPTATION` to the boxes.
        cascade_path: another cascade XML file (default: :func:`default_cascade_path`).
    """

    def __init__(
        self,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size_frac: float = 0.05,
        adapt: bool = True,
        cascade_path: str | os.PathLike[str] | None = None,
    ) -> None:
        cls = _cascade_class()
        if cls is None:
            raise FaceFinderUnavailable(
                f"OpenCV {cv2.__version__} has no Haar cascade classifier (OpenCV 5 moved it out "
                "of the main package): give face boxes (--box, --boxes or --whole-image) or "
                "install opencv-python-headless<5"
            )
        path = Path(cascade_path) if cascade_path is not None else default_cascade_path()
        if not path.is_file():
            raise FaceFinderUnavailable(f"{path}: Haar cascade file not found")
        self._cascade = cls(str(path))
        if self._cascade.empty():
            raise FaceFinderUnavailable(f"{path}: could not load this Haar cascade")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size_frac = min_size_frac
        self.adapt = adapt

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Find faces in ``image: (H, W, 3)`` uint8 RGB -> boxes ``(N, 4)`` (largest first) and
        scores ``(N,)``: the number of neighbouring detections merged into each box."""
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        side = max(1, int(self.min_size_frac * min(gray.shape)))
        found, neighbours = self._cascade.detectMultiScale2(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(side, side),
        )
        if len(found) == 0:
            return np.zeros((0, 4), dtype=np.float64), np.zeros(0)
        xywh = np.asarray(found, dtype=np.float64).reshape(-1, 4)
        order = np.argsort(-(xywh[:, 2] * xywh[:, 3]), kind="stable")  # as rects_to_boxes
        boxes = rects_to_boxes(xywh)
        scores = np.asarray(neighbours, dtype=np.float64).reshape(-1)[order]
        return (adapt_haar_boxes(boxes) if self.adapt else boxes), scores

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Find faces in ``image: (H, W, 3)`` uint8 RGB -> boxes ``(N, 4)``, largest first."""
        return self.detect(image)[0]


def whole_image_box(image: np.ndarray) -> np.ndarray:
    """The whole image as one face box ``(1, 4)``: ``-0.5, -0.5, W - 0.5, H - 0.5``.

    For images that are already face crops.
    """
    h, w = np.asarray(image).shape[:2]
    return np.array([[-0.5, -0.5, w - 0.5, h - 0.5]])


def rects_to_boxes(rects) -> np.ndarray:
    """OpenCV rectangles ``(N, 4)`` = ``x, y, w, h`` (integer pixels) -> boxes, largest first.

    An OpenCV rectangle covers the pixels ``x .. x + w - 1``, whose outer edges lie at
    ``x - 0.5`` and ``x + w - 0.5`` with pixel centres at integers: those are the box edges.
    Equal areas keep their input order.
    """
    xywh = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
    boxes = xywh.copy()
    boxes[:, :2] -= 0.5
    boxes[:, 2:] = xywh[:, :2] + xywh[:, 2:] - 0.5
    order = np.argsort(-(xywh[:, 2] * xywh[:, 3]), kind="stable")
    return boxes[order]
