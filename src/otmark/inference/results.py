"""Detection results and their on-disk formats (JSON and CSV), written atomically.

Coordinates are ``(x, y)`` in 0-based pixels of the input image, pixel centres at integers.

JSON (``landmarks.json``)::

    {"format": "otmark-landmarks", "version": 1, "scheme": "300w", "num_landmarks": K,
     "items": [{"source": "img.png", "frame": null, "width": W, "height": H,
                "faces": [{"box": [x0, y0, x1, y1], "landmarks": [[x, y], ...]}]}]}

A face tracked through a video (``otmark detect VIDEO``, :mod:`otmark.inference.tracking`) also
has ``"confidence"`` (its heatmap confidence in ``[0, 1]``). The face a face finder chose (the
first one of an image) has ``"chosen_by"``: the rule that chose it (``only``, ``size``,
``centrality`` or ``score``, :data:`otmark.inference.finders.RULES`). An image or frame
where no face was found has ``"faces": []``. Files written by ``otmark detect``
also carry ``"skipped": [{"source": ..., "reason": ...}]`` (images left out with
``--on-error skip``) and, for a video, ``"video": {"frames_decoded": n, "frames_announced": m,
"truncated": n < m}``.

CSV (``landmarks.csv``), one row per face::

    source,frame,face,box_x0,box_y0,box_x1,box_y1,x0,y0,x1,y1,...,x{K-1},y{K-1}

``frame`` is empty for images; ``face`` is the 0-based face index within the image. An image or
frame with no face gets one row whose ``face`` and coordinate cells are empty.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from otmark.atomic import write_text_atomic
from otmark.jsonfile import read_json_document

FORMAT_NAME = "otmark-landmarks"
FORMAT_VERSION = 1


@dataclass
class Face:
    """One detected face: ``box: (4,)`` = x0, y0, x1, y1 and ``landmarks: (K, 2)``;
    ``confidence`` (tracked video faces, :func:`otmark.inference.tracking.heatmap_confidence`)
    or None; ``chosen_by``: for the face a face finder chose among several, the rule that chose
    it (:data:`otmark.inference.finders.RULES`), else None."""

    box: np.ndarray
    landmarks: np.ndarray
    confidence: float | None = None
    chosen_by: str | None = None


@dataclass
class FrameResult:
    """The faces found in one image or video frame (``frame`` is ``None`` for images)."""

    source: str
    frame: int | None
    width: int
    height: int
    faces: list[Face] = field(default_factory=list)


def csv_header(num_landmarks: int) -> list[str]:
    """The CSV columns for ``num_landmarks`` points."""
    coords = [f"{axis}{k}" for k in range(num_landmarks) for axis in ("x", "y")]
    return ["source", "frame", "face", "box_x0", "box_y0", "box_x1", "box_y1", *coords]


def results_to_json(
    results: list[FrameResult], scheme: str, num_landmarks: int, extra: dict | None = None
) -> str:
    """Serialise results to the JSON format above (``extra``: more header keys, e.g.
    ``skipped`` and ``video``)."""
    items = []
    for r in results:
        faces = [
            {
                "box": [float(v) for v in np.asarray(f.box).reshape(4)],
                "landmarks": np.asarray(f.landmarks, dtype=np.float64).tolist(),
                **({} if f.confidence is None else {"confidence": float(f.confidence)}),
                **({} if f.chosen_by is None else {"chosen_by": str(f.chosen_by)}),
            }
            for f in r.faces
        ]
        items.append(
            {
                "source": r.source,
                "frame": r.frame,
                "width": int(r.width),
                "height": int(r.height),
                "faces": faces,
            }
        )
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "scheme": scheme,
        "num_landmarks": int(num_landmarks),
        "coordinates": "x, y in 0-based image pixels, pixel centres at integers",
        **(extra or {}),
    }
    # one line per header key and per item: readable, and compact for many landmarks
    lines = [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in header.items()]
    body = ",\n  ".join(json.dumps(item) for item in items)
    return "{\n" + "\n".join(lines) + '\n "items": [\n  ' + body + "\n]}\n"


def results_to_csv(results: list[FrameResult], num_landmarks: int) -> str:
    """Serialise results to the CSV format above (floats written with full precision)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(csv_header(num_landmarks))
    empty = [""] * (4 + 2 * num_landmarks)
    for r in results:
        frame = "" if r.frame is None else str(r.frame)
        if not r.faces:
            writer.writerow([r.source, frame, "", *empty])
        for i, f in enumerate(r.faces):
            lm = np.asarray(f.landmarks, dtype=np.float64)
            if lm.shape != (num_landmarks, 2):
                raise ValueError(
                    f"{r.source}: face {i} has landmarks of shape {lm.shape}, "
                    f"expected ({num_landmarks}, 2)"
                )
            values = [*np.asarray(f.box, dtype=np.float64).reshape(4), *lm.reshape(-1)]
            writer.writerow([r.source, frame, str(i), *(repr(float(v)) for v in values)])
    return buf.getvalue()


