"""The packaged model's training data: generated faces of several domains in one 300W layout.

The faces are drawn by :mod:`otmark.synth` in the 300W scheme (the packaged model's scheme) and
written with otmark's 300W writer, so ``otmark train`` reads them as 300W. Each of the three
training folders and three validation folders of the layout holds one generator domain
(:data:`TRAIN_FOLDERS`, :data:`VAL_FOLDERS`): the 300W domains give the photographs' range of
pose and expression, the WFLW domain the harder large poses, strong light, occluders and blur.
The 300W splits then read: ``train`` = all training faces, ``common`` = the 300W-domain
validation faces, ``challenge`` = the WFLW-domain ones, ``full`` = both.

Sample ``i`` of folder ``f`` is drawn from ``numpy.random.default_rng([seed, "pretrain", f,
i])`` (:func:`otmark.synth.writers.sample_rng`): no face coincides with one of ``otmark synth``,
whose generated 300W test set therefore stays held out.
"""

from __future__ import annotations

import os
from typing import Any

from otmark.datasets.w300 import write_300w
from otmark.synth.writers import Job, LazySamples, sample_of

#: generator key of the pretraining data (distinct from every ``otmark synth`` dataset)
DATA_KEY = "pretrain"
#: 300W training folder -> generator domain
TRAIN_FOLDERS: dict[str, str] = {
    "helen/trainset": "300w",
    "lfpw/trainset": "300w-outdoor",
    "afw": "wflw",
}
#: 300W validation folder -> generator domain (``full`` = ``common`` + ``challenge``)
VAL_FOLDERS: dict[str, str] = {
    "helen/testset": "300w",
    "lfpw/testset": "300w-outdoor",
    "ibug": "wflw",
}
#: default share of the faces per domain
DEFAULT_MIX: dict[str, float] = {"300w": 0.5, "300w-outdoor": 0.2, "wflw": 0.3}
SCHEME = "300w"


def split_counts(total: int, mix: dict[str, float]) -> dict[str, int]:
    """``total`` faces shared by ``mix`` (largest remainders; every domain gets at least 1)."""
    if total < len(mix):
        raise ValueError(f"need at least {len(mix)} faces for {len(mix)} domains, got {total}")
    weights = {k: float(v) for k, v in mix.items()}
    if any(v <= 0 for v in weights.values()):
        raise ValueError(f"domain shares must be positive, got {mix}")
    s = sum(weights.values())
    exact = {k: total * v / s for k, v in weights.items()}
    counts = {k: max(1, int(v)) for k, v in exact.items()}
    order = sorted(exact, key=lambda k: exact[k] - int(exact[k]), reverse=True)
    i = 0
    while sum(counts.values()) < total:
        counts[order[i % len(order)]] += 1
        i += 1
    while sum(counts.values()) > total:
        k = max(counts, key=counts.get)
        counts[k] -= 1
    return counts


def data_description(num: int, val: int, size: int, seed: int, mix: dict[str, float]) -> dict:
    """The arguments of :func:`write_pretrain_data` as a plain dict (its stamp and the
    manifest's ``data`` entry)."""
    return {
        "generator": "otmark.synth",
        "scheme": SCHEME,
        "train_faces": int(num),
        "val_faces": int(val),
        "image_size": int(size),
        "seed": int(seed),
        "mix": {k: float(v) for k, v in mix.items()},
    }


def write_pretrain_data(
    root: str | os.PathLike[str],
    num: int,
    val: int,
    size: int = 192,
    seed: int = 0,
    mix: dict[str, float] | None = None,
    progress: Any = None,
) -> dict[str, int]:
    """Write ``num`` training and ``val`` validation faces of ``size`` px under ``root``.

    Args:
        root: the 300W root to write (``root/helen/trainset``, ...).
        mix: domain -> share (keys of :data:`DEFAULT_MIX`).
        progress: called as ``progress(folder, n)`` before each folder.

    Returns:
        faces written per folder.
    """
    mix = dict(DEFAULT_MIX if mix is None else mix)
    unknown = sorted(set(mix) - set(TRAIN_FOLDERS.values()))
    if unknown:
        raise ValueError(f"unknown domains {unknown}; known: {sorted(TRAIN_FOLDERS.values())}")
    written: dict[str, int] = {}
    for folders, total in ((TRAIN_FOLDERS, num), (VAL_FOLDERS, val)):
        counts = split_counts(total, mix)
        for folder, domain in folders.items():
            n = counts.get(domain, 0)
            if n == 0:
                continue
            if progress is not None:
                progress(folder, n)
            stem = folder.split("/")[0]
            jobs = [Job(folder, i, domain, f"{stem}_{domain}_{i:06d}.jpg") for i in range(n)]
            lazy = LazySamples(
                jobs, DATA_KEY, SCHEME, seed, (size, size), lambda r, j: sample_of(r, j, SCHEME)
            )
            write_300w(root, folder, lazy, lazy.images, names=[j.name for j in jobs])
            written[folder] = n
    return written
