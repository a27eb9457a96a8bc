"""Fault injection: bad predictions files through ``otmark evaluate --predictions``.

Every bad file ends in exit 2 with one line naming the file (and line or id), leaves the file
untouched and writes no results; the reorderings the format allows (columns in any order, a
UTF-8 BOM) score exactly like the canonical file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from otmark import datasets
from otmark.cli.main import main
from otmark.protocols import from_arrays, write_predictions
from otmark.schemes import get_scheme

SCHEME = get_scheme("300w")
OFFSET = np.array([3.0, 4.0])  # every prediction is off by 5 pixels


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A generated 300W root (3 test faces of 64x64) and its ground truth."""
    root = tmp_path_factory.mktemp("pred_faults") / "300W"
    synth = ["synth", "--dataset", "300w", "--out", str(root), "--num", "2", "--size", "64"]
    assert main(synth) == 0
    samples = datasets.load("300w", root, "full")
    ids = [s.id for s in samples]
    gt = np.stack([s.landmarks for s in samples])
    return root, ids, gt


def _expected_nme(gt: np.ndarray) -> float:
    """Mean NME (percent) of ``gt + OFFSET`` by hand: 5 px over each inter-ocular distance."""
    i, j = SCHEME.normaliser_indices
    iod = np.linalg.norm(gt[:, i] - gt[:, j], axis=-1)
    return float(np.mean(np.linalg.norm(OFFSET) / iod) * 100)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _evaluate(root: Path, pred: Path, out: Path, capsys) -> tuple[int, str, str]:
    rc = main(
        [
            "evaluate",
            "--data-root",
            str(root),
            "--protocol",
            "300w-full",
            "--predictions",
            str(pred),
            "--out",
            str(out),
        ]
    )
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _assert_refused(root, pred: Path, tmp_path, capsys, *needles: str) -> str:
    """Exit 2, one stderr line naming the file and ``needles``; file intact; nothing written."""
    before = _digest(pred)
    out = tmp_path / "out"
    rc, _, err = _evaluate(root, pred, out, capsys)
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert pred.name in lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert _digest(pred) == before
    assert not (out / "results.json").exists()
    return lines[0]


