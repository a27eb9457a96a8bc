"""``load(name, root, split)``: one entry point over every dataset reader.

``load`` returns a :class:`~otmark.datasets.errors.LoadResult` (a sequence of
:class:`~otmark.datasets.records.Sample`, plus ``skipped`` and ``excluded``). No image is decoded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from otmark.datasets import aflw, cofw, hrnet_csv, vw300, w300, wflw
from otmark.datasets.errors import LoadResult
from otmark.registry import UnknownNameError


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: its loader, splits and landmark scheme."""

    loader: Callable[..., LoadResult]
    splits: tuple[str, ...]
    scheme: str
    description: str


DATASETS: dict[str, DatasetInfo] = {
    "300w": DatasetInfo(w300.load_300w, tuple(w300.SPLITS), "300w", "300W, official .pts layout"),
    "300w-csv": DatasetInfo(
        hrnet_csv.load_300w_csv, tuple(hrnet_csv.W300_FILES), "300w", "300W, HRNet csv files"
    ),
    "wflw": DatasetInfo(wflw.load_wflw, wflw.SPLITS, "wflw", "WFLW annotation lists"),
    "cofw": DatasetInfo(cofw.load_cofw, tuple(cofw.FILES), "cofw", "COFW .mat files"),
    "aflw": DatasetInfo(aflw.load_aflw, tuple(aflw.FILES), "aflw", "AFLW-19, HRNet csv files"),
    "300vw": DatasetInfo(vw300.load_300vw, vw300.SPLITS, "300vw", "300VW videos + .pts"),
}


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name`` (case-insensitive;
    :class:`otmark.registry.UnknownNameError` listing the known datasets)."""
    key = name.strip().lower()
    if key not in DATASETS:
        raise UnknownNameError("dataset", name, DATASETS)
    return DATASETS[key]


def load(
    name: str, root: str | os.PathLike, split: str, on_error: str = "raise", **options
) -> LoadResult:
    """Load split ``split`` of dataset ``name`` stored under ``root``.

    Args:
        name: one of :data:`DATASETS` (``300w``, ``300w-csv``, ``wflw``, ``cofw``, ``aflw``,
            ``300vw``).
        root: the dataset's root folder (layouts in each reader module's docstring).
        split: one of ``DATASETS[name].splits``.
        on_error: ``"raise"`` (first bad sample raises :class:`DatasetError`) or ``"skip"``
            (bad samples are collected in ``result.skipped``).
        options: reader-specific keywords (e.g. ``one_based`` for the csv readers, ``videos`` /
            ``skip_broken`` for 300VW).
    Returns:
        :class:`LoadResult`, a sequence of samples with ``.skipped`` and ``.excluded``.
    """
    info = dataset_info(name)
    if split not in info.splits:
        raise ValueError(f"{name}: unknown split {split!r}; known: {', '.join(info.splits)}")
    return info.loader(root, split, on_error=on_error, **options)
