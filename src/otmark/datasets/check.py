"""Per-sample sanity checks: what makes a sample unusable for training or scoring.

This is the one per-sample check of otmark: ``otmark check-data`` (:func:`check_samples`) and
the ``--on-error raise|skip`` screening of ``otmark train`` and ``otmark evaluate``
(:func:`otmark.datasets.validity.screen_samples`) both call :func:`check_sample`.

:func:`check_sample` returns the problems of one sample (an empty list when it is usable):

- landmarks that are not ``(K, 2)`` finite numbers for the scheme, or that all coincide; with
  ``missing_ok`` (training) a point NaN in both coordinates is a missing point, while infinite
  values, half-NaN points and samples with every point missing stay problems;
- an NME normaliser that is zero, near zero or undefined: the inter-ocular distance
  (:func:`otmark.schemes.normaliser`) below :data:`MIN_NORMALISER_PX` pixels or below
  :data:`MIN_NORMALISER_FRACTION` of the landmarks' extent, or a missing eye corner; for
  box-normalised schemes (AFLW) a box size below :data:`MIN_NORMALISER_PX`, or neither
  ``box_size`` nor a face box;
- a face box with non-finite values or no area;
- when the image is decoded (the default): an image that cannot be read or is truncated, one
  smaller than :data:`MIN_IMAGE_SIDE` pixels on a side (:func:`image_size_problem`), and
  landmarks more than one image size outside the image (x outside ``[-W, 2W]`` or y outside
  ``[-H, 2H]``).

:func:`truncated_image` (:func:`truncation` on bytes) finds JPEG/PNG files cut short (which
decoders fill silently).
:func:`sample_problems` runs it over a split, decoding each image once (each video once, front
to back; image files on a few threads); :func:`check_samples` pairs the problems with
:func:`sample_location`, which names a sample's file for messages (``path``, ``path@frame`` or
``path:member[index]``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from otmark.datasets.records import Sample
from otmark.schemes import get_scheme, normaliser
from otmark.schemes.scheme import INTEROCULAR

#: images smaller than this many pixels on a side are degenerate (a face crop would be blank)
MIN_IMAGE_SIDE = 8
#: smallest usable NME normaliser, in pixels
MIN_NORMALISER_PX = 1.0
#: smallest usable inter-ocular distance as a fraction of the landmarks' extent (larger side)
MIN_NORMALISER_FRACTION = 0.02
#: landmarks may lie at most this many image sizes outside the image
MAX_OUTSIDE_IMAGES = 1.0


def sample_location(sample: Sample, with_id: bool = False) -> str:
    """The sample's file for messages: ``path``, ``path@frame`` (video) or
    ``path:member[index]`` (an image inside a container file); ``with_id`` appends
    `` (id <id>)`` when the id is not already part of it (faces sharing one image)."""
    ref = sample.image
    if ref.member is not None:
        where = f"{ref.path}:{ref.member}[{int(ref.frame or 0)}]"
    elif ref.frame is not None:
        where = f"{ref.path}@{int(ref.frame)}"
    else:
        where = str(ref.path)
    if with_id and sample.id and sample.id not in where:
        return f"{where} (id {sample.id})"
    return where


#: how a complete file of each format ends (decoders fill a truncated JPEG with grey silently)
_END_MARKERS = {b"\xff\xd8": (b"\xff\xd9", "JPEG"), b"\x89P": (b"IEND\xaeB`\x82", "PNG")}


def truncation(data: bytes) -> str | None:
    """A problem when ``data`` (a whole JPEG or PNG file) lacks its end marker, else None.

    Trailing NUL or whitespace bytes after the marker are tolerated; other formats pass.
    """
    marker = _END_MARKERS.get(bytes(data[:2]))
    if marker is None or bytes(data[-64:]).rstrip(b"\x00\r\n\t ").endswith(marker[0]):
        return None
    return f"{marker[1]} file is truncated (no end marker; {len(data)} bytes)"


def truncated_image(path: str | Path) -> str | None:
    """:func:`truncation` of the file at ``path`` (None when it cannot be read: the decoder
    names that problem)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    return truncation(data)


def _decode(sample: Sample) -> tuple[np.ndarray | None, str | None]:
    """``(image, None)`` or ``(None, problem)`` (the problem without the file name)."""
    ref = sample.image
    if ref.frame is None and ref.member is None:
        problem = truncated_image(ref.path)
        if problem is not None:
            return None, problem
    try:
        image = sample.load_image()
    except Exception as exc:  # noqa: BLE001 -- any decoder failure is a problem of this sample
        text = str(exc) or type(exc).__name__
        prefix = f"{sample.image.path}: "
        return None, text[len(prefix) :] if text.startswith(prefix) else text
    return image, None


