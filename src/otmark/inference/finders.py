"""Face finders by name, and the rule that picks one face among several.

A face finder is a callable ``finder(image: (H, W, 3) uint8 RGB) -> boxes (N, 4)`` in the
**training convention** (the tight landmark box, see :mod:`otmark.inference.boxes`).

Finders (:data:`FINDERS`):

* ``dlib``: dlib's HOG + linear SVM frontal face detector (``dlib.get_frontal_face_detector``,
  from the ``dlib-bin`` wheel: ``pip install 'otmark[faces]'``). It scores histograms of
  image gradients, so gray-level photographs are found as well as colour ones; its five
  sub-detectors cover frontal, turned and tilted heads. It runs on the image itself (large
  faces) and on the image upsampled once and twice (faces down to
  :attr:`DlibHogFaceDetector.min_face` pixels, as the pixel budget allows); the detections of
  all runs are merged (:func:`merge_detections`), so it finds at least what dlib's detector
  finds at each of these upsamplings. Boxes adapted by :data:`DLIB_HOG_ADAPTATION`.
* ``haar``: OpenCV's frontal Haar cascade (:class:`otmark.inference.boxes.HaarFaceDetector`), the
  fallback: near-frontal faces only; its score is the number of overlapping detections.
* ``auto`` (the default): ``dlib`` when installed, else a one-line notice naming the extra to
  install and ``haar``.

:func:`choose_face_rule` picks the face a single-face run reports (:func:`make_face_finder`
with ``all_faces=False``; with ``all_faces=True`` every face, that one first), the most
prominent one: **size** first (the largest box, unless others have at least
:data:`COMPARABLE_AREA` of its area), then **centrality** (among those, the box whose centre
is nearest the image centre, unless others are within :data:`CENTRAL_TOLERANCE` of the image's
half diagonal as near), then the detector's **score**. The rule that decided is reported
(:data:`RULES`; ``chosen_by`` in ``otmark detect``'s ``landmarks.json``).

**Video frames** (:func:`find_video_faces`, what :class:`otmark.inference.FaceTracker` calls)
are searched more cheaply than photographs, since the tracker only needs the finder now and then
and the face it already tracks tells where to look:

* near a tracked face (the periodic confirmation, and the first try after a track is lost),
  :func:`find_near` searches only the track's box enlarged :data:`NEAR_ENLARGE` times (clipped
  to the frame), rescaled so that the face is about :data:`NEAR_FACE` pixels (dlib's window is
  80): one dlib run on a region of about 200-400 pixels, whatever the frame size;
* otherwise, or when that finds nothing, the whole frame, as a cascade
  (:func:`find_cascade`, :meth:`DlibHogFaceDetector.cascade_levels`): first at the scale where
  a face of :data:`VIDEO_FACE_FRACTION` of the frame's shorter side fills dlib's window (a
  640x480 frame: upsampling 0; 1920x1080: halved; 320x240: upsampled once), then upsampled
  once more at a time, up to the photograph's last upsampling, stopping at the first scale that
  finds a face. Each scale finds every face at least as large as its smallest one, so the
  cascade only misses a small face in a frame that also holds a larger one.

A finder without these methods (a plain callable) is called on the whole frame each time.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from otmark.inference.boxes import (
    BoxAdaptation,
    FaceFinderUnavailable,
    HaarFaceDetector,
    adapt_boxes,
    validate_boxes,
)

#: Names accepted by :func:`make_face_finder` (and ``otmark detect --finder``).
FINDERS: tuple[str, ...] = ("auto", "dlib", "haar")

#: The pip extra that installs the optional finders.
FACES_EXTRA = "faces"

#: Boxes at least this fraction of the largest box's area count as "as large" for
#: :func:`choose_face`, which then prefers the most central of them.
COMPARABLE_AREA = 0.5

#: Among boxes of comparable size, those whose centre lies within this fraction of the image's
#: half diagonal of the most central one count as equally central: the detector score decides.
CENTRAL_TOLERANCE = 0.1

#: Boxes of one face found by several runs (upsamplings) overlap by more than this IoU.
MERGE_IOU = 0.4

#: The video cascade's first scale makes a face of this fraction of the frame's shorter side as
#: large as dlib's detection window (a 480-pixel-high frame: upsampling 0).
VIDEO_FACE_FRACTION = 1 / 6

#: :func:`find_near` searches a tracked face's box enlarged this many times about its centre.
NEAR_ENLARGE = 2.0

#: :func:`find_near` rescales its region so that the tracked face is about this many pixels:
#: dlib's 80-pixel window with a margin for a face that shrank since its box was measured.
NEAR_FACE = 100

#: The rules of :func:`choose_face_rule`, by the name reported as ``chosen_by``.
RULES: dict[str, str] = {
    "only": "the finder found one face",
    "size": "the largest face; the others have less than half its area",
    "centrality": "the most central of the faces of similar size",
    "score": "the highest detector score among faces of similar size and centrality",
}

#: dlib's HOG boxes -> training-convention boxes. Measured with
#: ``python scripts/calibrate_haar.py benchmarks/real_faces_data/dev300w --split test
#: --finder dlib`` on the real-face development set of ``benchmarks/real_faces.py`` (44 faces,
#: all found): the landmark box centre lies 0.11 box heights below the dlib box centre (IQR
#: 0.09-0.14) and its larger side is 0.94 of the dlib side (IQR 0.91-0.99). The horizontal shift
#: (median 0.06, IQR -0.02-0.10) follows the head turns of these few photographs and is set to 0:
#: a mirrored photograph would flip its sign.
DLIB_HOG_ADAPTATION = BoxAdaptation(shift_x=0.0, shift_y=0.11, scale=0.94)


def _install_hint(what: str) -> str:
    return f"{what} needs dlib: pip install 'otmark[{FACES_EXTRA}]' (installs dlib-bin)"


def dlib_available() -> bool:
    """Whether ``import dlib`` works (the ``dlib-bin`` or ``dlib`` package)."""
    try:
        import dlib  # noqa: F401  # lazy: optional extra [faces]
    except ImportError:
        return False
    return True


class DlibHogFaceDetector:
    """dlib's HOG frontal face detector (5 sub-detectors: frontal, left, right, tilted).

    The detector runs at every upsampling from 0 to :meth:`upsample_steps` (the image itself
    for large faces, then upsampled by 2, 4... for small ones) and the detections are merged
    (:func:`merge_detections`, the best score of each face kept).

    Args:
        min_face: smallest face side (pixels of the input image) to find; the image is upsampled
            by powers of 2 until dlib's 80-pixel window covers it (at most ``max_upsample``).
        max_upsample: cap on the upsampling steps (each one quadruples the work).
        max_pixels: no upsampling step beyond this many pixels (large photographs are searched
            at their own size: their faces are rarely tiny, and 4x the pixels costs 4x the time);
            8 MP lets an 800x600 photograph be searched at 2 upsamplings (0.9 s on one core).
        threshold: detection score threshold (dlib's default 0; lower finds more, and more
            false faces).
        adapt: apply :data:`DLIB_HOG_ADAPTATION` (else dlib's own boxes).
        hog: the detector object, with dlib's ``run(image, upsample, threshold) -> (rects,
            scores, kinds)``; default ``dlib.get_frontal_face_detector()``.

    Raises :class:`FaceFinderUnavailable` naming the extra to install when dlib is missing.
    """

    #: side of dlib's HOG detection window at the original scale
    WINDOW = 80

    def __init__(
        self,
        min_face: int = 36,
        max_upsample: int = 2,
        threshold: float = 0.0,
        adapt: bool = True,
        max_pixels: int = 8_000_000,
        hog: object | None = None,
    ) -> None:
        if hog is None:
            try:
                import dlib  # lazy: optional extra [faces]
            except ImportError:
                raise FaceFinderUnavailable(_install_hint("the 'dlib' face finder")) from None
            hog = dlib.get_frontal_face_detector()
        self._detector = hog
        self.min_face = int(min_face)
        self.max_upsample = int(max_upsample)
        self.threshold = float(threshold)
        self.adapt = adapt
        self.max_pixels = int(max_pixels)

    def upsample_steps(self, shape: tuple[int, ...]) -> int:
        """Upsampling steps for an image of ``shape``: enough for :attr:`min_face` pixels,
        at most :attr:`max_upsample`, and none that would exceed :attr:`max_pixels`."""
        need = math.ceil(math.log2(self.WINDOW / max(self.min_face, 1)))
        steps = min(max(need, 0), self.max_upsample)
        pixels = shape[0] * shape[1]
        while steps > 0 and pixels * 4**steps > self.max_pixels:
            steps -= 1
        return int(steps)

    def run(self, image: np.ndarray, upsample: int) -> tuple[np.ndarray, np.ndarray]:
        """dlib's detector at one upsampling: boxes ``(N, 4)`` (dlib's own convention, edges
        half a pixel outside its inclusive pixel ranges) and scores ``(N,)``."""
        img = np.ascontiguousarray(image, dtype=np.uint8)
        rects, scores, _kinds = self._detector.run(img, int(upsample), self.threshold)
        boxes = np.array(
            [[r.left() - 0.5, r.top() - 0.5, r.right() + 0.5, r.bottom() + 0.5] for r in rects],
            dtype=np.float64,
        ).reshape(-1, 4)
        return boxes, np.asarray(scores, dtype=np.float64).reshape(-1)

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Faces in ``image: (H, W, 3)`` uint8 RGB (or ``(H, W)`` gray) -> boxes ``(N, 4)``
        (largest first) and their detector scores ``(N,)``."""
        runs = [self.run(image, up) for up in range(self.upsample_steps(np.shape(image)) + 1)]
        boxes, scores = merge_detections(
            np.concatenate([b for b, _ in runs]), np.concatenate([s for _, s in runs])
        )
        if self.adapt and len(boxes):
            boxes = adapt_boxes(boxes, DLIB_HOG_ADAPTATION)
        return boxes, scores

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Faces in ``image`` -> boxes ``(N, 4)``, largest first (:meth:`detect`)."""
        return self.detect(image)[0]

    # --- video: one scale at a time
    def cascade_levels(self, shape: tuple[int, ...]) -> list[int]:
        """The scales of the video cascade for an image of ``shape`` ``(H, W, ...)``, as powers
        of 2 (``k < 0``: downscaled ``2**-k`` times; ``k >= 0``: ``k`` dlib upsamplings): from
        the one at which a face of :data:`VIDEO_FACE_FRACTION` of the shorter side fills the
        80-pixel window to :meth:`upsample_steps` (the photograph's last upsampling)."""
        last = self.upsample_steps(shape)
        side = max(VIDEO_FACE_FRACTION * min(shape[0], shape[1]), 1.0)
        first = min(math.ceil(math.log2(self.WINDOW / side) - 1e-9), last)
        return list(range(first, last + 1))

    def level_for_face(self, side: float) -> int:
        """The scale (as :meth:`cascade_levels`) at which a face of ``side`` pixels (the larger
        side of its training-convention box) is about :data:`NEAR_FACE` pixels: the smallest
        that makes it at least that, at most :attr:`max_upsample` upsamplings."""
        dlib_side = side / DLIB_HOG_ADAPTATION.scale if self.adapt else side
        k = math.ceil(math.log2(NEAR_FACE / max(dlib_side, 1e-6)) - 1e-9)
        return int(min(k, self.max_upsample))

    def run_level(self, image: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`run` at one scale of :meth:`cascade_levels`: ``level >= 0`` upsamplings, or
        the image shrunk ``2**-level`` times (area averaging) and the boxes mapped back; boxes
        ``(N, 4)`` in dlib's convention and ``image``'s pixels, and scores ``(N,)``."""
        if level >= 0:
            return self.run(image, level)
        h, w = np.shape(image)[:2]
        small_w, small_h = max(round(w / 2**-level), 1), max(round(h / 2**-level), 1)
        small = cv2.resize(np.asarray(image), (small_w, small_h), interpolation=cv2.INTER_AREA)
        boxes, scores = self.run(small, 0)
        # pixel centres at integers: x + 0.5 scales with the image
        factor = np.array([w / small_w, h / small_h, w / small_w, h / small_h])
        return (boxes + 0.5) * factor - 0.5, scores

    def detect_level(self, image: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
        """Faces in ``image`` at one scale (:meth:`run_level`): boxes ``(N, 4)`` (largest
        first, adapted as :meth:`detect`'s) and scores ``(N,)``."""
        boxes, scores = merge_detections(*self.run_level(image, level))
        if self.adapt and len(boxes):
            boxes = adapt_boxes(boxes, DLIB_HOG_ADAPTATION)
        return boxes, scores

    def detect_cascade(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Faces in a video frame ``image``: :meth:`detect_level` at each scale of
        :meth:`cascade_levels` in turn, up to the first that finds a face; boxes ``(N, 4)``
        (largest first) and scores ``(N,)``."""
        boxes, scores = np.zeros((0, 4)), np.zeros(0)
        for level in self.cascade_levels(np.shape(image)):
            boxes, scores = self.detect_level(image, level)
            if len(boxes):
                break
        return boxes, scores


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a: (N, 4)`` with every box of ``b: (M, 4)`` -> ``(N, M)``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(1, -1, 4)
    lo = np.maximum(a[..., :2], b[..., :2])
    hi = np.minimum(a[..., 2:], b[..., 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area_a = np.prod(a[..., 2:] - a[..., :2], axis=-1)
    area_b = np.prod(b[..., 2:] - b[..., :2], axis=-1)
    return inter / np.maximum(area_a + area_b - inter, 1e-12)


def merge_detections(
    boxes: np.ndarray, scores: np.ndarray, iou: float = MERGE_IOU
) -> tuple[np.ndarray, np.ndarray]:
    """Non-maximum suppression: of boxes overlapping by more than ``iou``, the best-scored one
    (ties: the first) is kept.

    Args:
        boxes: ``(N, 4)``; scores: ``(N,)``.

    Returns:
        the kept boxes ``(M, 4)``, largest first (equal areas: better score first), and their
        scores ``(M,)``.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(b) != len(s):
        raise ValueError(f"{len(b)} boxes but {len(s)} scores")
    overlap = box_iou(b, b)
    keep: list[int] = []
    for i in np.argsort(-s, kind="stable"):
        if all(overlap[i, j] <= iou for j in keep):
            keep.append(int(i))
    k = np.array(keep, dtype=np.int64)
    b, s = b[k], s[k]
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    order = np.lexsort((-s, -area))
    return b[order], s[order]


def choose_face_rule(
    boxes: np.ndarray, image_shape: tuple[int, ...], scores: np.ndarray | None = None
) -> tuple[int, str]:
    """The face a single-face run reports among ``boxes: (N, 4)``, ``N >= 1``, and the rule
    that chose it (a key of :data:`RULES`).

    1. ``only``: a single box;
    2. ``size``: the largest box, when no other has :data:`COMPARABLE_AREA` of its area;
    3. ``centrality``: among the boxes of comparable size, the one whose centre is nearest the
       image centre, when no other is within :data:`CENTRAL_TOLERANCE` of the image's half
       diagonal as near;
    4. ``score``: among those, the highest ``scores`` (ties, or no scores: the larger box, then
       the nearer, then the first); without different scores the rule stays ``centrality``.

    Args:
        boxes: ``(N, 4)`` face boxes; image_shape: ``(H, W, ...)``.
        scores: ``(N,)`` detector scores (higher: more face-like), or None.
    """
    b = validate_boxes(boxes)
    if len(b) == 0:
        raise ValueError("choose_face needs at least one box")
    if len(b) == 1:
        return 0, "only"
    sc = np.zeros(len(b)) if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(sc) != len(b):
        raise ValueError(f"{len(b)} boxes but {len(sc)} scores")
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    h, w = image_shape[:2]
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    dist = np.linalg.norm((b[:, :2] + b[:, 2:]) / 2 - centre, axis=1) / max(np.hypot(w, h) / 2, 1)
    comparable = np.flatnonzero(area >= COMPARABLE_AREA * area.max())
    if len(comparable) == 1:
        return int(comparable[0]), "size"
    central = comparable[dist[comparable] <= dist[comparable].min() + CENTRAL_TOLERANCE]
    # best score, then larger, then nearer, then first
    order = np.lexsort((central, dist[central], -area[central], -sc[central]))
    best = int(central[order[0]])
    if len(central) == 1:
        return best, "centrality"
    if np.all(sc[central] == sc[best]):
        nearest = np.lexsort((comparable, -area[comparable], dist[comparable]))
        return int(comparable[nearest[0]]), "centrality"
    return best, "score"


def choose_face(
    boxes: np.ndarray, image_shape: tuple[int, ...], scores: np.ndarray | None = None
) -> int:
    """Index of the face a single-face run reports among ``boxes: (N, 4)``, ``N >= 1``
    (:func:`choose_face_rule`)."""
    return choose_face_rule(boxes, image_shape, scores)[0]


def select_faces(
    boxes: np.ndarray,
    image_shape: tuple[int, ...],
    all_faces: bool,
    scores: np.ndarray | None = None,
) -> np.ndarray:
    """All ``boxes`` with the chosen one (:func:`choose_face`) first, or only the chosen one."""
    return choose_faces(boxes, image_shape, all_faces, scores).boxes


@dataclass
class FoundFaces:
    """Faces a finder reports for one image.

    Attributes:
        boxes: ``(N, 4)`` training-convention boxes, the chosen face first.
        scores: ``(N,)`` detector scores (0 for finders without scores).
        chosen_by: why ``boxes[0]`` was chosen (a key of :data:`RULES`); None without faces.
    """

    boxes: np.ndarray
    scores: np.ndarray
    chosen_by: str | None


def choose_faces(
    boxes: np.ndarray,
    image_shape: tuple[int, ...],
    all_faces: bool,
    scores: np.ndarray | None = None,
) -> FoundFaces:
    """The chosen face (:func:`choose_face_rule`) first, then, with ``all_faces``, the others in
    their order; ``chosen_by`` names the rule."""
    b = validate_boxes(boxes)
    sc = np.zeros(len(b)) if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(b) == 0:
        return FoundFaces(b, np.zeros(0), None)
    i, rule = choose_face_rule(b, image_shape, sc)
    order = np.array([i] + ([j for j in range(len(b)) if j != i] if all_faces else []))
    return FoundFaces(b[order], sc[order], rule)


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def build_finder(name: str, notify: Callable[[str], None] = _warn) -> Callable:
    """The raw finder called ``name`` (all faces, largest first), with the fallback rule.

    ``dlib`` or ``auto`` without dlib installed: ``notify`` gets a one-line message naming the
    extra to install, and the Haar cascade is returned. Raises :class:`FaceFinderUnavailable`
    when no finder can run, ``ValueError`` for an unknown name.
    """
    if name not in FINDERS:
        raise ValueError(f"unknown face finder {name!r}; choose one of {', '.join(FINDERS)}")
    if name in ("auto", "dlib"):
        try:
            return DlibHogFaceDetector()
        except FaceFinderUnavailable as exc:
            notify(f"{exc}; using OpenCV's Haar cascade, which misses turned and small faces")
    return HaarFaceDetector()


class FaceFinder:
    """A face finder for :class:`otmark.inference.Detector` (``face_finder=``).

    ``finder(image) -> (N, 4)`` boxes: the chosen face only, or with ``all_faces`` every face,
    the chosen one first; :meth:`find` also gives the scores and the rule that chose.

    Args:
        raw: a finder of all faces: an object with ``detect(image) -> (boxes, scores)`` (the
            finders of :data:`FINDERS`), or a callable ``raw(image) -> boxes``.
        all_faces: report every face.
    """

    def __init__(self, raw: Callable, all_faces: bool = False) -> None:
        self.raw = raw
        self.all_faces = bool(all_faces)

    def find(self, image: np.ndarray) -> FoundFaces:
        """The faces of ``image: (H, W, 3)`` (:class:`FoundFaces`)."""
        if hasattr(self.raw, "detect"):
            boxes, scores = self.raw.detect(image)
        else:
            boxes, scores = self.raw(image), None
        return choose_faces(boxes, np.asarray(image).shape, self.all_faces, scores)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.find(image).boxes


def make_face_finder(
    name: str = "auto", all_faces: bool = False, notify: Callable[[str], None] = _warn
) -> FaceFinder:
    """A face finder for :class:`otmark.inference.Detector` (``face_finder=``).

    Returns a :class:`FaceFinder`: ``finder(image) -> (N, 4)`` boxes, the chosen face only
    (:func:`choose_face_rule`), or with ``all_faces`` every face, the chosen one first. See
    :func:`build_finder` for ``name`` and ``notify``.
    """
    return FaceFinder(build_finder(name, notify), all_faces)


# --- video frames: the cascade and the search near a tracked face --------------------------------


def _raw_finder(finder: Callable) -> Callable:
    """The finder of all faces behind a :class:`FaceFinder` (else ``finder`` itself)."""
    return finder.raw if isinstance(finder, FaceFinder) else finder


def _all_found(finder: Callable, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(N, 4)`` and scores ``(N,)`` (0 without) of a raw finder on ``image``."""
    if hasattr(finder, "detect"):
        boxes, scores = finder.detect(image)
        return validate_boxes(boxes), np.asarray(scores, dtype=np.float64).reshape(-1)
    boxes = validate_boxes(finder(image))
    return boxes, np.zeros(len(boxes))


def find_cascade(finder: Callable, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All faces of a video frame ``image: (H, W, 3)``, found as cheaply as the finder allows.

    dlib's detector: its cascade (:meth:`DlibHogFaceDetector.detect_cascade`); other finders
    (``detect(image) -> (boxes, scores)`` or ``finder(image) -> boxes``): one call.

    Returns:
        boxes ``(N, 4)`` (training convention, largest first) and scores ``(N,)``.
    """
    raw = _raw_finder(finder)
    if hasattr(raw, "detect_cascade"):
        boxes, scores = raw.detect_cascade(image)
        return validate_boxes(boxes), np.asarray(scores, dtype=np.float64).reshape(-1)
    return _all_found(raw, image)


def near_region(
    box: np.ndarray, shape: tuple[int, ...], enlarge: float = NEAR_ENLARGE
) -> tuple[int, int, int, int]:
    """The pixels searched around a face box ``(4,)``: the box enlarged ``enlarge`` times about
    its centre (a square on its larger side), clipped to an image of ``shape`` ``(H, W, ...)``;
    ``(x0, y0, x1, y1)`` integer pixel bounds, ``x1``/``y1`` exclusive (empty when the box lies
    outside the image)."""
    b = validate_boxes(np.asarray(box, dtype=np.float64).reshape(1, 4))[0]
    if not enlarge > 0:
        raise ValueError(f"enlarge must be > 0, got {enlarge}")
    h, w = shape[:2]
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    half = enlarge * max(b[2] - b[0], b[3] - b[1]) / 2
    x0 = int(np.clip(math.floor(cx - half + 0.5), 0, w))
    y0 = int(np.clip(math.floor(cy - half + 0.5), 0, h))
    x1 = int(np.clip(math.ceil(cx + half + 0.5), x0, w))
    y1 = int(np.clip(math.ceil(cy + half + 0.5), y0, h))
    return x0, y0, x1, y1


def find_near(
    finder: Callable, image: np.ndarray, box: np.ndarray, enlarge: float = NEAR_ENLARGE
) -> tuple[np.ndarray, np.ndarray]:
    """Faces near a known face ``box (4,)`` (training convention) of ``image: (H, W, 3)``: the
    finder runs only on :func:`near_region` (the box enlarged ``enlarge`` times, clipped to the
    image); dlib's detector at the one scale that makes the face about :data:`NEAR_FACE` pixels
    (:meth:`DlibHogFaceDetector.level_for_face`), other finders on the region as it is.

    Args:
        finder: a :class:`FaceFinder`, a finder with ``detect(image) -> (boxes, scores)`` (those
            of :data:`FINDERS`) or a callable ``finder(image) -> boxes``.
        image: the frame; box: where the face was.

    Returns:
        boxes ``(N, 4)`` in ``image``'s coordinates (training convention), the box overlapping
        ``box`` most first, and their scores ``(N,)`` (0 for finders without scores).
    """
    raw = _raw_finder(finder)
    x0, y0, x1, y1 = near_region(box, np.shape(image), enlarge)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((0, 4)), np.zeros(0)
    region = np.ascontiguousarray(np.asarray(image)[y0:y1, x0:x1])
    if hasattr(raw, "detect_level"):
        b = np.asarray(box, dtype=np.float64).reshape(4)
        level = raw.level_for_face(max(b[2] - b[0], b[3] - b[1]))
        boxes, scores = raw.detect_level(region, level)
        boxes = validate_boxes(boxes)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    else:
        boxes, scores = _all_found(raw, region)
    if len(boxes) == 0:
        return np.zeros((0, 4)), np.zeros(0)
    boxes = boxes + np.array([x0, y0, x0, y0], dtype=np.float64)
    order = np.argsort(-box_iou(boxes, np.reshape(box, (1, 4)))[:, 0], kind="stable")
    return boxes[order], scores[order]


def find_video_faces(
    finder: Callable,
    image: np.ndarray,
    near: np.ndarray | None = None,
    room: bool = True,
) -> np.ndarray:
    """The face boxes of a video frame by the video schedule (module docstring).

    1. Near each box of ``near`` (the tracked faces): :func:`find_near`;
    2. the whole frame (:func:`find_cascade`) when that found nothing, or when ``room`` (the
       caller takes more faces than ``near`` holds, so new faces matter).

    A :class:`FaceFinder`'s choice applies: only the chosen face unless ``all_faces``; the
    faces found near a tracked face come in the order of their overlap with it. A finder
    without ``detect`` (a plain callable ``finder(image) -> boxes``) is called on the whole
    frame instead, as for a photograph.

    Args:
        finder: see :func:`find_near`.
        image: ``(H, W, 3)`` uint8 RGB frame.
        near: ``(M, 4)`` boxes (training convention) of the faces tracked in the previous frame,
            or None.
        room: whether new faces are wanted beside those of ``near``.

    Returns:
        boxes ``(N, 4)`` in the training convention, the chosen (or best-overlapping) face first.
    """
    raw = _raw_finder(finder)
    all_faces = finder.all_faces if isinstance(finder, FaceFinder) else True
    if not hasattr(raw, "detect"):
        return validate_boxes(finder(image))
    near_boxes = np.zeros((0, 4)) if near is None else validate_boxes(near)
    found = [find_near(raw, image, b) for b in near_boxes]
    boxes = np.concatenate([np.zeros((0, 4))] + [b for b, _ in found])
    scores = np.concatenate([np.zeros(0)] + [s for _, s in found])
    if len(boxes) and not room:
        # the best overlap with a tracked face first; a face found near two tracks kept once
        overlap = box_iou(boxes, near_boxes).max(axis=1)
        order = np.argsort(-overlap, kind="stable")
        boxes, scores = boxes[order], scores[order]
        keep = [i for i in range(len(boxes)) if all(box_iou(boxes[i], boxes[:i])[0] <= MERGE_IOU)]
        boxes = boxes[keep]
        return boxes if all_faces else boxes[:1]
    more, more_scores = find_cascade(raw, image)
    boxes, scores = merge_detections(
        np.concatenate([boxes, more]), np.concatenate([scores, more_scores])
    )
    return choose_faces(boxes, np.shape(image), all_faces, scores).boxes
