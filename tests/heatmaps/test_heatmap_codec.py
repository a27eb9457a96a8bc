"""HeatmapCodec: crop <-> heatmap geometry by hand, encode/decode round trips, metadata."""

import math

import numpy as np
import pytest
import torch

from otmark.heatmaps import (
    DECODERS,
    LEGACY_METADATA,
    HeatmapCodec,
    decode,
    decode_barycenter,
    decode_max,
)
from otmark.registry import UnknownNameError


def test_stride_and_coordinate_maps_by_hand():
    codec = HeatmapCodec(256, 64)
    assert codec.stride == 4.0
    # crop 32 -> heatmap (32 + 0.5) / 4 - 0.5 = 7.625; crop -0.5 (the crop's edge) -> -0.5
    np.testing.assert_allclose(codec.to_heatmap([[32.0, -0.5]]), [[7.625, -0.5]], atol=1e-12)
    # heatmap 10 -> crop (10 + 0.5) * 4 - 0.5 = 41.5; heatmap 63.5 -> crop 255.5 (the far edge)
    got = codec.to_crop(torch.tensor([[10.0, 63.5]])).numpy()
    np.testing.assert_allclose(got, [[41.5, 255.5]], atol=1e-12)
    assert HeatmapCodec(96, 40).stride == pytest.approx(2.4)


def test_encode_is_a_gaussian_at_the_heatmap_position_and_zero_outside():
    codec = HeatmapCodec(64, 16, sigma=1.5)
    crop = np.array([[[32.0, 20.0], [-40.0, 10.0], [np.nan, np.nan]]])
    maps = codec.encode(crop)
    assert maps.shape == (1, 3, 16, 16) and maps.dtype == torch.float32
    # crop (32, 20) -> heatmap (7.625, 4.625); pixel (row 5, col 8) is at distance^2 0.375^2 * 2
    expected = math.exp(-(2 * 0.375**2) / (2 * 1.5**2))
    assert maps[0, 0, 5, 8].item() == pytest.approx(expected, rel=1e-6)
    assert maps[0, 1].abs().sum() == 0 and maps[0, 2].abs().sum() == 0
    points, weights = codec.encode_points(crop)
    np.testing.assert_array_equal(weights, [[1.0, 0.0, 0.0]])
    np.testing.assert_allclose(points[0, 0], [7.625, 4.625], atol=1e-12)


@pytest.mark.parametrize("decoder", ["get_bc", "get_max"])
@pytest.mark.parametrize("softmax", [False, True])
def test_decode_of_encode_returns_the_crop_landmarks(decoder, softmax):
    """What training targets encode, decoding reads back: the target itself for a non-logit
    model, its log (logits whose softmax is the normalised target) for a logit model."""
    codec = HeatmapCodec(128, 32, sigma=1.0, decoder=decoder, softmax=softmax)
    rng = np.random.default_rng(3)
    crop = rng.uniform(24, 104, size=(2, 5, 2))  # > 3 sigma (12 crop px) from the border
    target = codec.encode(crop)
    out = torch.log(target.clamp_min(1e-30)) if softmax else target
    got = codec.decode(out).numpy()
    assert got.dtype == np.float64 and got.shape == (2, 5, 2)
    # GET_BC: the 3-sigma cut is a disc around the exact centre (bias < 0.01 heatmap px);
    # GET_MAX: within a quarter heatmap pixel per axis (HRNet's rule)
    tol = 0.01 * codec.stride if decoder == "get_bc" else 0.36 * codec.stride
    assert np.abs(got - crop).max() < tol


def test_get_max_is_exact_at_integer_heatmap_positions():
    codec = HeatmapCodec(64, 16, decoder="get_max")
    crop = np.array([[[41.5, 9.5], [5.5, 57.5]]])  # heatmap (10, 2) and (1, 14)
    np.testing.assert_array_equal(codec.decode(codec.encode(crop)).numpy(), crop)


def test_decode_rejects_heatmaps_of_another_size():
    with pytest.raises(ValueError, match="codec expects"):
        HeatmapCodec(64, 16).decode(torch.zeros(1, 3, 17, 16))


