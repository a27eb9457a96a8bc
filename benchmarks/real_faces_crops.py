"""Benchmark: where a model's crop comes from, on real photographs (the real-face development set).

For each ``--checkpoint`` and each number of ``--passes`` (``Detector(passes=...)``: the box crop,
then re-crops from the predicted landmarks as in training), the landmarks of the 43 faces of
dlib's ``examples/faces`` (fetched by ``benchmarks/real_faces.py``: Debian's dlib source
package, labels by dlib's 68-point model) predicted from four kinds of face box:

* ``labels``: the tight box of the labelled landmarks (the training crop);
* ``dlib boxes``: the boxes of dlib's XML files (dlib's HOG detector, adapted by
  ``DLIB_HOG_ADAPTATION``);
* ``finder, all faces``: every face ``--finder`` finds in the photograph (``otmark detect
  --all-faces``), matched to the labelled face by IoU >= ``--min-iou`` with its tight box;
* ``finder, default``: the one face ``otmark detect`` reports (the most prominent,
  ``choose_face_rule``); a labelled face that is not it counts as missed.

A missed face is scored with all its points at the image centre (a failure). Reported: NME %
over all faces (inter-ocular, outer eye corners), over the faces found, FR^I_0.1 % (faces with
NME > 10 %), NME % of the turned heads (the nose tip beyond 0.2 of the jaw width from its
middle) and per point group. Prints a table and writes ``benchmarks/results/real_faces_crops.json``.

    python benchmarks/real_faces_crops.py --checkpoint pretrained=pretrained
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from real_faces import (  # noqa: E402
    DEFAULT_CACHE,
    TURNED,
    dlib_example_samples,
    iou,
    turn,
)

SOURCES = ("labels", "dlib boxes", "finder, all faces", "finder, default")


def face_errors(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Point errors ``(K,)`` of one face over its inter-ocular distance (points 36, 45)."""
    d = float(np.linalg.norm(truth[36] - truth[45]))
    return np.linalg.norm(pred - truth, axis=1) / d


def summarise(errors: dict, missed: set, turned: set, regions: dict) -> dict:
    """NME %, NME % of found faces, FR^I_0.1 %, turned-head NME % and per-group NME %."""
    ids = sorted(errors)
    nme = np.array([errors[i].mean() for i in ids])
    found = np.array([i not in missed for i in ids])
    tur = np.array([i in turned for i in ids])
    stack = np.stack([errors[i] for i in ids])
    return {
        "faces": len(ids),
        "found": int(found.sum()),
        "NME": 100 * float(nme.mean()),
        "NME_found": 100 * float(nme[found].mean()) if found.any() else float("nan"),
        "FR_0.1": 100 * float((nme > 0.1).mean()),
        "NME_turned": 100 * float(nme[tur].mean()) if tur.any() else float("nan"),
        "turned": int(tur.sum()),
        "groups_found": {
            g: 100 * float(stack[found][:, list(idx)].mean()) for g, idx in regions.items()
        },
        "per_face": {i: float(v) for i, v in zip(ids, nme)},
    }


def run_model(detector, samples, finder, min_iou: float, passes_list) -> dict:
    """``{f"{source} | passes={P}": summary}`` for one detector (see the module docstring)."""
    from otmark.inference.boxes import adapt_boxes
    from otmark.inference.finders import DLIB_HOG_ADAPTATION
    from otmark.schemes import get_scheme
    from otmark.transforms import tight_box

    regions = {k: v for k, v in get_scheme("300w").regions.items()}
    turned = {s.id for s in samples if abs(turn(s.landmarks) - 0.5) > TURNED}
    photos: dict[str, list] = {}
    for s in samples:
        photos.setdefault(str(s.image.path), []).append(s)
    images = {p: group[0].load_image() for p, group in photos.items()}
    found = {p: finder.find(images[p]) for p in photos}
    out = {}
    for passes in passes_list:
        detector.passes = passes
        for source in SOURCES:
            t0 = time.perf_counter()
            errors, missed = {}, set()
            for p, group in photos.items():
                img = images[p]
                if source == "labels":
                    boxes = np.stack([tight_box(s.landmarks) for s in group])
                elif source == "dlib boxes":
                    boxes = adapt_boxes(np.stack([s.box for s in group]), DLIB_HOG_ADAPTATION)
                elif source == "finder, all faces":
                    boxes = found[p].boxes
                else:
                    boxes = found[p].boxes[:1]
                preds = detector.predict(img, boxes) if len(boxes) else np.zeros((0, 68, 2))
                for k, s in enumerate(group):
                    if source in ("labels", "dlib boxes"):
                        pred = preds[k]
                    else:
                        ov = iou(boxes, tight_box(s.landmarks)) if len(boxes) else np.zeros(0)
                        j = int(np.argmax(ov)) if len(ov) else -1
                        if j < 0 or ov[j] < min_iou:
                            h, w = img.shape[:2]
                            pred = np.tile([(w - 1) / 2, (h - 1) / 2], (68, 1))
                            missed.add(s.id)
                        else:
                            pred = preds[j]
                    errors[s.id] = face_errors(pred, s.landmarks)
            r = summarise(errors, missed, turned, regions)
            r["seconds"] = time.perf_counter() - t0
            out[f"{source} | passes={passes}"] = r
    out["chosen_by"] = {Path(p).name: f.chosen_by for p, f in found.items()}
    return out


def print_table(results: dict) -> None:
    groups = None
    for model, runs in results["models"].items():
        for key, r in runs.items():
            if key == "chosen_by":
                continue
            if groups is None:
                groups = list(r["groups_found"])
                print(
                    "\n| model | crops from | passes | found | NME % | NME % (found) | "
                    "FR^I_0.1 % | NME % turned | " + " | ".join(groups) + " |"
                )
                print("|---" * (8 + len(groups)) + "|")
            source, passes = key.split(" | passes=")
            g = " | ".join(f"{r['groups_found'][k]:.1f}" for k in groups)
            print(
                f"| {model} | {source} | {passes} | {r['found']}/{r['faces']} | {r['NME']:.2f} | "
                f"{r['NME_found']:.2f} | {r['FR_0.1']:.1f} | {r['NME_turned']:.2f} "
                f"({r['turned']}) | {g} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="download/cache folder")
    parser.add_argument(
        "--checkpoint", action="append", default=[], metavar="NAME=PATH", help="repeatable"
    )
    parser.add_argument("--finder", default="auto", help="face finder (otmark detect --finder)")
    parser.add_argument("--passes", default="1,3", help="comma-separated Detector passes")
    parser.add_argument("--min-iou", type=float, default=0.4, help="a finder box 'finds' a face")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "real_faces_crops.json")
    args = parser.parse_args()

    from otmark.atomic import write_json_atomic
    from otmark.inference import Detector, make_face_finder

    samples = dlib_example_samples(args.cache)
    finder = make_face_finder(args.finder, all_faces=True, notify=lambda m: print(m))
    passes_list = [int(p) for p in args.passes.split(",") if p]
    results: dict = {"finder": args.finder, "min_iou": args.min_iou, "models": {}}
    for item in args.checkpoint or ["pretrained=pretrained"]:
        name, _, path = item.partition("=")
        det = Detector.from_checkpoint(path or name, device=args.device)
        results["models"][name] = run_model(det, samples, finder, args.min_iou, passes_list)
    print_table(results)
    write_json_atomic(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
