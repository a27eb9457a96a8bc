import math

import pytest
import torch

from otmark.heatmaps import decode, decode_barycenter, decode_max, render_gaussian


def _centres(n, size, margin, seed=0):
    g = torch.Generator().manual_seed(seed)
    return margin + torch.rand(1, n, 2, generator=g, dtype=torch.float64) * (size - 1 - 2 * margin)


def test_render_matches_closed_form_at_hand_picked_pixels():
    hm = render_gaussian(torch.tensor([[[3.25, 2.5]]]), (6, 8), sigma=1.5, truncate=None)
    assert hm.shape == (1, 1, 6, 8)
    # pixel (row 2, col 4) has its centre at (x, y) = (4, 2)
    expected = math.exp(-((4 - 3.25) ** 2 + (2 - 2.5) ** 2) / (2 * 1.5**2))
    assert hm[0, 0, 2, 4].item() == pytest.approx(expected, rel=1e-6)
    assert hm.max().item() <= 1.0


def test_render_normalized_sums_to_one_and_truncation_is_a_disc():
    c = torch.tensor([[[10.3, 11.7]]])
    hm = render_gaussian(c, 24, sigma=2.0, normalize=True, truncate=3.0)
    assert hm.sum().item() == pytest.approx(1.0, abs=1e-6)
    ys, xs = torch.nonzero(hm[0, 0] > 0, as_tuple=True)
    d = torch.sqrt((xs - 10.3) ** 2 + (ys - 11.7) ** 2)
    assert d.max().item() <= 6.0 + 1e-6
    # every pixel inside the disc is non-zero
    yy, xx = torch.meshgrid(torch.arange(24.0), torch.arange(24.0), indexing="ij")
    inside = ((xx - 10.3) ** 2 + (yy - 11.7) ** 2) <= 36.0
    assert bool((hm[0, 0][inside] > 0).all())


def test_non_finite_coordinates_give_empty_maps():
    hm = render_gaussian(torch.tensor([[[float("nan"), 3.0], [2.0, 2.0]]]), 8, sigma=1.0)
    assert hm[0, 0].abs().sum() == 0
    assert hm[0, 1].max() == pytest.approx(1.0)


@pytest.mark.parametrize("sigma", [1.0, 1.5, 3.0])
def test_render_decode_barycenter_round_trip_sub_pixel(sigma):
    size = 64
    coords = _centres(200, size, margin=4 * sigma + 1)
    hm = render_gaussian(coords, size, sigma=sigma)
    rec = decode_barycenter(hm, softmax=False)
    assert (rec - coords).abs().max().item() < 0.05
    # as logits: softmax(log(hm)) == normalised hm, so the softmax decoder agrees
    logits = torch.log(render_gaussian(coords, size, sigma=sigma, truncate=None))
    rec2 = decode_barycenter(logits, softmax=True)
    assert (rec2 - coords).abs().max().item() < 0.05


@pytest.mark.parametrize("sigma", [1.0, 1.5, 3.0])
def test_decode_max_error_bounded_by_quarter_pixel_quantisation(sigma):
    size = 32
    coords = _centres(500, size, margin=2, seed=1)
    hm = render_gaussian(coords, size, sigma=sigma)
    rec = decode_max(hm)
    err = (rec - coords).abs()
    # arg-max is within 0.5 px per axis; the quarter-pixel shift halves that bound
    assert err.max().item() <= 0.25 + 1e-6
    # and it is a real improvement on the plain arg-max on average
    plain = coords.round()
    assert err.mean() < (plain - coords).abs().mean()


def test_decode_max_hand_worked_example():
    hm = torch.zeros(1, 1, 5, 5)
    hm[0, 0, 2, 2] = 1.0  # peak at (x=2, y=2)
    hm[0, 0, 2, 3] = 0.5  # right neighbour higher than left -> x + 0.25
    hm[0, 0, 1, 2] = 0.2  # upper neighbour higher than lower -> y - 0.25
    assert decode_max(hm)[0, 0].tolist() == [2.25, 1.75]


def test_decode_max_at_borders_is_unshifted_and_inside():
    hm = torch.zeros(1, 3, 6, 7)
    hm[0, 0, 0, 0] = 1.0
    hm[0, 0, 0, 1] = 0.9
    hm[0, 1, 5, 6] = 1.0
    hm[0, 2, 5, 3] = 1.0
    hm[0, 2, 5, 4] = 0.7
    out = decode_max(hm)[0]
    assert out[0].tolist() == [0.0, 0.0]  # corner: no neighbour on one side on both axes
    assert out[1].tolist() == [6.0, 5.0]
    assert out[2].tolist() == [3.25, 5.0]  # x inside -> shifted; y on the border -> not


def test_barycenter_at_border_moves_inwards_and_zero_map_decodes_to_centre():
    hm = render_gaussian(torch.tensor([[[0.0, 10.0]]]), 21, sigma=2.0)
    x, y = decode_barycenter(hm, softmax=False)[0, 0].tolist()
    assert x > 0.5 and y == pytest.approx(10.0, abs=1e-5)
    zero = torch.zeros(1, 1, 5, 9)
    assert decode_barycenter(zero, softmax=False)[0, 0].tolist() == [4.0, 2.0]
    neg = -torch.ones(1, 1, 5, 9)
    assert decode_barycenter(neg, softmax=False)[0, 0].tolist() == [4.0, 2.0]


def test_decoders_are_vectorised_over_batch_and_landmarks():
    coords = _centres(6, 16, margin=3).reshape(2, 3, 2)
    hm = render_gaussian(coords, 16, sigma=1.0)
    assert decode_max(hm).shape == (2, 3, 2)
    assert decode(hm, "get_bc", softmax=False).shape == (2, 3, 2)
    with pytest.raises(ValueError, match="unknown decoder"):
        decode(hm, "argmax")


def test_barycenter_is_differentiable():
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    decode_barycenter(logits).sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