def image_size_problem(width: int, height: int) -> str | None:
    """A problem when an image is smaller than :data:`MIN_IMAGE_SIDE` on a side, else None."""
    if min(width, height) >= MIN_IMAGE_SIDE:
        return None
    return f"image is {width}x{height} pixels, smaller than {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}"


def _landmark_problems(lm: np.ndarray, scheme, missing_ok: bool) -> list[str]:
    """Shape and finiteness of ``lm``; with ``missing_ok`` a point NaN in x and y is missing."""
    if lm.shape != (scheme.num_points, 2):
        return [
            f"landmarks have shape {lm.shape}, scheme {scheme.name} needs ({scheme.num_points}, 2)"
        ]
    if not missing_ok:
        return [] if np.isfinite(lm).all() else ["landmarks contain NaN or infinite values"]
    if np.isinf(lm).any():
        return ["landmarks contain infinite values"]
    nan = np.isnan(lm)
    half = np.flatnonzero(nan.any(axis=1) & ~nan.all(axis=1))
    if len(half):
        return [f"point {int(half[0])} has one NaN coordinate (a missing point is NaN in x and y)"]
    if nan.all():
        return ["no landmark is annotated (all are NaN)"]
    return []


def _normaliser_problems(sample: Sample, lm: np.ndarray, scheme) -> list[str]:
    if scheme.normaliser_kind == INTEROCULAR:
        i, j = scheme.normaliser_indices
        d = float(normaliser(lm[None], scheme)[0])
        present = lm[~np.isnan(lm).any(axis=1)]
        extent = float(np.max(present.max(axis=0) - present.min(axis=0)))
        what = f"inter-ocular distance (points {i}, {j})"
        if not np.isfinite(d):
            return [f"{what} is undefined: an eye corner is missing (NaN), the NME is undefined"]
        what = f"{what} is {d:.3g} px"
        if d < MIN_NORMALISER_PX:
            return [f"{what}, below {MIN_NORMALISER_PX:g} px: the NME is undefined"]
        if d < MIN_NORMALISER_FRACTION * extent:
            return [
                f"{what}, below {MIN_NORMALISER_FRACTION:g} of the landmarks' extent "
                f"({extent:.3g} px): the eye corners are probably mislabelled"
            ]
        return []
    size = sample.attributes.get("box_size")
    if size is not None:
        value = float(size)
        what = "box_size"
    elif sample.box is not None:
        value = float(normaliser(lm[None], scheme, boxes=np.asarray(sample.box)[None])[0])
        what = "face box size"
    else:
        return [f"scheme {scheme.name} is normalised by the face box, but the sample has none"]
    if not np.isfinite(value) or value < MIN_NORMALISER_PX:
        return [f"{what} {value:.3g} px is below {MIN_NORMALISER_PX:g} px: the NME is undefined"]
    return []


def _range_problems(lm: np.ndarray, width: int, height: int) -> list[str]:
    lo = -MAX_OUTSIDE_IMAGES * np.array([width, height])
    hi = (1 + MAX_OUTSIDE_IMAGES) * np.array([width, height])
    with np.errstate(invalid="ignore"):
        outside = np.any((lm < lo) | (lm > hi), axis=1)
    if not outside.any():
        return []
    j = int(np.flatnonzero(outside)[0])
    x, y = (float(v) for v in lm[j])
    return [
        f"{int(outside.sum())} landmark(s) more than one image size outside the "
        f"{width}x{height} image, e.g. point {j} at ({x:.6g}, {y:.6g})"
    ]


def check_sample(
    sample: Sample,
    scheme: str | None = None,
    *,
    decode: bool = True,
    image: np.ndarray | None = None,
    missing_ok: bool = False,
) -> list[str]:
    """The problems of one sample, each a short sentence without the file name; ``[]`` if usable.

    Args:
        sample: the sample (landmarks ``(K, 2)``, image reference, optional box / attributes).
        scheme: landmark scheme (default: ``sample.scheme``).
        decode: also decode the image and check its size and the landmark range.
        image: the already decoded ``(H, W, 3)`` image (skips decoding; implies ``decode``).
        missing_ok: a point whose x and y are both NaN is a missing point, not a problem (for
            training, whose targets leave such points out); infinite values, a point with one
            NaN coordinate, all points missing or a missing eye corner (no normaliser) remain
            problems. Without it (scoring: the NME needs every point) any NaN is a problem.
    Returns:
        problems, e.g. ``["inter-ocular distance (points 36, 45) is 0 px, below 1 px: ..."]``;
        name the sample with :func:`sample_location`.
    """
    s = get_scheme(scheme or sample.scheme)
    lm = np.asarray(sample.landmarks, dtype=np.float64)
    problems = _landmark_problems(lm, s, missing_ok)
    usable = not problems
    if usable:
        present = lm[~np.isnan(lm).any(axis=1)]
        if np.ptp(present, axis=0).max() <= 0:
            problems.append("all landmarks coincide: the face has no extent")
        else:
            problems += _normaliser_problems(sample, lm, s)
    if sample.box is not None:
        box = np.asarray(sample.box, dtype=np.float64).reshape(-1)
        if box.shape != (4,) or not np.isfinite(box).all():
            problems.append(f"face box {box.tolist()} is not 4 finite numbers")
        elif box[2] <= box[0] or box[3] <= box[1]:
            problems.append(f"face box {box.tolist()} has no area (x1 <= x0 or y1 <= y0)")
    if not decode and image is None:
        return problems
    if image is None:
        image, problem = _decode(sample)
        if problem is not None:
            return problems + [problem]
    height, width = np.asarray(image).shape[:2]
    problem = image_size_problem(width, height)
    if problem is not None:
        problems.append(problem)
    if usable:
        problems += _range_problems(lm, width, height)
    return problems


