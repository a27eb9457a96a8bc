"""AFLW-19 from HRNet's csv files (``image_name, scale, box_size, center_w, center_h, x0, y0,
..., x18, y18``; see :mod:`otmark.datasets.hrnet_csv` for the format and the coordinate origin).

Layout: ``root/face_landmarks_aflw_{train,test,test_frontal}.csv`` and ``root/images/<image_name>``.
Splits: ``train`` (20,000), ``full`` (the test file, 4,386) and ``frontal`` (1,314).

``box_size`` is AFLW's NME normaliser: it is kept in ``sample.attributes["box_size"]`` (see
``otmark.schemes.normaliser``); ``sample.box`` is the square of side ``200 * scale``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from otmark.datasets.common import check_split, existing_root
from otmark.datasets.errors import LoadResult
from otmark.datasets.hrnet_csv import IMAGE_FOLDER, load_csv_split, write_csv_split
from otmark.datasets.records import Sample

SCHEME = "aflw"
FILES: dict[str, str] = {
    "train": "face_landmarks_aflw_train.csv",
    "full": "face_landmarks_aflw_test.csv",
    "frontal": "face_landmarks_aflw_test_frontal.csv",
}


def load_aflw(
    root: str | os.PathLike, split: str, on_error: str = "raise", one_based: bool = False
) -> LoadResult:
    """Load an AFLW split (``train``, ``full``, ``frontal``) as ``(19, 2)``-landmark samples."""
    check_split("aflw", split, tuple(FILES))
    base = existing_root(root)
    return load_csv_split(
        base / FILES[split], base / IMAGE_FOLDER, SCHEME, on_error, True, one_based
    )


def write_aflw(
    root: str | os.PathLike,
    split: str,
    samples: Sequence[Sample],
    images: Sequence[np.ndarray] | None = None,
    names: Sequence[str] | None = None,
    one_based: bool = False,
) -> Path:
    """Write an AFLW split (csv + ``images/``); ``box_size`` from ``sample.attributes`` or
    ``200 * scale``."""
    check_split("aflw", split, tuple(FILES))
    base = Path(root)
    return write_csv_split(
        base / FILES[split], base / IMAGE_FOLDER, SCHEME, samples, images, names, True, one_based
    )
