"""Generated datasets written through :mod:`otmark.datasets` writers, in the official layouts.

Sizes: ``num`` is the size of the **training split**; every other split keeps its official ratio
to the training split (at least 1 sample), e.g. 300W: common = 554/3148, challenge = 135/3148,
test = 600/3148 of ``num``. Within a split, folders keep their official shares (300W train:
lfpw 811, helen 2000, afw 337).

Determinism: sample ``i`` of folder ``f`` is drawn from ``numpy.random.default_rng([seed,
dataset, folder, i])``, so the same seed gives byte-identical files, and a larger ``num`` keeps
the samples of a smaller one.

The root gets ``otmark_synth.json`` (:func:`write_provenance`): the arguments and the
background source (scikit-image photographs or procedural; it decides the pixels), written
first with ``complete: false``. A folder holds one generation: :func:`synthesize` refuses a
folder holding anything else (:func:`check_synth_folder`), and goes on in one holding the same
settings (an interrupted generation ends with the files of an uninterrupted one).

Images are rendered lazily while the dataset writer iterates, so memory stays at one image
(except COFW, whose ``.mat`` holds all images of a split).
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from otmark.atomic import write_text_atomic
from otmark.datasets.aflw import write_aflw
from otmark.datasets.cofw import write_cofw
from otmark.datasets.records import ImageRef, Sample
from otmark.datasets.vw300 import write_300vw_video
from otmark.datasets.vw300_lists import SPLIT_VIDEOS, broken_frames
from otmark.datasets.w300 import write_300w
from otmark.datasets.wflw import write_wflw
from otmark.registry import lookup
from otmark.rundir import FolderNotEmpty, clear_folder, contents, describe_contents
from otmark.synth.background import background_source
from otmark.synth.camera import project
from otmark.synth.domains import get_domain
from otmark.synth.face_model import face_box_points
from otmark.synth.generate import Rendered, synth_face, wflw_attributes
from otmark.synth.video import render_video


def _key(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def sample_rng(seed: int, dataset: str, folder: str, index: int) -> np.random.Generator:
    """The generator of one sample (see the module docstring)."""
    return np.random.default_rng([int(seed), _key(dataset), _key(folder), int(index)])


def proportional(num: int, counts: dict[str, int], reference: int) -> dict[str, int]:
    """``{name: max(1, round(num * count / reference))}``."""
    return {k: max(1, int(round(num * c / reference))) for k, c in counts.items()}


def face_box(rendered: Rendered) -> np.ndarray:
    """``(4,)`` ``x0, y0, x1, y1``: the face box of a rendered face (projected jaw, brows and
    forehead, :func:`otmark.synth.face_model.face_box_points`), used as WFLW's/COFW's box and
    for AFLW's ``box_size``."""
    sc = rendered.scene
    uv = project(face_box_points(sc.face), sc.pose, sc.camera)
    return np.concatenate([uv.min(0), uv.max(0)])


@dataclass(frozen=True)
class Job:
    """One sample to generate: the folder's generator key, the domain and the file name."""

    folder: str
    index: int
    domain: str
    name: str


class LazySamples(Sequence):
    """Samples rendered on access (the last one is cached so that the writer's image look-up
    for the same index is free). ``images`` is the matching lazy image sequence."""

    def __init__(
        self,
        jobs: Sequence[Job],
        dataset: str,
        scheme: str,
        seed: int,
        size: tuple[int, int],
        make: Callable[[Rendered, Job], Sample],
    ) -> None:
        self.jobs, self.dataset, self.scheme = list(jobs), dataset, scheme
        self.seed, self.size, self.make = seed, size, make
        self._cache: tuple[int, Sample, np.ndarray] | None = None
        self.images = _LazyImages(self)
        self.rendered_count = 0

    def __len__(self) -> int:
        return len(self.jobs)

    def _get(self, i: int) -> tuple[Sample, np.ndarray]:
        if self._cache is None or self._cache[0] != i:
            job = self.jobs[i]
            rng = sample_rng(self.seed, self.dataset, job.folder, job.index)
            r = synth_face(get_domain(job.domain), rng, (self.scheme,), self.size)
            self._cache = (i, self.make(r, job), r.image)
            self.rendered_count += 1
        return self._cache[1], self._cache[2]

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._get(i)[0]


