"""Label adaptation: per-point offsets in each face's frame, fitted on labelled faces."""

from __future__ import annotations

import json

import numpy as np
import pytest

from otmark.inference.label_adapt import PointOffsets, leave_one_out
from otmark.schemes import get_scheme

K = get_scheme("300w").num_points


def rot(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, s], [-s, c]])  # row vectors: p @ rot(theta)


def faces(n: int, seed: int, noise: float = 0.0):
    """Predictions of ``n`` faces (a template under random similarities, plus shape noise) and
    labels = predictions + a known per-point offset ``D`` moved by the same similarity."""
    rng = np.random.default_rng(seed)
    template = np.random.default_rng(99).normal(size=(K, 2))
    offsets = 0.05 * np.random.default_rng(7).normal(size=(K, 2))
    preds, labels = [], []
    for _ in range(n):
        s, theta, c = rng.uniform(20, 80), rng.uniform(-0.6, 0.6), rng.uniform(0, 300, 2)
        shape = template + noise * rng.normal(size=(K, 2))
        p = c + s * shape @ rot(theta)
        preds.append(p)
        labels.append(p + s * offsets @ rot(theta))
    return np.array(preds), np.array(labels)


def test_recovers_a_known_offset_exactly_without_noise():
    p, lab = faces(10, 0)
    m = PointOffsets.fit(p, lab, ridge=0.0)
    q, lab_q = faces(5, 1)  # other faces, other positions, sizes and rotations
    np.testing.assert_allclose(m.apply(q), lab_q, atol=1e-9)


def test_with_shape_noise_most_of_the_error_goes():
    p, lab = faces(40, 0, noise=0.05)
    q, lab_q = faces(20, 1, noise=0.05)
    m = PointOffsets.fit(p, lab, ridge=0.0)
    before = np.linalg.norm(q - lab_q, axis=-1).mean()
    after = np.linalg.norm(m.apply(q) - lab_q, axis=-1).mean()
    assert after < 0.2 * before


def test_ridge_shrinks_towards_no_change():
    p, lab = faces(6, 0)
    full = PointOffsets.fit(p, lab, ridge=0.0)
    half = PointOffsets.fit(p, lab, ridge=6.0)  # 6 pseudo-faces with zero offset
    np.testing.assert_allclose(half.offsets, full.offsets / 2, atol=1e-12)


def test_equivariant_under_similarities():
    p, lab = faces(8, 0, noise=0.05)
    m = PointOffsets.fit(p, lab)
    q = faces(1, 3, noise=0.05)[0][0]
    moved = 1.7 * q @ rot(0.4) + [5.0, -3.0]
    np.testing.assert_allclose(m.apply(moved), 1.7 * m.apply(q) @ rot(0.4) + [5.0, -3.0], atol=1e-9)


def test_leave_one_out_never_uses_the_scored_face():
    p, lab = faces(6, 0, noise=0.05)
    out = leave_one_out(p, lab)
    for i in range(len(p)):
        keep = np.arange(len(p)) != i
        np.testing.assert_allclose(out[i], PointOffsets.fit(p[keep], lab[keep]).apply(p[i]))
    lab2 = lab.copy()
    lab2[2] += 50.0  # a wild label of face 2 changes every face's map but its own
    out2 = leave_one_out(p, lab2)
    np.testing.assert_allclose(out2[2], out[2])
    assert not np.allclose(out2[0], out[0])


def test_dict_round_trip_through_json():
    p, lab = faces(5, 0, noise=0.05)
    m = PointOffsets.fit(p, lab, ridge=2.0)
    back = PointOffsets.from_dict(json.loads(json.dumps(m.to_dict())))
    np.testing.assert_allclose(back.apply(p), m.apply(p))
    assert back.faces == 5 and back.ridge == 2.0


def test_bad_input():
    p, lab = faces(3, 0)
    with pytest.raises(ValueError, match=r"\(N, K, 2\)"):
        PointOffsets.fit(p, lab[:, :-1])
    with pytest.raises(ValueError, match="kind"):
        PointOffsets.from_dict({"kind": "affine"})
    with pytest.raises(ValueError, match="do not match"):
        PointOffsets.fit(p, lab).apply(p[:, :-1])
    with pytest.raises(ValueError, match="at least 2"):
        leave_one_out(p[:1], lab[:1])
    with pytest.raises(ValueError, match="zero scale"):
        PointOffsets.fit(np.zeros_like(p), lab)


def test_a_collapsed_shape_is_left_unchanged():
    p, lab = faces(3, 0)
    m = PointOffsets.fit(p, lab)
    q = np.concatenate([np.full((1, K, 2), 12.5), p[:1]])
    out = m.apply(q)
    np.testing.assert_array_equal(out[0], q[0])
    np.testing.assert_allclose(out[1], m.apply(p[0]))


def test_detector_applies_the_map():
    import torch

    from otmark.heatmaps import HeatmapCodec
    from otmark.inference import Detector

    codec = HeatmapCodec(input_size=32, heatmap_size=8, sigma=1.0, decoder="get_max")
    heat = torch.rand(1, K, 8, 8, generator=torch.Generator().manual_seed(0))

    def backend(x):
        return heat.expand(x.shape[0], -1, -1, -1)

    p, lab = faces(5, 0, noise=0.05)
    m = PointOffsets.fit(p, lab)
    img = np.zeros((40, 40, 3), np.uint8)
    box = np.array([[4.0, 4.0, 36.0, 36.0]])
    plain = Detector(backend, "300w", codec).predict(img, box)
    adapted = Detector(backend, "300w", codec, adapt=m).predict(img, box)
    np.testing.assert_allclose(adapted, m.apply(plain))
    assert not np.allclose(adapted, plain)
