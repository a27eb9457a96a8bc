"""COFW from its MATLAB files (v7.3/HDF5 via h5py, or v5 via ``scipy.io``).

Files under ``root``: ``COFW_train_color.mat`` (variables ``IsTr``, ``phisTr``, ``bboxesTr``) and
``COFW_test_color.mat`` (``IsT``, ``phisT``, ``bboxesT``); splits ``train`` (1,345) and ``test``
(507).

- ``Is*``: N x 1 cell array of images (``H x W x 3`` or grey ``H x W`` uint8).
- ``phis*``: N x 87 doubles: 29 x, then 29 y, then 29 occlusion flags; **1-based** coordinates
  (converted to 0-based on read, back on write).
- ``bboxes*``: N x 4 doubles ``x y w h`` with a 1-based corner; ``sample.box`` is the 0-based
  ``x0, y0, x1, y1 = x - 1, y - 1, x - 1 + w, y - 1 + h``.

In a v7.3 file MATLAB stores arrays column-major, so h5py sees them transposed (``phis``:
``(87, N)``, an ``H x W x 3`` image: ``(3, W, H)``); the cell array is a dataset of object
references to arrays under ``#refs#``, each with a ``MATLAB_class`` attribute. The images stay in
the ``.mat``: samples reference them lazily as ``ImageRef(mat_path, frame=index, member="IsTr")``
(grey images are returned as 3 equal RGB channels).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from otmark.datasets.common import check_landmarks, check_split, existing_root, iter_images
from otmark.datasets.errors import Collector, DatasetError, LoadResult
from otmark.datasets.fileio import atomic_path
from otmark.datasets.matimage import is_v73, read_mat_image  # noqa: F401 (re-exported)
from otmark.datasets.records import ImageRef, Sample
from otmark.schemes import get_scheme

SCHEME = "cofw"
FILES: dict[str, str] = {"train": "COFW_train_color.mat", "test": "COFW_test_color.mat"}
#: split -> (images, shapes, boxes) variable names
VARIABLES: dict[str, tuple[str, str, str]] = {
    "train": ("IsTr", "phisTr", "bboxesTr"),
    "test": ("IsT", "phisT", "bboxesT"),
}


def _h5_array(f, name: str, path) -> np.ndarray:
    if name not in f:
        raise DatasetError(path, f"MATLAB file has no variable {name!r} (has: {sorted(f.keys())})")
    ds = f[name]
    return np.asarray(ds[()]).T  # column-major -> row-major


def read_mat_arrays(path: str | os.PathLike, shapes_var: str, boxes_var: str, images_var: str):
    """``(phis (N, C), bboxes (N, 4) or None, number of images)`` from a COFW ``.mat``.

    Raises :class:`DatasetError` naming the file when it is unreadable or lacks a variable.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "COFW .mat file does not exist")
    if is_v73(path):
        import h5py  # lazy: keeps `otmark --help` (which imports otmark.datasets) free of h5py

        try:
            with h5py.File(path, "r") as f:
                phis = _h5_array(f, shapes_var, path)
                boxes = _h5_array(f, boxes_var, path) if boxes_var in f else None
                if images_var not in f:
                    raise DatasetError(path, f"MATLAB file has no variable {images_var!r}")
                n_images = int(np.prod(f[images_var].shape))
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            if isinstance(exc, DatasetError):
                raise
            raise DatasetError(path, f"not a readable MATLAB v7.3 (HDF5) file ({exc})") from None
    else:
        from scipy.io import loadmat, whosmat  # lazy: keeps `otmark --help` free of scipy

        try:
            names = {name: shape for name, shape, _ in whosmat(str(path))}
            data = loadmat(str(path), variable_names=[shapes_var, boxes_var])
        except Exception as exc:  # scipy raises several types for a non-MAT file
            raise DatasetError(path, f"not a readable MATLAB file ({exc})") from None
        for var in (shapes_var, images_var):
            if var not in names:
                raise DatasetError(
                    path, f"MATLAB file has no variable {var!r} (has: {sorted(names)})"
                )
        phis = np.asarray(data[shapes_var])
        boxes = np.asarray(data[boxes_var]) if boxes_var in data else None
        n_images = int(np.prod(names[images_var]))
    return np.asarray(phis, dtype=np.float64), boxes, n_images


