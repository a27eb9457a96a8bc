"""Measure how a face finder's boxes relate to the training-convention (landmark) boxes.

Fits :class:`otmark.inference.BoxAdaptation` (median centre shift and side ratio) between the
finder's box of each annotated face and the tight box of its landmarks, and prints it with the
inter-quartile ranges. ``--finder haar`` needs an OpenCV build with Haar cascades
(``opencv-python-headless<5``), ``--finder dlib`` needs ``pip install 'otmark[faces]'``.

    python scripts/calibrate_haar.py ROOT --dataset 300w --split train [--finder dlib]

``otmark.inference.boxes.HAAR_ADAPTATION`` and ``otmark.inference.finders.DLIB_HOG_ADAPTATION``
come from this script run on the real-face development set of ``benchmarks/real_faces.py``
(``ROOT = benchmarks/real_faces_data/dev300w --split test``; docs/real_faces.md).
"""

from __future__ import annotations

import argparse

import numpy as np

from otmark.datasets import load
from otmark.inference import DlibHogFaceDetector, HaarFaceDetector, fit_box_adaptation
from otmark.transforms import tight_box


def matched_boxes(samples, finder) -> tuple[np.ndarray, np.ndarray, int]:
    """Haar box nearest each face's landmark box -> ``(found (M, 4), target (M, 4), n)``."""
    found, target, n = [], [], 0
    for sample in samples:
        n += 1
        boxes = finder(sample.load_image())
        if len(boxes) == 0:
            continue
        t = tight_box(sample.landmarks)
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        nearest = np.argmin(np.linalg.norm(centres - (t[:2] + t[2:]) / 2, axis=1))
        found.append(boxes[nearest])
        target.append(t)
    return np.array(found), np.array(target), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("--dataset", default="300w")
    parser.add_argument("--split", default="train")
    parser.add_argument("--finder", choices=("haar", "dlib"), default="haar")
    args = parser.parse_args()
    samples = load(args.dataset, args.root, args.split)
    finder = {"haar": HaarFaceDetector, "dlib": DlibHogFaceDetector}[args.finder](adapt=False)
    found, target, n = matched_boxes(samples, finder)
    print(f"{n} faces, {args.finder} found {len(found)} ({100 * len(found) / max(n, 1):.0f} %)")
    fit = fit_box_adaptation(found, target)
    print(f"fit: shift_x {fit.shift_x:.3f}  shift_y {fit.shift_y:.3f}  scale {fit.scale:.3f}")
    # spread: the same statistics per face
    per_face = [fit_box_adaptation(f[None], t[None]) for f, t in zip(found, target)]
    stats = np.array([[a.shift_x, a.shift_y, a.scale] for a in per_face])
    lo, hi = np.percentile(stats, [25, 75], axis=0)
    print(
        f"IQR: shift_x [{lo[0]:.3f}, {hi[0]:.3f}]  shift_y [{lo[1]:.3f}, {hi[1]:.3f}]  "
        f"scale [{lo[2]:.3f}, {hi[2]:.3f}]"
    )


if __name__ == "__main__":
    main()
