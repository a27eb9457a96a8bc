"""Make the example figures of the synthetic perturbation protocols (docs/perturbations/*.png).

Usage (the committed figures were made with the second form)::

    python scripts/make_perturbation_figures.py                 # a cartoon face drawn with OpenCV
    otmark synth --dataset 300w --out data/300W --num 200 --seed 0
    python scripts/make_perturbation_figures.py --from-300w data/300W --split full --index 1

Occlusion is drawn exactly as the ``occlusion-*`` protocols draw it for that sample (seed 0,
:func:`otmark.perturb.sample_seed` of the sample id, tight ground-truth box). Blur uses
:func:`otmark.perturb.blur_frame` with the reference point moving 3 px/frame towards the lower
right (a typical per-frame head motion at this face size).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from otmark.atomic import write_image_atomic
from otmark.perturb import blur_frame, blur_reference_index, occlude, sample_seed
from otmark.schemes import get_scheme

#: the repository's docs folder (figures go to docs/perturbations/)
DOCS = Path(__file__).resolve().parents[1] / "docs"
SIZE = 256
SEED = 0


def cartoon_face() -> tuple[np.ndarray, np.ndarray]:
    """A ``(256, 256, 3)`` uint8 RGB cartoon face and its face box ``(4,)``."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    img = np.stack([90 + 0.3 * yy, 120 + 0.2 * xx, 160 - 0.2 * yy], axis=-1).astype(np.uint8)
    img = np.ascontiguousarray(img)
    cx, cy = SIZE // 2, SIZE // 2 + 8
    cv2.ellipse(img, (cx, cy - 40), (82, 70), 0, 180, 360, (60, 40, 30), -1, cv2.LINE_AA)  # hair
    cv2.ellipse(img, (cx, cy), (70, 92), 0, 0, 360, (225, 185, 160), -1, cv2.LINE_AA)  # skin
    for side in (-1, 1):
        ex = cx + side * 30
        cv2.ellipse(img, (ex, cy - 22), (15, 8), 0, 0, 360, (250, 250, 250), -1, cv2.LINE_AA)
        cv2.circle(img, (ex, cy - 22), 6, (70, 50, 40), -1, cv2.LINE_AA)
        cv2.circle(img, (ex, cy - 22), 2, (10, 10, 10), -1, cv2.LINE_AA)
        cv2.line(
            img, (ex - 18, cy - 42), (ex + 16, cy - 44 - 3 * side), (60, 40, 30), 5, cv2.LINE_AA
        )
    cv2.line(img, (cx, cy - 18), (cx - 6, cy + 14), (170, 120, 100), 3, cv2.LINE_AA)
    cv2.line(img, (cx - 10, cy + 18), (cx + 10, cy + 18), (170, 120, 100), 3, cv2.LINE_AA)
    cv2.ellipse(img, (cx, cy + 46), (26, 10), 0, 0, 180, (180, 50, 60), 4, cv2.LINE_AA)
    box = np.array([cx - 70, cy - 60, cx + 70, cy + 92], dtype=np.float64)  # brows to chin
    return img, box


def from_300w(root: Path, split: str, index: int) -> tuple[np.ndarray, np.ndarray, str]:
    from otmark import datasets
    from otmark.transforms.crop import tight_box

    sample = datasets.load("300w", root, split)[index]
    return sample.load_image(), tight_box(sample.landmarks), sample.id


def blurred(img: np.ndarray, box: np.ndarray, level: str) -> np.ndarray:
    k = get_scheme("300w").num_points
    nose = blur_reference_index("300w")
    prev = np.zeros((k, 2))
    nxt = np.zeros((k, 2))
    prev[nose] = (box[:2] + box[2:]) / 2
    nxt[nose] = prev[nose] + 2 * np.array([3.0, 1.5]) * 3.0 / np.hypot(3.0, 1.5)
    return blur_frame(img, prev, nxt, level, nose, frames_apart=2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS / "perturbations")
    parser.add_argument("--from-300w", type=Path, default=None, metavar="ROOT")
    parser.add_argument("--split", default="full")
    parser.add_argument("--index", type=int, default=0)
    args = parser.parse_args(argv)
    if args.from_300w is not None:
        img, box, sid = from_300w(args.from_300w, args.split, args.index)
    else:
        (img, box), sid = cartoon_face(), "cartoon"

    panels = {"original": img}
    for level in ("medium", "large"):
        panels[f"occlusion_{level}"] = occlude(img, box, level, sample_seed(SEED, sid))[0]
        panels[f"blur_{level}"] = blurred(img, box, level)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, panel in panels.items():
        _write_png(args.out / f"{name}.png", panel)
    order = ["original", "occlusion_medium", "occlusion_large", "blur_medium", "blur_large"]
    strip = np.concatenate([_label(panels[n], n.replace("_", " ")) for n in order], axis=1)
    _write_png(args.out / "overview.png", strip)
    print(f"wrote {len(panels) + 1} PNGs to {args.out}")


def _label(img: np.ndarray, text: str) -> np.ndarray:
    out = np.ascontiguousarray(img.copy())
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (255, 255, 255), -1)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def _write_png(path: Path, rgb: np.ndarray) -> None:
    write_image_atomic(path, np.ascontiguousarray(rgb, dtype=np.uint8))


if __name__ == "__main__":
    main()
