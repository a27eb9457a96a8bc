"""Run ``otmark detect`` on scikit-image's public-domain astronaut photo (Eileen Collins, NASA).

Usage (after ``otmark quickstart``, which writes ``otmark_quickstart/model.pt``)::

    python docs/real_faces/make_astronaut.py --checkpoint otmark_quickstart/model.pt

Writes ``docs/real_faces/astronaut.png`` (the input) and ``docs/real_faces/detect/`` (what
``otmark detect`` writes: landmarks JSON/CSV and the overlay). The model was trained on
generated faces only: expect a domain gap on a real photograph.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def save_astronaut(path: Path) -> Path:
    """``skimage.data.astronaut()`` (512x512 RGB) written as PNG, atomically."""
    import cv2
    from skimage import data

    image = data.astronaut()
    fd, tmp = tempfile.mkstemp(prefix=".astronaut.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        if not cv2.imwrite(tmp, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{tmp}: could not write PNG")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def main(argv: list[str] | None = None) -> int:
    from otmark.cli.main import main as otmark_main

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="otmark_quickstart/model.pt")
    parser.add_argument("--out", default=str(HERE / "detect"))
    args = parser.parse_args(argv)
    image = save_astronaut(HERE / "astronaut.png")
    return otmark_main(
        [
            "detect",
            str(image),
            "--checkpoint",
            args.checkpoint,
            "--out",
            args.out,
            "--device",
            "cpu",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