def write_results_json(
    path: str | os.PathLike[str],
    results: list[FrameResult],
    scheme: str,
    num_landmarks: int,
    extra: dict | None = None,
) -> Path:
    """Write ``results`` as JSON, atomically (``extra``: more header keys)."""
    return write_text_atomic(path, results_to_json(results, scheme, num_landmarks, extra))


def write_results_csv(
    path: str | os.PathLike[str], results: list[FrameResult], num_landmarks: int
) -> Path:
    """Write ``results`` as CSV, atomically."""
    return write_text_atomic(path, results_to_csv(results, num_landmarks))


def read_results_json(path: str | os.PathLike[str]) -> tuple[dict, list[FrameResult]]:
    """Read a results JSON file -> ``(header, results)``; ``header`` holds scheme/num_landmarks.

    Raises ``ValueError`` naming the file on malformed content.
    """
    path = Path(path)
    doc = read_json_document(path, FORMAT_NAME)
    k = int(doc["num_landmarks"])
    results = []
    for n, item in enumerate(doc["items"]):
        faces = []
        for f in item["faces"]:
            lm = np.asarray(f["landmarks"], dtype=np.float64)
            if lm.shape != (k, 2):
                raise ValueError(f"{path}: item {n}: landmarks of shape {lm.shape}, expected {k}x2")
            conf = f.get("confidence")
            faces.append(
                Face(
                    np.asarray(f["box"], dtype=np.float64),
                    lm,
                    None if conf is None else conf,
                    f.get("chosen_by"),
                )
            )
        results.append(
            FrameResult(item["source"], item["frame"], item["width"], item["height"], faces)
        )
    header = {key: doc[key] for key in ("scheme", "num_landmarks", "version")}
    header.update({key: doc[key] for key in ("skipped", "video") if key in doc})
    return header, results


def read_results_csv(path: str | os.PathLike[str]) -> list[FrameResult]:
    """Read a results CSV file -> results (``width``/``height`` are 0: CSV does not store them).

    Raises ``ValueError`` naming the file and line on malformed content.
    """
    path = Path(path)
    results: list[FrameResult] = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or header[:7] != csv_header(0) or (len(header) - 7) % 2:
            raise ValueError(f"{path}:1: not an otmark landmarks CSV header: {header}")
        k = (len(header) - 7) // 2
        if header != csv_header(k):
            raise ValueError(f"{path}:1: unexpected landmark columns in the header")
        for row in reader:
            line = reader.line_num
            if len(row) != len(header):
                raise ValueError(f"{path}:{line}: expected {len(header)} cells, got {len(row)}")
            source, frame_txt, face_txt = row[0], row[1], row[2]
            frame = int(frame_txt) if frame_txt else None
            if not results or (results[-1].source, results[-1].frame) != (source, frame):
                results.append(FrameResult(source, frame, 0, 0, []))
            if face_txt == "":
                continue
            try:
                values = np.array([float(v) for v in row[3:]], dtype=np.float64)
            except ValueError:
                raise ValueError(f"{path}:{line}: coordinates must be numbers") from None
            results[-1].faces.append(Face(values[:4], values[4:].reshape(k, 2)))
    return results
