"""HRNet-style landmark csv files (HRNet-Facial-Landmark-Detection, also used by mmpose).

Columns: ``image_name, scale, [box_size,] center_w, center_h, x0, y0, x1, y1, ...`` with an
optional header row (HRNet's files have one; it is recognised by a non-numeric ``scale``). The
``box_size`` column exists in the AFLW files only. ``scale`` is the face box side / 200 (without
the 1.25 context factor).

Coordinate origin: HRNet's code uses the numbers as they are. otmark reads the 300W csv as
**1-based** (its coordinates are those of the 300W ``.pts`` files) and the AFLW csv as **0-based**
(unchanged); both readers take ``one_based`` to override this. ``center_w, center_h`` are
converted like the landmarks.

Layout (HRNet's ``data/<name>/``): csv files in ``root``, images under ``root/images/`` at their
``image_name``. 300W files: ``face_landmarks_300w_{train,valid_common,valid_challenge,valid,
test}.csv`` for the splits ``train, common, challenge, full, test``.

Each sample gets ``box`` = the square of side ``200 * scale`` around the centre (so a crop from
the box reproduces HRNet's crop) and ``attributes`` ``scale``, ``center`` (and ``box_size``).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from otmark.datasets.common import (
    check_landmarks,
    check_split,
    default_names,
    existing_root,
    hrnet_centre_scale,
    iter_images,
    parse_floats,
    square_box,
)
from otmark.datasets.errors import Collector, DatasetError, LoadResult
from otmark.datasets.fileio import format_number, write_image, write_text_atomic
from otmark.datasets.records import ImageRef, Sample
from otmark.schemes import get_scheme

W300_FILES: dict[str, str] = {
    "train": "face_landmarks_300w_train.csv",
    "common": "face_landmarks_300w_valid_common.csv",
    "challenge": "face_landmarks_300w_valid_challenge.csv",
    "full": "face_landmarks_300w_valid.csv",
    "test": "face_landmarks_300w_test.csv",
}
IMAGE_FOLDER = "images"


@dataclass
class CsvRow:
    """One parsed csv row (coordinates already 0-based).

    Attributes: ``line`` (1-based), ``image_name``, ``scale``, ``box_size`` (or ``None``),
    ``center: (2,)``, ``landmarks: (K, 2)``.
    """

    line: int
    image_name: str
    scale: float
    box_size: float | None
    center: np.ndarray
    landmarks: np.ndarray


def read_hrnet_csv(
    path: str | os.PathLike,
    num_points: int,
    box_size: bool = False,
    one_based: bool = False,
    collector: Collector | None = None,
) -> list[CsvRow]:
    """Parse an HRNet-style csv file.

    Args:
        path: the csv file.
        num_points: ``K``; every row must have ``4 (+1 with box_size) + 2K`` columns.
        box_size: whether the ``box_size`` column is present (AFLW).
        one_based: subtract 1 from the centre and landmark coordinates.
        collector: where bad rows go (``None``: raise on the first one).
    Returns:
        the good rows in file order.
    Raises:
        DatasetError: ``path:line`` and the problem (missing file, wrong column count,
            non-numeric or non-finite number, empty image name).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "csv file does not exist")
    collector = collector or Collector("raise")
    n_head = 5 if box_size else 4
    n_cols = n_head + 2 * num_points
    offset = 1.0 if one_based else 0.0
    rows: list[CsvRow] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(path, f"not a text file (not UTF-8 at byte {exc.start})") from None
    for line_no, fields in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not fields or all(not f.strip() for f in fields):
            continue
        fields = [f.strip() for f in fields]
        if line_no == 1 and not _is_number(fields[1] if len(fields) > 1 else ""):
            continue  # header row
        try:
            if len(fields) != n_cols:
                raise DatasetError(
                    path,
                    f"expected {n_cols} columns (image_name, scale, "
                    f"{'box_size, ' if box_size else ''}center_w, center_h and {num_points} "
                    f"x, y pairs), got {len(fields)}",
                    line=line_no,
                )
            if not fields[0]:
                raise DatasetError(path, "empty image_name", line=line_no)
            values = parse_floats(fields[1:], path, line_no, "value")
        except DatasetError as exc:
            collector.fail(exc)
            continue
        rows.append(
            CsvRow(
                line=line_no,
                image_name=fields[0],
                scale=float(values[0]),
                box_size=float(values[1]) if box_size else None,
                center=values[n_head - 3 : n_head - 1] - offset,
                landmarks=values[n_head - 1 :].reshape(num_points, 2) - offset,
            )
        )
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def rows_to_samples(
    path: Path, rows: list[CsvRow], image_root: Path, scheme: str, collector: Collector
) -> None:
    """Turn csv rows into samples (checking that each image exists) and add them."""
    for row in rows:
        image = image_root / row.image_name
        if not image.is_file():
            collector.fail(DatasetError(path, f"image {image} does not exist", line=row.line))
            continue
        attributes: dict = {"scale": row.scale, "center": row.center.copy()}
        side = 200.0 * row.scale
        if row.box_size is not None:
            attributes["box_size"] = row.box_size
        collector.add(
            Sample(
                ImageRef(image),
                row.landmarks,
                scheme,
                box=square_box(row.center, side),
                attributes=attributes,
                id=f"{row.image_name}@{row.line}",
            )
        )