def _csv_text(ids, lm, columns: list[str]) -> str:
    """A predictions CSV with the given column order (names as in the format)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for sid, arr in zip(ids, lm):
        cells = {"id": sid, "scheme": "300w"}
        for k in range(SCHEME.num_points):
            cells[f"x{k}"] = repr(float(arr[k, 0]))
            cells[f"y{k}"] = repr(float(arr[k, 1]))
        w.writerow([cells[c] for c in columns])
    return buf.getvalue()


def _canonical_columns() -> list[str]:
    return ["id", "scheme"] + [f"{c}{k}" for k in range(SCHEME.num_points) for c in "xy"]


def _nme_of(out: Path) -> float:
    return json.loads((out / "results.json").read_text())["summary"]["NME"]


@pytest.mark.parametrize("variant", ["y-before-x", "shuffled", "bom"])
def test_csv_columns_by_name_score_like_canonical(data, tmp_path, capsys, variant):
    root, ids, gt = data
    cols = _canonical_columns()
    if variant == "y-before-x":  # the case: id,scheme,y0,x0,y1,x1,...
        cols = ["id", "scheme"] + [f"{c}{k}" for k in range(SCHEME.num_points) for c in "yx"]
    elif variant == "shuffled":
        rest = cols[2:]
        np.random.default_rng(1).shuffle(rest)
        cols = [rest[0], "scheme", *rest[1:40], "id", *rest[40:]]
    text = _csv_text(ids, gt + OFFSET, cols)
    pred = tmp_path / "pred.csv"
    pred.write_bytes(("\ufeff" if variant == "bom" else "").encode() + text.encode())
    rc, out_text, err = _evaluate(root, pred, tmp_path / "out", capsys)
    assert rc == 0, err
    assert _nme_of(tmp_path / "out") == pytest.approx(_expected_nme(gt), rel=1e-9)
    assert "300w-full: 3 images" in out_text


def _csv_with_header(data, tmp_path, header_edit) -> Path:
    _, ids, gt = data
    lines = _csv_text(ids, gt, _canonical_columns()).splitlines()
    cols = lines[0].split(",")
    lines[0] = ",".join(header_edit(cols))
    pred = tmp_path / "pred.csv"
    pred.write_text("\n".join(lines) + "\n")
    return pred


@pytest.mark.parametrize(
    "edit, needles",
    [
        (lambda c: [*c[:2], "lx0", *c[3:]], ("line 1", "unknown column 'lx0'")),
        (lambda c: [*c[:2], "y0", *c[3:]], ("line 1", "column 'y0' appears twice")),
        (lambda c: ["name", *c[1:]], ("line 1", "unknown column 'name'")),
        (lambda c: [*c[:-1], "x68"], ("line 1", "x68 is beyond the 68 points")),
    ],
    ids=["unknown", "duplicate", "no-id", "beyond-scheme"],
)
def test_csv_bad_header_refused(data, tmp_path, capsys, edit, needles):
    pred = _csv_with_header(data, tmp_path, edit)
    _assert_refused(data[0], pred, tmp_path, capsys, *needles)


def test_csv_missing_columns_refused(data, tmp_path, capsys):
    root, ids, gt = data
    cols = [c for c in _canonical_columns() if c not in ("x5", "y7")]
    pred = tmp_path / "pred.csv"
    pred.write_text(_csv_text(ids, gt, cols))
    _assert_refused(root, pred, tmp_path, capsys, "line 1", "missing 2 coordinate column(s)", "x5")


@pytest.mark.parametrize("value", ["1e300", "nan", "-inf", "1_0", "0x10", ""])
def test_csv_bad_number_refused(data, tmp_path, capsys, value):
    root, ids, gt = data
    lines = _csv_text(ids, gt, _canonical_columns()).splitlines()
    cells = lines[2].split(",")
    cells[5] = value  # x1 of the second id
    lines[2] = ",".join(cells)
    pred = tmp_path / "pred.csv"
    pred.write_text("\n".join(lines) + "\n")
    line = _assert_refused(root, pred, tmp_path, capsys, "line 3", repr(ids[1]))
    if value == "1e300":
        assert "absurdly far" in line


def _json_doc(ids, lm) -> dict:
    return {
        "format": "otmark-predictions",
        "version": 1,
        "scheme": "300w",
        "predictions": {sid: arr.tolist() for sid, arr in zip(ids, lm)},
    }


@pytest.mark.parametrize(
    "edit, needles",
    [
        (lambda p: p[0].__setitem__(0, "12.5"), ("coordinate '12.5' is a string",)),
        (lambda p: p[3].__setitem__(1, True), ("is bool, not a number",)),
        (lambda p: p[3].__setitem__(1, None), ("is null, not a number",)),
        (lambda p: p[2].__setitem__(0, 1e300), ("absurdly far", "at most 1e+06")),
        (lambda p: p[2].__setitem__(0, float("nan")), ("finite",)),
        (lambda p: p.pop(), ("expected 68 (x, y) points",)),
    ],
    ids=["string", "bool", "null", "1e300", "nan", "67-points"],
)
def test_json_bad_coordinates_refused(data, tmp_path, capsys, edit, needles):
    root, ids, gt = data
    doc = _json_doc(ids, gt)
    edit(doc["predictions"][ids[1]])
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(doc))
    _assert_refused(root, pred, tmp_path, capsys, repr(ids[1]), *needles)


def test_json_duplicate_id_refused(data, tmp_path, capsys):
    root, ids, gt = data
    body = json.dumps(_json_doc(ids, gt))
    first = json.dumps(ids[0]) + ": " + json.dumps((gt[0] + 50).tolist())
    pred = tmp_path / "pred.json"
    # the same id twice: JSON readers would silently keep the second
    pred.write_text(body.replace('"predictions": {', '"predictions": {' + first + ", ", 1))
    _assert_refused(root, pred, tmp_path, capsys, f"duplicate key {ids[0]!r}")


def test_json_duplicate_top_level_key_refused(data, tmp_path, capsys):
    root, ids, gt = data
    body = json.dumps(_json_doc(ids, gt))
    pred = tmp_path / "pred.json"
    pred.write_text(body.replace('"scheme": "300w"', '"scheme": "wflw", "scheme": "300w"'))
    _assert_refused(root, pred, tmp_path, capsys, "duplicate key 'scheme'")


# --- cases that were already solid: kept so ---------------------------------------------------


def test_truncated_json_refused(data, tmp_path, capsys):
    root, ids, gt = data
    pred = write_predictions(tmp_path / "pred.json", from_arrays(ids, gt, "300w"))
    pred.write_bytes(pred.read_bytes()[: pred.stat().st_size // 2])
    _assert_refused(root, pred, tmp_path, capsys, "not valid JSON")


def test_truncated_csv_refused(data, tmp_path, capsys):
    root, ids, gt = data
    pred = write_predictions(tmp_path / "pred.csv", from_arrays(ids, gt, "300w"))
    pred.write_bytes(pred.read_bytes()[: pred.stat().st_size // 2])
    last = len(pred.read_text().splitlines())  # the cut row
    _assert_refused(root, pred, tmp_path, capsys, f"line {last}:", "fields, the header has 138")


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_empty_file_refused(data, tmp_path, capsys, suffix):
    pred = tmp_path / f"pred{suffix}"
    pred.write_bytes(b"")
    _assert_refused(data[0], pred, tmp_path, capsys)


def test_missing_id_refused(data, tmp_path, capsys):
    root, ids, gt = data
    pred = write_predictions(tmp_path / "pred.json", from_arrays(ids[:2], gt[:2], "300w"))
    _assert_refused(root, pred, tmp_path, capsys, "no prediction for 1 of 3", repr(ids[2]))


def test_wrong_scheme_refused(data, tmp_path, capsys):
    root, ids, gt = data
    pred = write_predictions(tmp_path / "pred.csv", from_arrays(ids, gt, "300w"))
    pred.write_text(pred.read_text().replace(",300w,", ",nope,"))
    _assert_refused(root, pred, tmp_path, capsys, "line 2", "unknown landmark scheme 'nope'")


def test_binary_garbage_refused_without_traceback(data, tmp_path):
    """The real command in a subprocess: one line on stderr, exit 2, no traceback."""
    root = data[0]
    pred = tmp_path / "pred.csv"
    pred.write_bytes(b"\xff\xfe\x00garbage\x89PNG\r\n")
    before = _digest(pred)
    proc = subprocess.run(
        [sys.executable, "-m", "otmark", "evaluate", "--data-root", str(root)]
        + ["--protocol", "300w-full", "--predictions", str(pred), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pred.csv" in lines[0] and "not UTF-8" in lines[0]
    assert _digest(pred) == before
    assert not (tmp_path / "o").exists()