class _LazyImages(Sequence):
    def __init__(self, owner: LazySamples) -> None:
        self.owner = owner

    def __len__(self) -> int:
        return len(self.owner)

    def __getitem__(self, i):  # type: ignore[override]
        return self.owner._get(i)[1]


def sample_of(r: Rendered, job: Job, scheme: str, **attrs) -> Sample:
    """The :class:`Sample` of rendered face ``r`` for ``job`` in ``scheme`` (``attrs``: more
    attributes)."""
    return Sample(
        image=ImageRef(Path(job.name)),
        landmarks=r.landmarks[scheme],
        scheme=scheme,
        box=face_box(r),
        occluded=r.occluded[scheme],
        attributes={
            "yaw": r.scene.pose.yaw,
            "pitch": r.scene.pose.pitch,
            "roll": r.scene.pose.roll,
            **attrs,
        },
        id=job.name,
    )


# -- 300W ------------------------------------------------------------------------------------

#: official 300W folder sizes, and the domain of each folder
W300_FOLDERS: dict[str, tuple[int, str]] = {
    "lfpw/trainset": (811, "300w"),
    "helen/trainset": (2000, "300w"),
    "afw": (337, "300w"),
    "lfpw/testset": (224, "300w"),
    "helen/testset": (330, "300w"),
    "ibug": (135, "300w-challenge"),
    "300W/01_Indoor": (300, "300w"),
    "300W/02_Outdoor": (300, "300w-outdoor"),
}
W300_TRAIN = 3148


def write_300w_synth(out: str | os.PathLike, num: int, seed: int, size=(256, 256)) -> dict:
    """Generated 300W in the official folder layout (``.jpg`` + ``.pts``)."""
    counts = proportional(num, {k: v[0] for k, v in W300_FOLDERS.items()}, W300_TRAIN)
    for folder, n in counts.items():
        domain = W300_FOLDERS[folder][1]
        stem = folder.split("/")[0].lower()
        jobs = [Job(folder, i, domain, f"{stem}_{i:05d}.jpg") for i in range(n)]
        lazy = LazySamples(jobs, "300w", "300w", seed, size, lambda r, j: sample_of(r, j, "300w"))
        write_300w(out, folder, lazy, lazy.images, names=[j.name for j in jobs])
    return counts


# -- WFLW ------------------------------------------------------------------------------------


def write_wflw_synth(out: str | os.PathLike, num: int, seed: int, size=(256, 256)) -> dict:
    """Generated WFLW: ``list_98pt_rect_attr_{train,test}.txt`` + images, attribute flags from
    the generator's parameters (:func:`otmark.synth.generate.wflw_attributes`)."""
    counts = proportional(num, {"train": 7500, "test": 2500}, 7500)

    def make(r: Rendered, job: Job) -> Sample:
        return sample_of(r, job, "wflw", **wflw_attributes(r), image_path=job.name)

    for part, n in counts.items():
        jobs = [Job(part, i, "wflw", f"synth_{part}/{i:05d}.jpg") for i in range(n)]
        lazy = LazySamples(jobs, "wflw", "wflw", seed, size, make)
        write_wflw(out, part, lazy, lazy.images, names=[j.name for j in jobs])
    return counts


# -- COFW ------------------------------------------------------------------------------------


def write_cofw_synth(out: str | os.PathLike, num: int, seed: int, size=(256, 256)) -> dict:
    """Generated COFW: ``COFW_{train,test}_color.mat`` (v7.3) with per-point occlusion flags."""
    counts = proportional(num, {"train": 1345, "test": 507}, 1345)
    for part, n in counts.items():
        jobs = [Job(part, i, "cofw", f"{part}_{i:05d}") for i in range(n)]
        lazy = LazySamples(jobs, "cofw", "cofw", seed, size, lambda r, j: sample_of(r, j, "cofw"))
        samples, images = [], []
        for i in range(n):
            samples.append(lazy[i])
            images.append(lazy.images[i])
        write_cofw(out, part, samples, images, version="7.3")
    return counts


# -- AFLW ------------------------------------------------------------------------------------


