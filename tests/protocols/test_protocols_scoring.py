from pathlib import Path

import numpy as np
import pytest

from otmark.datasets.records import ImageRef, Sample
from otmark.protocols.scoring import score
from otmark.schemes import convert, get_scheme


def _samples(lm, scheme, **kw):
    return [
        Sample(ImageRef(Path(f"{i}.png")), lm[i], scheme, id=f"s{i}", **kw) for i in range(len(lm))
    ]


def _face(scheme, n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(20, 180, (n, get_scheme(scheme).num_points, 2))


def test_same_scheme_zero_and_known_offset():
    gt = _face("300w", 3)
    i, j = get_scheme("300w").normaliser_indices
    iod = np.linalg.norm(gt[:, i] - gt[:, j], axis=-1)
    samples = _samples(gt, "300w")
    err, space = score(gt.copy(), "300w", samples)
    assert space == "300w" and err.shape == (3, get_scheme("300w").num_points)
    assert np.all(err == 0)
    # shift every prediction by (3, 4): error 5 / iod per landmark
    err, _ = score(gt + [3.0, 4.0], "300w", samples)
    np.testing.assert_allclose(err, np.repeat((5 / iod)[:, None], err.shape[1], axis=1))


def test_cross_dataset_300w_model_on_wflw_ground_truth():
    gt98 = _face("wflw", 2, seed=1)
    samples = _samples(gt98, "wflw")
    pred68 = convert(gt98, "wflw", "300w")  # a perfect 300W model
    err, space = score(pred68, "300w", samples)
    assert space == "300w" and err.shape == (2, get_scheme("300w").num_points)
    np.testing.assert_allclose(err, 0, atol=1e-12)
    # normaliser = the 68-point outer eye corners of the converted WFLW annotation, which are
    # WFLW points 60 and 72 (a selection): offset (6, 8) -> 10 / |gt98[60] - gt98[72]|
    err, _ = score(pred68 + [6.0, 8.0], "300w", samples)
    expected = 10 / np.linalg.norm(gt98[:, 60] - gt98[:, 72], axis=-1)
    np.testing.assert_allclose(err, np.repeat(expected[:, None], err.shape[1], axis=1))
    strict, _ = score(pred68, "300w", samples, strict=True)
    assert strict.shape == (2, get_scheme("300w").num_points - 8)  # eyelids dropped


def test_cofw_model_on_aflw_uses_box_size():
    gt19 = _face("aflw", 2, seed=2)
    samples = _samples(gt19, "aflw")
    for s, size in zip(samples, (50.0, 100.0)):
        s.attributes["box_size"] = size
    rng = np.random.default_rng(3)
    pred29 = rng.uniform(0, 200, (2, get_scheme("cofw").num_points, 2))
    err, space = score(pred29, "cofw", samples)
    assert space == "aflw"
    ref = np.linalg.norm(convert(pred29, "cofw", "aflw") - gt19, axis=-1) / np.array(
        [[50.0], [100.0]]
    )
    np.testing.assert_allclose(err, ref)


def test_shape_errors():
    gt = _face("cofw", 2)
    with pytest.raises(ValueError, match=r"predictions must be \(2, 29, 2\)"):
        score(gt[:, :-1], "cofw", _samples(gt, "cofw"))
    gt[1, 8] = gt[1, 9]  # zero inter-ocular distance on sample s1
    with pytest.raises(ValueError, match="id 's1'"):
        score(gt, "cofw", _samples(gt, "cofw"))
