"""otmark.datasets.validity: the screen over a split, and the rules it takes from
``check_sample`` (missing points, box normalisers) on hand-made samples."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from otmark.datasets import ImageRef, Sample
from otmark.datasets.check import check_sample
from otmark.datasets.errors import DatasetError
from otmark.datasets.validity import screen_samples
from otmark.schemes import get_scheme

K = get_scheme("300w").num_points
I, J = get_scheme("300w").normaliser_indices


def _sample(tmp_path: Path, name: str, lm=None, size=(64, 48), scheme="300w", id=None, **kw):
    path = tmp_path / f"{name}.png"
    cv2.imwrite(str(path), np.full((size[1], size[0], 3), 90, np.uint8))
    if lm is None:
        rng = np.random.default_rng(0)
        lm = rng.uniform(10, 40, (K, 2))
    return Sample(ImageRef(path), np.asarray(lm, float), scheme, id=id or name, **kw)


def _problem(sample, **kw) -> str | None:
    """The problems the screen reports for one sample (None when it keeps it)."""
    return "; ".join(check_sample(sample, **kw)) or None


def test_a_good_sample_passes(tmp_path):
    assert _problem(_sample(tmp_path, "ok")) is None


def test_each_problem_is_named(tmp_path):
    lm = np.random.default_rng(1).uniform(10, 40, (K, 2))
    zero = lm.copy()
    zero[J] = zero[I]
    assert "inter-ocular distance" in _problem(_sample(tmp_path, "z", zero))
    assert "is 0 px" in _problem(_sample(tmp_path, "z", zero))
    far = lm.copy()
    far[3] = (-70, 20)  # more than one 64-px image width left of the image
    assert "outside the 64x48 image" in _problem(_sample(tmp_path, "far", far))
    near = lm.copy()
    near[3] = (-60, 20)  # less than one width outside: a face cut by the border is fine
    assert _problem(_sample(tmp_path, "near", near)) is None
    inf = lm.copy()
    inf[0, 0] = np.inf
    assert _problem(_sample(tmp_path, "inf", inf)) == "landmarks contain NaN or infinite values"
    assert _problem(_sample(tmp_path, "inf", inf), missing_ok=True) == (
        "landmarks contain infinite values"
    )
    nan = _sample(tmp_path, "nan", np.full((K, 2), np.nan))
    assert _problem(nan, missing_ok=True).startswith("no landmark is annotated")
    assert "3x2 pixels" in _problem(_sample(tmp_path, "tiny", lm / 20, size=(3, 2)))
    bad = _sample(tmp_path, "bad")
    Path(bad.image.path).write_bytes(b"not an image")
    assert _problem(bad) == "not a readable image"
    assert _problem(bad, decode=False) is None
    gone = Sample(ImageRef(tmp_path / "gone.png"), lm, "300w", id="gone")
    assert _problem(gone) == "image file does not exist"


def test_missing_points_only_where_allowed(tmp_path):
    """NaN in x and y marks a missing point for training; scoring needs every point."""
    lm = np.random.default_rng(1).uniform(10, 40, (K, 2))
    lm[[5, 9]] = np.nan
    s = _sample(tmp_path, "miss", lm)
    assert _problem(s, missing_ok=True) is None
    assert _problem(s) == "landmarks contain NaN or infinite values"
    half = lm.copy()
    half[5] = (12.0, np.nan)
    assert _problem(_sample(tmp_path, "half", half), missing_ok=True).startswith(
        "point 5 has one NaN coordinate"
    )
    eye = np.random.default_rng(1).uniform(10, 40, (K, 2))
    eye[I] = np.nan
    assert "an eye corner is missing" in _problem(_sample(tmp_path, "eye", eye), missing_ok=True)
    far = lm.copy()
    far[3] = (-70, 20)  # the range check still sees the annotated points
    assert "outside the 64x48 image" in _problem(_sample(tmp_path, "f", far), missing_ok=True)


def test_box_scheme_normaliser_uses_box_size(tmp_path):
    k = get_scheme("aflw").num_points
    lm = np.random.default_rng(2).uniform(10, 40, (k, 2))
    ok = _sample(tmp_path, "a", lm, scheme="aflw", attributes={"box_size": 30.0})
    assert _problem(ok) is None
    s = _sample(tmp_path, "b", lm, scheme="aflw", attributes={"box_size": 0.0})
    assert "box_size 0 px is below 1 px" in _problem(s)
    # no box_size and no face box: the validation NME would have no normaliser
    assert "has none" in _problem(_sample(tmp_path, "c", lm, scheme="aflw"))


def test_screen_raise_skip_and_fraction(tmp_path):
    samples = [_sample(tmp_path, f"s{i}") for i in range(10)]
    Path(samples[4].image.path).write_bytes(b"")
    with pytest.raises(DatasetError) as err:
        screen_samples(samples, "split x", "raise", log=lambda _: None)
    assert err.value.path.startswith(str(samples[4].image.path))
    lines = []
    res = screen_samples(samples, "split x", "skip", 0.1, log=lines.append)
    assert res.samples == samples[:4] + samples[5:]
    assert res.skipped == [(str(samples[4].image.path), "not a readable image")]
    assert lines[-1] == "split x: skipped 1 of 10 samples (10.0%)"
    with pytest.raises(DatasetError, match="more than data.max_bad_fraction = 0.05"):
        screen_samples(samples, "split x", "skip", 0.05, log=lambda _: None)


def test_screen_names_faces_of_one_image_by_id_and_keeps_missing_points_if_asked(tmp_path):
    a = _sample(tmp_path, "img", id="face-a")
    b = _sample(tmp_path, "img", id="face-b")
    b.landmarks[[2, 7]] = np.nan
    c = _sample(tmp_path, "img", id="face-c")
    c.landmarks[J] = c.landmarks[I]
    lines = []
    res = screen_samples([a, b, c], "split y", "skip", 1.0, log=lines.append)
    where = str(a.image.path)
    assert res.samples == [a]
    assert res.skipped == [
        (f"{where} (id face-b)", "landmarks contain NaN or infinite values"),
        (f"{where} (id face-c)", f"inter-ocular distance (points {I}, {J}) is 0 px, below 1 px: "
         "the NME is undefined"),
    ]  # fmt: skip
    res = screen_samples([a, b, c], "split y", "skip", 1.0, log=lines.append, missing_ok=True)
    assert res.samples == [a, b] and [w for w, _ in res.skipped] == [f"{where} (id face-c)"]


def test_screen_decodes_video_frames(tmp_path):
    """Video frames are checked too (each video read once): a frame beyond the end is named."""
    path = tmp_path / "vid.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for _ in range(3):
        writer.write(np.full((48, 64, 3), 90, np.uint8))
    writer.release()
    lm = np.random.default_rng(0).uniform(10, 40, (K, 2))
    frames = [Sample(ImageRef(path, frame=f), lm, "300w", id=f"v/{f}") for f in (0, 2, 5)]
    res = screen_samples(frames, "split v", "skip", 1.0, log=lambda _: None)
    assert res.samples == frames[:2]
    assert res.skipped == [
        (f"{path}@5 (id v/5)", "frame 5 could not be decoded: frames decoded 3, announced 3 "
         "(truncated video?)"),
    ]  # fmt: skip
