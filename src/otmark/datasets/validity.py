"""Is a sample usable for training or scoring? One check per sample, and a screen over a split.

:func:`sample_problem` is the single per-sample check used by ``otmark train`` and
``otmark evaluate`` (``--on-error skip|raise``); :func:`screen_samples` applies it to a split,
logs what it leaves out and enforces the largest bad fraction.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from otmark.datasets.errors import DatasetError

#: landmarks further than this many image sides outside the image are absurd
MAX_OUTSIDE = 1.0
#: images with a side below this many pixels cannot hold a face crop
MIN_SIDE = 8


def _image_shape(sample) -> tuple[int, int] | None:
    """``(H, W)`` of a sample's decoded image (None for video frames and container members,
    which are not decoded here: seeking one frame per sample would cost more than the
    training). Raises ``OSError``/``ValueError`` when the image cannot be decoded."""
    ref = sample.image
    if ref.frame is not None or ref.member is not None:
        return None
    image = sample.load_image()
    return int(image.shape[0]), int(image.shape[1])


def _normaliser_of(sample, landmarks: np.ndarray) -> float:
    """The sample's NME normaliser (the face box's for box schemes, as the scoring does)."""
    from otmark.schemes import get_scheme, normaliser

    scheme = get_scheme(sample.scheme)
    kwargs: dict = {}
    if scheme.normaliser_kind != "interocular":
        if "box_size" in sample.attributes:
            kwargs["box_sizes"] = np.array([float(sample.attributes["box_size"])])
        elif sample.box is not None:
            kwargs["boxes"] = np.asarray(sample.box, dtype=np.float64).reshape(1, 4)
        else:
            lo, hi = np.nanmin(landmarks, axis=0), np.nanmax(landmarks, axis=0)
            kwargs["boxes"] = np.concatenate([lo, hi])[None]
    return float(normaliser(landmarks[None], scheme.name, **kwargs)[0])


def sample_problem(sample, decode: bool = True) -> str | None:
    """What makes ``sample`` unusable, as a short phrase, or None when it is fine.

    Checks, in order: the landmarks are finite where annotated (NaN marks a missing point) and
    not all missing; the image decodes (``decode``; image files only) and has sides of at least
    :data:`MIN_SIDE` pixels; no landmark lies more than :data:`MAX_OUTSIDE` image sides outside
    the image; the NME normaliser (inter-ocular distance or face box size) is finite and > 0.
    """
    lm = np.asarray(sample.landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[1] != 2:
        return f"landmarks have shape {lm.shape}, expected (K, 2)"
    if np.isinf(lm).any():
        return "landmarks contain inf"
    if np.isnan(lm).all():
        return "no landmark is annotated"
    if decode:
        try:
            shape = _image_shape(sample)
        except (OSError, ValueError) as exc:
            text = str(exc)
            path = str(sample.image.path)
            return text[len(path) + 2 :] if text.startswith(path + ": ") else text
        if shape is not None:
            h, w = shape
            if min(h, w) < MIN_SIDE:
                return f"image is {w}x{h} px, too small for a face crop"
            lo, hi = np.nanmin(lm, axis=0), np.nanmax(lm, axis=0)
            margin = MAX_OUTSIDE * np.array([w, h])
            if (lo < -margin).any() or (hi > np.array([w, h]) + margin).any():
                return (
                    f"landmarks reach ({lo[0]:.0f}, {lo[1]:.0f})-({hi[0]:.0f}, {hi[1]:.0f}), "
                    f"far outside the {w}x{h} image"
                )
    try:
        norm = _normaliser_of(sample, lm)
    except ValueError as exc:
        return f"no NME normaliser ({exc})"
    if not np.isfinite(norm) or norm <= 0:
        return f"NME normaliser (inter-ocular distance or box size) is {norm:g}"
    return None


@dataclass
class ScreenResult:
    """The usable samples of a split and ``(location, problem)`` of each one left out."""

    samples: list = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def location(sample) -> str:
    """``image path`` (and ``#frame``) plus the sample id, for messages."""
    ref = sample.image
    where = str(ref.path) + (f"#{ref.frame}" if ref.frame is not None else "")
    return f"{where} (id {sample.id})" if sample.id and sample.id not in where else where


def screen_samples(
    samples: Sequence,
    what: str,
    on_error: str = "raise",
    max_bad_fraction: float = 0.05,
    log: Callable[[str], None] = print,
    check: Callable[..., str | None] = sample_problem,
    workers: int | None = None,
    limit_name: str = "data.max_bad_fraction",
) -> ScreenResult:
    """Check every sample of a split with ``check`` (default :func:`sample_problem`).

    Args:
        samples: the split.
        what: its name in messages (e.g. ``"training split 'train'"``).
        on_error: ``raise``: the first bad sample raises :class:`DatasetError` naming its file;
            ``skip``: bad samples are left out, each logged with its file and problem, then one
            summary line.
        max_bad_fraction: with ``skip``, more bad samples than this fraction raise
            :class:`DatasetError` (the split is probably wrong, not a few files).
        log: receives the messages.
        check: the per-sample check ``(sample) -> problem or None``.
        workers: decoding threads (default: up to 8, the CPU count).
        limit_name: the setting of ``max_bad_fraction``, named in the message.

    Returns:
        :class:`ScreenResult` (the samples in their order).
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        problems = list(pool.map(check, samples))
    result = ScreenResult()
    for sample, problem in zip(samples, problems, strict=True):
        if problem is None:
            result.samples.append(sample)
            continue
        if on_error == "raise":
            raise DatasetError(
                location(sample), f"{problem} (in the {what}; --on-error skip leaves it out)"
            )
        result.skipped.append((location(sample), problem))
        log(f"skipped {location(sample)}: {problem}")
    n, bad = len(samples), len(result.skipped)
    if bad:
        log(f"{what}: skipped {bad} of {n} samples ({100 * bad / n:.1f}%)")
        if bad > max_bad_fraction * n:
            first, why = result.skipped[0]
            raise DatasetError(
                first,
                f"{why}; {bad} of {n} samples of the {what} are bad ({100 * bad / n:.1f}%), "
                f"more than {limit_name} = {max_bad_fraction:g}",
            )
    return result
