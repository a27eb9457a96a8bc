"""The mean-shape baseline: the average training shape placed in each test face box.

Normalised box frame: landmarks ``(x, y)`` of a sample with face box ``(x0, y0, x1, y1)`` map
to ``u = (x - x0) / (x1 - x0)``, ``v = (y - y0) / (y1 - y0)`` (the box is the unit square).
Which box (``box_source``, the same rule as :class:`otmark.protocols.Protocol` and the training
crops of :mod:`otmark.transforms`):

* ``"landmarks"`` (default): the integer-aligned tight box of the ground-truth landmarks
  (``otmark.transforms.crop.tight_box``, HRNet's convention; 300W and 300VW have no other box);
* ``"box"``: the dataset's face box (WFLW, COFW, AFLW, generated data), falling back to the
  tight landmark box for a sample without one.

Fitting averages the training shapes in that frame; prediction maps the mean back through each
test sample's box. The box source is stored with the model and used again for prediction.

It is the bar a trained model must beat, and its error on one generated dataset when fitted
on another shows the domain gap between them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from otmark.atomic import write_json_atomic
from otmark.datasets.records import Sample
from otmark.jsonfile import read_json_document
from otmark.schemes import get_scheme
from otmark.transforms.crop import tight_box

FORMAT = "otmark-mean-shape"
VERSION = 1


#: where the face box of a sample comes from (see the module docstring)
BOX_SOURCES = ("landmarks", "box")


def tight_boxes(landmarks: np.ndarray) -> np.ndarray:
    """``(N, K, 2)`` landmarks -> ``(N, 4)`` HRNet tight boxes ``floor(min), ceil(max)``."""
    return np.stack([tight_box(lm) for lm in np.asarray(landmarks, dtype=np.float64)])


def sample_boxes(samples: Sequence[Sample], box_source: str = "landmarks") -> np.ndarray:
    """``(N, 4)`` face boxes of ``samples`` chosen by ``box_source`` (module docstring)."""
    if box_source not in BOX_SOURCES:
        raise ValueError(f"box_source must be one of {BOX_SOURCES}, got {box_source!r}")
    boxes = tight_boxes(np.stack([s.landmarks for s in samples]))
    if box_source == "box":
        for i, s in enumerate(samples):
            if s.box is not None:
                boxes[i] = np.asarray(s.box, np.float64).reshape(4)
    return boxes


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
        box_source: ``"landmarks"`` or ``"box"`` (see module docstring).
        num_samples: how many training samples were averaged.
    """

    scheme: str
    mean: np.ndarray
    box_source: str
    num_samples: int

    @classmethod
    def fit(cls, samples: Sequence[Sample], box_source: str = "landmarks") -> MeanShape:
        """Average the shapes of ``samples`` (one scheme, at least one sample)."""
        samples = list(samples)
        if not samples:
            raise ValueError("MeanShape.fit: no training samples")
        schemes = {s.scheme for s in samples}
        if len(schemes) != 1:
            raise ValueError(f"MeanShape.fit: samples mix schemes {sorted(schemes)}")
        boxes = sample_boxes(samples, box_source)
        _check_boxes(boxes, [s.id for s in samples])
        lm = np.stack([np.asarray(s.landmarks, np.float64) for s in samples])
        mean = to_box_frame(lm, boxes).mean(axis=0)
        return cls(schemes.pop(), mean, box_source, len(samples))

    def predict_boxes(self, boxes: np.ndarray) -> np.ndarray:
        """``(N, 4)`` boxes -> ``(N, K, 2)`` predictions."""
        return from_box_frame(self.mean, np.asarray(boxes, np.float64).reshape(-1, 4))

    def predict(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(N, K, 2)`` predictions in each sample's box (``self.box_source``)."""
        samples = list(samples)
        if not samples:
            return np.zeros((0, *self.mean.shape))
        boxes = sample_boxes(samples, self.box_source)
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
        return write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> MeanShape:
        """Read a model written by :meth:`save` (``ValueError`` naming the file if invalid)."""
        path = Path(path)
        d = read_json_document(path, FORMAT)
        if d.get("version") != VERSION:
            raise ValueError(f"{path}: unsupported version {d.get('version')!r}")
        mean = np.asarray(d.get("mean"), dtype=np.float64)
        if mean.ndim != 2 or mean.shape[1] != 2:
            raise ValueError(f"{path}: 'mean' must be a list of [u, v] pairs")
        k = get_scheme(d["scheme"]).num_points
        if mean.shape[0] != k:
            raise ValueError(f"{path}: {mean.shape[0]} points for scheme {d['scheme']} ({k})")
        source = d.get("box_source", "landmarks")
        if source not in BOX_SOURCES:
            raise ValueError(f"{path}: box_source must be one of {BOX_SOURCES}, got {source!r}")
        return cls(d["scheme"], mean, source, int(d.get("num_samples", 0)))
