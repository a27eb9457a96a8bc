"""Fit the packaged model's label adaptation on labelled faces and store it with the weights.

Inputs: a predictions file of the model on the faces, with crops from the labels (``otmark
evaluate --checkpoint pretrained --protocol P --data-root D`` writes ``predictions.json``), and
the same protocol and data root (the labels). :func:`fit_label_adaptation` fits
:class:`~otmark.inference.label_adapt.PointOffsets` on all the faces and reports the NME before
and **leave-one-out** after (each face adapted by a map fitted on the other faces: never fitted
and scored on the same face). :func:`store_label_adaptation` adds the map to a packaged model
(weights file and manifest rewritten atomically, sha256 updated).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from otmark.atomic import save_torch_atomic, write_json_atomic
from otmark.checkpoint_names import MANIFEST_NAME, read_manifest, sha256_file, verified_weights
from otmark.inference.label_adapt import PointOffsets, leave_one_out
from otmark.protocols import build_protocol, read_predictions
from otmark.protocols.scoring import ground_truth
from otmark.schemes import canonical_name


def _nme(protocol, points: np.ndarray, scheme: str) -> float:
    errors, _ = protocol.score(points, scheme)
    return float(errors.mean(axis=1).mean() * 100.0)


def fit_label_adaptation(
    predictions: str | os.PathLike[str],
    data_root: str | os.PathLike[str],
    protocol: str = "300w-test",
    ridge: float = 1.0,
) -> tuple[PointOffsets, dict[str, Any]]:
    """The map fitted on every face of ``protocol``, and a report: ``faces``, ``ridge``,
    ``nme_before``, ``nme_leave_one_out`` (%, the protocol's normalisation).

    Raises ``ValueError`` / ``FileNotFoundError`` naming the file (missing ids, another scheme
    than the labels', fewer than 2 faces).
    """
    proto = build_protocol(protocol, data_root)
    pred = read_predictions(predictions)
    labels_scheme = canonical_name(proto.samples[0].scheme)
    if canonical_name(pred.scheme) != labels_scheme:
        raise ValueError(
            f"{predictions}: predictions in scheme {pred.scheme}, labels in {labels_scheme}; "
            "label adaptation maps a scheme onto itself"
        )
    p = pred.for_ids(proto.ids)
    labels = ground_truth(proto.samples)
    if len(p) < 2:
        raise ValueError(f"{data_root}: label adaptation needs at least 2 faces, got {len(p)}")
    adapted = leave_one_out(p, labels, ridge)
    report = {
        "protocol": proto.spec.name,
        "faces": len(p),
        "ridge": float(ridge),
        "nme_before": _nme(proto, p, pred.scheme),
        "nme_leave_one_out": _nme(proto, adapted, pred.scheme),
    }
    return PointOffsets.fit(p, labels, ridge), report


def store_label_adaptation(
    folder: str | os.PathLike[str], adapt: PointOffsets, report: dict[str, Any] | None = None
) -> Path:
    """Add ``adapt`` to the packaged model in ``folder`` (replacing any earlier map); returns
    the manifest path. The weights' sha256 is checked first and rewritten after."""
    folder = Path(folder)
    path = verified_weights(folder)
    manifest = read_manifest(folder)
    weights = torch.load(path, map_location="cpu", weights_only=True)
    entry = adapt.to_dict()
    if report is not None:
        entry["fit"] = dict(report)
    weights["label_adaptation"] = entry
    save_torch_atomic(weights, path)
    manifest.update({"label_adaptation": entry, "sha256": sha256_file(path)})
    manifest["bytes"] = path.stat().st_size
    return write_json_atomic(folder / MANIFEST_NAME, manifest)
