"""The predictions file: landmarks predicted by any model, per sample id.

Coordinates are image pixels, 0-based, pixel centres at integers (the project convention), in the
landmark scheme named in the file. Two equivalent encodings, chosen by the file suffix:

JSON (``.json``)::

    {"format": "otmark-predictions", "version": 1, "scheme": "300w",
     "predictions": {"helen/testset/30427236_1.jpg": [[x0, y0], [x1, y1], ...], ...}}

CSV (``.csv``): a header ``id,scheme,x0,y0,x1,y1,...,x{K-1},y{K-1}``, then one row per sample;
every row repeats the same scheme name::

    id,scheme,x0,y0,x1,y1,...
    helen/testset/30427236_1.jpg,300w,101.5,220.25,...

Errors name the file (and, for CSV, the line) and the sample id: unknown or mixed schemes, wrong
point counts, non-finite values, duplicate ids, and -- when matched against a protocol -- missing
or extra ids.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from otmark.atomic import write_text_atomic
from otmark.schemes import canonical_name, get_scheme

FORMAT = "otmark-predictions"
VERSION = 1


@dataclass
class Predictions:
    """Predicted landmarks per sample id.

    Attributes:
        scheme: registry name of the landmark scheme.
        landmarks: id -> ``(K, 2)`` float64 image coordinates.
        source: where they were read from (used in error messages), or ``"<memory>"``.
    """

    scheme: str
    landmarks: dict[str, np.ndarray]
    source: str = "<memory>"

    def for_ids(self, ids: Sequence[str], allow_extra: bool = False) -> np.ndarray:
        """``(N, K, 2)`` predictions in the order of ``ids``.

        Raises ``ValueError`` naming the file and the ids when some are missing, or (unless
        ``allow_extra``, e.g. full-test-set predictions scored on a WFLW subset) extra.
        """
        wanted = list(ids)
        missing = [i for i in wanted if i not in self.landmarks]
        extra = sorted(set(self.landmarks) - set(wanted))
        if missing:
            raise ValueError(
                f"{self.source}: no prediction for {len(missing)} of {len(wanted)} sample(s), "
                f"e.g. id {missing[0]!r}" + (f", {missing[1]!r}" if len(missing) > 1 else "")
            )
        if extra and not allow_extra:
            raise ValueError(
                f"{self.source}: {len(extra)} prediction(s) for ids not in the evaluated set, "
                f"e.g. id {extra[0]!r} (allow them with --allow-extra-ids)"
            )
        k = get_scheme(self.scheme).num_points
        if not wanted:
            return np.zeros((0, k, 2))
        return np.stack([self.landmarks[i] for i in wanted])


def _check_points(arr: np.ndarray, scheme: str, where: str, sid: str) -> np.ndarray:
    k = get_scheme(scheme).num_points
    if arr.ndim != 2 or arr.shape != (k, 2):
        raise ValueError(
            f"{where}: id {sid!r}: expected {k} (x, y) points for scheme {scheme}, "
            f"got shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"{where}: id {sid!r}: coordinates must be finite numbers")
    return arr


def _scheme(name: object, where: str) -> str:
    try:
        return canonical_name(str(name))
    except KeyError as exc:
        raise ValueError(f"{where}: {exc.args[0]}") from None


def from_arrays(
    ids: Sequence[str], landmarks: np.ndarray, scheme: str, source: str = "<memory>"
) -> Predictions:
    """Build :class:`Predictions` from ``ids`` (N) and ``landmarks (N, K, 2)``."""
    scheme = _scheme(scheme, source)
    lm = np.asarray(landmarks, dtype=np.float64)
    if len(ids) != len(lm):
        raise ValueError(f"{source}: {len(ids)} ids for {len(lm)} landmark arrays")
    out: dict[str, np.ndarray] = {}
    for sid, arr in zip(ids, lm):
        if sid in out:
            raise ValueError(f"{source}: duplicate id {sid!r}")
        out[str(sid)] = _check_points(arr, scheme, source, sid)
    return Predictions(scheme, out, source)


def to_json(pred: Predictions) -> str:
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "scheme": pred.scheme,
        "predictions": {sid: arr.tolist() for sid, arr in pred.landmarks.items()},
    }
    return json.dumps(doc, indent=None, separators=(",", ":")) + "\n"


def to_csv(pred: Predictions) -> str:
    k = get_scheme(pred.scheme).num_points
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "scheme"] + [f"{c}{j}" for j in range(k) for c in ("x", "y")])
    for sid, arr in pred.landmarks.items():
        w.writerow([sid, pred.scheme] + [repr(float(v)) for v in arr.reshape(-1)])
    return buf.getvalue()


def write_predictions(path: str | os.PathLike, pred: Predictions) -> Path:
    """Write ``pred`` as JSON or CSV (by suffix), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return write_text_atomic(path, to_json(pred))
    if suffix == ".csv":
        return write_text_atomic(path, to_csv(pred))
    raise ValueError(f"{path}: predictions file must end in .json or .csv")


