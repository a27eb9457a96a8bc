"""The packaged model's training data: generated faces of several domains in one 300W layout.

The faces are drawn by :mod:`otmark.synth` in the 300W scheme (the packaged model's scheme) and
written with otmark's 300W writer, so ``otmark train`` reads them as 300W. Each of the three
training folders and three validation folders of the layout holds one generator domain
(:data:`TRAIN_FOLDERS`, :data:`VAL_FOLDERS`): the 300W domains give the photographs' range of
pose and expression, the WFLW domain the harder large poses, strong light, occluders and blur.
The 300W splits then read: ``train`` = all training faces, ``common`` = the 300W-domain
validation faces, ``challenge`` = the WFLW-domain ones, ``full`` = both. The mix may also hold
the domains with more turned and rolled heads, ``300w-challenge`` and ``aflw``
(:data:`EXTRA_DOMAINS`): their faces go into the WFLW domain's folders, named by their domain.

Sample ``i`` of folder ``f`` is drawn from ``numpy.random.default_rng([seed, "pretrain", f,
i])`` (:func:`otmark.synth.writers.sample_rng`; ``f/domain`` for the extra domains): no face
coincides with one of ``otmark synth``, whose generated 300W test set therefore stays held out.
"""

from __future__ import annotations

import os
from pathlib import Path
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
#: domains that may join the mix -> the folder pair (training, validation) holding their faces
EXTRA_DOMAINS: dict[str, tuple[str, str]] = {
    "300w-challenge": ("afw", "ibug"),
    "aflw": ("afw", "ibug"),
}
#: default share of the faces per domain
DEFAULT_MIX: dict[str, float] = {"300w": 0.5, "300w-outdoor": 0.2, "wflw": 0.3}


def known_domains() -> list[str]:
    """The domains a pretraining mix may name."""
    return [*TRAIN_FOLDERS.values(), *EXTRA_DOMAINS]


def parse_mix(text: str) -> dict[str, float]:
    """``"300w=0.4,aflw=0.2"`` -> ``{"300w": 0.4, "aflw": 0.2}`` (shares are normalised by
    :func:`split_counts`); a ValueError names the bad entry."""
    mix: dict[str, float] = {}
    for item in (t.strip() for t in text.split(",")):
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in known_domains():
            raise ValueError(
                f"mix entry {item!r}: expected DOMAIN=SHARE with DOMAIN one of {known_domains()}"
            )
        try:
            share = float(value)
        except ValueError:
            raise ValueError(f"mix entry {item!r}: {value!r} is not a number") from None
        if not share > 0 or share == float("inf") or name.strip() in mix:
            raise ValueError(f"mix entry {item!r}: a share must be a finite number > 0, once")
        mix[name.strip()] = share
    return mix


def _folders_of(domain: str, training: bool) -> tuple[str, str]:
    """``(folder, generator key)`` of a domain's faces in the training or validation layout."""
    base = TRAIN_FOLDERS if training else VAL_FOLDERS
    for folder, d in base.items():
        if d == domain:
            return folder, folder
    folder = EXTRA_DOMAINS[domain][0 if training else 1]
    return folder, f"{folder}/{domain}"
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
    unknown = sorted(set(mix) - set(known_domains()))
    if unknown:
        raise ValueError(f"unknown domains {unknown}; known: {known_domains()}")
    written: dict[str, int] = {}
    for training, total in ((True, num), (False, val)):
        counts = split_counts(total, mix)
        by_folder: dict[str, list[Job]] = {}
        for domain in known_domains():  # the packaged mix's faces first, as they always were
            if counts.get(domain, 0) == 0:
                continue
            folder, key = _folders_of(domain, training)
            stem = folder.split("/")[0]
            by_folder.setdefault(folder, []).extend(
                Job(key, i, domain, f"{stem}_{domain}_{i:06d}.jpg") for i in range(counts[domain])
            )
        for folder in TRAIN_FOLDERS if training else VAL_FOLDERS:  # a split reads all of them
            (Path(root) / folder).mkdir(parents=True, exist_ok=True)
        for folder, jobs in by_folder.items():
            n = len(jobs)
            if progress is not None:
                progress(folder, n)
            lazy = LazySamples(
                jobs, DATA_KEY, SCHEME, seed, (size, size), lambda r, j: sample_of(r, j, SCHEME)
            )
            write_300w(root, folder, lazy, lazy.images, names=[j.name for j in jobs])
            written[folder] = n
    return written
