"""Benchmark: where a model's errors come from on the real-face development set.

For each ``--checkpoint`` (default ``fast=pretrained-fast``), the 43 faces of dlib's
``examples/faces`` (fetched by ``benchmarks/real_faces.py``; labels by dlib's 68-point model)
predicted from two crops:

* ``labels``: the tight box of the labelled landmarks, one pass (the training crop);
* ``dlib boxes``: the boxes of dlib's XML files (dlib's HOG detector) adapted by
  ``DLIB_HOG_ADAPTATION``, with the detector's default passes (``otmark detect``).

Reported per face group (point groups of the 300W scheme), per head-pose bin (turn: where the
nose tip lies between the jaw ends, 0.5 frontal; roll: the angle of the outer eye corners) and,
for the jaw, the signed error along the outward normal of the labelled jaw curve (negative:
the predicted jaw lies inside the labelled outline). Also the **finder boxes' offsets** relative
to the label crop (the statistics a training augmentation can draw crops from): centre shift in
units of the label box's side (x, y), the side ratio ``max side(adapted dlib box) / max
side(label box)`` and the face's roll (the finder's boxes are upright, so the crop's roll is the
face's). These are statistics of dlib's *finder* boxes, not of the annotations.

    python benchmarks/real_faces_errors.py --checkpoint fast=pretrained-fast
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from real_faces import DEFAULT_CACHE, dlib_example_samples, turn  # noqa: E402

TURN_BINS = ((0.0, 0.2), (0.2, 0.3), (0.3, 0.7), (0.7, 0.8), (0.8, 1.0))
ROLL_BINS = ((0.0, 10.0), (10.0, 20.0), (20.0, 90.0))


def roll_deg(landmarks: np.ndarray) -> float:
    """Angle (degrees, y down) of the line from outer eye corner 36 to 45."""
    d = landmarks[45] - landmarks[36]
    return float(np.degrees(np.arctan2(d[1], d[0])))


def jaw_normal_error(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Signed error ``(17,)`` of the jaw points along the outward normal of the labelled jaw
    curve (points 0-16), over the inter-ocular distance: > 0 outside the outline, < 0 inside."""
    jaw = truth[:17]
    tangent = np.gradient(jaw, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    centre = truth[27:36].mean(axis=0)
    flip = np.sign(np.sum((jaw - centre) * normal, axis=1, keepdims=True))
    normal *= np.where(flip == 0, 1.0, flip)
    d = float(np.linalg.norm(truth[36] - truth[45]))
    return np.sum((pred[:17] - jaw) * normal, axis=1) / d


def box_offsets(found: np.ndarray, label: np.ndarray) -> tuple[float, float, float]:
    """Centre shift ``(x, y)`` of ``found`` from ``label`` in units of the label box's longer
    side, and the ratio of their longer sides."""
    side = max(label[2] - label[0], label[3] - label[1])
    cf = (found[:2] + found[2:]) / 2
    cl = (label[:2] + label[2:]) / 2
    ratio = max(found[2] - found[0], found[3] - found[1]) / side
    return float((cf[0] - cl[0]) / side), float((cf[1] - cl[1]) / side), float(ratio)


def describe(values: np.ndarray) -> str:
    q = np.percentile(values, [10, 25, 50, 75, 90])
    return (
        f"mean {values.mean():+.3f} sd {values.std():.3f} | p10 {q[0]:+.3f} p25 {q[1]:+.3f} "
        f"median {q[2]:+.3f} p75 {q[3]:+.3f} p90 {q[4]:+.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="download/cache folder")
    parser.add_argument(
        "--checkpoint", action="append", default=[], metavar="NAME=PATH", help="repeatable"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "real_faces_errors.json")
    args = parser.parse_args()

    from otmark.atomic import write_json_atomic
    from otmark.inference import Detector
    from otmark.inference.boxes import adapt_boxes
    from otmark.inference.finders import DLIB_HOG_ADAPTATION
    from otmark.schemes import get_scheme
    from otmark.transforms import tight_box

    samples = dlib_example_samples(args.cache)
    regions = get_scheme("300w").regions
    truth = np.stack([s.landmarks for s in samples])
    labels = np.stack([tight_box(s.landmarks) for s in samples])
    adapted = adapt_boxes(np.stack([s.box for s in samples]), DLIB_HOG_ADAPTATION)
    turns = np.array([turn(s.landmarks) for s in samples])
    rolls = np.array([roll_deg(s.landmarks) for s in samples])
    offsets = np.array([box_offsets(a, b) for a, b in zip(adapted, labels)])
    result: dict = {"ids": [s.id for s in samples], "turn": turns.tolist(), "roll": rolls.tolist()}
    result["finder_boxes"] = {
        "shift_x": offsets[:, 0].tolist(),
        "shift_y": offsets[:, 1].tolist(),
        "side_ratio": offsets[:, 2].tolist(),
    }
    print("\nfinder (dlib HOG, adapted) boxes relative to the label boxes, 43 faces:")
    for k, name in enumerate(("centre shift x (sides)", "centre shift y (sides)", "side ratio")):
        print(f"  {name:24s} {describe(offsets[:, k])}")
    print(f"  {'roll (degrees)':24s} {describe(rolls)}")
    print(f"  {'|roll| (degrees)':24s} {describe(np.abs(rolls))}")
    log_ratio = np.log(offsets[:, 2])
    print(f"  {'log side ratio':24s} {describe(log_ratio)}")

    photos: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        photos.setdefault(str(s.image.path), []).append(i)
    images = {p: samples[idx[0]].load_image() for p, idx in photos.items()}
    result["models"] = {}
    for item in args.checkpoint or ["fast=pretrained-fast"]:
        name, _, path = item.partition("=")
        det = Detector.from_checkpoint(path or name, device=args.device)
        default_passes = det.passes
        runs = {}
        for source, boxes, passes in (
            ("labels", labels, 1),
            ("dlib boxes", adapted, default_passes),
        ):
            det.passes = passes
            pred = np.zeros_like(truth)
            for p, idx in photos.items():
                pred[idx] = det.predict(images[p], boxes[idx])
            iod = np.linalg.norm(truth[:, 36] - truth[:, 45], axis=1)
            err = np.linalg.norm(pred - truth, axis=2) / iod[:, None]
            nme = err.mean(axis=1)
            jaw = np.stack([jaw_normal_error(a, b) for a, b in zip(pred, truth)])
            runs[source] = {"per_face": nme.tolist(), "jaw_normal": jaw.tolist()}
            print(
                f"\n{name}, {source} (passes {passes}): NME {100 * nme.mean():.2f} %, "
                f"FR^I_0.1 {100 * (nme > 0.1).mean():.1f} %"
            )
            print(
                "  groups: "
                + ", ".join(f"{g} {100 * err[:, list(ix)].mean():.1f}" for g, ix in regions.items())
            )
            for lo, hi in TURN_BINS:
                m = (turns >= lo) & (turns < hi)
                if m.any():
                    print(
                        f"  turn {lo:.1f}-{hi:.1f}: {m.sum():2d} faces, NME "
                        f"{100 * nme[m].mean():5.2f}, jaw {100 * err[m][:, :17].mean():5.2f}, "
                        f"brows {100 * err[m][:, 17:27].mean():5.2f}"
                    )
            for lo, hi in ROLL_BINS:
                m = (np.abs(rolls) >= lo) & (np.abs(rolls) < hi)
                if m.any():
                    print(
                        f"  |roll| {lo:.0f}-{hi:.0f}: {m.sum():2d} faces, NME "
                        f"{100 * nme[m].mean():5.2f}"
                    )
            side = np.where(turns < 0.5, 1, -1)  # +1: the face looks to the image's left
            far = np.where(side[:, None] > 0, np.arange(17) < 8, np.arange(17) > 8)
            turned = np.abs(turns - 0.5) > 0.2
            print(
                f"  jaw signed normal error (% IOD, < 0 inside): all {100 * jaw.mean():+.2f}; "
                f"turned heads, far side {100 * jaw[turned][far[turned]].mean():+.2f}, near "
                f"side {100 * jaw[turned][~far[turned] & (np.arange(17) != 8)].mean():+.2f}; "
                f"frontal {100 * jaw[~turned].mean():+.2f}"
            )
            bad = np.argsort(-nme)[:6]
            print(
                "  worst: "
                + ", ".join(
                    f"{samples[i].id} {100 * nme[i]:.1f} "
                    f"(turn {turns[i]:.2f}, roll {rolls[i]:+.0f})"
                    for i in bad
                )
            )
        result["models"][name] = runs
    write_json_atomic(args.out, result)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
