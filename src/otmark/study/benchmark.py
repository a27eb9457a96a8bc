"""The generated benchmark: 300W, WFLW and 300VW written once under one root folder.

Layout: ``ROOT/300W``, ``ROOT/WFLW``, ``ROOT/300VW`` (the official formats, written by
:func:`otmark.synth.writers.synthesize`) and ``ROOT/benchmark.json``, which records the size
each dataset was generated with. A dataset whose recorded size matches is reused; one that is
missing or differs is regenerated (so re-running the quickstart or the study is free). With
``blur_pool`` set, ``ROOT/300VW-blur-pool`` holds the blur protocols' candidate videos
(:mod:`otmark.study.blur_pool`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from otmark.atomic import write_json_atomic
from otmark.registry import UnknownNameError
from otmark.study.blur_pool import write_blur_pool
from otmark.study.log import say
from otmark.synth.writers import synthesize

#: dataset name -> sub-folder of the benchmark root
FOLDERS = {"300w": "300W", "wflw": "WFLW", "300vw": "300VW"}
STAMP = "benchmark.json"
#: the blur protocols' candidate videos: key in the roots (and stamp) and sub-folder
BLUR_POOL = "300vw-blur-pool"
BLUR_POOL_FOLDER = "300VW-blur-pool"
#: sizes that may be 0
OPTIONAL = ("seed", "blur_pool", "blur_pool_frames")


@dataclass(frozen=True)
class BenchmarkSize:
    """How much data to generate.

    Attributes:
        w300_train: generated 300W training faces (common/challenge/test keep the official
            ratios: 554, 135 and 600 per 3,148).
        wflw_train: generated WFLW training faces (test = 1/3 of it).
        vw_videos: generated 300VW training videos (test categories 1/2/3 = 31/19/14 per 50).
        vw_frames: frames per 300VW video.
        image_size: side of the generated images in pixels.
        seed: generator seed.
        blur_pool: generated category-3 candidate videos for the blur protocols (0: none,
            the blur protocols score the 300VW ``test3`` videos), written with the 300VW
            benchmark under ``ROOT/300VW-blur-pool`` (:mod:`otmark.study.blur_pool`); the
            report keeps those the core models handle (:mod:`otmark.study.blur_apply`).
        blur_pool_frames: frames per pool video (0: ``vw_frames``); the blur claims resample
            whole videos, so more, shorter videos cost the same and inform more.
    """

    w300_train: int = 1200
    wflw_train: int = 150
    vw_videos: int = 4
    vw_frames: int = 40
    image_size: int = 160
    seed: int = 0
    blur_pool: int = 0
    blur_pool_frames: int = 0

    def key(self) -> dict:
        """The sizes as stored in a result's key: the blur pool's only when set (the keys of
        results stored before they existed stay valid)."""
        out = asdict(self)
        for k in ("blur_pool", "blur_pool_frames"):
            if not out[k]:
                del out[k]
        return out

    def dataset_args(self, dataset: str) -> dict:
        """``synthesize`` keyword arguments of one dataset (also its stamp); for
        :data:`BLUR_POOL`, :func:`otmark.study.blur_pool.write_blur_pool`'s."""
        common = {"seed": self.seed, "size": self.image_size}
        if dataset == BLUR_POOL:
            return {"num": self.blur_pool, "frames": self.blur_pool_frames or self.vw_frames,
                    **common}
        if dataset == "300w":
            return {"num": self.w300_train, **common}
        if dataset == "wflw":
            return {"num": self.wflw_train, **common}
        if dataset == "300vw":
            return {"num": self.vw_videos, "frames": self.vw_frames, **common}
        raise UnknownNameError("benchmark dataset", dataset, FOLDERS)

    @classmethod
    def from_dict(cls, raw: dict, where: str = "<benchmark>") -> BenchmarkSize:
        """Build from a mapping; unknown keys are an error naming ``where``."""
        valid = set(asdict(cls()))
        unknown = sorted(set(raw) - valid)
        if unknown:
            raise ValueError(f"{where}: unknown benchmark keys {unknown}; valid: {sorted(valid)}")
        for k, v in raw.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 1 and k not in OPTIONAL:
                raise ValueError(f"{where}: benchmark.{k} must be a positive integer, got {v!r}")
        return cls(**raw)


def _read_stamp(root: Path) -> dict:
    path = root / STAMP
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}); delete it") from None
    return data if isinstance(data, dict) else {}


def ensure_benchmark(
    root: str | os.PathLike,
    size: BenchmarkSize,
    datasets: tuple[str, ...] = ("300w", "wflw", "300vw"),
    log: Callable[[str], None] = say,
) -> dict[str, Path]:
    """Generate each of ``datasets`` under ``root`` unless it is there at this ``size``.

    Returns:
        dataset name -> its root folder (what ``otmark.datasets.load`` reads).
    """
    root = Path(root)
    stamp = _read_stamp(root)
    roots = {}
    for name in datasets:
        folder = root / FOLDERS[name]
        args = size.dataset_args(name)
        roots[name] = folder
        if stamp.get(name) == args and folder.is_dir():
            log(f"benchmark: reusing {folder}")
            continue
        if folder.exists():
            shutil.rmtree(folder)
        log(f"benchmark: generating {name} in {folder} ({args})")
        counts = synthesize(name, folder, **args)
        log(f"benchmark: {name} written ({', '.join(f'{k} {v}' for k, v in counts.items())})")
        stamp[name] = args
        write_json_atomic(root / STAMP, stamp)
    if "300vw" in datasets and size.blur_pool:
        roots[BLUR_POOL] = _ensure_blur_pool(root, size, stamp, log)
    return roots


def _ensure_blur_pool(root: Path, size: BenchmarkSize, stamp: dict, log) -> Path:
    """The blur pool's folder under ``root``, generated unless stamped with these sizes."""
    folder = root / BLUR_POOL_FOLDER
    args = size.dataset_args(BLUR_POOL)
    if stamp.get(BLUR_POOL) == args and folder.is_dir():
        log(f"benchmark: reusing {folder}")
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    log(f"benchmark: generating the blur pool in {folder} ({args})")
    write_blur_pool(folder, args["num"], args["frames"], args["size"], args["seed"])
    stamp[BLUR_POOL] = args
    write_json_atomic(root / STAMP, stamp)
    return folder
