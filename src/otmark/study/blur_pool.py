"""The blur protocols' candidate videos: a pool of generated 300VW category-3 videos.

The study's blur protocols (``blur-medium``, ``blur-large``) are meant to measure what motion
blur does to faces the models otherwise handle. The generator's category-3 videos are hard by
construction (head yaw up to 75 degrees, hand or object occluders, light changes,
:mod:`otmark.synth.video`), and many of their *clean* frames already fail. So the study
generates more candidate videos than the protocols need, scores every model on all of them, and
keeps, in the report, the videos whose clean frames the core models score well
(:mod:`otmark.study.blur_select`; docs/study_method.md, "Blur protocol").

Layout: ``<pool>/<video id>/vid.avi`` and ``annot/<n>.pts`` (300VW's own layout, read by
:func:`otmark.datasets.load` with ``videos=``) and ``<pool>/pool.json``, the manifest naming
the videos and how they were generated. Video ids are ``pool000``, ``pool001``, ... and each
video's random stream depends on the seed and its id only, so a larger pool keeps the videos of
a smaller one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from otmark import datasets
from otmark.atomic import write_json_atomic
from otmark.datasets.records import Sample
from otmark.datasets.vw300 import write_300vw_video
from otmark.synth.video import render_video
from otmark.synth.writers import sample_rng

#: the pool's manifest, at its root
MANIFEST = "pool.json"
FORMAT = "otmark-blur-pool-1"
#: the generator's stream name of the pool (distinct from the 300VW benchmark's videos)
STREAM = "300vw-blur-pool"
CATEGORY = 3


def pool_video_ids(num: int) -> list[str]:
    """The ids of a pool of ``num`` videos: ``pool000``, ``pool001``, ..."""
    if num < 1:
        raise ValueError(f"a blur pool needs at least one video, got {num}")
    return [f"pool{i:03d}" for i in range(num)]


def write_blur_pool(
    out: str | os.PathLike, num: int, frames: int, size: int, seed: int = 0
) -> list[str]:
    """Generate ``num`` category-3 videos of ``frames`` frames (``size`` x ``size`` pixels)
    under ``out`` and write the manifest last (a pool without it is incomplete).

    Returns:
        the video ids, in pool order.
    """
    if frames < 2:
        raise ValueError(f"blur-pool videos need at least 2 frames (for the blur), got {frames}")
    out = Path(out)
    ids = pool_video_ids(num)
    for vid in ids:
        rendered = render_video(CATEGORY, sample_rng(seed, STREAM, vid, 0), frames, (size, size))
        write_300vw_video(
            out, vid, [r.image for r in rendered], [r.landmarks["300vw"] for r in rendered]
        )
    manifest = {
        "format": FORMAT,
        "videos": ids,
        "category": CATEGORY,
        "frames": frames,
        "size": size,
        "seed": seed,
    }
    write_json_atomic(out / MANIFEST, manifest)
    return ids


def pool_videos(root: str | os.PathLike) -> list[str]:
    """The video ids listed in the manifest of the pool at ``root`` (errors name the file)."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no blur-pool manifest (an incomplete pool; delete it)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    videos = doc.get("videos") if isinstance(doc, dict) else None
    if doc.get("format") != FORMAT or not isinstance(videos, list) or not videos:
        raise ValueError(f"{path}: not a blur-pool manifest ({FORMAT} with a list of videos)")
    return [str(v) for v in videos]


def load_pool_samples(root: str | os.PathLike) -> list[Sample]:
    """Every annotated frame of every pool video, video by video in pool order."""
    return list(datasets.load("300vw", Path(root), "test3", videos=pool_videos(root)))
