"""The crop geometry against hand-worked matrices and cv2's own sampling."""

import numpy as np
import pytest

from otmark.transforms import (
    apply_affine,
    centre_scale_from_box,
    centre_scale_from_landmarks,
    compose,
    crop_matrix,
    crop_to_heatmap_matrix,
    crop_to_image,
    heatmap_to_crop_matrix,
    invert_affine,
    tight_box,
    unflip_landmarks,
    warp_image,
)


def test_hand_worked_box_to_matrix():
    # box 160 px wide -> scale 1.25 * 160 / 200 = 1.0 -> the crop covers 200 px;
    # 256 / 200 = 1.28 and the box centre (80, 80) lands on the crop centre 127.5.
    centre, scale = centre_scale_from_box([0, 0, 160, 160])
    np.testing.assert_allclose(centre, [80, 80])
    assert scale == pytest.approx(1.0)
    m = crop_matrix(centre, scale, 256)
    np.testing.assert_allclose(m, [[1.28, 0, 127.5 - 102.4], [0, 1.28, 25.1]], atol=1e-12)
    # the covered square [80 - 100, 80 + 100] maps to the crop's outer pixel edges
    np.testing.assert_allclose(
        apply_affine([[-20, -20], [180, 180]], m), [[-0.5, -0.5], [255.5] * 2]
    )


def test_hand_worked_landmark_box():
    lm = np.array([[10.2, 20.7], [50.5, 60.1], [np.nan, np.nan]])
    np.testing.assert_array_equal(tight_box(lm), [10, 20, 51, 61])
    centre, scale = centre_scale_from_landmarks(lm)
    np.testing.assert_allclose(centre, [30.5, 40.5])
    assert scale == pytest.approx(1.25 * 41 / 200)


def test_rotation_and_flip_matrices_by_hand():
    # N = 3 and scale 3/200 give s = 1: the crop is the image around the centre, re-centred at 1
    m = crop_matrix([0, 0], 3 / 200, 3, rotation=90)
    np.testing.assert_allclose(m, [[0, 1, 1], [-1, 0, 1]], atol=1e-12)
    # a point right of the centre goes up on screen (counter-clockwise, y pointing down)
    np.testing.assert_allclose(apply_affine([1, 0], m), [1, 0], atol=1e-12)
    f = crop_matrix([2, 2], 5 / 200, 5, flip=True)
    np.testing.assert_allclose(f, [[-1, 0, 4], [0, 1, 0]], atol=1e-12)


def test_heatmap_half_pixel_offsets():
    hc = heatmap_to_crop_matrix(256, 64)
    # heatmap pixel 0 covers crop pixels 0..3, whose centre is 1.5; the outer edges coincide
    np.testing.assert_allclose(
        apply_affine([[0, 0], [-0.5, 63.5]], hc), [[1.5, 1.5], [-0.5, 255.5]]
    )
    np.testing.assert_allclose(compose(crop_to_heatmap_matrix(256, 64), hc), np.eye(3)[:2])
    # non-integer stride
    np.testing.assert_allclose(
        apply_affine([[-0.5, 47.5]], heatmap_to_crop_matrix(100, 48)), [[-0.5, 99.5]], atol=1e-12
    )


@pytest.mark.parametrize("rotation,flip", [(0, False), (90, False), (-90, True), (180, True)])
def test_image_warp_agrees_with_point_map(rotation, flip):
    # s = 1 and right angles map pixel centres onto pixel centres: the bright pixel must land
    # exactly where apply_affine sends its coordinate.
    img = np.zeros((20, 30, 3), np.uint8)
    img[3, 7] = (255, 128, 1)
    m = crop_matrix([10, 9], 17 / 200, 17, rotation=rotation, flip=flip)
    crop = warp_image(img, m, 17)
    x, y = np.rint(apply_affine([7, 3], m)).astype(int)
    assert crop.shape == (17, 17, 3)
    np.testing.assert_array_equal(crop[y, x], [255, 128, 1])
    assert crop.sum() == 255 + 128 + 1


def test_warp_bilinear_half_pixel():
    # a 2x zoom: crop pixel centres fall between image pixel centres (pixel-centre convention)
    img = np.tile(np.arange(8, dtype=np.float32) * 10, (8, 1))  # value = 10 * x
    m = crop_matrix([3.5, 3.5], 8 / 200, 16)  # 8 image px -> 16 crop px
    crop = warp_image(img, m, 16)
    inv = invert_affine(m)
    xs = apply_affine(np.stack([np.arange(16), np.full(16, 8)], 1), inv)[:, 0]
    inner = (xs >= 0) & (xs <= 7)
    np.testing.assert_allclose(crop[8, inner], 10 * xs[inner], atol=1e-3)


def test_inverse_and_batched_apply():
    rng = np.random.default_rng(0)
    ms = np.stack(
        [
            crop_matrix(
                rng.uniform(0, 100, 2), rng.uniform(0.2, 2), 64, rng.uniform(-30, 30), bool(i % 2)
            )
            for i in range(4)
        ]
    )
    pts = rng.uniform(0, 100, (4, 5, 2))
    out = apply_affine(pts, ms)
    for b in range(4):
        np.testing.assert_allclose(out[b], apply_affine(pts[b], ms[b]))
        np.testing.assert_allclose(apply_affine(out[b], invert_affine(ms[b])), pts[b], atol=1e-9)


def test_unflip_and_crop_to_image():
    perm = np.array([2, 1, 0, 4, 3])
    pts = np.arange(10.0).reshape(5, 2)
    flipped = pts[perm]
    np.testing.assert_array_equal(unflip_landmarks(flipped, perm), pts)
    m = crop_matrix([5, 5], 0.1, 20, rotation=10, flip=True)
    crop_pts = apply_affine(pts, m)[perm]
    np.testing.assert_allclose(crop_to_image(crop_pts, invert_affine(m), perm), pts, atol=1e-9)


def test_bad_inputs_are_reported():
    with pytest.raises(ValueError, match="box"):
        centre_scale_from_box([0, 0, 1])
    with pytest.raises(ValueError, match="empty"):
        centre_scale_from_box([5, 5, 5, 5])
    with pytest.raises(ValueError, match="finite landmark"):
        centre_scale_from_landmarks(np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="scale"):
        crop_matrix([0, 0], 0.0, 64)
