"""One check of images and face boxes for ``otmark detect`` and the Python API.

Reproductions: ``Detector.predict`` with a box wholly outside the image returned landmarks in
the padding (the CLI refused the same box); a 1x1 image with ``--box`` returned landmarks where
``--whole-image`` refused it as smaller than 8x8; ``Detector.predict`` on a 0x0 image raised
OpenCV's ``warpAffine`` assertion; a dangling symbolic link in an input folder was dropped
without being listed as skipped. Now both apply
:func:`otmark.inference.boxes.check_face_boxes` with the same messages, before the model runs,
and whatever is skipped is listed with its reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from otmark.datasets.check import MIN_IMAGE_SIDE, image_size_problem
from otmark.heatmaps import HeatmapCodec
from otmark.inference import Detector, InputError, iter_frames
from otmark.inference.boxes import MIN_FACE_SIDE, check_face_boxes
from otmark.inference.pipeline import (
    check_boxes_overlap,
    fixed_boxes,
    run_detection,
    whole_image_boxes,
)
from otmark.inference.sources import Frame, InputReport

K = 68
CODEC = HeatmapCodec(input_size=32, heatmap_size=8)


class CountingBackend:
    """Heatmaps with one peak per landmark; counts the crops it is given."""

    def __init__(self) -> None:
        self.crops = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.crops += x.shape[0]
        h = torch.zeros((x.shape[0], K, 8, 8))
        h[:, :, 3, 4] = 1.0
        return h


def _detector(finder=None) -> tuple[Detector, CountingBackend]:
    backend = CountingBackend()
    finder = finder or (lambda image: np.zeros((0, 4)))
    return Detector(backend, "300w", CODEC, face_finder=finder), backend


def _image(h: int, w: int) -> np.ndarray:
    return np.full((h, w, 3), 120, np.uint8)


# --- the Python API applies the CLI's checks, with its messages -----------------------------


def test_box_wholly_outside_the_image_is_refused_like_the_cli():
    det, backend = _detector()
    image, box = _image(48, 64), np.array([[70.0, 10.0, 90.0, 30.0]])
    with pytest.raises(InputError) as api:
        det.predict(image, box)
    assert str(api.value) == "box 70,10,90,30 lies entirely outside the 64x48 image"
    with pytest.raises(InputError) as cli:  # what otmark detect --box runs per image
        check_boxes_overlap(box, Frame("face.png", None, image), "--box")
    assert str(cli.value) == "--box 70,10,90,30 lies entirely outside the 64x48 image face.png"
    assert backend.crops == 0  # refused before the model runs
    # a box reaching over an edge is fine (the image covers [-0.5, 63.5] x [-0.5, 47.5])
    assert det.predict(image, np.array([[40.0, -20.0, 90.0, 30.0]])).shape == (1, K, 2)
    assert det.predict(image, np.array([[63.4, 47.4, 80.0, 80.0]])).shape == (1, K, 2)
    with pytest.raises(InputError, match="lies entirely outside"):
        det.predict(image, np.array([[63.5, 0.0, 80.0, 30.0]]))


def test_image_smaller_than_the_minimum_with_a_box_is_refused_like_whole_image():
    det, backend = _detector()
    small = image_size_problem(1, 1)
    assert small == f"image is 1x1 pixels, smaller than {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}"
    with pytest.raises(InputError) as err:
        det.predict(_image(1, 1), np.array([[-10.0, -10.0, 10.0, 10.0]]))
    assert str(err.value) == small
    assert backend.crops == 0
    side = MIN_IMAGE_SIDE  # the minimum itself is used
    assert det.predict(_image(side, side), np.array([[-1.0, -1.0, 9.0, 9.0]])).shape == (1, K, 2)
    assert backend.crops > 0


def test_empty_image_is_refused_even_with_a_face_finder():
    det, backend = _detector(finder=lambda image: pytest.fail("the finder ran on no pixel"))
    for boxes in (None, np.array([[0.0, 0.0, 10.0, 10.0]])):
        with pytest.raises(InputError) as err:
            det.predict(np.zeros((0, 0, 3), np.uint8), boxes)
        assert str(err.value) == image_size_problem(0, 0)
    with pytest.raises(InputError, match=r"expected an \(H, W, 3\) uint8 RGB image"):
        det.predict(np.zeros((10, 10), np.uint8))
    assert backend.crops == 0


def test_small_image_with_a_face_finder_holds_no_face():
    det, backend = _detector()
    assert det.predict(_image(3, 3)).shape == (0, K, 2)  # like otmark detect: no face, exit 0
    assert backend.crops == 0


def test_face_box_below_the_minimum_face_is_refused():
    det, _ = _detector()
    side = MIN_FACE_SIDE
    with pytest.raises(InputError) as err:
        det.predict(_image(64, 64), np.array([[10.0, 10.0, 13.0, 14.0]]))
    assert str(err.value) == (
        f"box 10,10,13,14 is 4 pixels on its larger side, smaller than the {side}-pixel "
        "minimum face"
    )
    wide = np.array([[10.0, 10.0, 10.0 + side, 11.0]])  # the larger side decides the crop
    assert check_face_boxes(wide, _image(64, 64)).shape == (1, 4)


def test_cli_box_on_a_one_pixel_image(tmp_path):
    """``otmark detect --box`` (its box source and input reading) on a 1x1 image: refused with
    the --whole-image message, or skipped and listed with --on-error skip."""
    cv2.imwrite(str(tmp_path / "tiny.png"), np.zeros((1, 1, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "face.png"), _image(48, 64))
    det, _ = _detector()
    boxes = fixed_boxes(np.array([[4.0, 6.0, 40.0, 44.0]]))
    with pytest.raises(InputError) as err:
        run_detection(det, tmp_path / "tiny.png", tmp_path / "out", boxes, overlays=False)
    assert str(err.value) == f"{tmp_path / 'tiny.png'}: {image_size_problem(1, 1)}"
    run = run_detection(det, tmp_path, tmp_path / "out", boxes, overlays=False, on_error="skip")
    assert run.report.skipped == [("tiny.png", image_size_problem(1, 1))]
    assert [r.source for r in run.results] == ["face.png"]


# --- anything skipped is listed with its reason ---------------------------------------------


def test_dangling_symlink_in_a_folder_is_listed_as_skipped(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), _image(16, 16))
    gone = tmp_path / "gone.png"
    os.symlink(gone, folder / "b.png")
    reason = f"broken symbolic link (its target {gone} does not exist)"
    with pytest.raises(InputError) as err:
        list(iter_frames(folder))
    assert str(err.value) == f"{folder / 'b.png'}: {reason}"
    report = InputReport()
    assert [f.source for f in iter_frames(folder, on_error="skip", report=report)] == ["a.png"]
    assert report.skipped == [("b.png", reason)]
    det, _ = _detector()
    out = tmp_path / "out"
    run_detection(det, folder, out, whole_image_boxes, overlays=False, on_error="skip")
    doc = json.loads((out / "landmarks.json").read_text())
    assert doc["skipped"] == [{"source": "b.png", "reason": reason}]
    assert [item["source"] for item in doc["items"]] == ["a.png"]


def test_video_in_an_image_folder_is_listed_as_skipped(tmp_path):
    """A folder input reads its images; a video beside them is listed as skipped, not
    dropped without a word (it is read when given as an input of its own)."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), _image(16, 16))
    writer = cv2.VideoWriter(str(folder / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 5, (16, 16))
    for _ in range(2):
        writer.write(_image(16, 16)[..., ::-1].copy())
    writer.release()
    report = InputReport()
    assert [f.source for f in iter_frames(folder, report=report)] == ["a.png"]
    assert report.skipped == [("clip.avi", "a video: give it as an input of its own")]
    det, _ = _detector()
    out = tmp_path / "out"
    run_detection(det, folder, out, whole_image_boxes, overlays=False)
    doc = json.loads((out / "landmarks.json").read_text())
    assert doc["skipped"] == [
        {"source": "clip.avi", "reason": "a video: give it as an input of its own"}
    ]
    assert [item["source"] for item in doc["items"]] == ["a.png"]


def test_unreadable_file_is_an_input_error_naming_it(tmp_path, monkeypatch):
    from otmark.inference.sources import read_image

    path = tmp_path / "locked.png"
    cv2.imwrite(str(path), _image(16, 16))

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(np, "fromfile", denied)
    with pytest.raises(InputError) as err:
        read_image(path)
    assert str(err.value) == f"{path}: cannot be read (Permission denied)"
    assert Path(path).is_file()