def test_decode_to_image_maps_each_crop_through_its_own_matrix():
    codec = HeatmapCodec(64, 16, decoder="get_max")
    crop = np.array([[[41.5, 9.5]], [[5.5, 57.5]]])  # (B=2, K=1, 2), exact for get_max
    heatmaps = codec.encode(crop)
    # crop 1: scale 2 then shift (10, 20); crop 2: a mirror x -> 100 - x, y -> y + 1
    inverses = np.array([[[2.0, 0, 10], [0, 2, 20]], [[-1.0, 0, 100], [0, 1, 1]]])
    got = codec.decode_to_image(heatmaps, inverses)
    np.testing.assert_array_equal(got, [[[93.0, 39.0]], [[94.5, 58.5]]])
    with pytest.raises(ValueError, match=r"\(2, 2, 3\) crop -> image matrices"):
        codec.decode_to_image(heatmaps, inverses[:1])


def test_decode_uses_the_one_decoder_registry(monkeypatch):
    hm = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(decode(hm, "get_max"), decode_max(hm))
    torch.testing.assert_close(decode(hm, "get_bc", softmax=False), decode_barycenter(hm, False))
    monkeypatch.setitem(DECODERS, "corner", lambda h, softmax: torch.zeros(*h.shape[:-2], 2))
    codec = HeatmapCodec(32, 8, decoder="corner")
    np.testing.assert_allclose(codec.decode(hm).numpy(), np.full((2, 3, 2), 1.5))  # heatmap 0
    with pytest.raises(UnknownNameError, match="did you mean 'get_max'"):
        HeatmapCodec(32, 8, decoder="get_mx")


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="must be a finite number > 0"):
        HeatmapCodec(64, 16, sigma=0)
    with pytest.raises(ValueError, match="must be a finite number > 0"):
        HeatmapCodec(0, 16)
    err = pytest.raises(KeyError, HeatmapCodec, 64, 16, decoder="argmax")
    assert isinstance(err.value, ValueError) and "unknown decoder 'argmax'" in str(err.value)


def test_to_dict_from_dict_round_trip_and_old_metadata():
    codec = HeatmapCodec(128, 32, sigma=3.0, decoder="get_bc", softmax=True)
    d = codec.to_dict()
    assert d == {
        "input_size": 128,
        "heatmap_size": 32,
        "sigma": 3.0,
        "decoder": "get_bc",
        "softmax": True,
    }
    assert HeatmapCodec.from_dict(d) == codec
    # a checkpoint's codec entry as written before the codec object (engine codec_dict)
    old = {**d, "softmax": False, "decoder": "get_max", "crop_from": "landmarks"}
    assert HeatmapCodec.from_dict(old) == HeatmapCodec(128, 32, 3.0, "get_max", False)
    # hand-written metadata with sizes only: read as the paper's recipe (GET_BC on logits), as
    # the detector always read it; sigma takes the one default, the codec's field default
    bare = HeatmapCodec.from_dict({"input_size": [64, 64], "heatmap_size": 16})
    assert (bare.input_size, bare.sigma, bare.decoder, bare.softmax) == (64, 1.0, "get_bc", True)
    assert dict(LEGACY_METADATA) == {"decoder": "get_bc", "softmax": True}
    assert HeatmapCodec().sigma == 1.0 and (HeatmapCodec().decoder, HeatmapCodec().softmax) == (
        "get_max",
        False,
    )
    # each missing key alone takes the legacy rule, the stored ones are kept
    only_max = HeatmapCodec.from_dict({"input_size": 64, "heatmap_size": 16, "decoder": "get_max"})
    assert (only_max.decoder, only_max.softmax) == ("get_max", True)
    no_dec = HeatmapCodec.from_dict({"input_size": 64, "heatmap_size": 16, "softmax": False})
    assert (no_dec.decoder, no_dec.softmax) == ("get_bc", False)
    # a loss name without softmax needs the loss registry (otmark.inference.codec_from_meta)
    with pytest.raises(ValueError, match="codec_from_meta"):
        HeatmapCodec.from_dict({"input_size": 64, "heatmap_size": 16, "loss": "l2"})
    assert HeatmapCodec.from_dict({**d, "decoder": "GET_MAX"}).decoder == "get_max"
    with pytest.raises(ValueError, match="not square"):
        HeatmapCodec.from_dict({"input_size": [64, 48], "heatmap_size": 16})
    with pytest.raises(ValueError, match=r"lacks \['heatmap_size'\]"):
        HeatmapCodec.from_dict({"input_size": 64})


def test_codec_is_frozen_and_hashable():
    codec = HeatmapCodec()
    with pytest.raises(AttributeError):
        codec.sigma = 2.0
    assert len({codec, HeatmapCodec()}) == 1
