"""The predictions file: landmarks predicted by any model, per sample id.

Coordinates are image pixels, 0-based, pixel centres at integers (the project convention), in the
landmark scheme named in the file. Two equivalent encodings, chosen by the file suffix:

JSON (``.json``)::

    {"format": "otmark-predictions", "version": 1, "scheme": "300w",
     "predictions": {"helen/testset/30427236_1.jpg": [[x0, y0], [x1, y1], ...], ...}}

CSV (``.csv``): a header naming the columns, then one row per sample; every row repeats the same
scheme name. Columns are matched **by name**: ``id``, ``scheme`` and ``x0, y0, ..., x{K-1},
y{K-1}`` (each exactly once, in any order; a UTF-8 byte-order mark is tolerated). The writer uses
the order below::

    id,scheme,x0,y0,x1,y1,...
    helen/testset/30427236_1.jpg,300w,101.5,220.25,...

Errors name the file (and, for CSV, the line) and the sample id: unknown, missing or repeated CSV
columns, unknown or mixed schemes, wrong point counts, JSON numbers written as strings, duplicate
JSON keys, non-finite or absurd coordinates (see :func:`coordinate_bound`), duplicate ids, and --
when matched against a protocol -- missing or extra ids.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from otmark.atomic import write_text_atomic
from otmark.schemes import canonical_name, get_scheme

FORMAT = "otmark-predictions"
VERSION = 1

#: coordinates farther than this many image sizes (``max(width, height)``) from the origin are
#: rejected as absurd when the image size is known
MAX_IMAGE_SIZES = 100
#: the bound on ``|x|`` and ``|y|`` (pixels) when the image size is not known
MAX_ABS_COORDINATE = 1e6

_COORD_COLUMN = re.compile(r"([xy])(0|[1-9][0-9]*)")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


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


def coordinate_bound(size: tuple[int, int] | None = None) -> float:
    """The largest ``|x|``/``|y|`` accepted: ``MAX_IMAGE_SIZES * max(width, height)`` for an image
    of ``size = (width, height)``, else :data:`MAX_ABS_COORDINATE`."""
    if size is None:
        return MAX_ABS_COORDINATE
    return float(MAX_IMAGE_SIZES * max(int(size[0]), int(size[1]), 1))


def _check_points(
    arr: np.ndarray, scheme: str, where: str, sid: str, size: tuple[int, int] | None = None
) -> np.ndarray:
    k = get_scheme(scheme).num_points
    if arr.ndim != 2 or arr.shape != (k, 2):
        raise ValueError(
            f"{where}: id {sid!r}: expected {k} (x, y) points for scheme {scheme}, "
            f"got shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"{where}: id {sid!r}: coordinates must be finite numbers")
    bound = coordinate_bound(size)
    if np.abs(arr).max(initial=0.0) > bound:
        j = int(np.abs(arr).max(axis=1).argmax())
        x, y = (float(v) for v in arr[j])
        what = "" if size is None else f" ({MAX_IMAGE_SIZES}x the image size {size[0]}x{size[1]})"
        raise ValueError(
            f"{where}: id {sid!r}: point {j} = ({x:g}, {y:g}) is absurdly far from the image: "
            f"|x| and |y| must be at most {bound:g}{what}"
        )
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


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    """``json`` ``object_pairs_hook``: a repeated key is an error (JSON would keep the last)."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _json_points(pts: object, where: str, sid: str) -> np.ndarray:
    """``pts`` as a float64 array; numbers only (no strings, booleans or nulls)."""
    if not isinstance(pts, list) or not all(isinstance(p, list) for p in pts):
        raise ValueError(f"{where}: id {sid!r}: points must be a list of [x, y] number pairs")
    for j, p in enumerate(pts):
        for v in p:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                kind = "a string" if isinstance(v, str) else type(v).__name__
                if v is None:
                    kind = "null"
                raise ValueError(
                    f"{where}: id {sid!r}: point {j}: coordinate {v!r} is {kind}, not a number"
                )
    try:
        return np.asarray(pts, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{where}: id {sid!r}: points must be [x, y] number pairs") from None


def _read_json(path: Path, image_sizes: Mapping[str, tuple[int, int]] | None) -> Predictions:
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"), object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except _DuplicateKey as exc:
        raise ValueError(
            f"{path}: duplicate key {exc.args[0]!r} (every id and key may appear only once)"
        ) from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
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
        arr = _json_points(pts, str(path), sid)
        size = None if image_sizes is None else image_sizes.get(sid)
        out[sid] = _check_points(arr, scheme, str(path), sid, size)
    return Predictions(scheme, out, str(path))


def _csv_columns(header: list[str], path: Path) -> tuple[int, int, dict[int, tuple[int, int]]]:
    """Header -> ``(id column, scheme column, {column: (point, axis)})``; every name checked."""
    where = f"{path}: line 1"
    seen: dict[str, int] = {}
    coords: dict[int, tuple[int, int]] = {}
    for col, raw in enumerate(header):
        name = raw.strip()
        if name in seen:
            raise ValueError(f"{where}: column {name!r} appears twice")
        seen[name] = col
        if name in ("id", "scheme"):
            continue
        m = _COORD_COLUMN.fullmatch(name)
        if m is None:
            raise ValueError(
                f"{where}: unknown column {name!r} (expected id, scheme, x0, y0, x1, y1, ...)"
            )
        coords[col] = (int(m.group(2)), 0 if m.group(1) == "x" else 1)
    missing = [n for n in ("id", "scheme") if n not in seen]
    if missing:
        raise ValueError(f"{where}: missing column(s) {', '.join(missing)}")
    return seen["id"], seen["scheme"], coords


def _check_csv_points(coords: dict[int, tuple[int, int]], k: int, scheme: str, path: Path) -> None:
    names = {(j, a): f"{'xy'[a]}{j}" for j in range(k) for a in (0, 1)}
    have = set(coords.values())
    beyond = sorted(key for key in have if key not in names)
    if beyond:
        j, a = beyond[0]
        raise ValueError(
            f"{path}: line 1: column {'xy'[a]}{j} is beyond the {k} points of scheme {scheme} "
            f"(x0 .. x{k - 1}, y0 .. y{k - 1})"
        )
    missing = [n for key, n in names.items() if key not in have]
    if missing:
        shown = ", ".join(missing[:4]) + (", ..." if len(missing) > 4 else "")
        raise ValueError(
            f"{path}: line 1: missing {len(missing)} coordinate column(s) for scheme {scheme} "
            f"({k} points): {shown}"
        )


def _csv_number(text: str, where: str, sid: str, column: str) -> float:
    value = text.strip()
    if _NUMBER.fullmatch(value):
        return float(value)
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None and not math.isfinite(number):
        raise ValueError(f"{where}: id {sid!r}: coordinates must be finite numbers ({column})")
    raise ValueError(f"{where}: id {sid!r}: coordinates must be numbers ({column}: {text!r})")


def _read_csv(path: Path, image_sizes: Mapping[str, tuple[int, int]] | None) -> Predictions:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise ValueError(f"{path}: not a readable CSV file ({exc})") from None
    if not rows or not any(c.strip() for c in rows[0]):
        raise ValueError(f"{path}: line 1: missing header (id,scheme,x0,y0,...)")
    header = rows[0]
    id_col, scheme_col, coords = _csv_columns(header, path)
    scheme: str | None = None
    k = 0
    out: dict[str, np.ndarray] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or not any(c.strip() for c in row):
            continue
        where = f"{path}: line {lineno}"
        if len(row) != len(header):
            raise ValueError(f"{where}: {len(row)} fields, the header has {len(header)}")
        sid, name = row[id_col], _scheme(row[scheme_col], where)
        if scheme is None:
            scheme = name
            k = get_scheme(scheme).num_points
            _check_csv_points(coords, k, scheme, path)
        elif name != scheme:
            raise ValueError(f"{where}: id {sid!r}: scheme {name!r} differs from {scheme!r}")
        if sid in out:
            raise ValueError(f"{where}: duplicate id {sid!r}")
        arr = np.empty((k, 2), dtype=np.float64)
        for col, (j, a) in coords.items():
            arr[j, a] = _csv_number(row[col], where, sid, header[col].strip())
        size = None if image_sizes is None else image_sizes.get(sid)
        out[sid] = _check_points(arr, scheme, where, sid, size)
    if scheme is None:
        raise ValueError(f"{path}: no prediction rows")
    return Predictions(scheme, out, str(path))


def read_predictions(
    path: str | os.PathLike, image_sizes: Mapping[str, tuple[int, int]] | None = None
) -> Predictions:
    """Read a JSON or CSV predictions file (by suffix); ``ValueError`` naming file/line/id.

    ``image_sizes`` (id -> ``(width, height)``, optional) tightens the absurd-coordinate bound
    of those ids to :data:`MAX_IMAGE_SIZES` image sizes (:func:`coordinate_bound`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: predictions file does not exist")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _read_json(path, image_sizes)
    if suffix == ".csv":
        return _read_csv(path, image_sizes)
    raise ValueError(f"{path}: predictions file must end in .json or .csv")
