"""dlib's imglab XML (``training_with_face_landmarks.xml``): faces with landmark parts.

Format (what dlib's ``imglab`` tool and ``dlib.load_image_dataset_metadata`` read)::

    <dataset><images>
      <image file='a.jpg' width='500' height='375'>
        <box top='90' left='194' width='37' height='37'>
          <part name='00' x='201' y='107'/> ...
        </box>
      </image>
    </images></dataset>

Image paths are relative to the XML file. A ``box`` covers the pixels ``left .. left + width - 1``
and ``top .. top + height - 1`` (dlib's inclusive rectangle): its edges in otmark's convention
(pixel centres at integers) are ``left - 0.5 .. left + width - 0.5``. Part coordinates are pixel
indices, i.e. already 0-based pixel centres. A box may carry ``ignore='1'`` (dlib skips it in
training and so does :func:`dlib_samples`).

dlib's 68-point shape predictor names its parts ``'00'`` .. ``'67'`` in the iBUG 300-W order,
so part ``int(name)`` is landmark ``int(name)`` of the ``300w`` scheme.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from otmark.datasets.errors import DatasetError
from otmark.datasets.records import ImageRef, Sample
from otmark.datasets.w300 import SPLITS, write_300w
from otmark.schemes import get_scheme


@dataclass(frozen=True)
class DlibBox:
    """One ``<box>``: ``box (4,)`` = ``x0, y0, x1, y1`` (otmark convention), its parts by name."""

    box: np.ndarray
    parts: dict[str, tuple[float, float]] = field(default_factory=dict)
    ignore: bool = False


@dataclass(frozen=True)
class DlibImage:
    """One ``<image>``: the image file (resolved against the XML's folder) and its boxes."""

    path: Path
    boxes: list[DlibBox]
    width: int | None = None
    height: int | None = None


def _number(elem: ET.Element, key: str, path: Path, what: str) -> float:
    text = elem.get(key)
    if text is None:
        raise DatasetError(path, f"{what}: missing attribute {key!r}")
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(path, f"{what}: attribute {key}={text!r} is not a number") from None
    if not np.isfinite(value):
        raise DatasetError(path, f"{what}: attribute {key}={text!r} is not finite")
    return value


def read_dlib_xml(path: str | os.PathLike[str]) -> list[DlibImage]:
    """Parse an imglab XML file -> its images in file order.

    Raises :class:`DatasetError` naming the file for a missing file, malformed XML, a missing or
    non-numeric attribute, a box of non-positive size or a repeated part name.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "dlib XML file does not exist")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise DatasetError(path, f"malformed XML ({exc})", line=exc.position[0]) from None
    images_elem = root.find("images")
    if root.tag != "dataset" or images_elem is None:
        raise DatasetError(path, "not a dlib imglab dataset (expected <dataset><images>)")
    images = []
    for i, img in enumerate(images_elem.findall("image")):
        name = img.get("file")
        if not name:
            raise DatasetError(path, f"image {i}: missing attribute 'file'")
        boxes = []
        for j, b in enumerate(img.findall("box")):
            what = f"image {name!r} box {j}"
            left, top = _number(b, "left", path, what), _number(b, "top", path, what)
            w, h = _number(b, "width", path, what), _number(b, "height", path, what)
            if w <= 0 or h <= 0:
                raise DatasetError(path, f"{what}: width and height must be > 0")
            parts: dict[str, tuple[float, float]] = {}
            for p in b.findall("part"):
                pname = p.get("name")
                if pname is None:
                    raise DatasetError(path, f"{what}: a part without a name")
                if pname in parts:
                    raise DatasetError(path, f"{what}: part {pname!r} given twice")
                parts[pname] = (
                    _number(p, "x", path, f"{what} part {pname}"),
                    _number(p, "y", path, f"{what} part {pname}"),
                )
            box = np.array([left - 0.5, top - 0.5, left + w - 0.5, top + h - 0.5])
            boxes.append(DlibBox(box, parts, ignore=b.get("ignore", "0") not in ("0", "")))
        width, height = img.get("width"), img.get("height")
        images.append(
            DlibImage(
                path.parent / name,
                boxes,
                int(width) if width and width.isdigit() else None,
                int(height) if height and height.isdigit() else None,
            )
        )
    return images


def box_landmarks(box: DlibBox, num_points: int, where: str) -> np.ndarray:
    """The parts of ``box`` as ``(num_points, 2)`` landmarks: part ``'00'`` (or ``'0'``) is row 0.

    Raises ``ValueError`` naming ``where`` unless the part names are exactly ``0 .. K-1``.
    """
    rows = {}
    for name, xy in box.parts.items():
        if not name.isdigit():
            raise ValueError(f"{where}: part name {name!r} is not an index")
        rows[int(name)] = xy
    if sorted(rows) != list(range(num_points)):
        raise ValueError(f"{where}: expected parts 0..{num_points - 1}, got {len(rows)} parts")
    return np.array([rows[i] for i in range(num_points)], dtype=np.float64)


def dlib_samples(
    path: str | os.PathLike[str], scheme: str = "300w", skip_ignored: bool = True
) -> list[Sample]:
    """The landmarked faces of an imglab XML as :class:`Sample` records (one per box).

    Boxes without parts are skipped (plain detection boxes); boxes with parts must have exactly
    the scheme's points (``DatasetError`` otherwise). Sample ids are ``<image stem>_<box index>``
    (``2008_001322_02``); ``box`` is the dlib box (otmark convention) and
    ``attributes["source"]`` the XML's file name.
    """
    path = Path(path)
    k = get_scheme(scheme).num_points
    samples = []
    for img in read_dlib_xml(path):
        for j, b in enumerate(img.boxes):
            if not b.parts or (skip_ignored and b.ignore):
                continue
            where = f"image {img.path.name!r} box {j}"
            try:
                lm = box_landmarks(b, k, where)
            except ValueError as exc:
                raise DatasetError(path, str(exc)) from None
            samples.append(
                Sample(
                    ImageRef(img.path),
                    lm,
                    scheme,
                    box=b.box.copy(),
                    attributes={"source": path.name},
                    id=f"{img.path.stem}_{j:02d}",
                )
            )
    return samples


def write_as_300w_test(
    root: str | os.PathLike[str],
    samples: Sequence[Sample],
    folder: str = "300W/01_Indoor",
    suffix: str = ".png",
) -> list[Path]:
    """Lay ``samples`` (scheme ``300w``) out as 300W test data under ``root``.

    One image copy and one ``.pts`` per face (300W's layout has one face per ``.pts``, named
    after the sample id), written by :func:`otmark.datasets.write_300w` into ``folder``; both
    test folders (``300W/01_Indoor``, ``300W/02_Outdoor``) exist afterwards so that the
    ``test`` split (protocol ``300w-test``) loads. ``.png`` keeps the decoded pixels exactly.
    """
    bad = [s.id for s in samples if s.scheme != "300w"]
    if bad:
        raise ValueError(f"300W layout needs scheme '300w' samples; not: {bad[:3]}")
    names = [f"{s.id}{suffix}" for s in samples]
    written = write_300w(root, folder, samples, names=names) if samples else []
    for test_folder in SPLITS["test"]:
        (Path(root) / test_folder).mkdir(parents=True, exist_ok=True)
    return written
