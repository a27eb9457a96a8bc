"""Evaluation records restricted to some videos, and the image-wise columns computed from the
per-image NMEs they store.

A cell's record of a protocol (:func:`otmark.study.scoring.evaluation_record`) keeps the
per-image NME (%) and the per-image share of landmarks above 0.05 (%), so every image-wise
column can be recomputed on a subset of its images with :mod:`otmark.metrics`: NME,
``FR^I_0.08``, ``FR^I_0.1``, ``AUC^I_0.1``, ``FR^L_0.05`` and the image-wise CED. The
landmark-wise failure rates at other thresholds need the per-landmark errors, which are not
stored: a restricted record leaves them out.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Sequence

import numpy as np

from otmark.metrics import auc, ced, failure_rate
from otmark.study.stats import video_of


def image_values(record: dict) -> np.ndarray:
    """``(N, 1)`` per-image NMEs as fractions: the ``errors`` array whose image-wise metrics
    (:func:`otmark.metrics.failure_rate`, :func:`otmark.metrics.auc` with ``per="image"``)
    are the record's image-wise columns."""
    return np.asarray(record["nme_per_image"], dtype=np.float64).reshape(-1, 1) / 100.0


def image_columns(record: dict) -> dict[str, float]:
    """``NME``, ``FR^I_0.08``, ``FR^I_0.1`` and ``AUC^I_0.1`` (%) from the record's per-image
    NMEs."""
    values = image_values(record)
    if values.size == 0:
        raise ValueError("a record without images has no metrics")
    return {
        "NME": 100.0 * float(values.mean()),
        "FR^I_0.08": 100.0 * failure_rate(values, 0.08, per="image"),
        "FR^I_0.1": 100.0 * failure_rate(values, 0.10, per="image"),
        "AUC^I_0.1": 100.0 * auc(values, 0.10, per="image"),
    }


def restrict_record(record: dict, videos: Collection[str], thetas: Sequence[float]) -> dict:
    """A copy of ``record`` with only the images of ``videos`` (ids ``"<video>/<frame>"``),
    its image-wise columns and CED (at ``thetas``) recomputed."""
    keep = [k for k, i in enumerate(record["ids"]) if video_of(i) in videos]
    if not keep:
        raise ValueError(f"no image of videos {sorted(videos)} in the record")
    out = {k: v for k, v in record.items() if k not in ("summary", "ced_image")}
    for key in ("ids", "nme_per_image", "frl05_per_image"):
        if key in record:
            out[key] = [record[key][k] for k in keep]
    out["num_images"] = len(keep)
    summary = image_columns(out)
    if "frl05_per_image" in out:
        summary["FR^L_0.05"] = float(np.mean(out["frl05_per_image"]))
    out["summary"] = summary
    out["ced_image"] = [round(v, 5) for v in ced(image_values(out), np.asarray(thetas)).tolist()]
    return out


def restrict_doc(
    doc: dict, protocols: Collection[str], videos: Collection[str], thetas: Sequence[float]
) -> dict:
    """A copy of a cell (or mean-shape) document whose records of ``protocols`` (in
    ``results`` or ``clean``) hold only the images of ``videos``.

    Its checkpoints keep these protocols' NMEs only at the last entry (the final model, whose
    restricted NME is known); the earlier ones stored a mean over all videos, which is dropped.
    """
    out = copy.copy(doc)
    for section in ("results", "clean"):
        if doc.get(section) is None:
            continue
        out[section] = {
            name: restrict_record(rec, videos, thetas) if name in protocols else rec
            for name, rec in doc[section].items()
        }
    if doc.get("checkpoints"):
        rows = [dict(c, nme=dict(c["nme"])) for c in doc["checkpoints"]]
        for row in rows[:-1]:
            for name in protocols:
                row["nme"].pop(name, None)
        for name in protocols:
            if name in rows[-1]["nme"]:
                rec = out.get("results", {}).get(name) or out.get("clean", {}).get(name)
                rows[-1]["nme"][name] = rec["summary"]["NME"]
        out["checkpoints"] = rows
    return out


def withhold(doc: dict, protocols: Collection[str]) -> dict:
    """A copy of a document without any record or checkpoint NME of ``protocols``."""
    out = copy.copy(doc)
    for section in ("results", "clean"):
        if doc.get(section) is not None:
            out[section] = {k: v for k, v in doc[section].items() if k not in protocols}
    if doc.get("checkpoints"):
        out["checkpoints"] = [
            dict(c, nme={k: v for k, v in c["nme"].items() if k not in protocols})
            for c in doc["checkpoints"]
        ]
    return out
