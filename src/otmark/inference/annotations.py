"""Ground truth next to a video, and the NME and jitter of ``otmark detect`` against it.

A video laid out as 300VW (``<video id>/vid.avi`` with ``<video id>/annot/<n>.pts``, ``n`` the
1-based frame number; :mod:`otmark.datasets.vw300`) carries its annotations: ``otmark detect``
then scores its results on the annotated frames (:func:`score_video`): the NME (the mean over
frames of the mean landmark error over the common space's normaliser, as
:func:`otmark.protocols.scoring.score`) and the jitter (:func:`otmark.metrics.jitter`), both in
percent. A frame where more than one face was found is scored with the face nearest the truth;
annotated frames without a face are counted, not scored.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from otmark.datasets.pts import read_pts
from otmark.datasets.vw300 import ANNOT_DIR
from otmark.inference.results import FrameResult
from otmark.metrics.jitter import frame_jitter, mean_jitter
from otmark.schemes import common_points, get_scheme, normaliser
from otmark.schemes.conversions import apply_matrix

#: the scheme of 300VW annotations
TRUTH_SCHEME = "300vw"


def video_annotations(path: str | os.PathLike[str]) -> dict[int, np.ndarray] | None:
    """``{0-based frame: (68, 2) landmarks}`` from ``annot/*.pts`` beside the video ``path``,
    or None when there is no such folder (or it holds no ``.pts`` file).

    Raises :class:`otmark.datasets.errors.DatasetError` naming a malformed ``.pts`` file.
    """
    folder = Path(path).parent / ANNOT_DIR
    if not folder.is_dir():
        return None
    k = get_scheme(TRUTH_SCHEME).num_points
    out = {}
    for f in sorted(folder.glob("*.pts")):
        if f.stem.isdigit() and int(f.stem) >= 1:
            out[int(f.stem) - 1] = read_pts(f, num_points=k)
    return out or None


def score_video(
    results: list[FrameResult], truth: dict[int, np.ndarray], model_scheme: str
) -> dict:
    """NME and jitter of one video's results against its annotations.

    Args:
        results: the video's frames (``frame`` set), in order.
        truth: ``{frame: (K_truth, 2)}`` in the :data:`TRUTH_SCHEME`.
        model_scheme: the scheme of the results' landmarks.

    Returns:
        ``{"nme": percent or None, "jitter": percent or None, "frames_scored": n,
        "frames_annotated": m, "annotated_without_face": [frames], "space": common space}``.
    """
    cp = common_points(model_scheme, TRUTH_SCHEME)
    frames, preds, gts, missing = [], [], [], []
    for r in results:
        if r.frame is None or r.frame not in truth:
            continue
        if not r.faces:
            missing.append(int(r.frame))
            continue
        gt = apply_matrix(cp.matrix_b, truth[r.frame][None])[0]
        cands = [
            cp.to_common_a(np.asarray(f.landmarks, dtype=np.float64)[None])[0] for f in r.faces
        ]
        keep = gt[cp.keep]
        best = min(cands, key=lambda c: float(np.nanmean(np.linalg.norm(c - keep, axis=-1))))
        frames.append(int(r.frame))
        preds.append(best)
        gts.append(gt)
    doc: dict = {
        "nme": None,
        "jitter": None,
        "frames_scored": len(frames),
        "frames_annotated": len(truth),
        "annotated_without_face": missing,
        "space": cp.space,
        "units": "percent of the NME normaliser",
    }
    if not frames:
        return doc
    gt_full = np.stack(gts)
    norm = normaliser(gt_full, cp.space)
    p, g = np.stack(preds), gt_full[:, cp.keep]
    doc["nme"] = 100.0 * float((np.linalg.norm(p - g, axis=-1).mean(axis=1) / norm).mean())
    jit = mean_jitter(frame_jitter(p, g, norm, frames=frames))
    doc["jitter"] = None if not np.isfinite(jit) else 100.0 * jit
    return doc
