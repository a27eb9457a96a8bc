"""Benchmark: re-cropping from predicted landmarks (``Detector(passes=...)``) on generated faces.

Generated 300W faces (``otmark.synth``, 160 px images, face box about 84 px) are predicted by a
model from their tight landmark box (the training crop) moved by ``shift`` box sides in a random
direction and scaled by ``1 +- shift``, and from the exact box of faces rolled by 35-65 degrees
(beyond the packaged model's 30-degree rotation augmentation). Reported: mean NME % (inter-ocular,
outer eye corners) and FR^I_0.1 % per number of passes. Writes
``benchmarks/results/recrop_synth.json``.

    python benchmarks/recrop_synth.py --faces 40
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "tests" / "inference"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="pretrained")
    parser.add_argument("--faces", type=int, default=40, help="faces per condition")
    parser.add_argument("--passes", default="1,2,3")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "recrop_synth.json")
    args = parser.parse_args()

    from test_recrop import nme, rendered_face

    from otmark.atomic import write_json_atomic
    from otmark.inference import Detector

    det = Detector.from_checkpoint(args.checkpoint, device="cpu")
    rng = np.random.default_rng(0)
    conditions = {f"shift {s:.0%}": (s, None) for s in (0.0, 0.1, 0.2)}
    conditions["roll 35-65 deg"] = (0.0, (35.0, 65.0))
    passes = [int(p) for p in args.passes.split(",")]
    results: dict = {"checkpoint": args.checkpoint, "faces": args.faces, "conditions": {}}
    print("| condition | " + " | ".join(f"passes={p} NME % / FR %" for p in passes) + " |")
    print("|---" * (1 + len(passes)) + "|")
    for name, (shift, rolls) in conditions.items():
        images, boxes, truth = [], [], []
        for i in range(args.faces):
            roll = float(rng.uniform(-8, 8)) if rolls is None else float(rng.uniform(*rolls))
            roll *= 1 if rolls is None or i % 2 else -1
            ang = rng.uniform(0, 2 * np.pi)
            d = shift * np.array([np.cos(ang), np.sin(ang)])
            img, box, t = rendered_face(1000 + i, roll, (0.0, 0.0))
            side = box[2] - box[0]
            centre = (box[:2] + box[2:]) / 2 + d * side
            half = (box[2:] - box[:2]) / 2 * (1 + rng.uniform(-shift, shift))
            images.append(img)
            boxes.append(np.concatenate([centre - half, centre + half])[None])
            truth.append(t)
        truth = np.stack(truth)
        row = {}
        for p in passes:
            det.passes = p
            t0 = time.perf_counter()
            pred = np.concatenate(det.predict_many(images, boxes))
            e = nme(pred, truth)
            row[p] = {
                "NME": 100 * float(e.mean()),
                "FR_0.1": 100 * float((e > 0.1).mean()),
                "seconds": time.perf_counter() - t0,
            }
        results["conditions"][name] = row
        cells = " | ".join(f"{row[p]['NME']:.2f} / {row[p]['FR_0.1']:.1f}" for p in passes)
        print(f"| {name} | {cells} |")
    write_json_atomic(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