def write_aflw_synth(out: str | os.PathLike, num: int, seed: int, size=(256, 256)) -> dict:
    """Generated AFLW-19: HRNet csv with ``box_size`` (the face box side); the frontal subset
    is the test faces with **no self-occluded point** (all 19 visible), as in the original
    AFLW-frontal definition."""
    counts = proportional(num, {"train": 20000, "full": 4386}, 20000)

    def make(r: Rendered, job: Job) -> Sample:
        box = face_box(r)
        side = float(max(box[2] - box[0], box[3] - box[1]))
        centre = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]
        frontal = not bool(r.self_occluded["aflw"].any())
        return sample_of(
            r, job, "aflw", box_size=side, scale=side / 200.0, center=centre, frontal=frontal
        )

    result = dict(counts)
    for split, n in counts.items():
        jobs = [Job(split, i, "aflw", f"{split}_{i:05d}.jpg") for i in range(n)]
        lazy = LazySamples(jobs, "aflw", "aflw", seed, size, make)
        if split == "train":
            write_aflw(out, "train", lazy, lazy.images, names=[j.name for j in jobs])
            continue
        frontal_idx: list[int] = []
        rec = _Recorder(lazy, frontal_idx)
        write_aflw(out, "full", rec, rec.images, names=[j.name for j in jobs])
        # the frontal subset lists the same image files
        sub = [rec.kept[i] for i in frontal_idx]
        write_aflw(
            out,
            "frontal",
            sub,
            [rec.kept_images[i] for i in frontal_idx],
            names=[jobs[i].name for i in frontal_idx],
        )
        result["frontal"] = len(frontal_idx)
    return result


class _Recorder(Sequence):
    """Pass-through lazy samples that remember the frontal ones (and their images)."""

    def __init__(self, lazy: LazySamples, frontal_idx: list[int]) -> None:
        self.lazy, self.frontal_idx = lazy, frontal_idx
        self.kept: dict[int, Sample] = {}
        self.kept_images: dict[int, np.ndarray] = {}
        self.images = _RecorderImages(self)

    def __len__(self) -> int:
        return len(self.lazy)

    def __getitem__(self, i):  # type: ignore[override]
        s = self.lazy[i]
        if s.attributes.get("frontal") and i not in self.kept:
            self.kept[i] = s
            self.kept_images[i] = self.lazy.images[i]
            self.frontal_idx.append(i)
        return s


class _RecorderImages(Sequence):
    def __init__(self, owner: _Recorder) -> None:
        self.owner = owner

    def __len__(self) -> int:
        return len(self.owner)

    def __getitem__(self, i):  # type: ignore[override]
        return self.owner.lazy.images[i]


#: dataset name -> writer ``(out, num, seed, size) -> split sizes``
WRITERS: dict[str, Callable[..., dict]] = {
    "300w": write_300w_synth,
    "wflw": write_wflw_synth,
    "cofw": write_cofw_synth,
    "aflw": write_aflw_synth,
}


# -- 300VW -----------------------------------------------------------------------------------


def _pick_videos(ids: Sequence[str], n: int) -> list[str]:
    """``n`` video ids of a list, those without known broken frames first."""
    ordered = [v for v in ids if not broken_frames(v)] + [v for v in ids if broken_frames(v)]
    return ordered[:n]


def write_300vw_synth(
    out: str | os.PathLike, num: int, seed: int, size=(256, 256), frames: int = 60
) -> dict:
    """Generated 300VW: ``num`` training videos (category-1-like motion) and test categories
    1/2/3 in the official ratios 31/19/14 to 50, under the official video ids (those without
    known broken frames first); each video has ``frames`` frames."""
    counts = proportional(num, {"train": 50, "test1": 31, "test2": 19, "test3": 14}, 50)
    result = {}
    for split, n in counts.items():
        ids = _pick_videos(SPLIT_VIDEOS[split], n)
        category = 1 if split == "train" else int(split[-1])
        for vid in ids:
            rng = sample_rng(seed, "300vw", vid, 0)
            rendered = render_video(category, rng, frames, size)
            write_300vw_video(
                out, vid, [r.image for r in rendered], [r.landmarks["300vw"] for r in rendered]
            )
        result[split] = len(ids)
    return result


WRITERS["300vw"] = write_300vw_synth


