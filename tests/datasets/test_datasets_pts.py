import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from otmark.datasets import DatasetError, parse_pts, read_pts, write_pts
from otmark.datasets import pts as pts_module
from otmark.datasets.pts import format_pts

HAND_WRITTEN = """version: 1
n_points:  3
{
1 1
10.5 20.25
100 1
}
"""


def test_hand_written_pts_is_one_based_on_disk(tmp_path):
    p = tmp_path / "a.pts"
    p.write_text(HAND_WRITTEN)
    lm = read_pts(p)
    # (1, 1) on disk is the centre of the top-left pixel, (0, 0) in otmark's convention
    np.testing.assert_array_equal(lm, [[0, 0], [9.5, 19.25], [99, 0]])
    assert lm.dtype == np.float64


def test_write_adds_one(tmp_path):
    p = tmp_path / "b.pts"
    write_pts(p, np.array([[0.0, 0.0], [9.5, 19.25]]))
    assert p.read_text() == "version: 1\nn_points: 2\n{\n1 1\n10.5 20.25\n}\n"


def test_round_trip_exact(tmp_path):
    lm = np.random.default_rng(0).uniform(-5, 500, (68, 2))
    write_pts(tmp_path / "c.pts", lm)
    np.testing.assert_allclose(read_pts(tmp_path / "c.pts", num_points=68), lm, rtol=0, atol=1e-9)


def test_crlf_and_blank_lines_accepted():
    text = HAND_WRITTEN.replace("\n", "\r\n") + "\r\n\r\n"
    assert parse_pts(text).shape == (3, 2)


@pytest.mark.parametrize(
    "text,line,message",
    [
        ("version: 2\nn_points: 1\n{\n1 1\n}\n", 1, "expected 'version: 1'"),
        ("version: 1\nn_point: 1\n{\n1 1\n}\n", 2, "n_points"),
        ("version: 1\nn_points: x\n{\n1 1\n}\n", 2, "not an integer"),
        ("version: 1\nn_points: 1\n1 1\n}\n", 3, "expected '{'"),
        ("version: 1\nn_points: 2\n{\n1 1\n}\n", 5, "only 1 points"),
        ("version: 1\nn_points: 2\n{\n1 1\n", 5, "truncated"),
        ("version: 1\nn_points: 1\n{\n1 abc\n}\n", 4, "non-numeric"),
        ("version: 1\nn_points: 1\n{\n1 nan\n}\n", 4, "non-finite"),
        ("version: 1\nn_points: 1\n{\n1 2 3\n}\n", 4, "expected 'x y'"),
        ("version: 1\nn_points: 1\n{\n1 2\n3 4\n}\n", 5, "expected '}'"),
        ("version: 1\nn_points: 1\n{\n1 2\n}\nextra\n", 6, "after '}'"),
        ("", 1, "truncated"),
    ],
)
def test_errors_name_file_and_line(tmp_path, text, line, message):
    p = tmp_path / "bad_file.pts"
    p.write_text(text)
    with pytest.raises(DatasetError, match=message) as info:
        read_pts(p)
    assert str(info.value).startswith(f"{p}:{line}: ")
    assert info.value.line == line and info.value.path == str(p)


def test_wrong_count_against_scheme(tmp_path):
    p = tmp_path / "short.pts"
    p.write_text(HAND_WRITTEN)
    with pytest.raises(DatasetError, match=r"short.pts:2: n_points is 3, expected 68"):
        read_pts(p, num_points=68)


def test_missing_and_binary_file(tmp_path):
    with pytest.raises(DatasetError, match="nope.pts: file does not exist"):
        read_pts(tmp_path / "nope.pts")
    (tmp_path / "bin.pts").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DatasetError, match="bin.pts: not a text file"):
        read_pts(tmp_path / "bin.pts")


def test_writer_refuses_nan_and_keeps_old_file(tmp_path):
    p = tmp_path / "keep.pts"
    write_pts(p, np.zeros((2, 2)))
    before = p.read_text()
    with pytest.raises(ValueError, match="NaN"):
        write_pts(p, np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        format_pts(np.zeros((3,)))
    assert p.read_text() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["keep.pts"]  # no temp file left


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 70), st.just(2)), elements=st.floats(-1e4, 1e4)))
def test_fast_and_line_by_line_parsers_agree(lm):
    text = format_pts(lm)
    fast = parse_pts(text)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pts_module, "_parse_fast", lambda *a: None)
        slow = parse_pts(text)
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_allclose(fast, lm, rtol=0, atol=1e-9 * (1 + np.abs(lm).max()))
