import numpy as np
import pytest

from otmark.metrics import landmark_errors, nme, per_image_nme


def test_hand_worked_errors_and_nme():
    # image 0: offsets (3,4) -> 5 and (0,0) -> 0, normaliser 10 -> errors 0.5, 0.0
    # image 1: offsets (6,8) -> 10 and (1,0) -> 1, normaliser 20 -> errors 0.5, 0.05
    gt = np.zeros((2, 2, 2))
    pred = np.array([[[3.0, 4.0], [0.0, 0.0]], [[6.0, 8.0], [1.0, 0.0]]])
    err = landmark_errors(pred, gt, np.array([10.0, 20.0]))
    np.testing.assert_allclose(err, [[0.5, 0.0], [0.5, 0.05]])
    # per-image NME: 0.25 and 0.275; dataset NME: 0.2625
    np.testing.assert_allclose(per_image_nme(err), [0.25, 0.275])
    assert nme(err) == pytest.approx(0.2625)


def test_errors_are_translation_invariant_and_scale_with_normaliser():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 100, (4, 5, 2))
    pred = gt + rng.normal(0, 2, gt.shape)
    e1 = landmark_errors(pred, gt, np.full(4, 10.0))
    e2 = landmark_errors(pred + 7.0, gt + 7.0, np.full(4, 20.0))
    np.testing.assert_allclose(e1, 2 * e2)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf])
def test_bad_normaliser_names_sample_index_and_id(bad):
    gt = np.zeros((3, 2, 2))
    norm = np.array([1.0, 1.0, bad])
    with pytest.raises(ValueError, match=r"sample 2 \(id 'img_c'\)"):
        landmark_errors(gt, gt, norm, ids=["img_a", "img_b", "img_c"])
    with pytest.raises(ValueError, match="sample 2"):
        landmark_errors(gt, gt, norm)


def test_shape_mismatch_rejected():
    with pytest.raises(ValueError, match="does not match"):
        landmark_errors(np.zeros((2, 3, 2)), np.zeros((2, 4, 2)), np.ones(2))
    with pytest.raises(ValueError, match="normaliser has 1 values for 2"):
        landmark_errors(np.zeros((2, 3, 2)), np.zeros((2, 3, 2)), np.ones(1))
