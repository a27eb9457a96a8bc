"""Are the blur videos within the core models' competence? The selection rule on a study's stored
cells, and where its clean frames fail.

1. The rule of :func:`otmark.study.blur_select.select_competent_videos` (clean NME <= 2x the
   300W-test NME for every core model) on the per-video clean NMEs of the stored core cells.
2. The clean frames' NME (mean of the core cells) by the head yaw and the occluder of the scene
   the generator drew for each frame: the blur videos are re-rendered (the generator is
   deterministic) with the scenes recorded as they are drawn. The scenes match the stored
   cells' frames only while the generator draws the same random streams as when the study's
   data was generated.

Reads the cells only (no training). Writes ``docs/blur_diagnosis/competence.json`` (``--out``);
docs/study_method.md, "Blur protocol", quotes it.

    python benchmarks/blur_competence.py results/study/converged/cpu --config paper
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from otmark.atomic import write_json_atomic
from otmark.datasets.vw300_lists import SPLIT_VIDEOS
from otmark.study.blur_select import (
    BlurSelect,
    TooFewVideosError,
    core_inputs,
    select_competent_videos,
)
from otmark.study.config import load_study_config
from otmark.synth import video as synth_video
from otmark.synth.writers import _pick_videos, proportional, sample_rng

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "blur_diagnosis" / "competence.json"
CLEAN = "blur-large:clean"
YAW_BINS = ((0, 30), (30, 45), (45, 60), (60, 90))


def core_cells(folder: Path, settings: tuple[str, ...]) -> list[dict]:
    """The stored ``losses`` cells of the core settings in ``folder``."""
    docs = []
    for s in settings:
        for path in sorted(folder.glob(f"losses__{s}__300w__seed*.json")):
            docs.append(json.loads(path.read_text(encoding="utf-8")))
    if not docs:
        raise FileNotFoundError(f"{folder}: no losses cells of {list(settings)}")
    return docs


def rule(docs: list[dict], cfg: BlurSelect) -> dict:
    """The selection on the stored cells (``needed`` 1: which videos qualify at all)."""
    by_video, ref = core_inputs(docs, cfg.settings, CLEAN, cfg.reference)
    try:
        sel = select_competent_videos(by_video, ref, cfg.factor, 1)
        kept, failed = list(sel.videos), sel.failed_by
    except TooFewVideosError:
        kept, failed = [], {v: list(by_video) for v in next(iter(by_video.values()))}
    return {
        "factor": cfg.factor,
        "reference_nme": ref,
        "clean_nme_by_video": by_video,
        "qualifying": kept,
        "failed_by": failed,
    }


def frame_scenes(videos: list[str], frames: int, size: int, seed: int) -> dict[str, dict]:
    """``"<video>/<frame>" -> {yaw, occluded}`` of the generator's test3 videos, recorded
    while re-rendering them (the 300VW writer's streams)."""
    drawn: list = []
    original = synth_video._Scene

    def record(*args, **kwargs):
        scene = original(*args, **kwargs)
        drawn.append(scene)
        return scene

    out = {}
    synth_video._Scene = record
    try:
        for vid in videos:
            drawn.clear()
            synth_video.render_video(3, sample_rng(seed, "300vw", vid, 0), frames, (size, size))
            for t, scene in enumerate(drawn):
                out[f"{vid}/{t + 1:06d}"] = {
                    "yaw": float(scene.pose.yaw),
                    "occluded": bool(scene.occluders),
                }
    finally:
        synth_video._Scene = original
    return out


def by_yaw_and_occluder(docs: list[dict], scenes: dict[str, dict]) -> list[dict]:
    """Mean and median clean NME (mean of the cells per frame) per |yaw| bin and occluder."""
    per_frame: dict[str, list[float]] = {}
    for d in docs:
        rec = d["clean"][CLEAN]
        for i, v in zip(rec["ids"], rec["nme_per_image"]):
            per_frame.setdefault(i, []).append(v)
    rows = []
    for lo, hi in YAW_BINS:
        for occluded in (False, True):
            vals = [
                float(np.mean(v))
                for i, v in per_frame.items()
                if lo <= abs(scenes[i]["yaw"]) < hi and scenes[i]["occluded"] == occluded
            ]
            if vals:
                rows.append(
                    {
                        "abs_yaw": [lo, hi],
                        "occluded": occluded,
                        "frames": len(vals),
                        "mean_nme": float(np.mean(vals)),
                        "median_nme": float(np.median(vals)),
                    }
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a study's cell folder")
    parser.add_argument("--config", default="paper", help="the study config (benchmark sizes)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    study = load_study_config(args.config, device="cpu")
    cfg = study.blur_select or BlurSelect()
    docs = core_cells(args.results, cfg.settings)
    b = study.benchmark
    n = proportional(b.vw_videos, {"train": 50, "test1": 31, "test2": 19, "test3": 14}, 50)
    videos = _pick_videos(SPLIT_VIDEOS["test3"], n["test3"])
    scenes = frame_scenes(videos, b.vw_frames, b.image_size, b.seed)
    out = {
        "results": str(args.results),
        "cells": [d["cell"] for d in docs],
        "rule": rule(docs, cfg),
        "clean_nme_by_yaw_and_occluder": by_yaw_and_occluder(docs, scenes),
        "share_abs_yaw_45_or_more": float(np.mean([abs(s["yaw"]) >= 45 for s in scenes.values()])),
        "share_occluded": float(np.mean([s["occluded"] for s in scenes.values()])),
    }
    write_json_atomic(args.out, out)
    print(json.dumps({k: out[k] for k in ("cells", "share_abs_yaw_45_or_more")}, indent=1))
    print("qualifying:", out["rule"]["qualifying"])
    for r in out["clean_nme_by_yaw_and_occluder"]:
        print(r)


if __name__ == "__main__":
    main()