def synthesize(
    dataset: str,
    out: str | os.PathLike,
    num: int,
    seed: int = 0,
    size: int = 256,
    frames: int = 60,
    overwrite: bool = False,
) -> dict:
    """Write generated dataset ``dataset`` (one of :data:`WRITERS`) under ``out``.

    ``out`` must be empty or missing, or hold a dataset generated with the same settings
    (:func:`check_synth_folder`: an interrupted generation goes on, and gives the same files
    as one that was not interrupted); ``overwrite`` deletes what it holds first
    (:func:`otmark.rundir.clear_folder`). A folder never mixes two generations.

    Returns the number of faces (videos for ``300vw``) written per split or folder.
    """
    lookup(WRITERS, dataset, "synth dataset")
    if num < 1 or size < 1:
        raise ValueError(f"num and size must be positive, got num={num}, size={size}")
    video_frames = frames if dataset == "300vw" else None
    if overwrite:
        clear_folder(out)
    else:
        check_synth_folder(out, dataset, num, seed, size, video_frames)
    Path(out).mkdir(parents=True, exist_ok=True)
    write_provenance(out, dataset, num, seed, size, video_frames, complete=False)
    if dataset == "300vw":
        counts = WRITERS[dataset](out, num, seed, (size, size), frames=frames)
    else:
        counts = WRITERS[dataset](out, num, seed, (size, size))
    write_provenance(out, dataset, num, seed, size, video_frames)
    return counts


#: file at a generated dataset's root naming what produced it
PROVENANCE = "otmark_synth.json"


def provenance(
    dataset: str, num: int, seed: int, size: int, frames: int | None, complete: bool = True
) -> dict:
    """The contents of :data:`PROVENANCE`: the arguments, the background source
    (:func:`otmark.synth.background.background_source`) and whether the generation finished
    (``complete``)."""
    return {
        "generator": "otmark.synth",
        "dataset": dataset,
        "num": num,
        "seed": seed,
        "size": size,
        "frames": frames,
        "backgrounds": background_source(),
        "complete": complete,
    }


def write_provenance(
    out: str | os.PathLike,
    dataset: str,
    num: int,
    seed: int,
    size: int,
    frames: int | None,
    complete: bool = True,
) -> None:
    """Write :data:`PROVENANCE` (:func:`provenance`); the same arguments and background source
    give byte-identical files. :func:`synthesize` writes it first with ``complete: false``, and
    again when every file is written."""
    info = provenance(dataset, num, seed, size, frames, complete)
    write_text_atomic(Path(out) / PROVENANCE, json.dumps(info, indent=2) + "\n")


def read_provenance(out: str | os.PathLike) -> dict | None:
    """The :data:`PROVENANCE` of ``out``; None when there is none or it is not a JSON object."""
    try:
        info = json.loads((Path(out) / PROVENANCE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def same_generation(
    out: str | os.PathLike, dataset: str, num: int, seed: int, size: int, frames: int | None
) -> bool:
    """Whether ``out`` holds a generation (finished or interrupted) with these settings and
    the same background source: going on writes the same files again."""
    info = read_provenance(out)
    if info is None:
        return False
    want = provenance(dataset, num, seed, size, frames)
    return {k: v for k, v in info.items() if k != "complete"} == {
        k: v for k, v in want.items() if k != "complete"
    }


def check_synth_folder(
    out: str | os.PathLike, dataset: str, num: int, seed: int, size: int, frames: int | None
) -> None:
    """Refuse (``otmark.rundir.FolderNotEmpty``, naming the folder and what it holds) an ``out``
    that holds anything but a generation with these settings (:func:`same_generation`)."""
    names = contents(Path(out))
    if not names or same_generation(out, dataset, num, seed, size, frames):
        return
    info = read_provenance(out)
    if info is not None:
        asked = provenance(dataset, num, seed, size, frames)
        diff = ", ".join(
            f"{k} {info.get(k)} (asked: {v})"
            for k, v in asked.items()
            if k != "complete" and info.get(k) != v
        )
        state = "" if info.get("complete", True) else "an interrupted generation, "
        what = f"a generated {info.get('dataset')} dataset with other settings ({state}{diff})"
    else:
        what = f"files not written by otmark synth ({describe_contents(names)})"
    raise FolderNotEmpty(
        f"{out}: already holds {what}; --overwrite deletes them first, or choose another folder"
    )
