"""Make the contact sheets and the video strip of docs/synth/.

    python scripts/make_synth_figures.py [--out docs/synth] [--seed 0]

Each sheet is generated with ``otmark synth``'s writers into a temporary folder, read back with
the ``otmark.datasets`` readers (so it shows exactly what the readers see) and drawn with the
landmarks: green = visible, red = flagged occluded (COFW, where the format stores the flags;
elsewhere the generator's flags are recomputed from the same seed only in the video strip).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

TILE = 192  # tile side in the sheets (pixels)
#: the repository's docs folder (the figures go to docs/synth/)
DOCS = Path(__file__).resolve().parents[1] / "docs"


def draw(img: np.ndarray, landmarks: np.ndarray, occluded: np.ndarray | None) -> np.ndarray:
    """The image resized to ``TILE`` pixels with its landmarks drawn on it."""
    k = TILE / img.shape[0]
    out = cv2.resize(img, (round(img.shape[1] * k), TILE), interpolation=cv2.INTER_AREA)
    landmarks = (np.asarray(landmarks) + 0.5) * k - 0.5
    r = 1
    for k, (x, y) in enumerate(landmarks):
        hidden = occluded is not None and bool(occluded[k])
        col = (230, 40, 40) if hidden else (40, 230, 60)
        cv2.circle(out, (int(round(x)), int(round(y))), r, col, -1, cv2.LINE_AA)
    return out


def grid(tiles: list[np.ndarray], cols: int) -> np.ndarray:
    h, w = tiles[0].shape[:2]
    rows = (len(tiles) + cols - 1) // cols
    sheet = np.full((rows * h, cols * w, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = cv2.resize(t, (w, h))
    return sheet


def save(path: Path, rgb: np.ndarray) -> None:
    from otmark.atomic import write_image_atomic

    write_image_atomic(path, rgb)


def sheets(out: Path, seed: int, n: int = 16) -> None:
    from otmark.datasets.aflw import load_aflw
    from otmark.datasets.cofw import load_cofw
    from otmark.datasets.w300 import load_300w
    from otmark.datasets.wflw import load_wflw
    from otmark.synth.writers import WRITERS

    loaders = {
        "300w": lambda root: (
            list(load_300w(root, "train"))[:8] + list(load_300w(root, "challenge"))[:8]
        ),
        "wflw": lambda root: list(load_wflw(root, "train")),
        "cofw": lambda root: list(load_cofw(root, "train")),
        "aflw": lambda root: list(load_aflw(root, "train")),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, load in loaders.items():
            root = Path(tmp) / name
            num = 190 if name == "300w" else n  # enough 300W train faces for 8 iBUG ones
            WRITERS[name](root, num, seed)
            samples = load(root)[:n]
            tiles = [draw(s.load_image(), s.landmarks, s.occluded) for s in samples]
            save(out / f"contact_{name}.png", grid(tiles, 4))
            print(f"wrote {out / f'contact_{name}.png'} ({len(tiles)} faces)")


def video_strip(out: Path, seed: int) -> None:
    from otmark.datasets import load
    from otmark.synth.writers import WRITERS

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "300vw"
        WRITERS["300vw"](root, 1, seed, frames=48)
        samples = [s for s in load("300vw", root, "test3")]
        picks = samples[:: max(1, len(samples) // 8)][:8]
        tiles = [draw(s.load_image(), s.landmarks, s.occluded) for s in picks]
        save(out / "video_strip_300vw_cat3.png", grid(tiles, 8))
        print(f"wrote {out / 'video_strip_300vw_cat3.png'}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DOCS / "synth")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=["sheets", "video"], default=None)
    args = ap.parse_args(argv)
    if args.only in (None, "sheets"):
        sheets(args.out, args.seed)
    if args.only in (None, "video"):
        video_strip(args.out, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
