import json

import numpy as np
import pytest

from otmark.protocols.predictions import from_arrays, read_predictions, write_predictions
from otmark.schemes import get_scheme

K = get_scheme("cofw").num_points


def _pred():
    rng = np.random.default_rng(0)
    ids = ["a/1.png", "b/2.png", "c,3.png"]  # a comma in an id survives CSV quoting
    return ids, rng.uniform(0, 300, (3, K, 2))


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_round_trip(tmp_path, suffix):
    ids, lm = _pred()
    path = write_predictions(tmp_path / f"p{suffix}", from_arrays(ids, lm, "29"))
    back = read_predictions(path)
    assert back.scheme == "cofw"  # alias resolved to the registry name
    np.testing.assert_array_equal(back.for_ids(ids[::-1]), lm[::-1])
    assert [p.name for p in tmp_path.iterdir()] == [f"p{suffix}"]


def test_csv_layout_is_documented_header(tmp_path):
    ids, lm = _pred()
    path = write_predictions(tmp_path / "p.csv", from_arrays(ids, lm, "cofw"))
    lines = path.read_text().splitlines()
    assert lines[0].startswith("id,scheme,x0,y0,x1,y1,")
    assert lines[0].endswith(f"x{K - 1},y{K - 1}")
    assert lines[1].startswith(f"a/1.png,cofw,{float(lm[0, 0, 0])!r},{float(lm[0, 0, 1])!r},")


def test_missing_and_extra_ids_name_file_and_id(tmp_path):
    ids, lm = _pred()
    path = write_predictions(tmp_path / "p.json", from_arrays(ids, lm, "cofw"))
    pred = read_predictions(path)
    with pytest.raises(
        ValueError, match=r"p.json: no prediction for 1 of 4 sample\(s\), e.g. id 'd'"
    ):
        pred.for_ids(ids + ["d"])
    with pytest.raises(ValueError, match=r"p.json: 1 prediction\(s\) for ids not .* id 'c,3.png'"):
        pred.for_ids(ids[:2])
    np.testing.assert_array_equal(pred.for_ids(ids[:2], allow_extra=True), lm[:2])


def test_wrong_point_count_json(tmp_path):
    path = tmp_path / "p.json"
    doc = {
        "format": "otmark-predictions",
        "version": 1,
        "scheme": "cofw",
        "predictions": {"x.png": [[1, 2]] * K, "y.png": [[1, 2]] * (K - 1)},
    }
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=rf"p.json: id 'y.png': expected {K} \(x, y\) points"):
        read_predictions(path)


def test_csv_errors_name_line(tmp_path):
    ids, lm = _pred()
    path = write_predictions(tmp_path / "p.csv", from_arrays(ids, lm, "cofw"))
    lines = path.read_text().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], lines[1], lines[2].rsplit(",", 1)[0]]) + "\n")
    with pytest.raises(ValueError, match="bad.csv: line 3: .* fields"):
        read_predictions(bad)
    bad.write_text("\n".join([lines[0], lines[1], lines[1]]) + "\n")
    with pytest.raises(ValueError, match="bad.csv: line 3: duplicate id 'a/1.png'"):
        read_predictions(bad)
    bad.write_text("\n".join([lines[0], lines[1].replace(",cofw,", ",nope,")]) + "\n")
    with pytest.raises(ValueError, match="bad.csv: line 2: unknown landmark scheme 'nope'"):
        read_predictions(bad)
    fields = lines[1].split(",")
    fields[2] = "nan"
    bad.write_text("\n".join([lines[0], ",".join(fields)]) + "\n")
    with pytest.raises(ValueError, match="bad.csv: line 2: .*finite"):
        read_predictions(bad)


def test_not_a_predictions_file(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"a": 1}')
    with pytest.raises(ValueError, match="x.json: not a predictions file"):
        read_predictions(p)
    p.write_text("{\n  broken")
    with pytest.raises(ValueError, match="x.json: line 2: not valid JSON"):
        read_predictions(p)
    txt = tmp_path / "x.txt"
    txt.write_text("")
    with pytest.raises(ValueError, match="x.txt: predictions file must end in .json or .csv"):
        read_predictions(txt)
    with pytest.raises(FileNotFoundError, match="nothere.json: predictions file does not exist"):
        read_predictions(tmp_path / "nothere.json")


def test_absurd_bound_uses_image_size_when_known(tmp_path):
    ids, lm = _pred()
    lm = lm.copy()
    lm[1, 4] = [-6400.0, 10.0]  # exactly 100 x the 64-pixel image: still accepted
    path = write_predictions(tmp_path / "p.json", from_arrays(ids, lm, "cofw"))
    sizes = {ids[1]: (64, 48)}
    np.testing.assert_array_equal(read_predictions(path, sizes).landmarks[ids[1]], lm[1])
    lm[1, 4] = [-6400.5, 10.0]
    path = write_predictions(tmp_path / "p.json", from_arrays(ids, lm, "cofw"))
    with pytest.raises(ValueError, match=r"p.json: id 'b/2.png': point 4 = \(-6400.5, 10\)"):
        read_predictions(path, sizes)
    # without the size only the fixed bound applies
    assert read_predictions(path).landmarks[ids[1]][4, 0] == -6400.5


def test_csv_columns_read_by_name(tmp_path):
    ids, lm = _pred()
    path = write_predictions(tmp_path / "p.csv", from_arrays(ids, lm, "cofw"))
    rows = [line.split(",") for line in path.read_text().splitlines()]
    # reverse every column: id and scheme last, y before x (rows without the quoted 'c,3.png')
    flipped = "\n".join(",".join(reversed(r)) for r in rows[:1] + rows[1:3]) + "\n"
    path.write_text(flipped)
    back = read_predictions(path)
    np.testing.assert_array_equal(back.for_ids(ids[:2]), lm[:2])
