"""otmark.datasets.check: each per-sample rule on hand-made samples (one fault at a time)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from otmark.datasets import ImageRef, Sample
from otmark.datasets.check import (
    MIN_IMAGE_SIDE,
    check_sample,
    check_samples,
    sample_location,
    truncated_image,
)
from otmark.schemes import get_scheme

W300 = get_scheme("300w")
I, J = W300.normaliser_indices


def _face(path: Path, size=(40, 50), seed=0) -> Sample:
    """A 300W sample with landmarks spread over the middle of a ``size`` = (H, W) image."""
    h, w = size
    rng = np.random.default_rng(seed)
    lm = np.stack([rng.uniform(5, w - 5, W300.num_points), rng.uniform(5, h - 5, W300.num_points)])
    lm = lm.T
    lm[I], lm[J] = [10.0, 12.0], [w - 10.0, 12.0]  # inter-ocular distance w - 20
    cv2.imwrite(str(path), np.full((h, w, 3), 128, np.uint8))
    return Sample(ImageRef(path), lm, "300w", id=path.stem)


def test_clean_sample_has_no_problem(tmp_path):
    assert check_sample(_face(tmp_path / "a.png")) == []
    assert check_sample(_face(tmp_path / "a.png"), decode=False) == []


@pytest.mark.parametrize("gap", [0.0, 0.5])
def test_interocular_zero_and_below_one_pixel(tmp_path, gap):
    s = _face(tmp_path / "a.png")
    s.landmarks[J] = s.landmarks[I] + [gap, 0.0]
    assert check_sample(s, decode=False) == [
        f"inter-ocular distance (points {I}, {J}) is {gap:g} px, below 1 px: the NME is undefined"
    ]


def test_interocular_small_relative_to_the_face(tmp_path):
    s = _face(tmp_path / "a.png")
    s.landmarks = s.landmarks * 5.0  # extent about 200 px: 2% is about 4 px
    s.landmarks[J] = s.landmarks[I] + [3.0, 0.0]
    [problem] = check_sample(s, decode=False)
    assert problem.startswith(f"inter-ocular distance (points {I}, {J}) is 3 px, below 0.02 of")
    s.landmarks = (s.landmarks - s.landmarks[I]) / 2.0  # extent about 100 px: 2% is 2 px
    s.landmarks[J] = s.landmarks[I] + [3.0, 0.0]
    assert check_sample(s, decode=False) == []


def test_box_normaliser(tmp_path):
    k = get_scheme("aflw").num_points
    lm = np.random.default_rng(1).uniform(5, 30, (k, 2))
    ref = ImageRef(tmp_path / "none.png")
    ok = Sample(ref, lm, "aflw", attributes={"box_size": 30.0})
    assert check_sample(ok, decode=False) == []
    zero = Sample(ref, lm, "aflw", attributes={"box_size": 0.0})
    assert check_sample(zero, decode=False) == ["box_size 0 px is below 1 px: the NME is undefined"]
    boxless = Sample(ref, lm, "aflw")
    assert "has none" in check_sample(boxless, decode=False)[0]
    flat = Sample(ref, lm, "aflw", box=np.array([5.0, 5.0, 5.0, 30.0]))
    problems = check_sample(flat, decode=False)
    assert any("no area" in p for p in problems) and any("face box size 0" in p for p in problems)


def test_bad_landmarks(tmp_path):
    s = _face(tmp_path / "a.png")
    s.landmarks[3, 1] = np.nan
    assert check_sample(s) == ["landmarks contain NaN or infinite values"]
    s.landmarks = np.ones((W300.num_points, 2))
    assert check_sample(s, decode=False) == ["all landmarks coincide: the face has no extent"]
    s.landmarks = np.ones((5, 2))
    assert "needs (68, 2)" in check_sample(s, decode=False)[0]


def test_landmark_range_is_one_image_size(tmp_path):
    s = _face(tmp_path / "a.png", size=(40, 50))
    s.landmarks[7] = [-50.0, 80.0]  # exactly one image size out on both axes: accepted
    assert check_sample(s) == []
    s.landmarks[7] = [-50.5, 80.0]
    assert check_sample(s) == [
        "1 landmark(s) more than one image size outside the 50x40 image, e.g. point 7 at "
        "(-50.5, 80)"
    ]
    assert check_sample(s, decode=False) == []  # the range needs the image size


def test_tiny_and_unreadable_images(tmp_path):
    s = _face(tmp_path / "a.png")
    side = MIN_IMAGE_SIDE - 1
    img = np.zeros((side, 30, 3), np.uint8)
    problems = check_sample(s, image=img)
    assert f"image is 30x{side} pixels, smaller than {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}" in problems
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((1, 1, 3), np.uint8))
    assert "image is 1x1 pixels" in check_sample(s)[0]
    (tmp_path / "a.png").write_bytes(b"not an image")
    assert check_sample(s) == ["not a readable image"]
    (tmp_path / "a.png").unlink()
    assert check_sample(s) == ["image file does not exist"]


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_image_found(tmp_path, suffix):
    path = tmp_path / f"a{suffix}"
    rng = np.random.default_rng(0)
    cv2.imwrite(str(path), rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    data = path.read_bytes()
    assert truncated_image(path) is None
    path.write_bytes(data + b"\x00\x00\n")  # padding after the end marker is fine
    assert truncated_image(path) is None
    path.write_bytes(data[: len(data) - 10])
    kind = "JPEG" if suffix == ".jpg" else "PNG"
    assert (
        truncated_image(path) == f"{kind} file is truncated (no end marker; {len(data) - 10} bytes)"
    )
    s = Sample(ImageRef(path), np.zeros((68, 2)), "300w")
    assert check_sample(s)[-1].startswith(f"{kind} file is truncated")


def test_check_samples_reads_videos_once_and_names_frames(tmp_path):
    path = tmp_path / "vid.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (48, 40))
    for i in range(4):
        writer.write(np.full((40, 48, 3), 40 * i, np.uint8))
    writer.release()
    base = _face(tmp_path / "still.png", size=(40, 48))
    samples = [
        Sample(ImageRef(path, frame=f), base.landmarks.copy(), "300w", id=f"v/{f}")
        for f in (0, 3, 6)  # frame 6 is beyond the 4 frames
    ]
    samples[1].landmarks[I] = samples[1].landmarks[J]
    problems = check_samples([base, *samples])
    assert problems == [
        (
            f"{path}@3",
            f"inter-ocular distance (points {I}, {J}) is 0 px, below 1 px: the NME is undefined",
        ),
        (
            f"{path}@6",
            "frame 6 could not be decoded: frames decoded 4, announced 4 (truncated video?)",
        ),
    ]
    assert sample_location(samples[0]) == f"{path}@0"
    assert sample_location(Sample(ImageRef(path, 2, "IsT"), base.landmarks, "300w")) == (
        f"{path}:IsT[2]"
    )
