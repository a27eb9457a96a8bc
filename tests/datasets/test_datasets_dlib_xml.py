"""dlib imglab XML reader and the 300W test layout, on a hand-made XML and a generated face."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from otmark.datasets import DatasetError, load
from otmark.datasets.dlib_xml import dlib_samples, read_dlib_xml, write_as_300w_test
from otmark.datasets.fileio import write_image
from otmark.protocols import build_protocol, evaluate_predictions, from_arrays, get_protocol_spec
from otmark.schemes import get_scheme
from otmark.synth.domains import get_domain
from otmark.synth.generate import synth_face

K = get_scheme("300w").num_points


def _box_xml(left, top, w, h, points, extra="") -> str:
    parts = "".join(
        f"<part name='{i:02d}' x='{x:g}' y='{y:g}'/>\n" for i, (x, y) in enumerate(points)
    )
    return f"<box top='{top}' left='{left}' width='{w}' height='{h}'{extra}>\n{parts}</box>\n"


def _xml(images: list[tuple[str, str]]) -> str:
    body = "".join(f"<image file='{name}'>\n{boxes}</image>\n" for name, boxes in images)
    return (
        "<?xml version='1.0' encoding='ISO-8859-1'?>\n<dataset><name>t</name>\n"
        f"<images>\n{body}</images></dataset>\n"
    )


@pytest.fixture
def face_folder(tmp_path: Path):
    """A generated face image, its integer landmarks and a hand-made XML with 3 boxes on it:
    a labelled one, an ignored one and a plain detection box (no parts)."""
    r = synth_face(get_domain("300w"), np.random.default_rng(3), ("300w",), (96, 128))
    write_image(tmp_path / "face.png", r.image)
    pts = np.round(r.landmarks["300w"])
    xml = _xml(
        [
            (
                "face.png",
                _box_xml(10, 20, 30, 40, pts)
                + _box_xml(1, 2, 3, 4, pts, extra=" ignore='1'")
                + "<box top='5' left='6' width='7' height='8'/>\n",
            )
        ]
    )
    (tmp_path / "faces.xml").write_text(xml, encoding="iso-8859-1")
    return tmp_path, r.image, pts


def test_reader_keeps_boxes_parts_and_the_box_convention(face_folder):
    folder, _, pts = face_folder
    (img,) = read_dlib_xml(folder / "faces.xml")
    assert img.path == folder / "face.png"
    assert len(img.boxes) == 3
    # dlib box left=10 width=30 covers pixels 10..39: edges at 9.5 and 39.5
    np.testing.assert_array_equal(img.boxes[0].box, [9.5, 19.5, 39.5, 59.5])
    assert img.boxes[0].parts["00"] == tuple(pts[0])
    assert img.boxes[1].ignore and not img.boxes[0].ignore
    assert img.boxes[2].parts == {}


def test_samples_are_the_labelled_unignored_boxes_in_ibug_order(face_folder):
    folder, image, pts = face_folder
    (s,) = dlib_samples(folder / "faces.xml")
    assert s.id == "face_00" and s.scheme == "300w"
    np.testing.assert_array_equal(s.landmarks, pts)  # part i -> row i, no offset
    np.testing.assert_array_equal(s.load_image(), image)
    assert len(dlib_samples(folder / "faces.xml", skip_ignored=False)) == 2


def test_layout_loads_as_300w_test_and_scores_zero_against_itself(face_folder, tmp_path):
    folder, image, pts = face_folder
    samples = dlib_samples(folder / "faces.xml", skip_ignored=False)
    root = tmp_path / "layout"
    written = write_as_300w_test(root, samples)
    assert [p.name for p in written] == ["face_00.pts", "face_01.pts"]
    assert (root / "300W" / "02_Outdoor").is_dir()
    loaded = load("300w", root, "test")
    assert [s.id for s in loaded] == ["300W/01_Indoor/face_00", "300W/01_Indoor/face_01"]
    for s in loaded:  # round trip through .pts (1-based on disk) and lossless .png
        np.testing.assert_allclose(s.landmarks, pts, atol=1e-9)
        np.testing.assert_array_equal(s.load_image(), image)
    protocol = build_protocol(get_protocol_spec("300w-test"), root)
    exact = from_arrays(protocol.ids, [pts] * len(protocol.ids), "300w")
    assert evaluate_predictions(protocol, exact).summary["NME"] == pytest.approx(0.0, abs=1e-9)
    shifted = from_arrays(protocol.ids, [pts + [3.0, 4.0]] * len(protocol.ids), "300w")
    iod = np.linalg.norm(pts[36] - pts[45])  # 300W: outer eye corners
    nme = evaluate_predictions(protocol, shifted).summary["NME"]
    assert nme == pytest.approx(100 * 5.0 / iod, rel=1e-9)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("<dataset><images><image file='a.png'><box top='1' left='2' width='3'/>", "malformed"),
        (_xml([("a.png", "<box top='1' left='2' width='3'/>")]), "missing attribute 'height'"),
        (_xml([("a.png", "<box top='1' left='x' width='3' height='3'/>")]), "not a number"),
        (_xml([("a.png", "<box top='1' left='2' width='0' height='3'/>")]), "must be > 0"),
        ("<other/>", "not a dlib imglab dataset"),
    ],
)
def test_bad_xml_names_the_file_and_the_problem(tmp_path, text, problem):
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(DatasetError, match=problem) as info:
        read_dlib_xml(path)
    assert str(path) in str(info.value)


def test_wrong_part_count_is_an_error(tmp_path):
    path = tmp_path / "few.xml"
    path.write_text(_xml([("a.png", _box_xml(0, 0, 5, 5, np.zeros((K - 1, 2))))]))
    with pytest.raises(DatasetError, match=f"expected parts 0..{K - 1}"):
        dlib_samples(path)
    with pytest.raises(DatasetError, match="does not exist"):
        read_dlib_xml(tmp_path / "missing.xml")
