import json
from pathlib import Path

import numpy as np
import pytest

from otmark.baselines import MeanShape, from_box_frame, tight_boxes, to_box_frame
from otmark.datasets.records import ImageRef, Sample
from otmark.schemes import get_scheme

SCHEME = "17"
K = get_scheme(SCHEME).num_points


def _samples(shapes, boxes, with_box=True):
    lm = from_box_frame(shapes, boxes)
    return [
        Sample(
            image=ImageRef(Path(f"img{i}.png")),
            landmarks=lm[i],
            scheme=SCHEME,
            box=boxes[i] if with_box else None,
            id=f"img{i}",
        )
        for i in range(len(boxes))
    ]


def _boxes(rng, n):
    # integer boxes, so HRNet's floor/ceil tight box of a shape spanning it is the box itself
    xy = rng.integers(0, 100, (n, 2)).astype(float)
    wh = rng.integers(40, 120, (n, 2)).astype(float)
    return np.concatenate([xy, xy + wh], axis=1)


def test_box_frame_round_trip_and_unit_square():
    rng = np.random.default_rng(0)
    boxes = _boxes(rng, 3)
    lm = rng.uniform(0, 200, (3, K, 2))
    np.testing.assert_allclose(from_box_frame(to_box_frame(lm, boxes), boxes), lm)
    # the box corners map to (0, 0) and (1, 1)
    corners = boxes.reshape(3, 2, 2)
    np.testing.assert_allclose(to_box_frame(corners, boxes), [[[0, 0], [1, 1]]] * 3)


def test_fit_recovers_mean_and_predicts_in_new_boxes():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.1, 0.9, (K, 2))
    noise = rng.normal(0, 0.02, (6, K, 2))
    noise -= noise.mean(axis=0)  # zero-mean: the fitted mean is exactly `base`
    train = _samples(base + noise, _boxes(rng, 6))
    model = MeanShape.fit(train, box_source="box")
    assert model.box_source == "box" and model.num_samples == 6 and model.scheme == SCHEME
    np.testing.assert_allclose(model.mean, base, atol=1e-12)
    test_boxes = _boxes(rng, 4)
    test = _samples(np.repeat(base[None], 4, axis=0), test_boxes)
    pred = model.predict(test)
    assert pred.shape == (4, K, 2)
    np.testing.assert_allclose(pred, np.stack([s.landmarks for s in test]), atol=1e-9)
    # hand-worked: unit-square point (0.5, 0.25) in box (10, 20, 30, 60) -> (20, 30)
    single = MeanShape(SCHEME, np.full((K, 2), [0.5, 0.25]), "box", 1)
    np.testing.assert_allclose(single.predict_boxes(np.array([10, 20, 30, 60]))[0, 0], [20, 30])


def test_box_source_box_falls_back_to_tight_box_per_sample():
    rng = np.random.default_rng(5)
    base = rng.uniform(0.0, 1.0, (K, 2))
    base = (base - base.min(0)) / (base.max(0) - base.min(0))
    boxes = _boxes(rng, 2)
    samples = _samples(np.repeat(base[None], 2, axis=0), boxes)
    samples[1].box = None
    given = np.array([0.0, 0.0, 500.0, 500.0])
    samples[0].box = given
    from otmark.baselines.mean_shape import sample_boxes

    np.testing.assert_allclose(sample_boxes(samples, "box"), [given, boxes[1]])
    np.testing.assert_allclose(sample_boxes(samples), boxes)


def test_tight_boxes_used_when_dataset_has_none():
    rng = np.random.default_rng(2)
    base = rng.uniform(0.0, 1.0, (K, 2))
    base = (base - base.min(0)) / (base.max(0) - base.min(0))  # tight box = unit square
    boxes = _boxes(rng, 5)
    train = _samples(np.repeat(base[None], 5, axis=0), boxes, with_box=False)
    np.testing.assert_allclose(tight_boxes(np.stack([s.landmarks for s in train])), boxes)
    model = MeanShape.fit(train)
    assert model.box_source == "landmarks"
    np.testing.assert_allclose(model.mean, base, atol=1e-12)
    np.testing.assert_allclose(model.predict(train), np.stack([s.landmarks for s in train]))


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    model = MeanShape.fit(_samples(rng.uniform(0, 1, (3, K, 2)), _boxes(rng, 3)), "box")
    path = model.save(tmp_path / "sub" / "mean_shape.json")
    assert [p.name for p in path.parent.iterdir()] == ["mean_shape.json"]  # no temp file left
    loaded = MeanShape.load(path)
    np.testing.assert_array_equal(loaded.mean, model.mean)
    assert (loaded.scheme, loaded.box_source, loaded.num_samples) == (SCHEME, "box", 3)


def test_bad_files_and_inputs(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        MeanShape.load(bad)
    bad.write_text(
        json.dumps(
            {
                "format": "otmark-mean-shape",
                "version": 1,
                "scheme": SCHEME,
                "mean": [[0, 0]] * (K - 1),
            }
        )
    )
    with pytest.raises(ValueError, match=f"bad.json: {K - 1} points for scheme"):
        MeanShape.load(bad)
    with pytest.raises(ValueError, match="no training samples"):
        MeanShape.fit([])
    rng = np.random.default_rng(4)
    samples = _samples(rng.uniform(0, 1, (2, K, 2)), _boxes(rng, 2))
    samples[1].box = np.array([5.0, 5.0, 5.0, 9.0])
    with pytest.raises(ValueError, match="'img1': degenerate face box"):
        MeanShape.fit(samples, box_source="box")
    with pytest.raises(ValueError, match="box_source"):
        MeanShape.fit(samples, box_source="face")
