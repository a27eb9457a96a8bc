"""``otmark detect`` with its own face finder: no face, one chosen face, ``--all-faces``."""

import cv2
import numpy as np
import pytest

from otmark.cli.main import main
from otmark.inference import dlib_available, haar_available, read_results_json
from otmark.synth.domains import get_domain
from otmark.synth.generate import synth_face

SCHEME = "300w"
CODEC = {"input_size": 64, "heatmap_size": 16, "sigma": 1.5, "decoder": "get_max"}


@pytest.mark.skipif(
    not (haar_available() or dlib_available()), reason="no face finder can run here"
)
def test_photo_without_a_face_gives_no_faces_a_warning_and_exit_0(tmp_path, ckpt, capsys):
    img = tmp_path / "wall.png"
    cv2.imwrite(str(img), np.full((120, 160, 3), 128, dtype=np.uint8))
    out = tmp_path / "out"
    assert main(["detect", str(img), "--checkpoint", str(ckpt), "--out", str(out)]) == 0
    _, results = read_results_json(out / "landmarks.json")
    assert [r.faces for r in results] == [[]]
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "no face found" in line]
    assert len(warnings) == 1 and "faces: []" in warnings[0]


@pytest.mark.skipif(not dlib_available(), reason="dlib not installed (otmark[faces])")
def test_one_face_by_default_all_with_all_faces(tmp_path, ckpt):
    canvas = np.full((300, 460, 3), 120, dtype=np.uint8)
    big = synth_face(get_domain("300w"), np.random.default_rng(0), (SCHEME,), (256, 256))
    small = synth_face(get_domain("300w"), np.random.default_rng(2), (SCHEME,), (128, 128))
    canvas[20:276, 190:446] = big.image
    canvas[150:278, 10:138] = small.image
    img = tmp_path / "two.png"
    cv2.imwrite(str(img), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    counts = []
    for extra in ([], ["--all-faces"]):
        out = tmp_path / f"out{len(extra)}"
        args = ["detect", str(img), "--checkpoint", str(ckpt), "--finder", "dlib", "--out"]
        assert main([*args, str(out), "--no-overlay", *extra]) == 0
        _, (result,) = read_results_json(out / "landmarks.json")
        counts.append(len(result.faces))
        # the reported (or first) face is the large one on the right
        assert (result.faces[0].box[0] + result.faces[0].box[2]) / 2 > 230
    assert counts == [1, 2]


@pytest.mark.skipif(not haar_available(), reason="this OpenCV build has no Haar cascade")
def test_group_photo_all_faces_and_the_rule_that_chose(tmp_path, ckpt, capsys):
    from otmark.synth.group import group_photo

    photo = group_photo(np.random.default_rng(9), sides=(60, 96, 40), size=(250, 380), max_yaw=8)
    img = tmp_path / "group.png"
    cv2.imwrite(str(img), cv2.cvtColor(photo.image, cv2.COLOR_RGB2BGR))
    args = ["detect", str(img), "--checkpoint", str(ckpt), "--finder", "haar", "--no-overlay"]
    faces = {}
    for extra in ([], ["--all-faces", "--passes", "1"]):
        out = tmp_path / f"out{len(extra)}"
        assert main([*args, "--out", str(out), *extra]) == 0
        _, (result,) = read_results_json(out / "landmarks.json")
        faces[len(extra)] = result.faces
    assert len(faces[0]) == 1 and len(faces[3]) == 3
    centre = (photo.boxes[1, :2] + photo.boxes[1, 2:]) / 2  # the 96 px face
    for first in (faces[0][0], faces[3][0]):
        assert first.chosen_by == "size"
        assert first.box[0] < centre[0] < first.box[2] and first.box[1] < centre[1] < first.box[3]
    assert [f.chosen_by for f in faces[3][1:]] == [None, None]
    assert main([*args, "--out", str(tmp_path / "bad"), "--passes", "0"]) == 2
    assert "--passes must be >= 1" in capsys.readouterr().err
