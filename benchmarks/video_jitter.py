"""NME and jitter of ``otmark detect`` runs on one 300VW-layout video, on the same frames.

Per-frame detection has no face in the frames where the face finder fails, and a frame without a
face breaks the frame pairs on both of its sides: its jitter covers fewer pairs than a tracked
run's. This script scores each run twice, on all its frames and on the frames where the
**first** run has a face ("common"), so that every run is compared on the same frames and pairs.

Run (the table of ``docs/detect/detect.md``, "Smoothing")::

    V=runs/vw/203/vid.avi
    otmark detect $V --checkpoint pretrained-fast --no-overlay --out o/base --no-track --no-smooth
    otmark detect $V --checkpoint pretrained-fast --no-overlay --out o/track --no-smooth
    otmark detect $V --checkpoint pretrained-fast --no-overlay --out o/default
    python benchmarks/video_jitter.py $V o/base o/track o/default

Prints, per run, NME % / jitter % with the frames and frame pairs each covers, and the ratios
of the common scores to the first run's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from otmark.inference.annotations import score_video, video_annotations
from otmark.inference.results import FrameResult, read_results_json


def pairs(results: list[FrameResult], truth: dict) -> int:
    """Pairs of consecutive annotated frames that both have a face."""
    frames = sorted(r.frame for r in results if r.faces and r.frame in truth)
    return sum(1 for a, b in zip(frames, frames[1:]) if b == a + 1)


def percent(value: float | None) -> str:
    """``"1.23"``, or ``"-"`` for a score that is not defined."""
    return "-" if value is None else f"{value:.2f}"


def only_frames(results: list[FrameResult], keep: set[int]) -> list[FrameResult]:
    """``results`` with the faces of the frames outside ``keep`` removed."""
    return [
        r if r.frame in keep else FrameResult(r.source, r.frame, r.width, r.height, [])
        for r in results
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path, help="the video, with annot/*.pts beside it")
    parser.add_argument("runs", type=Path, nargs="+", help="otmark detect --out folders")
    args = parser.parse_args(argv)
    truth = video_annotations(args.video)
    if truth is None:
        print(f"{args.video}: no annot/*.pts beside the video", file=sys.stderr)
        return 2
    loaded = []
    for run in args.runs:
        path = run / "landmarks.json"
        if not path.is_file():
            print(f"{path}: no such file (run otmark detect --out {run} first)", file=sys.stderr)
            return 2
        doc, results = read_results_json(path)
        loaded.append((run, doc["scheme"], results))
    keep = {r.frame for r in loaded[0][2] if r.faces}
    first = None
    for run, scheme, results in loaded:
        every = score_video(results, truth, scheme)
        common_results = only_frames(results, keep)
        common = score_video(common_results, truth, scheme)
        if every["nme"] is None or common["nme"] is None:
            print(f"{run}: no face on the annotated frames")
            continue
        first = first or common
        ratio = ""
        if first["jitter"] and common["jitter"] is not None:
            ratio = (
                f"; common / first: NME {common['nme'] / first['nme']:.3f}, "
                f"jitter {common['jitter'] / first['jitter']:.3f}"
            )
        print(
            f"{run}: all {percent(every['nme'])} / {percent(every['jitter'])} "
            f"({every['frames_scored']} frames, {pairs(results, truth)} pairs); "
            f"common {percent(common['nme'])} / {percent(common['jitter'])} "
            f"({common['frames_scored']} frames, {pairs(common_results, truth)} pairs){ratio}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
