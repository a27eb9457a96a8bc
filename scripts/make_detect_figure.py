"""Make docs/detect/pipeline.png: what ``otmark detect`` does to one generated face.

    python scripts/make_detect_figure.py [--checkpoint CKPT] [--out docs/detect] [--seed 3]

Panels: (a) the image with the face box (training convention: the landmarks' tight box) and the
square the crop covers (x 1.25 context); (b) the crop the network sees; (c) its heatmaps (maximum
over the K maps); (d) the overlay written by :func:`otmark.inference.run_detection`, with the
mean error to the annotation.

Without ``--checkpoint`` the "model" is an **oracle** that renders the training targets of the
annotated landmarks (``otmark.transforms.make_targets``) for the crop it is given: the figure then
shows the geometry of the pipeline (crop, heatmap, decoding, inverse crop), not a trained model's
accuracy. With a checkpoint of the 300W scheme the panels show that model's heatmaps and output.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

#: the repository's docs folder (the figure goes to docs/detect/)
DOCS = Path(__file__).resolve().parents[1] / "docs"


def generated_face(seed: int, root: Path):
    """One generated 300W test face (a :class:`otmark.datasets.Sample`) written under ``root``."""
    from otmark.datasets import load
    from otmark.synth.writers import synthesize

    synthesize("300w", root, num=4, seed=seed, size=256)
    return load("300w", root, "test")[0]


def oracle_detector(landmarks: np.ndarray, box: np.ndarray):
    """A Detector whose backend renders the targets of ``landmarks`` in the crop of ``box``."""
    from otmark.heatmaps import HeatmapCodec
    from otmark.inference import Detector
    from otmark.transforms import apply_affine, centre_scale_from_box, crop_matrix

    codec = HeatmapCodec(input_size=256, heatmap_size=64, sigma=1.5, decoder="get_bc")
    centre, scale = centre_scale_from_box(box)
    m = crop_matrix(centre, scale, codec.input_size)
    maps = codec.encode(apply_affine(landmarks, m)[None])[0]

    def backend(crops: torch.Tensor) -> torch.Tensor:
        return maps[None].expand(crops.shape[0], -1, -1, -1)

    return Detector(backend, "300w", codec, device="cpu")


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from otmark.atomic import save_figure_atomic
    from otmark.inference import (
        Detector,
        crop_faces,
        fixed_boxes,
        read_results_json,
        run_detection,
    )
    from otmark.inference.sources import read_image
    from otmark.transforms import IMAGENET_MEAN, IMAGENET_STD, tight_box

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="a 300W checkpoint (default: oracle heatmaps)")
    parser.add_argument("--out", type=Path, default=DOCS / "detect")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sample = generated_face(args.seed, tmp / "data")
        image = read_image(sample.image.path)
        box = tight_box(sample.landmarks)
        if args.checkpoint:
            det = Detector.from_checkpoint(args.checkpoint, device="cpu")
            what = f"model {Path(args.checkpoint).name}"
        else:
            det = oracle_detector(sample.landmarks, box)
            what = "oracle heatmaps (training targets)"
        crops, _ = crop_faces(image, box[None], det.codec)
        heatmaps = det.backend(crops)[0].float()
        if det.codec.softmax:
            heatmaps = torch.softmax(heatmaps.flatten(1), 1).reshape(heatmaps.shape)
        crop_rgb = (crops[0].numpy().transpose(1, 2, 0) * IMAGENET_STD + IMAGENET_MEAN).clip(0, 1)

        run_detection(det, sample.image.path, tmp / "out", boxes_for=fixed_boxes(box[None]))
        _, results = read_results_json(tmp / "out" / "landmarks.json")
        pred = results[0].faces[0].landmarks
        overlay = read_image(
            tmp / "out" / "overlays" / Path(sample.image.path).with_suffix(".png").name
        )

    err = np.linalg.norm(pred - sample.landmarks, axis=1).mean()
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
    ax = axes[0]
    ax.imshow(image)
    side = det.context * max(box[2] - box[0], box[3] - box[1])
    c = (box[:2] + box[2:]) / 2
    ax.add_patch(Rectangle(box[:2], *(box[2:] - box[:2]), fill=False, ec="orange", lw=1.5))
    ax.add_patch(Rectangle(c - side / 2, side, side, fill=False, ec="cyan", ls="--", lw=1.2))
    ax.set_title("(a) face box; crop square (x1.25)", fontsize=9)
    axes[1].imshow(crop_rgb)
    axes[1].set_title(f"(b) crop {det.codec.input_size} px", fontsize=9)
    axes[2].imshow(heatmaps.amax(0).numpy(), cmap="magma")
    axes[2].set_title(f"(c) heatmaps {det.codec.heatmap_size} px (max over K)", fontsize=9)
    axes[3].imshow(overlay)
    axes[3].set_title(f"(d) output: mean error {err:.2f} px", fontsize=9)
    for a in axes:
        a.set_xticks([])
        a.set_yticks([])
    fig.suptitle(f"otmark detect on a generated 300W face: {what}", fontsize=10)
    fig.tight_layout()
    out = save_figure_atomic(fig, args.out / "pipeline.png", dpi=110)
    print(f"wrote {out} (mean error to the annotation {err:.3f} px)")


if __name__ == "__main__":
    main()
