"""300W in its official folder layout: ``.pts`` files next to their images.

Layout under ``root``::

    lfpw/trainset/*.png|*.pts   lfpw/testset/...   helen/trainset/*.jpg|*.pts   helen/testset/...
    afw/...   ibug/...   300W/01_Indoor/...   300W/02_Outdoor/...

Splits: ``train`` = lfpw train + helen train + afw (3,148 faces); ``common`` = lfpw test + helen
test (554); ``challenge`` = ibug (135); ``full`` = common + challenge (689); ``test`` = 300W
indoor + outdoor (600). Each ``.pts`` is one face; its image is the file with the same stem and an
image suffix (``.png``, ``.jpg``, ...) in the same folder. Sample ids are the ``.pts`` paths
relative to ``root`` without suffix (``lfpw/trainset/image_0001``). ``box`` is ``None`` (crops
come from the landmarks, as in HRNet).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from otmark.datasets.common import (
    IMAGE_SUFFIXES,
    check_landmarks,
    check_split,
    default_names,
    existing_root,
    iter_images,
)
from otmark.datasets.errors import Collector, DatasetError, LoadResult
from otmark.datasets.fileio import write_image
from otmark.datasets.pts import read_pts, write_pts
from otmark.datasets.records import ImageRef, Sample
from otmark.schemes import get_scheme

SCHEME = "300w"
FOLDERS: tuple[str, ...] = (
    "lfpw/trainset",
    "helen/trainset",
    "afw",
    "lfpw/testset",
    "helen/testset",
    "ibug",
    "300W/01_Indoor",
    "300W/02_Outdoor",
)
SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("lfpw/trainset", "helen/trainset", "afw"),
    "common": ("lfpw/testset", "helen/testset"),
    "challenge": ("ibug",),
    "full": ("lfpw/testset", "helen/testset", "ibug"),
    "test": ("300W/01_Indoor", "300W/02_Outdoor"),
}


def load_pts_folder(
    folder: Path, root: Path, scheme: str, collector: Collector, attributes: dict | None = None
) -> None:
    """Add one sample per ``folder/*.pts`` (sorted) to ``collector``; the image is the file of
    the same stem with an image suffix. Bad files go through ``collector.fail``."""
    k = get_scheme(scheme).num_points
    images: dict[str, Path] = {}
    pts_files: list[Path] = []
    with os.scandir(folder) as it:
        for entry in it:
            p = Path(entry.path)
            suffix = p.suffix.lower()
            if suffix == ".pts":
                pts_files.append(p)
            elif suffix in IMAGE_SUFFIXES:
                prev = images.get(p.stem)
                if prev is None or IMAGE_SUFFIXES.index(suffix) < IMAGE_SUFFIXES.index(
                    prev.suffix.lower()
                ):
                    images[p.stem] = p
    for pts in sorted(pts_files):
        try:
            landmarks = read_pts(pts, num_points=k)
            image = images.get(pts.stem)
            if image is None:
                raise DatasetError(
                    pts, f"no image {pts.stem}{{{','.join(IMAGE_SUFFIXES)}}} next to it"
                )
        except DatasetError as exc:
            collector.fail(exc)
            continue
        sample_id = pts.relative_to(root).with_suffix("").as_posix()
        collector.add(
            Sample(
                ImageRef(image), landmarks, scheme, attributes=dict(attributes or {}), id=sample_id
            )
        )


def load_300w(root: str | os.PathLike, split: str, on_error: str = "raise") -> LoadResult:
    """Load a 300W split from the official layout (see the module docstring).

    Returns a :class:`LoadResult` of ``(68, 2)``-landmark samples (scheme ``300w``), in folder
    order then file-name order. Raises :class:`DatasetError` for a missing root or split folder,
    and (``on_error="raise"``) for a malformed ``.pts`` or a missing image.
    """
    check_split("300w", split, tuple(SPLITS))
    base = existing_root(root)
    collector = Collector(on_error)
    for folder in SPLITS[split]:
        d = base / folder
        if not d.is_dir():
            raise DatasetError(d, f"folder of 300W split {split!r} does not exist")
        load_pts_folder(d, base, SCHEME, collector, {"subset": folder})
    return collector.result


def write_300w(
    root: str | os.PathLike,
    folder: str,
    samples: Sequence[Sample],
    images: Sequence[np.ndarray] | None = None,
    names: Sequence[str] | None = None,
    suffix: str = ".png",
) -> list[Path]:
    """Write samples into one folder of the 300W layout: an image and a ``.pts`` per sample.

    Args:
        root: dataset root.
        folder: one of :data:`FOLDERS` (e.g. ``"lfpw/trainset"``, ``"ibug"``).
        samples: samples with ``(68, 2)`` landmarks (0-based; written 1-based).
        images: ``(H, W, 3)`` uint8 RGB per sample; default: ``sample.load_image()``.
        names: image file names (stem used for the ``.pts``); default from the sample ids.
        suffix: image suffix when ``names`` is not given (``.png`` is lossless).
    Returns:
        the written ``.pts`` paths.
    """
    if folder not in FOLDERS:
        raise ValueError(f"300W folder must be one of {FOLDERS}, got {folder!r}")
    k = get_scheme(SCHEME).num_points
    names = list(names) if names is not None else default_names(samples, suffix)
    if len(names) != len(samples) or len(set(names)) != len(names):
        raise ValueError("names must be unique, one per sample")
    out_dir = Path(root) / folder
    written = []
    for sample, name, image in zip(samples, names, iter_images(samples, images)):
        lm = check_landmarks(sample.landmarks, k, f"sample {sample.id or name}")
        write_image(out_dir / name, image)
        pts = (out_dir / name).with_suffix(".pts")
        write_pts(pts, lm)
        written.append(pts)
    return written
