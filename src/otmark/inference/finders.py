"""Face finders by name, and the rule that picks one face among several.

A face finder is a callable ``finder(image: (H, W, 3) uint8 RGB) -> boxes (N, 4)`` in the
**training convention** (the tight landmark box, see :mod:`otmark.inference.boxes`).

Finders (:data:`FINDERS`):

* ``dlib``: dlib's HOG + linear SVM frontal face detector (``dlib.get_frontal_face_detector``,
  from the ``dlib-bin`` wheel: ``pip install 'otmark[faces]'``). It scores histograms of
  image gradients, so gray-level photographs are found as well as colour ones; its five
  sub-detectors cover frontal, turned and tilted heads; the image is upsampled so that faces
  down to :attr:`DlibHogFaceDetector.min_face` pixels are found. Boxes adapted by
  :data:`DLIB_HOG_ADAPTATION`.
* ``haar``: OpenCV's frontal Haar cascade (:class:`otmark.inference.boxes.HaarFaceDetector`), the
  fallback: near-frontal faces only.
* ``auto`` (the default): ``dlib`` when installed, else a one-line notice naming the extra to
  install and ``haar``.

:func:`choose_face` picks the face a single-face run reports (:func:`make_face_finder` with
``all_faces=False``): the largest box, except that among boxes at least
:data:`COMPARABLE_AREA` times as large as the largest, the one nearest the image centre wins.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

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
        import dlib  # noqa: F401
    except ImportError:
        return False
    return True


class DlibHogFaceDetector:
    """dlib's HOG frontal face detector (5 sub-detectors: frontal, left, right, tilted).

    Args:
        min_face: smallest face side (pixels of the input image) to find; the image is upsampled
            by powers of 2 until dlib's 80-pixel window covers it (at most ``max_upsample``).
        max_upsample: cap on the upsampling steps (each one quadruples the work).
        max_pixels: no upsampling step beyond this many pixels (large photographs are searched
            at their own size: their faces are rarely tiny, and 4x the pixels costs 4x the time).
        threshold: detection score threshold (dlib's default 0; lower finds more, and more
            false faces).
        adapt: apply :data:`DLIB_HOG_ADAPTATION` (else dlib's own boxes).

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
        max_pixels: int = 4_000_000,
    ) -> None:
        try:
            import dlib
        except ImportError:
            raise FaceFinderUnavailable(_install_hint("the 'dlib' face finder")) from None
        self._detector = dlib.get_frontal_face_detector()
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

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Faces in ``image: (H, W, 3)`` uint8 RGB (or ``(H, W)`` gray) -> ``(N, 4)``,
        largest first."""
        img = np.ascontiguousarray(image, dtype=np.uint8)
        rects, _scores, _kinds = self._detector.run(
            img, self.upsample_steps(img.shape), self.threshold
        )
        if len(rects) == 0:
            return np.zeros((0, 4), dtype=np.float64)
        # dlib rectangles are inclusive pixel ranges: edges half a pixel outside
        boxes = np.array(
            [[r.left() - 0.5, r.top() - 0.5, r.right() + 0.5, r.bottom() + 0.5] for r in rects]
        )
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        boxes = boxes[np.argsort(-area, kind="stable")]
        return adapt_boxes(boxes, DLIB_HOG_ADAPTATION) if self.adapt else boxes


def choose_face(boxes: np.ndarray, image_shape: tuple[int, ...]) -> int:
    """Index of the face a single-face run reports among ``boxes: (N, 4)``, ``N >= 1``.

    The largest box, unless several are comparable in size (area at least
    :data:`COMPARABLE_AREA` of the largest): then the one whose centre is nearest the image
    centre (ties: the larger, then the first).
    """
    b = validate_boxes(boxes)
    if len(b) == 0:
        raise ValueError("choose_face needs at least one box")
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    h, w = image_shape[:2]
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    dist = np.linalg.norm((b[:, :2] + b[:, 2:]) / 2 - centre, axis=1)
    comparable = np.flatnonzero(area >= COMPARABLE_AREA * area.max())
    order = np.lexsort((comparable, -area[comparable], dist[comparable]))
    return int(comparable[order[0]])


def select_faces(boxes: np.ndarray, image_shape: tuple[int, ...], all_faces: bool) -> np.ndarray:
    """All ``boxes`` with the chosen one (:func:`choose_face`) first, or only the chosen one."""
    b = validate_boxes(boxes)
    if len(b) == 0:
        return b
    i = choose_face(b, image_shape)
    if not all_faces:
        return b[i : i + 1]
    return np.concatenate([b[i : i + 1], np.delete(b, i, axis=0)])


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


def make_face_finder(
    name: str = "auto", all_faces: bool = False, notify: Callable[[str], None] = _warn
) -> Callable[[np.ndarray], np.ndarray]:
    """A face finder for :class:`otmark.inference.Detector` (``face_finder=``).

    Returns ``finder(image) -> (N, 4)`` boxes: the chosen face only (:func:`choose_face`), or
    with ``all_faces`` every face, the chosen one first. See :func:`build_finder` for ``name``
    and ``notify``.
    """
    raw = build_finder(name, notify)

    def finder(image: np.ndarray) -> np.ndarray:
        return select_faces(raw(image), np.asarray(image).shape, all_faces)

    return finder
