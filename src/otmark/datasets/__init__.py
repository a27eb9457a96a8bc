"""Readers and writers of the official face-landmark dataset formats.

Every reader returns :class:`otmark.datasets.records.Sample` records (0-based pixel coordinates,
pixel centres at integers, (x, y) order) inside a :class:`LoadResult`; :func:`load` is the one
entry point. Writers produce the same on-disk formats (atomically).
"""

from otmark.datasets.aflw import load_aflw, write_aflw
from otmark.datasets.cofw import load_cofw, read_mat_image, write_cofw, write_cofw_mat
from otmark.datasets.errors import DatasetError, LoadResult
from otmark.datasets.hrnet_csv import load_300w_csv, read_hrnet_csv, write_300w_csv
from otmark.datasets.pts import parse_pts, read_pts, write_pts
from otmark.datasets.records import ImageRef, Sample
from otmark.datasets.registry import DATASETS, dataset_info, load
from otmark.datasets.vw300 import load_300vw, write_300vw_video
from otmark.datasets.w300 import load_300w, write_300w
from otmark.datasets.wflw import load_wflw, write_wflw

__all__ = [
    "DATASETS",
    "DatasetError",
    "ImageRef",
    "LoadResult",
    "Sample",
    "dataset_info",
    "load",
    "load_300vw",
    "load_300w",
    "load_300w_csv",
    "load_aflw",
    "load_cofw",
    "load_wflw",
    "parse_pts",
    "read_hrnet_csv",
    "read_mat_image",
    "read_pts",
    "write_300vw_video",
    "write_300w",
    "write_300w_csv",
    "write_aflw",
    "write_cofw",
    "write_cofw_mat",
    "write_pts",
    "write_wflw",
]
