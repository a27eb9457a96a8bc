"""The mean-shape baseline: the average training shape placed in each test face box.

Normalised box frame: landmarks ``(x, y)`` of a sample with face box ``(x0, y0, x1, y1)`` map
to ``u = (x - x0) / (x1 - x0)``, ``v = (y - y0) / (y1 - y0)`` (the box is the unit square).
The box is the sample's own ``box`` when the dataset provides one (WFLW, COFW, AFLW, generated
data), otherwise the tight box of its ground-truth landmarks (300W, 300VW: the same box the
HRNet crop convention starts from, so every model in this project gets the same information).
Fitting averages the training shapes in that frame; prediction maps the mean back through each
test sample's box. Train and test boxes should come from the same source (both given, or both
tight) for the baseline to be meaningful; the box source of the fit is stored with the model.

It is the bar a trained model must beat, and its error on one generated dataset when fitted
on another shows the domain gap between them.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from otmark.datasets.records import Sample

FORMAT = "otmark-mean-shape"
VERSION = 1


def tight_boxes(landmarks: np.ndarray) -> np.ndarray:
    """``(N, K, 2)`` landmarks -> ``(N, 4)`` tight boxes ``x0, y0, x1, y1``."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return np.concatenate([lm.min(axis=1), lm.max(axis=1)], axis=1)


def sample_boxes(samples: Sequence[Sample]) -> tuple[np.ndarray, str]:
    """Face boxes of ``samples`` as ``(N, 4)`` and their source (``"given"`` or ``"tight"``).

    The dataset boxes are used when every sample has one, the tight landmark boxes otherwise.
    """
    if samples and all(s.box is not None for s in samples):
        return np.stack([np.asarray(s.box, np.float64).reshape(4) for s in samples]), "given"
    return tight_boxes(np.stack([s.landmarks for s in samples])), "tight"


def _check_boxes(boxes: np.ndarray, ids: Sequence[str]) -> None:
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    bad = ~(np.isfinite(boxes).all(axis=1) & (w > 0) & (h > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"sample {ids[i]!r}: degenerate face box {boxes[i].tolist()}")


def to_box_frame(landmarks: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``(N, K, 2)`` image coordinates -> ``(N, K, 2)`` unit-square coords of ``boxes (N, 4)``."""
    boxes = np.asarray(boxes, np.float64)
    return (np.asarray(landmarks, np.float64) - boxes[:, None, :2]) / (
        boxes[:, None, 2:] - boxes[:, None, :2]
    )


def from_box_frame(shape: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``(K, 2)`` or ``(N, K, 2)`` unit-square coordinates -> ``(N, K, 2)`` image coordinates."""
    boxes = np.asarray(boxes, np.float64)
    return boxes[:, None, :2] + np.asarray(shape, np.float64) * (
        boxes[:, None, 2:] - boxes[:, None, :2]
    )


@dataclass
class MeanShape:
    """Mean training shape in the normalised box frame.

    Attributes:
        scheme: landmark scheme of the shape.
        mean: ``(K, 2)`` mean shape in unit-square box coordinates.
        box_source: ``"given"`` or ``"tight"`` (see module docstring).
        num_samples: how many training samples were averaged.
    """

    scheme: str
    mean: np.ndarray
    box_source: str
    num_samples: int

    @classmethod
    def fit(cls, samples: Sequence[Sample]) -> MeanShape:
        """Average the shapes of ``samples`` (one scheme, at least one sample)."""
        samples = list(samples)
        if not samples:
            raise ValueError("MeanShape.fit: no training samples")
        schemes = {s.scheme for s in samples}
        if len(schemes) != 1:
            raise ValueError(f"MeanShape.fit: samples mix schemes {sorted(schemes)}")
        boxes, source = sample_boxes(samples)
        _check_boxes(boxes, [s.id for s in samples])
        lm = np.stack([np.asarray(s.landmarks, np.float64) for s in samples])
        mean = to_box_frame(lm, boxes).mean(axis=0)
        return cls(schemes.pop(), mean, source, len(samples))

    def predict_boxes(self, boxes: np.ndarray) -> np.ndarray:
        """``(N, 4)`` boxes -> ``(N, K, 2)`` predictions."""
        return from_box_frame(self.mean, np.asarray(boxes, np.float64).reshape(-1, 4))

    def predict(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(N, K, 2)`` predictions in each sample's box (chosen as in :func:`sample_boxes`)."""
        samples = list(samples)
        if not samples:
            return np.zeros((0, *self.mean.shape))
        boxes, _ = sample_boxes(samples)
        _check_boxes(boxes, [s.id for s in samples])
        return self.predict_boxes(boxes)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "scheme": self.scheme,
            "box_source": self.box_source,
            "num_samples": self.num_samples,
            "mean": self.mean.tolist(),
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model as JSON (atomically)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.to_dict(), f, indent=1)
            os.chmod(tmp, 0o644)  # mkstemp creates 0600
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> MeanShape:
        """Read a model written by :meth:`save` (``ValueError`` naming the file if invalid)."""
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"{path}: not an {FORMAT} file")
        if d.get("version") != VERSION:
            raise ValueError(f"{path}: unsupported version {d.get('version')!r}")
        mean = np.asarray(d.get("mean"), dtype=np.float64)
        if mean.ndim != 2 or mean.shape[1] != 2:
            raise ValueError(f"{path}: 'mean' must be a list of [u, v] pairs")
        from otmark.schemes import get_scheme

        k = get_scheme(d["scheme"]).num_points
        if mean.shape[0] != k:
            raise ValueError(f"{path}: {mean.shape[0]} points for scheme {d['scheme']} ({k})")
        return cls(d["scheme"], mean, d.get("box_source", "given"), int(d.get("num_samples", 0)))
