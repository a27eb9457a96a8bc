"""Images stored inside MATLAB ``.mat`` files (COFW): read one by index, v5 or v7.3 (HDF5).

:meth:`otmark.datasets.records.ImageRef.load` reads an image with a ``member`` through here.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from otmark.datasets.errors import DatasetError
from otmark.datasets.fileio import as_rgb_uint8


def is_v73(path: str | os.PathLike) -> bool:
    """Whether a ``.mat`` file is MATLAB v7.3 (HDF5)."""
    import h5py  # lazy: keeps `otmark --help` (which imports otmark.datasets) free of h5py

    return h5py.is_hdf5(str(path))


@functools.lru_cache(maxsize=2)
def _v5_images(path: str, member: str, mtime_ns: int) -> np.ndarray:
    from scipy.io import loadmat  # lazy: keeps `otmark --help` free of scipy

    return loadmat(path, variable_names=[member])[member].reshape(-1)


def read_mat_image(path: str | os.PathLike, member: str, index: int) -> np.ndarray:
    """Image ``index`` (0-based) of the cell array ``member`` of a ``.mat``: ``(H, W, 3)`` uint8
    RGB. A v5 file's cell array is decoded once and cached (2 files at most)."""
    path = Path(path)
    if is_v73(path):
        import h5py  # lazy: keeps `otmark --help` (which imports otmark.datasets) free of h5py

        try:
            with h5py.File(path, "r") as f:
                if member not in f:
                    raise DatasetError(path, f"MATLAB file has no variable {member!r}")
                refs = f[member][()].T.reshape(-1)
                if not 0 <= index < len(refs):
                    raise DatasetError(path, f"{member} has {len(refs)} images, asked for {index}")
                img = np.asarray(f[refs[index]][()]).T
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            if isinstance(exc, DatasetError):
                raise
            raise DatasetError(path, f"{member}[{index}] cannot be read ({exc})") from None
    else:
        try:
            cells = _v5_images(str(path), member, path.stat().st_mtime_ns)
        except Exception as exc:  # scipy raises several types for a damaged MAT file
            raise DatasetError(path, f"{member}[{index}] cannot be read ({exc})") from None
        if not 0 <= index < len(cells):
            raise DatasetError(path, f"{member} has {len(cells)} images, asked for {index}")
        img = np.asarray(cells[index])
    if img.dtype != np.uint8:
        raise DatasetError(path, f"{member}[{index}] is {img.dtype}, expected uint8 pixels")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    try:
        return np.ascontiguousarray(as_rgb_uint8(img, f"{path}: {member}[{index}]"))
    except ValueError as exc:
        raise DatasetError(path, str(exc)) from None