def _read_json(path: Path) -> Predictions:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
        raise ValueError(f'{path}: not a predictions file (needs "format": "{FORMAT}")')
    if doc.get("version") != VERSION:
        raise ValueError(f"{path}: unsupported predictions version {doc.get('version')!r}")
    if "scheme" not in doc:
        raise ValueError(f'{path}: missing "scheme"')
    scheme = _scheme(doc["scheme"], str(path))
    preds = doc.get("predictions")
    if not isinstance(preds, Mapping):
        raise ValueError(f'{path}: "predictions" must be an object mapping id -> points')
    out: dict[str, np.ndarray] = {}
    for sid, pts in preds.items():
        try:
            arr = np.asarray(pts, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{path}: id {sid!r}: points must be [x, y] number pairs") from None
        out[sid] = _check_points(arr, scheme, str(path), sid)
    return Predictions(scheme, out, str(path))


def _read_csv(path: Path) -> Predictions:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0][:2] != ["id", "scheme"]:
        raise ValueError(f"{path}: line 1: header must start with 'id,scheme'")
    header = rows[0]
    scheme: str | None = None
    out: dict[str, np.ndarray] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        where = f"{path}: line {lineno}"
        if len(row) != len(header):
            raise ValueError(f"{where}: {len(row)} fields, the header has {len(header)}")
        sid, name = row[0], _scheme(row[1], where)
        if scheme is None:
            scheme = name
            k = get_scheme(scheme).num_points
            if len(header) != 2 + 2 * k:
                raise ValueError(
                    f"{path}: line 1: header has {(len(header) - 2) / 2:g} points, "
                    f"scheme {scheme} has {k}"
                )
        elif name != scheme:
            raise ValueError(f"{where}: id {sid!r}: scheme {name!r} differs from {scheme!r}")
        if sid in out:
            raise ValueError(f"{where}: duplicate id {sid!r}")
        try:
            vals = [float(v) for v in row[2:]]
        except ValueError:
            raise ValueError(f"{where}: id {sid!r}: coordinates must be numbers") from None
        if not all(math.isfinite(v) for v in vals):
            raise ValueError(f"{where}: id {sid!r}: coordinates must be finite numbers")
        out[sid] = np.asarray(vals, dtype=np.float64).reshape(-1, 2)
    if scheme is None:
        raise ValueError(f"{path}: no prediction rows")
    return Predictions(scheme, out, str(path))


def read_predictions(path: str | os.PathLike) -> Predictions:
    """Read a JSON or CSV predictions file (by suffix); ``ValueError`` naming file/line/id."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: predictions file does not exist")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _read_json(path)
    if suffix == ".csv":
        return _read_csv(path)
    raise ValueError(f"{path}: predictions file must end in .json or .csv")