def _video_images(samples: Sequence[Sample]) -> Iterable[tuple[int, np.ndarray | None, str]]:
    """``(index, image or None, problem)`` for video-frame samples, reading each video once."""
    import cv2  # lazy: keeps `otmark --help` (which imports otmark.datasets) free of cv2

    by_video: dict[Path, list[int]] = {}
    for i, s in enumerate(samples):
        by_video.setdefault(Path(s.image.path), []).append(i)
    for path, indices in by_video.items():
        wanted: dict[int, list[int]] = {}
        for i in indices:
            wanted.setdefault(int(samples[i].image.frame), []).append(i)
        cap = cv2.VideoCapture(str(path)) if path.is_file() else None
        try:
            if cap is None or not cap.isOpened():
                why = "video file does not exist" if cap is None else "not a readable video"
                for i in indices:
                    yield i, None, why
                continue
            announced = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
            frame, last = 0, max(wanted)
            while frame <= last:
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    break
                for i in wanted.pop(frame, []):
                    yield i, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), ""
                frame += 1
            for f, rest in wanted.items():
                for i in rest:
                    yield (
                        i,
                        None,
                        f"frame {f} could not be decoded: frames decoded {frame}, "
                        f"announced {announced} (truncated video?)",
                    )
        finally:
            if cap is not None:
                cap.release()


def sample_problems(
    samples: Sequence[Sample],
    scheme: str | None = None,
    *,
    decode: bool = True,
    missing_ok: bool = False,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[list[str]]:
    """:func:`check_sample` of every sample: ``problems[i]`` belongs to ``samples[i]``.

    Each image is decoded once: video frames by reading each video once from the start (no
    seeking), images inside container files (COFW ``.mat``) in order on one thread, image files
    on ``workers`` threads (default: up to 8, the CPU count).
    ``progress(n)`` is called after each ``n`` samples checked.
    """
    found: dict[int, list[str]] = {}
    video = [
        i for i, s in enumerate(samples) if s.image.frame is not None and s.image.member is None
    ]
    if decode and video:
        subset = [samples[i] for i in video]
        for j, img, problem in _video_images(subset):
            i = video[j]
            if img is None:
                found[i] = check_sample(samples[i], scheme, decode=False, missing_ok=missing_ok) + [
                    problem
                ]
            else:
                found[i] = check_sample(samples[i], scheme, image=img, missing_ok=missing_ok)
            if progress is not None:
                progress(1)
    rest = [i for i in range(len(samples)) if i not in found]
    # images inside a container file are read in order on one thread (a v5 .mat is loaded
    # whole, once, into a small cache: parallel first reads would each load it)
    members = [i for i in rest if samples[i].image.member is not None]
    files = [i for i in rest if samples[i].image.member is None]

    def one(i: int) -> list[str]:
        return check_sample(samples[i], scheme, decode=decode, missing_ok=missing_ok)

    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, problems in zip(files, pool.map(one, files), strict=True):
            found[i] = problems
            if progress is not None:
                progress(1)
    for i in members:
        found[i] = one(i)
        if progress is not None:
            progress(1)
    return [found[i] for i in range(len(samples))]


def check_samples(
    samples: Sequence[Sample],
    scheme: str | None = None,
    *,
    decode: bool = True,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[str, str]]:
    """``(location, problem)`` of every problem of ``samples`` (in sample order), from
    :func:`sample_problems`; locations from :func:`sample_location`."""
    found = sample_problems(samples, scheme, decode=decode, progress=progress)
    return [(sample_location(s), p) for s, problems in zip(samples, found) for p in problems]
