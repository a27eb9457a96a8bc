"""A trained model (or the mean-shape baseline) on named evaluation protocols.

Protocols come from :mod:`otmark.protocols`, plus ``wflw-17``: the WFLW test set scored on the
paper's 17 points (Table 8's density comparison); models of any scheme that converts to 17
points are scored there after converting their predictions.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from otmark.heatmaps.codec import HeatmapCodec

#: extra protocols of the study (not in ``otmark.protocols``)
EXTRA_PROTOCOLS = {"wflw-17": ("wflw", "test", "17", "WFLW test scored on the 17 points")}


def protocol_spec(name: str):
    """The :class:`otmark.protocols.ProtocolSpec` called ``name`` (registry or study extra)."""
    from otmark.protocols import ProtocolSpec, get_protocol_spec

    if name in EXTRA_PROTOCOLS:
        dataset, split, scheme, text = EXTRA_PROTOCOLS[name]
        return ProtocolSpec(name, dataset, split, scheme, description=text)
    return get_protocol_spec(name)


def load_protocols(
    names: Sequence[str], roots: Mapping[str, str | os.PathLike], limit: int | None = None
) -> dict:
    """``name -> otmark.protocols.Protocol`` on the generated data.

    Args:
        names: protocol names.
        roots: dataset name (``300w``, ``wflw``, ``300vw``) -> its root folder.
        limit: keep only the first ``limit`` samples of each protocol (smoke runs).
    """
    from otmark.protocols import Protocol, load_samples

    out = {}
    for name in names:
        spec = protocol_spec(name)
        if spec.dataset not in roots:
            raise ValueError(f"protocol {name} needs dataset {spec.dataset!r}, not generated")
        samples = load_samples(spec, Path(roots[spec.dataset]))
        out[name] = Protocol(spec, samples[:limit] if limit else samples)
    return out


def predict_protocol(detector, protocol, batch: int = 32) -> np.ndarray:
    """``(N, K, 2)`` predictions of ``detector`` (an :class:`otmark.inference.Detector`) on
    every (perturbed) input image of ``protocol``, one face per image, boxes from the
    protocol."""
    preds = []
    for start in range(0, len(protocol), batch):
        idx = range(start, min(start + batch, len(protocol)))
        images = [protocol.input_image(i) for i in idx]
        boxes = [protocol.box(i)[None] for i in idx]
        preds.extend(p[0] for p in detector.predict_many(images, boxes))
    return np.stack(preds).astype(np.float64)


def score_predictions(protocol, preds: np.ndarray, scheme: str):
    """:class:`otmark.protocols.Evaluation` of ``preds (N, K, 2)`` in ``scheme``; converted to
    the protocol's model scheme first when it differs (e.g. 98 -> 17 for ``wflw-17``)."""
    from otmark.protocols import evaluate_predictions, from_arrays
    from otmark.schemes import canonical_name, convert

    target = canonical_name(protocol.spec.model_scheme)
    if canonical_name(scheme) != target:
        preds = convert(preds, scheme, target)
        scheme = target
    return evaluate_predictions(protocol, from_arrays(protocol.ids, preds, scheme))


def evaluate_model(
    model: torch.nn.Module,
    scheme: str,
    codec: HeatmapCodec | Mapping,
    protocols: Mapping,
    device: str | torch.device = "cpu",
) -> dict:
    """``name -> Evaluation`` of ``model`` on each protocol of ``protocols`` (name -> Protocol)."""
    from otmark.inference import Detector

    detector = Detector.from_model(model, scheme, codec, device=device)
    return {
        name: score_predictions(p, predict_protocol(detector, p), scheme)
        for name, p in protocols.items()
    }


def evaluate_mean_shape(train_samples, protocols: Mapping) -> dict:
    """``name -> Evaluation`` of the mean training shape placed in each protocol's face box."""
    from otmark.baselines.mean_shape import MeanShape

    mean = MeanShape.fit(list(train_samples), box_source="landmarks")
    out = {}
    for name, p in protocols.items():
        boxes = np.stack([p.box(i) for i in range(len(p))])
        out[name] = score_predictions(p, mean.predict_boxes(boxes), mean.scheme)
    return out
