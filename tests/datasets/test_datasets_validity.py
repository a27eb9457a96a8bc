"""otmark.datasets.validity: the per-sample check on hand-made samples, and the screen."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from otmark.datasets import ImageRef, Sample
from otmark.datasets.errors import DatasetError
from otmark.datasets.validity import sample_problem, screen_samples
from otmark.schemes import get_scheme

K = get_scheme("300w").num_points
I, J = get_scheme("300w").normaliser_indices


def _sample(tmp_path: Path, name: str, lm=None, size=(64, 48), scheme="300w", **kw) -> Sample:
    path = tmp_path / f"{name}.png"
    cv2.imwrite(str(path), np.full((size[1], size[0], 3), 90, np.uint8))
    if lm is None:
        rng = np.random.default_rng(0)
        lm = rng.uniform(10, 40, (K, 2))
    return Sample(ImageRef(path), np.asarray(lm, float), scheme, id=name, **kw)


def test_a_good_sample_passes(tmp_path):
    assert sample_problem(_sample(tmp_path, "ok")) is None


def test_each_problem_is_named(tmp_path):
    lm = np.random.default_rng(1).uniform(10, 40, (K, 2))
    zero = lm.copy()
    zero[J] = zero[I]
    assert "normaliser" in sample_problem(_sample(tmp_path, "z", zero))
    assert "is 0" in sample_problem(_sample(tmp_path, "z", zero))
    far = lm.copy()
    far[3] = (-70, 20)  # more than one 64-px image width left of the image
    assert "far outside the 64x48 image" in sample_problem(_sample(tmp_path, "far", far))
    near = lm.copy()
    near[3] = (-60, 20)  # less than one width outside: a face cut by the border is fine
    assert sample_problem(_sample(tmp_path, "near", near)) is None
    inf = lm.copy()
    inf[0, 0] = np.inf
    assert sample_problem(_sample(tmp_path, "inf", inf)) == "landmarks contain inf"
    assert sample_problem(_sample(tmp_path, "nan", np.full((K, 2), np.nan))).startswith("no land")
    assert "3x2 px" in sample_problem(_sample(tmp_path, "tiny", lm / 20, size=(3, 2)))
    bad = _sample(tmp_path, "bad")
    Path(bad.image.path).write_bytes(b"not an image")
    assert sample_problem(bad) == "not a readable image"
    assert sample_problem(bad, decode=False) is None
    gone = Sample(ImageRef(tmp_path / "gone.png"), lm, "300w", id="gone")
    assert sample_problem(gone) == "image file does not exist"


def test_box_scheme_normaliser_uses_box_size(tmp_path):
    k = get_scheme("aflw").num_points
    lm = np.random.default_rng(2).uniform(10, 40, (k, 2))
    assert sample_problem(_sample(tmp_path, "a", lm, scheme="aflw")) is None
    s = _sample(tmp_path, "b", lm, scheme="aflw", attributes={"box_size": 0.0})
    assert "normaliser" in sample_problem(s)


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
