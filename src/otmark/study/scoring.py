"""A trained model (or the mean-shape baseline) on named evaluation protocols.

Protocols come from :mod:`otmark.protocols`, plus ``wflw-17``: the WFLW test set scored on the
paper's 17 points (Table 8's density comparison); models of any scheme that converts to 17
points are scored there after converting their predictions.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from otmark.baselines.mean_shape import MeanShape
from otmark.heatmaps.codec import HeatmapCodec
from otmark.inference import Detector
from otmark.metrics import ced, failure_rate
from otmark.protocols import (
    Protocol,
    ProtocolSpec,
    evaluate_predictions,
    from_arrays,
    get_protocol_spec,
    load_samples,
)
from otmark.schemes import canonical_name, convert
from otmark.study.benchmark import BLUR_POOL
from otmark.study.blur_pool import load_pool_samples

#: extra protocols of the study (not in ``otmark.protocols``)
EXTRA_PROTOCOLS = {"wflw-17": ("wflw", "test", "17", "WFLW test scored on the 17 points")}


def protocol_spec(name: str):
    """The :class:`otmark.protocols.ProtocolSpec` called ``name`` (registry or study extra)."""
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
        roots: dataset name (``300w``, ``wflw``, ``300vw``) -> its root folder; with
            :data:`otmark.study.benchmark.BLUR_POOL` (the blur protocols' candidate videos),
            the blur protocols score every video of that pool instead of 300VW ``test3``.
        limit: keep only the first ``limit`` samples of each protocol (smoke runs).
    """
    out = {}
    for name in names:
        spec = protocol_spec(name)
        if spec.dataset not in roots:
            raise ValueError(f"protocol {name} needs dataset {spec.dataset!r}, not generated")
        if spec.perturbation == "blur" and BLUR_POOL in roots:
            samples = load_pool_samples(roots[BLUR_POOL])
        else:
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
    # passes=1: a protocol places each crop from its annotations; re-crops would change it
    detector = Detector.from_model(model, scheme, codec, device=device, passes=1)
    done: dict = {}  # one Protocol object under several names is evaluated once
    out = {}
    for name, p in protocols.items():
        if id(p) not in done:
            done[id(p)] = score_predictions(p, predict_protocol(detector, p), scheme)
        out[name] = done[id(p)]
    return out


def evaluate_mean_shape(train_samples, protocols: Mapping) -> dict:
    """``name -> Evaluation`` of the mean training shape placed in each protocol's face box."""
    mean = MeanShape.fit(list(train_samples), box_source="landmarks")
    out = {}
    for name, p in protocols.items():
        boxes = np.stack([p.box(i) for i in range(len(p))])
        out[name] = score_predictions(p, mean.predict_boxes(boxes), mean.scheme)
    return out


#: suffix of a perturbed protocol's clean counterpart (the same images, not perturbed)
CLEAN_SUFFIX = ":clean"


def with_clean_counterparts(protocols: Mapping) -> dict:
    """``protocols`` plus, for each perturbed one (occlusion, blur), ``"<name>:clean"``: the
    same samples (same images, same boxes) without the perturbation, so the degradation can
    be measured per image (perturbed - clean on the same images)."""
    out = dict(protocols)
    shared: dict = {}  # occlusion-medium and -large share one clean protocol object
    for name, p in protocols.items():
        if p.spec.perturbation is None:
            continue
        same = (p.spec.dataset, p.spec.split, p.spec.model_scheme, p.spec.strict, tuple(p.ids))
        if same not in shared:
            spec = dataclasses.replace(
                p.spec,
                name=name + CLEAN_SUFFIX,
                perturbation=None,
                level=None,
                description=f"{name} without the perturbation (same images)",
            )
            shared[same] = Protocol(spec, p.samples, p.box_source)
        out[name + CLEAN_SUFFIX] = shared[same]
    return out


def clean_counterpart(name: str) -> str:
    """The name of the clean counterpart of protocol ``name``."""
    return name + CLEAN_SUFFIX


def evaluation_record(evaluation, thetas) -> dict:
    """The JSON record of one :class:`otmark.protocols.Evaluation`: size, the paper's columns
    (plus ``FR^L_0.05``), the image-wise CED at ``thetas``, and per image (with the image
    ids) the NME (%) and the share of its landmarks with an error above 0.05 (%: the per-image
    terms of ``FR^L_0.05``, for paired comparisons of local precision)."""
    errors = evaluation.errors
    summary = dict(evaluation.summary)
    summary["FR^L_0.05"] = 100.0 * float(failure_rate(errors, 0.05, per="landmark"))
    return {
        "num_images": int(errors.shape[0]),
        "num_points": int(errors.shape[1]),
        "summary": summary,
        "ced_image": [round(v, 5) for v in ced(errors, thetas, per="image").tolist()],
        "ids": list(evaluation.ids),
        "nme_per_image": [round(100.0 * float(v), 6) for v in errors.mean(axis=1)],
        "frl05_per_image": [round(100.0 * float(v), 6) for v in (errors > 0.05).mean(axis=1)],
    }
