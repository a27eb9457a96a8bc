"""Landmark tracking in video: each frame's crop placed from the previous frame's landmarks.

Running the face finder on every frame is slow and loses faces (a turned head, motion blur). A
:class:`FaceTracker` instead crops each tracked face of frame ``t`` where the training crops
were placed, from the landmarks it found in frame ``t - 1``: the tight box of the landmarks with
the crop context (:func:`otmark.transforms.centre_scale_from_landmarks`, the training rule,
through :func:`otmark.inference.recrop.crop_from_landmarks`, the rule of the detector's re-crop
passes too: a face rolled beyond the detector's ``max_roll``, when it has one, is cropped
turned upright). The face finder runs only

- on the first frame, and whenever no face is tracked;
- when a tracked face is **lost**: its heatmap confidence (:func:`heatmap_confidence`) falls
  below ``threshold`` (the face left the crop: a cut, the face left the frame, an occlusion);
  the lost track ends (and its smoothing filter with it) and the finder looks for faces in the
  same frame;
- every ``redetect_every`` frames (0: never; :data:`REDETECT_EVERY` by default), to pick up new
  faces, to replace a track by a fresh detection that the model is more confident about, and
  to drop a track that no finder box confirms unless its confidence is at least
  :data:`CONFIRM_THRESHOLD` (a track that slid onto background after a cut ends there).

A face the finder returns is predicted twice: once from its box, then from the landmarks of
that prediction (the tracking crop), so that its first result is already on the training crop.
It is reported whatever its confidence (as without tracking); a model whose confidence stays
below the threshold thus falls back to the face finder on every frame.

**Confidence.** For each landmark, the peak of its heatmap relative to the peak of the training
target: for models trained on logits (``codec.softmax``: the W, JS and soft-argmax losses) the
largest softmax probability divided by the largest value of the normalised target Gaussian of
width ``codec.sigma`` (:func:`target_peak`, about ``1 / (2 pi sigma^2)``); for heatmap-regression
models (L2) the largest heatmap value (the target peaks at 1). Each is clipped to ``[0, 1]`` and
the face's confidence is their mean over landmarks: near 1 when every landmark is as sharp as
in training, near ``1 / (target_peak * M^2)`` (a few percent) for a flat heatmap. Measured with
the packaged HRNet on generated 300VW-like frames: 0.97-0.99 on the training crop of a clear face,
0.65-0.9 under occlusion and motion blur (category 3), 0.7-0.8 on textured background or noise,
0.3-0.35 on a flat image or a crop a whole side away from the face. The default
:data:`LOST_THRESHOLD` (0.5) thus catches a crop left empty (the face left it) but not one on
textured background, which the periodic re-detection (:data:`CONFIRM_THRESHOLD`) ends.

Landmarks are smoothed over time per track by One-Euro filters on the face's centre, pose and
shape (:class:`otmark.inference.smoothing.FaceSmoother`); crops are placed from the unsmoothed
landmarks (no lag in the placement: placing them from smoothed landmarks was measured on
generated 300VW videos with ``pretrained-fast`` and lowered the smoothed jitter by 0-7 %,
while trailing a fast-moving face).

The confidence does not notice a face turned to profile: ``pretrained-fast`` keeps a confidence
above 0.9 there while its landmarks are off by up to 20 % of the normaliser, the same error as
from a crop placed on the ground truth; such frames are the model's limit, not a track sliding
off the face (``docs/detect/detect.md``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from otmark.inference.detector import Detector
from otmark.inference.finders import box_iou, find_video_faces
from otmark.inference.recrop import Placements, crop_from_landmarks
from otmark.inference.results import Face, FrameResult
from otmark.inference.smoothing import (
    BETA,
    CENTRE_BETA,
    CENTRE_MIN_CUTOFF,
    MIN_CUTOFF,
    FaceSmoother,
)
from otmark.inference.sources import Frame
from otmark.transforms import crop_to_image
from otmark.transforms.crop import centre_scale_from_box, tight_box

#: default confidence under which a tracked face counts as lost
LOST_THRESHOLD = 0.5
#: on a periodic re-detection, a track no finder box overlaps is kept only at this confidence
CONFIRM_THRESHOLD = 0.9
#: default period of the re-detection, frames
REDETECT_EVERY = 30
#: a detection whose box overlaps a track's box by this intersection-over-union is that face
SAME_FACE_IOU = 0.3


#: a crop placement: ``(centre (2,), scale, angle in degrees)``
Placement = tuple[np.ndarray, float, float]


def placement_from_landmarks(detector: Detector, landmarks: np.ndarray) -> Placement:
    """The training crop of a face from its landmarks ``(K, 2)``
    (:func:`otmark.inference.recrop.crop_from_landmarks` with the detector's scheme, crop
    context and ``max_roll``; upright when the detector has no ``max_roll``)."""
    max_roll = getattr(detector, "max_roll", None)
    return crop_from_landmarks(landmarks, detector.scheme, detector.context, max_roll)


def placement_from_box(detector: Detector, box: np.ndarray) -> Placement:
    """The upright crop of a face box ``(4,)`` (:func:`otmark.transforms.centre_scale_from_box`
    with the detector's crop context)."""
    centre, scale = centre_scale_from_box(box, context=detector.context)
    return centre, scale, 0.0


@functools.lru_cache(maxsize=16)
def target_peak(sigma: float, heatmap_size: int) -> float:
    """The largest value of the training target of a softmax model: a Gaussian of width
    ``sigma`` (heatmap pixels) centred on a pixel of an ``M x M`` heatmap, normalised to sum 1
    (``1 / sum exp(-(i^2 + j^2) / (2 sigma^2))``; about ``1 / (2 pi sigma^2)``)."""
    m = int(heatmap_size)
    d = np.arange(-m + 1, m, dtype=np.float64)
    g = np.exp(-(d**2) / (2.0 * float(sigma) ** 2))
    return float(1.0 / (g.sum() ** 2))


def heatmap_confidence(heatmaps: torch.Tensor, softmax: bool, sigma: float) -> np.ndarray:
    """Per-face confidence ``(B,)`` in ``[0, 1]`` of heatmaps ``(B, K, M, M)`` (module docstring).

    Args:
        heatmaps: the model's output.
        softmax: whether it is logits (``codec.softmax``).
        sigma: the training target's width in heatmap pixels (``codec.sigma``).
    """
    h = heatmaps.detach().float().flatten(2)  # (B, K, M*M)
    if h.shape[0] == 0:
        return np.zeros(0)
    if softmax:
        m = int(round(h.shape[-1] ** 0.5))
        peak = torch.softmax(h, dim=-1).amax(dim=-1) / target_peak(sigma, m)
    else:
        peak = h.amax(dim=-1)
    return peak.clamp(0.0, 1.0).mean(dim=-1).cpu().numpy().astype(np.float64)


def predict_at(
    detector: Detector, image: np.ndarray, placements: list[Placement]
) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks and confidences of the faces of ``image`` cropped at ``placements``.

    One backend batch for all faces (two crops each with the detector's flip test, averaged in
    image coordinates; the confidence is the mean of both).

    Args:
        detector: gives the backend, codec, scheme and flip test.
        image: ``(H, W, 3)`` uint8 RGB.
        placements: ``N`` crop placements ``(centre (2,), scale, angle)``.

    Returns:
        ``landmarks (N, K, 2)`` (before the detector's label adaptation) and ``confidence (N,)``.
    """
    n, k, codec = len(placements), detector.num_landmarks, detector.codec
    if n == 0:
        return np.zeros((0, k, 2)), np.zeros(0)
    placed = Placements(
        np.array([c for c, _, _ in placements], dtype=np.float64).reshape(-1, 2),
        np.array([s for _, s, _ in placements], dtype=np.float64),
        np.array([a for _, _, a in placements], dtype=np.float64),
    )
    heatmaps, inv = detector.heatmaps_placed([image], np.zeros(n, dtype=int), placed)
    crop_pts = codec.decode(heatmaps).cpu().numpy()
    pts = crop_to_image(crop_pts[:n], inv[:n])
    conf = heatmap_confidence(heatmaps, codec.softmax, codec.sigma)
    if detector.flip_test:
        perm = detector.scheme.flip_permutation
        pts = (pts + crop_to_image(crop_pts[n:], inv[n:], perm)) / 2.0
        conf = (conf[:n] + conf[n:]) / 2.0
    return pts, conf


@dataclass
class TrackedFrame:
    """What :class:`FaceTracker` gives for one frame.

    Attributes:
        faces: one :class:`Face` per tracked face (box: the box its crop came from; landmarks:
            smoothed when smoothing is on; ``confidence`` set).
        ids: the faces' track ids (a new id for each new track).
        found: whether the face finder ran on this frame.
        lost: how many tracks were lost on this frame.
    """

    faces: list[Face]
    ids: list[int]
    found: bool
    lost: int = 0


@dataclass
class _Track:
    id: int
    landmarks: np.ndarray  # (K, 2) unsmoothed, before label adaptation
    box: np.ndarray  # (4,) where this frame's crop came from
    confidence: float


@dataclass
class FaceTracker:
    """Tracks faces through the frames of one video (module docstring).

    Args:
        detector: the landmark detector (its face finder finds new faces).
        threshold: confidence under which a tracked face is lost.
        redetect_every: also run the face finder every this many frames (0: only when needed).
        max_faces: the most faces tracked at once (1 when only the chosen face is reported;
            None: no limit).
        smoother: smooths each track's landmarks (None: no smoothing).
        fps: frames per second (the time base of the smoothing).
        find_faces: ``(image) -> boxes (N, 4)``; default the detector's face finder.
    """

    detector: Detector
    threshold: float = LOST_THRESHOLD
    redetect_every: int = REDETECT_EVERY
    max_faces: int | None = None
    smoother: FaceSmoother | None = None
    fps: float = 25.0
    find_faces: Callable[[np.ndarray], np.ndarray] | None = None
    _tracks: list[_Track] = field(default_factory=list, init=False, repr=False)
    _next_id: int = field(default=0, init=False, repr=False)
    _count: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.redetect_every < 0:
            raise ValueError(f"redetect_every must be >= 0, got {self.redetect_every}")
        if self.max_faces is not None and self.max_faces < 1:
            raise ValueError(f"max_faces must be >= 1, got {self.max_faces}")
        if not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")

    def reset(self) -> None:
        """Forget every track (a new video)."""
        self._tracks = []
        self._count = 0
        if self.smoother is not None:
            self.smoother.reset()

    def _finder(self, image: np.ndarray, near: list[np.ndarray]) -> np.ndarray:
        """The finder's boxes by the video schedule (:func:`find_video_faces`): first near the
        faces tracked until this frame, ``near``: their landmarks ``(K, 2)`` each."""
        finder = self.find_faces if self.find_faces is not None else self.detector.face_finder
        room = self.max_faces is None or len(near) < self.max_faces
        boxes = np.array([tight_box(p) for p in near]).reshape(-1, 4)
        return find_video_faces(finder, image, boxes, room)

    def _from_boxes(self, image: np.ndarray, boxes: np.ndarray) -> list[_Track]:
        """New tracks for finder boxes: a prediction from the box, then from its landmarks."""
        det = self.detector
        first, _ = predict_at(det, image, [placement_from_box(det, b) for b in boxes])
        pts, conf = predict_at(det, image, [placement_from_landmarks(det, p) for p in first])
        return [_Track(-1, p, tight_box(q), float(c)) for p, q, c in zip(pts, first, conf)]

    def __call__(self, image: np.ndarray, t: float | None = None) -> TrackedFrame:
        """Track the faces into the next frame ``image`` ``(H, W, 3)`` uint8 RGB at time ``t``
        (seconds; default: frame count / fps)."""
        index = self._count
        self._count += 1
        t = index / self.fps if t is None else float(t)
        lost = 0
        near = [tr.landmarks for tr in self._tracks]  # where the finder looks first
        if self._tracks:
            boxes = [tight_box(tr.landmarks) for tr in self._tracks]
            pts, conf = predict_at(
                self.detector,
                image,
                [placement_from_landmarks(self.detector, tr.landmarks) for tr in self._tracks],
            )
            kept = []
            for tr, p, b, c in zip(self._tracks, pts, boxes, conf):
                if c >= self.threshold and np.isfinite(p).all():
                    kept.append(_Track(tr.id, p, b, float(c)))
                else:
                    lost += 1
            self._tracks = kept
        periodic = self.redetect_every > 0 and index % self.redetect_every == 0
        found = not self._tracks or lost > 0 or periodic
        if found:
            confirmed = self._merge(self._from_boxes(image, self._finder(image, near)))
            if periodic:
                self._tracks = [
                    tr
                    for tr in self._tracks
                    if tr.id in confirmed or tr.confidence >= CONFIRM_THRESHOLD
                ]
        faces, ids = self._output(t)
        return TrackedFrame(faces, ids, found, lost)

    def _merge(self, new: list[_Track]) -> set[int]:
        """Add the finder's faces: one overlapping a track replaces it when more confident
        (keeping the track id); the others start tracks while there is room. Returns the ids
        of the tracks a finder face overlaps or started."""
        confirmed: set[int] = set()
        limit = self.max_faces if self.max_faces is not None else len(self._tracks) + len(new)
        # in the finder's order (its chosen face first), whatever their confidence
        for cand in new:
            if self._tracks:
                track_boxes = np.stack([tight_box(tr.landmarks) for tr in self._tracks])
                iou = box_iou(tight_box(cand.landmarks), track_boxes)[0]
                j = int(np.argmax(iou))
                if iou[j] >= SAME_FACE_IOU:
                    confirmed.add(self._tracks[j].id)
                    if cand.confidence > self._tracks[j].confidence:
                        cand.id = self._tracks[j].id
                        self._tracks[j] = cand
                    continue
            if len(self._tracks) < limit:
                cand.id = self._next_id
                self._next_id += 1
                self._tracks.append(cand)
                confirmed.add(cand.id)
        return confirmed

    def _output(self, t: float) -> tuple[list[Face], list[int]]:
        if not self._tracks:
            if self.smoother is not None:
                self.smoother([], np.zeros((0, self.detector.num_landmarks, 2)), t)
            return [], []
        pts = np.stack([tr.landmarks for tr in self._tracks])
        if self.detector.adapt is not None:
            pts = self.detector.adapt(pts)
        ids = [tr.id for tr in self._tracks]
        if self.smoother is not None:
            pts = self.smoother(ids, pts, t)
        faces = [Face(tr.box, p, confidence=tr.confidence) for tr, p in zip(self._tracks, pts)]
        return faces, ids


def track_frames(
    tracker: FaceTracker, frames: Iterable[Frame]
) -> Iterator[tuple[Frame, FrameResult, TrackedFrame]]:
    """Run ``tracker`` over the frames of one video, in order; yields ``(frame, result,
    tracked)``."""
    tracker.reset()
    for frame in frames:
        tracked = tracker(frame.image)
        h, w = frame.image.shape[:2]
        yield frame, FrameResult(frame.source, frame.frame, w, h, tracked.faces), tracked


@dataclass(frozen=True)
class VideoOptions:
    """How :func:`otmark.inference.run_detection` treats a video (``otmark detect`` flags).

    Attributes:
        track: place crops from the previous frame's landmarks (:class:`FaceTracker`) when the
            faces come from the face finder; False: the finder on every frame.
        threshold: confidence under which a tracked face is lost (``--track-threshold``).
        redetect_every: run the finder every this many frames too (``--redetect-every``).
        max_faces: the most faces tracked (None: all; 1 unless ``--all-faces``).
        smooth: One-Euro smoothing of each face's landmarks (``--smooth/--no-smooth``):
            its centre and its shape apart (:class:`otmark.inference.smoothing.FaceSmoother`).
        min_cutoff: the shape filter's cutoff at rest, Hz (``--smooth-min-cutoff``).
        beta: the shape filter's speed coefficient, per face size (``--smooth-beta``).
        centre_min_cutoff: the centre filter's cutoff at rest, Hz
            (``--smooth-centre-min-cutoff``).
        centre_beta: the centre filter's speed coefficient, per face size
            (``--smooth-centre-beta``).
    """

    track: bool = True
    threshold: float = LOST_THRESHOLD
    redetect_every: int = REDETECT_EVERY
    max_faces: int | None = None
    smooth: bool = True
    min_cutoff: float = MIN_CUTOFF
    beta: float = BETA
    centre_min_cutoff: float = CENTRE_MIN_CUTOFF
    centre_beta: float = CENTRE_BETA

    def smoother(self) -> FaceSmoother | None:
        """A fresh :class:`FaceSmoother` (None without smoothing)."""
        if not self.smooth:
            return None
        return FaceSmoother(
            self.min_cutoff,
            self.beta,
            centre_min_cutoff=self.centre_min_cutoff,
            centre_beta=self.centre_beta,
        )

    def to_json(self) -> dict:
        """The options as recorded in ``landmarks.json`` (``"tracking"``)."""
        return {
            "track": self.track,
            "threshold": self.threshold,
            "redetect_every": self.redetect_every,
            "smooth": self.smooth,
            "smooth_min_cutoff": self.min_cutoff,
            "smooth_beta": self.beta,
            "smooth_centre_min_cutoff": self.centre_min_cutoff,
            "smooth_centre_beta": self.centre_beta,
        }


def smooth_results(
    pairs: Iterable[tuple[Frame, FrameResult]], smoother: FaceSmoother, fps: float
) -> Iterator[tuple[Frame, FrameResult]]:
    """Smooth the landmarks of untracked video results (given boxes): face ``i`` of a frame
    continues face ``i`` of the previous frame while the number of faces stays the same; when
    it changes every filter restarts."""
    count = -1
    for frame, result in pairs:
        n = len(result.faces)
        if n != count:
            smoother.reset()
            count = n
        if n:
            t = (frame.frame or 0) / fps
            pts = smoother(range(n), np.stack([f.landmarks for f in result.faces]), t)
            result.faces = [replace(f, landmarks=p) for f, p in zip(result.faces, pts)]
        yield frame, result


def frame_ranges(frames: Iterable[int]) -> str:
    """``"3-7, 12"`` for frames ``3, 4, 5, 6, 7, 12`` (sorted, ranges of consecutive frames)."""
    out: list[str] = []
    run: list[int] = []
    for f in sorted(set(int(f) for f in frames)):
        if run and f == run[-1] + 1:
            run.append(f)
            continue
        if run:
            out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [f]
    if run:
        out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ", ".join(out)
