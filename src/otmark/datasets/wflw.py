"""WFLW from its official annotation lists.

Layout under ``root``::

    WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_{train,test}.txt
    WFLW_images/<image path as in the list>

Each list line: 196 numbers (98 ``x y`` pairs), 4 box numbers ``x_min y_min x_max y_max``, 6
attribute flags (pose, expression, illumination, make-up, occlusion, blur), the image path.
WFLW coordinates are **0-based floats** on disk (HRNet and mmpose use them unchanged): they are
read and written as they are.

Splits: ``train`` (7,500), ``test`` (2,500) and the test subsets ``test_pose``,
``test_expression``, ``test_illumination``, ``test_makeup``, ``test_occlusion``, ``test_blur``
(test faces whose flag is 1). Sample ids are ``<image path>@<line>`` (an image can hold several
faces); ``attributes`` holds the six flags by name and ``image_path``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from otmark.datasets.common import (
    check_landmarks,
    check_split,
    default_names,
    existing_root,
    iter_images,
    parse_floats,
)
from otmark.datasets.errors import Collector, DatasetError, LoadResult
from otmark.datasets.fileio import format_number, write_image, write_text_atomic
from otmark.datasets.records import ImageRef, Sample
from otmark.schemes import get_scheme

SCHEME = "wflw"
ATTRIBUTES: tuple[str, ...] = ("pose", "expression", "illumination", "makeup", "occlusion", "blur")
LIST_DIR = "WFLW_annotations/list_98pt_rect_attr_train_test"
IMAGE_DIR = "WFLW_images"
SPLITS: tuple[str, ...] = ("train", "test") + tuple(f"test_{a}" for a in ATTRIBUTES)


def list_path(root: str | os.PathLike, part: str) -> Path:
    """Path of the list file of ``part`` (``"train"`` or ``"test"``)."""
    return Path(root) / LIST_DIR / f"list_98pt_rect_attr_{part}.txt"


def parse_line(text: str, path, line_no: int, num_points: int) -> tuple:
    """One list line -> ``(landmarks (K, 2), box (4,), flags (6,) int, image_path)``."""
    fields = text.split()
    n_expected = 2 * num_points + 4 + len(ATTRIBUTES) + 1
    if len(fields) != n_expected:
        raise DatasetError(
            path,
            f"expected {n_expected} fields ({2 * num_points} coordinates, 4 box numbers, "
            f"{len(ATTRIBUTES)} attribute flags, image path), got {len(fields)}",
            line=line_no,
        )
    numbers = parse_floats(fields[:-1], path, line_no, "number")
    k2 = 2 * num_points
    landmarks = numbers[:k2].reshape(num_points, 2)
    box = numbers[k2 : k2 + 4]
    flags = numbers[k2 + 4 :]
    if not np.all((flags == 0.0) | (flags == 1.0)):
        raise DatasetError(
            path, f"attribute flags must be 0 or 1, got {flags.tolist()}", line=line_no
        )
    return landmarks, box, flags.astype(np.int64), fields[-1]


def load_wflw(root: str | os.PathLike, split: str, on_error: str = "raise") -> LoadResult:
    """Load a WFLW split (see the module docstring) as ``(98, 2)``-landmark samples."""
    check_split("wflw", split, SPLITS)
    base = existing_root(root)
    part = "train" if split == "train" else "test"
    subset = split[len("test_") :] if split.startswith("test_") else None
    path = list_path(base, part)
    if not path.is_file():
        raise DatasetError(path, "WFLW annotation list does not exist")
    k = get_scheme(SCHEME).num_points
    collector = Collector(on_error)
    image_dir = base / IMAGE_DIR
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                collector.fail(DatasetError(path, "line is not UTF-8 text", line=line_no))
                continue
            if not text.strip():
                continue
            try:
                landmarks, box, flags, rel = parse_line(text, path, line_no, k)
                image = image_dir / rel
                if not image.is_file():
                    raise DatasetError(path, f"image {image} does not exist", line=line_no)
            except DatasetError as exc:
                collector.fail(exc)
                continue
            attributes = {name: int(v) for name, v in zip(ATTRIBUTES, flags)}
            if subset is not None and attributes[subset] != 1:
                continue
            attributes["image_path"] = rel
            collector.add(
                Sample(
                    ImageRef(image),
                    landmarks,
                    SCHEME,
                    box=box,
                    attributes=attributes,
                    id=f"{rel}@{line_no}",
                )
            )
    return collector.result


def format_line(landmarks: np.ndarray, box, flags, image_path: str) -> str:
    """One WFLW list line (no newline)."""
    numbers = [format_number(v) for v in np.asarray(landmarks, dtype=np.float64).reshape(-1)]
    numbers += [format_number(v) for v in np.asarray(box, dtype=np.float64)]
    numbers += [str(int(f)) for f in flags]
    if not image_path or any(c.isspace() for c in image_path):
        raise ValueError(f"WFLW image paths cannot be empty or contain spaces: {image_path!r}")
    return " ".join(numbers + [image_path])


def write_wflw(
    root: str | os.PathLike,
    part: str,
    samples: Sequence[Sample],
    images: Sequence[np.ndarray] | None = None,
    names: Sequence[str] | None = None,
    suffix: str = ".png",
) -> Path:
    """Write the list of ``part`` (``"train"`` or ``"test"``) and the images.

    Args:
        root: dataset root.
        part: ``"train"`` or ``"test"`` (the subsets are selected by the flags on read).
        samples: ``(98, 2)`` landmarks; ``box`` (default: the landmarks' bounding box, rounded
            outwards); flags from ``sample.attributes`` (default 0).
        images: ``(H, W, 3)`` uint8 RGB per sample; default ``sample.load_image()``.
        names: image paths relative to ``WFLW_images`` (default ``attributes["image_path"]``
            or the sample id); samples with the same name share one image file.
    Returns:
        the list file's path.
    """
    if part not in ("train", "test"):
        raise ValueError(f"WFLW part must be 'train' or 'test', got {part!r}")
    k = get_scheme(SCHEME).num_points
    if names is None:
        fallback = default_names(samples, suffix)
        names = [s.attributes.get("image_path") or fallback[i] for i, s in enumerate(samples)]
    names = list(names)
    if len(names) != len(samples):
        raise ValueError("names must have one entry per sample")
    base = Path(root)
    lines = []
    written: set[str] = set()
    for sample, name, image in zip(samples, names, iter_images(samples, images)):
        lm = check_landmarks(sample.landmarks, k, f"sample {sample.id or name}")
        box = sample.box
        if box is None:
            box = np.concatenate([np.floor(lm.min(axis=0)), np.ceil(lm.max(axis=0))])
        flags = [int(sample.attributes.get(a, 0)) for a in ATTRIBUTES]
        lines.append(format_line(lm, box, flags, name))
        if name not in written:
            write_image(base / IMAGE_DIR / name, image)
            written.add(name)
    path = list_path(base, part)
    write_text_atomic(path, "".join(line + "\n" for line in lines))
    return path