def load_cofw(root: str | os.PathLike, split: str, on_error: str = "raise") -> LoadResult:
    """Load a COFW split (``train`` or ``test``) as ``(29, 2)``-landmark samples with occlusion
    flags and boxes; images are read lazily from the ``.mat``."""
    check_split("cofw", split, tuple(FILES))
    base = existing_root(root)
    path = base / FILES[split]
    images_var, shapes_var, boxes_var = VARIABLES[split]
    phis, boxes, n_images = read_mat_arrays(path, shapes_var, boxes_var, images_var)
    k = get_scheme(SCHEME).num_points
    if phis.ndim != 2 or phis.shape[1] not in (2 * k, 3 * k):
        raise DatasetError(
            path, f"{shapes_var} must be N x {3 * k} (x, y, occlusion), got {phis.shape}"
        )
    n = phis.shape[0]
    if n_images != n:
        raise DatasetError(
            path, f"{images_var} has {n_images} images but {shapes_var} has {n} rows"
        )
    if boxes is not None and boxes.shape != (n, 4):
        raise DatasetError(path, f"{boxes_var} must be {n} x 4, got {boxes.shape}")
    collector = Collector(on_error)
    for i in range(n):
        row = phis[i]
        if not np.all(np.isfinite(row[: 2 * k])):
            collector.fail(
                DatasetError(path, f"{shapes_var} row {i + 1} has NaN or infinite coordinates")
            )
            continue
        landmarks = np.stack([row[:k], row[k : 2 * k]], axis=1) - 1.0
        occluded = row[2 * k :] > 0.5 if row.shape[0] == 3 * k else None
        box = None
        if boxes is not None and np.all(np.isfinite(boxes[i])):
            x, y, w, h = boxes[i]
            box = np.array([x - 1.0, y - 1.0, x - 1.0 + w, y - 1.0 + h])
        collector.add(
            Sample(
                ImageRef(path, frame=i, member=images_var),
                landmarks,
                SCHEME,
                box=box,
                occluded=occluded,
                id=f"{split}/{i:04d}",
            )
        )
    return collector.result


def _matlab_header() -> bytes:
    text = (
        "MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: "
        + time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(0))
        + " HDF5 schema 1.00 ."
    )
    head = text.encode("ascii").ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    return head.ljust(512, b"\x00")


