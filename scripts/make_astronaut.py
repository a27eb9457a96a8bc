"""Run ``otmark detect`` on scikit-image's public-domain astronaut photo (Eileen Collins, NASA).

Usage (after ``otmark quickstart``, which writes ``otmark_quickstart/model.pt``)::

    python scripts/make_astronaut.py --checkpoint otmark_quickstart/model.pt

Writes ``docs/real_faces/astronaut.png`` (the input) and ``docs/real_faces/detect/`` (what
``otmark detect`` writes: landmarks JSON/CSV and the overlay). The model was trained on
generated faces only: expect a domain gap on a real photograph.
"""

from __future__ import annotations

import argparse
from pathlib import Path

#: where the figures go: the repository's docs/real_faces/
HERE = Path(__file__).resolve().parents[1] / "docs" / "real_faces"


def save_astronaut(path: Path) -> Path:
    """``skimage.data.astronaut()`` (512x512 RGB) written as PNG, atomically."""
    from skimage import data

    from otmark.atomic import write_image_atomic

    return write_image_atomic(path, data.astronaut())


def main(argv: list[str] | None = None) -> int:
    from otmark.cli.main import main as otmark_main

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="otmark_quickstart/model.pt")
    parser.add_argument("--out", default=str(HERE / "detect"))
    args = parser.parse_args(argv)
    image = save_astronaut(HERE / "astronaut.png")
    cmd = ["detect", str(image), "--checkpoint", args.checkpoint, "--out", args.out]
    rc = otmark_main(cmd + ["--device", "cpu"])
    if rc == 0:
        face_crop(Path(args.out) / "overlays" / "astronaut.png", HERE / "astronaut_face.jpg")
    return rc


def face_crop(overlay: Path, path: Path, side: int = 240) -> Path:
    """The face region of the overlay (twice the detected box), ``side`` px, as a small JPEG."""
    import json

    import cv2

    from otmark.atomic import write_image_atomic

    doc = json.loads((overlay.parent.parent / "landmarks.json").read_text())
    x0, y0, x1, y1 = doc["items"][0]["faces"][0]["box"]
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)
    image = cv2.imread(str(overlay))
    h, w = image.shape[:2]
    a, b = int(max(0, cx - half)), int(max(0, cy - half))
    crop = image[b : int(min(h, cy + half)), a : int(min(w, cx + half))]
    crop = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
    return write_image_atomic(path, crop[..., ::-1], jpeg_quality=90)  # BGR -> RGB


if __name__ == "__main__":
    raise SystemExit(main())