def load_csv_split(
    csv_path: Path,
    image_root: Path,
    scheme: str,
    on_error: str,
    box_size: bool,
    one_based: bool,
) -> LoadResult:
    """Load one HRNet csv file into samples of ``scheme``."""
    collector = Collector(on_error)
    k = get_scheme(scheme).num_points
    rows = read_hrnet_csv(csv_path, k, box_size=box_size, one_based=one_based, collector=collector)
    rows_to_samples(csv_path, rows, image_root, scheme, collector)
    return collector.result


def load_300w_csv(
    root: str | os.PathLike, split: str, on_error: str = "raise", one_based: bool = True
) -> LoadResult:
    """Load a 300W split from HRNet's csv files (see the module docstring for the layout)."""
    check_split("300w-csv", split, tuple(W300_FILES))
    base = existing_root(root)
    return load_csv_split(
        base / W300_FILES[split], base / IMAGE_FOLDER, "300w", on_error, False, one_based
    )


def format_hrnet_csv(
    image_names: Sequence[str],
    landmarks: np.ndarray,
    scales: Sequence[float] | None = None,
    centers: np.ndarray | None = None,
    box_sizes: Sequence[float] | None = None,
    one_based: bool = False,
) -> str:
    """Text of an HRNet csv (with header) for ``landmarks: (N, K, 2)`` 0-based.

    ``scales``/``centers`` default to HRNet's tight-box rule (:func:`hrnet_centre_scale`);
    ``box_sizes`` (AFLW) adds the ``box_size`` column.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    n, k = lm.shape[:2]
    offset = 1.0 if one_based else 0.0
    header = ["image_name", "scale"] + (["box_size"] if box_sizes is not None else [])
    header += ["center_w", "center_h"] + [f"{c}{i}" for i in range(k) for c in ("x", "y")]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for i in range(n):
        centre, scale = hrnet_centre_scale(lm[i])
        if scales is not None:
            scale = float(scales[i])
        if centers is not None:
            centre = np.asarray(centers[i], dtype=np.float64)
        row = [image_names[i], format_number(scale)]
        if box_sizes is not None:
            row.append(format_number(box_sizes[i]))
        row += [format_number(v + offset) for v in centre]
        row += [format_number(v + offset) for v in lm[i].reshape(-1)]
        writer.writerow(row)
    return out.getvalue()


#: lossless image suffixes: a picture written again reads back identical
LOSSLESS = (".png", ".bmp", ".tif", ".tiff")


def refuse_other_picture(path: Path, image: np.ndarray, csv_path: Path) -> None:
    """The splits of one root share ``images/``: an existing ``path`` that holds another picture
    is not replaced (a test image overwritten by a training image of the same name would be lost
    and leak). Raises :class:`DatasetError` naming both files; the same picture passes."""
    if not path.exists():
        return
    try:
        old = ImageRef(path).load()
    except (OSError, ValueError):
        old = None
    new = np.asarray(image)
    if old is not None and old.shape == new.shape:
        diff = np.abs(old.astype(np.int16) - new.astype(np.int16))
        if diff.max() == 0 or (path.suffix.lower() not in LOSSLESS and diff.mean() <= 2.0):
            return
    raise DatasetError(
        csv_path,
        f"image {path} already holds another picture (written for another split?); "
        "pass names= that differ between splits, or remove the file",
    )


def write_csv_split(
    csv_path: Path,
    image_root: Path,
    scheme: str,
    samples: Sequence[Sample],
    images: Sequence[np.ndarray] | None,
    names: Sequence[str] | None,
    box_size: bool,
    one_based: bool,
    suffix: str = ".png",
) -> Path:
    """Write the images of ``samples`` under ``image_root`` and one HRNet csv listing them.

    ``scale``/``center``/``box_size`` come from ``sample.attributes`` when present, else from
    HRNet's tight-box rule (``box_size`` = 200 * scale).
    """
    k = get_scheme(scheme).num_points
    names = list(names) if names is not None else default_names(samples, suffix)
    if len(names) != len(samples):
        raise ValueError("names must have one entry per sample")
    lms, scales, centers, sizes = [], [], [], []
    written: set[str] = set()
    for sample, name, image in zip(samples, names, iter_images(samples, images)):
        lm = check_landmarks(sample.landmarks, k, f"sample {sample.id or name}")
        centre, scale = hrnet_centre_scale(lm)
        scale = float(sample.attributes.get("scale", scale))
        centre = np.asarray(sample.attributes.get("center", centre), dtype=np.float64)
        lms.append(lm)
        scales.append(scale)
        centers.append(centre)
        sizes.append(float(sample.attributes.get("box_size", 200.0 * scale)))
        if name not in written:  # several faces may share one image
            refuse_other_picture(image_root / name, image, csv_path)
            write_image(image_root / name, image)
            written.add(name)
    text = format_hrnet_csv(
        names,
        np.stack(lms) if lms else np.zeros((0, k, 2)),
        scales,
        np.stack(centers) if centers else None,
        sizes if box_size else None,
        one_based,
    )
    write_text_atomic(csv_path, text)
    return csv_path


def write_300w_csv(
    root: str | os.PathLike,
    split: str,
    samples: Sequence[Sample],
    images: Sequence[np.ndarray] | None = None,
    names: Sequence[str] | None = None,
    one_based: bool = True,
) -> Path:
    """Write a 300W split as HRNet csv + ``images/`` (the reader's layout)."""
    check_split("300w-csv", split, tuple(W300_FILES))
    base = Path(root)
    return write_csv_split(
        base / W300_FILES[split],
        base / IMAGE_FOLDER,
        "300w",
        samples,
        images,
        names,
        False,
        one_based,
    )