def _ref_name(i: int) -> str:
    """MATLAB-style names of ``#refs#`` members: a, b, ..., z, ba, bb, ..."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    name = letters[i % 26]
    i //= 26
    while i:
        name = letters[i % 26] + name
        i //= 26
    return name


def write_cofw_mat(
    path: str | os.PathLike,
    split: str,
    images: Sequence[np.ndarray],
    landmarks: np.ndarray,
    occluded: np.ndarray | None = None,
    boxes: np.ndarray | None = None,
    version: str = "7.3",
) -> Path:
    """Write a COFW ``.mat`` (atomically) in the layout MATLAB writes.

    Args:
        path: output file.
        split: ``"train"`` or ``"test"`` (picks the variable names).
        images: N images, ``(H, W, 3)`` or grey ``(H, W)`` uint8 (grey stays 2-D, as in COFW).
        landmarks: ``(N, 29, 2)`` 0-based (written 1-based).
        occluded: ``(N, 29)`` bool flags (default all 0).
        boxes: ``(N, 4)`` 0-based ``x0, y0, x1, y1`` (written as 1-based ``x y w h``; default:
            the landmarks' bounding box).
        version: ``"7.3"`` (HDF5, h5py) or ``"5"`` (``scipy.io.savemat``).
    """
    check_split("cofw", split, tuple(FILES))
    images_var, shapes_var, boxes_var = VARIABLES[split]
    k = get_scheme(SCHEME).num_points
    lm = np.asarray(landmarks, dtype=np.float64).reshape(-1, k, 2)
    n = lm.shape[0]
    if len(images) != n:
        raise ValueError(f"{len(images)} images for {n} landmark sets")
    occ = np.zeros((n, k)) if occluded is None else np.asarray(occluded, dtype=np.float64)
    if boxes is None:
        boxes = np.concatenate([lm.min(axis=1), lm.max(axis=1)], axis=1)
    b = np.asarray(boxes, dtype=np.float64).reshape(n, 4)
    bboxes = np.stack([b[:, 0] + 1, b[:, 1] + 1, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)
    phis = np.concatenate([lm[:, :, 0] + 1, lm[:, :, 1] + 1, occ.reshape(n, k)], axis=1)
    for i, img in enumerate(images):
        a = np.asarray(img)
        if a.dtype != np.uint8 or not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
            raise ValueError(
                f"image {i}: expected (H, W, 3) or (H, W) uint8, got {a.shape} {a.dtype}"
            )
    path = Path(path)
    if version == "7.3":
        import h5py  # lazy: keeps `otmark --help` (which imports otmark.datasets) free of h5py

        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w", userblock_size=512) as f:
                refs_group = f.create_group("#refs#")
                refs = np.empty((1, n), dtype=h5py.ref_dtype)  # (N x 1 cell), transposed
                for i, img in enumerate(images):
                    ds = refs_group.create_dataset(_ref_name(i), data=np.asarray(img).T)
                    ds.attrs["MATLAB_class"] = np.bytes_("uint8")
                    ds.attrs["H5PATH"] = np.bytes_(f"/{images_var}")
                    refs[0, i] = ds.ref
                cell = f.create_dataset(images_var, data=refs, dtype=h5py.ref_dtype)
                cell.attrs["MATLAB_class"] = np.bytes_("cell")
                for name, arr in ((shapes_var, phis), (boxes_var, bboxes)):
                    ds = f.create_dataset(name, data=arr.T)
                    ds.attrs["MATLAB_class"] = np.bytes_("double")
            with open(tmp, "r+b") as fh:
                fh.write(_matlab_header())
    elif version == "5":
        from scipy.io import savemat  # lazy: keeps `otmark --help` free of scipy

        cells = np.empty((n, 1), dtype=object)
        for i, img in enumerate(images):
            cells[i, 0] = np.asarray(img)
        with atomic_path(path) as tmp:
            savemat(
                str(tmp),
                {images_var: cells, shapes_var: phis, boxes_var: bboxes},
                format="5",
                appendmat=False,
            )
    else:
        raise ValueError(f"version must be '7.3' or '5', got {version!r}")
    return path


def write_cofw(
    root: str | os.PathLike,
    split: str,
    samples: Sequence[Sample],
    images: Sequence[np.ndarray] | None = None,
    version: str = "7.3",
) -> Path:
    """Write samples as ``root/COFW_{train,test}_color.mat`` (see :func:`write_cofw_mat`)."""
    check_split("cofw", split, tuple(FILES))
    k = get_scheme(SCHEME).num_points
    lms = (
        np.stack(
            [check_landmarks(s.landmarks, k, f"sample {s.id or i}") for i, s in enumerate(samples)]
        )
        if samples
        else np.zeros((0, k, 2))
    )
    occ = (
        np.stack(
            [
                np.zeros(k, bool) if s.occluded is None else np.asarray(s.occluded, bool)
                for s in samples
            ]
        )
        if samples
        else None
    )
    boxes = None
    if samples and all(s.box is not None for s in samples):
        boxes = np.stack([np.asarray(s.box, dtype=np.float64) for s in samples])
    imgs = list(iter_images(samples, images))
    return write_cofw_mat(Path(root) / FILES[split], split, imgs, lms, occ, boxes, version)
