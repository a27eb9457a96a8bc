"""Small helpers shared by the readers and writers."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from otmark.datasets.errors import DatasetError
from otmark.datasets.records import Sample

#: image file suffixes the folder readers look for, in order of preference
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp")


def existing_root(root: str | os.PathLike) -> Path:
    """``root`` as a Path; :class:`DatasetError` if it is not an existing folder."""
    path = Path(root)
    if not path.is_dir():
        raise DatasetError(path, "dataset root does not exist or is not a folder")
    return path


def check_split(dataset: str, split: str, splits: Sequence[str]) -> None:
    if split not in splits:
        raise ValueError(f"{dataset}: unknown split {split!r}; known: {', '.join(splits)}")


def iter_images(samples: Sequence[Sample], images: Sequence[np.ndarray] | None) -> Iterator:
    """The image of each sample: ``images[i]`` when given, else ``samples[i].load_image()``."""
    if images is not None and len(images) != len(samples):
        raise ValueError(f"{len(images)} images given for {len(samples)} samples")
    for i, s in enumerate(samples):
        yield images[i] if images is not None else s.load_image()


def check_landmarks(landmarks, num_points: int, what: str) -> np.ndarray:
    """``(K, 2)`` float64 copy of ``landmarks``; ``ValueError`` naming ``what`` on a wrong shape
    or non-finite values (the writers refuse to write what the readers would reject)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (num_points, 2):
        raise ValueError(f"{what}: landmarks must be ({num_points}, 2), got {lm.shape}")
    if not np.all(np.isfinite(lm)):
        raise ValueError(f"{what}: landmarks contain NaN or infinite values")
    return lm


def hrnet_centre_scale(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """HRNet's crop of a ``(K, 2)`` shape: the integer-aligned tight box's centre and
    ``scale = side / 200`` (``docs/conventions.md`` §2, before the 1.25 context factor)."""
    x0, y0 = np.floor(landmarks.min(axis=0))
    x1, y1 = np.ceil(landmarks.max(axis=0))
    centre = np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0])
    return centre, float(max(x1 - x0, y1 - y0) / 200.0)


def square_box(centre, side: float) -> np.ndarray:
    """``(4,)`` box ``x0, y0, x1, y1`` of a square of ``side`` centred at ``centre``."""
    cx, cy = float(centre[0]), float(centre[1])
    h = side / 2.0
    return np.array([cx - h, cy - h, cx + h, cy + h])


def default_names(samples: Sequence[Sample], suffix: str, prefix: str = "image") -> list[str]:
    """File stems for written samples: the last part of ``sample.id`` when usable and unique,
    else ``<prefix>_<index>``; always with ``suffix``."""
    stems = []
    for i, s in enumerate(samples):
        stem = Path(s.id.split("@")[0]).stem if s.id else ""
        stems.append(stem or f"{prefix}_{i:05d}")
    if len(set(stems)) != len(stems):
        stems = [f"{prefix}_{i:05d}" for i in range(len(samples))]
    return [st + suffix for st in stems]


def parse_floats(fields: Sequence[str], path, line: int, what: str) -> np.ndarray:
    """Fields as finite float64 values; :class:`DatasetError` naming ``path:line`` otherwise."""
    try:
        values = np.array(fields, dtype=np.float64)
    except ValueError:
        bad = next(f for f in fields if not _is_float(f))
        raise DatasetError(path, f"non-numeric {what}: {bad!r}", line=line) from None
    if not np.all(np.isfinite(values)):
        raise DatasetError(path, f"NaN or infinite {what}", line=line)
    return values


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
