"""The one sample record every dataset reader returns.

Coordinate convention (the whole project): landmarks are ``(K, 2)`` float arrays of ``(x, y)``
in 0-based pixel coordinates of the original image, **pixel centres at integers** (the centre of
the top-left pixel is ``(0, 0)``; the image covers ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``).
Formats that store 1-based coordinates (``.pts``, COFW's ``.mat``) are converted on read/write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from otmark.datasets.matimage import read_mat_image


@dataclass(frozen=True)
class ImageRef:
    """Where a sample's pixels live: an image file, one frame of a video, or one image stored
    inside a container file.

    Attributes:
        path: the image, video or container file.
        frame: 0-based frame index of a video, or 0-based index of the image in ``member``.
        member: name of the image array inside a container file (COFW ``.mat``: ``"IsTr"`` or
            ``"IsT"``; MATLAB v7.3 or v5); ``None`` for image and video files.
    """

    path: Path
    frame: int | None = None
    member: str | None = None

    def load(self) -> np.ndarray:
        """Decode the image as an ``(H, W, 3)`` uint8 **RGB** array.

        Raises ``FileNotFoundError``/``ValueError`` naming the file (and frame) when it cannot be
        read.
        """
        import cv2  # lazy: keeps `otmark --help` (which imports otmark.datasets) free of cv2

        path = Path(self.path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: image file does not exist")
        if self.member is not None:
            return read_mat_image(path, self.member, int(self.frame or 0))
        if self.frame is None:
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f"{path}: not a readable image")
        else:
            cap = cv2.VideoCapture(str(path))
            try:
                if not cap.isOpened():
                    raise ValueError(f"{path}: not a readable video")
                cap.set(cv2.CAP_PROP_POS_FRAMES, int(self.frame))
                ok, img = cap.read()
            finally:
                cap.release()
            if not ok or img is None:
                raise ValueError(f"{path}: frame {self.frame} could not be decoded")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@dataclass
class Sample:
    """One annotated face.

    Attributes:
        image: where the pixels are (loaded lazily with ``sample.load_image()``).
        landmarks: ``(K, 2)`` float64, 0-based pixel coordinates (see module docstring).
        scheme: landmark scheme name (``otmark.schemes.get_scheme(scheme)``).
        box: optional face box ``(4,)`` = ``x0, y0, x1, y1`` in the same coordinates.
        occluded: optional ``(K,)`` bool per-point occlusion flags.
        attributes: optional dataset attributes (e.g. WFLW's pose/expression/... flags,
            AFLW's ``box_size``, 300VW's video id and category).
        id: a stable identifier, unique within a split (e.g. relative image path).
    """

    image: ImageRef
    landmarks: np.ndarray
    scheme: str
    box: np.ndarray | None = None
    occluded: np.ndarray | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def load_image(self) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB."""
        return self.image.load()
