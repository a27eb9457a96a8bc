"""The small fast model: shapes, size budget, CoordConv, BatchNorm folding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from otmark.models import count_parameters, create_model, tiny_kwargs
from otmark.models.coordconv import CoordConv2d
from otmark.models.fuse import fold_batchnorm, prepare_for_inference
from otmark.models.mobilenet import DepthwiseConv2d, InvertedResidual, make_divisible


def test_make_divisible_is_mobilenets_rule():
    assert [make_divisible(v) for v in (32, 8, 3, 24 * 0.75, 160 * 0.35)] == [32, 8, 8, 24, 56]
    # never more than 10% below the requested width
    assert make_divisible(11) == 16 and make_divisible(12) == 16


def test_full_width_fits_the_size_budget_and_maps_to_quarter_resolution():
    """At width 1 with the 68-point scheme: under 2.5 M parameters (5 MB as float16)."""
    torch.manual_seed(0)
    model = create_model("mobilenet_v2", 68).eval()
    n = count_parameters(model)
    assert 1.0e6 < n < 2.5e6
    with torch.no_grad():
        out = model(torch.randn(1, 3, 128, 128))
    assert out.shape == (1, 68, 32, 32)


def test_width_multiplier_scales_the_parameters():
    """Parameters grow about quadratically in the width (1x1 convs dominate)."""
    a = count_parameters(create_model("mobilenet_v2", 5, width=0.5))
    b = count_parameters(create_model("mobilenet_v2", 5, width=1.0))
    assert 2.5 < b / a < 4.5
    with pytest.raises(ValueError, match="width"):
        create_model("mobilenet_v2", 5, width=0)


def test_inverted_residual_shortcut_only_when_the_shape_is_kept():
    same = InvertedResidual(8, 8, 1, 6)
    down = InvertedResidual(8, 16, 2, 6)
    assert same.residual and not down.residual
    x = torch.randn(2, 8, 10, 12)
    assert same(x).shape == (2, 8, 10, 12) and down(x).shape == (2, 16, 5, 6)
    # with the block's output zeroed, the block is the identity
    nn.init.zeros_(same.block[-1].weight)
    nn.init.zeros_(same.block[-1].bias)
    torch.testing.assert_close(same.eval()(x), x)


def test_coordconv_converts_dense_convs_and_keeps_depthwise_ones():
    model = create_model("mobilenet_v2", 3, coordconv=True, **tiny_kwargs("mobilenet_v2"))
    depthwise = [m for m in model.modules() if isinstance(m, DepthwiseConv2d)]
    assert depthwise and all(m.in_channels == m.groups for m in depthwise)
    dense = [m for m in model.modules() if type(m) is CoordConv2d]
    assert dense and model.stem[0] in dense and model.head in dense


def _random_bn_stats(model: nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_()
                m.bias.normal_()


def test_folded_batchnorm_computes_the_same_function_on_a_copy():
    torch.manual_seed(0)
    model = create_model("mobilenet_v2", 4, **tiny_kwargs("mobilenet_v2"))
    _random_bn_stats(model)
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        fast = prepare_for_inference(model)
        out = fast(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is kept
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


def test_fold_of_a_single_pair_matches_the_closed_form():
    conv = nn.Conv2d(2, 3, 1, bias=False)
    bn = nn.BatchNorm2d(3)
    with torch.no_grad():
        conv.weight.copy_(torch.arange(6.0).view(3, 2, 1, 1))
        bn.running_mean.copy_(torch.tensor([1.0, 2.0, 3.0]))
        bn.running_var.copy_(torch.tensor([4.0, 1.0, 0.25]) - bn.eps)
        bn.weight.copy_(torch.tensor([2.0, 1.0, 1.0]))
        bn.bias.copy_(torch.tensor([0.0, 1.0, -1.0]))
    folded = fold_batchnorm(nn.Sequential(conv, bn))
    conv2 = folded[0]
    # gain = gamma / sqrt(var + eps) = [1, 1, 2]; bias = -mean * gain + beta = [-1, -1, -7]
    torch.testing.assert_close(conv2.weight.view(3, 2), torch.tensor([[0.0, 1], [2, 3], [8, 10]]))
    torch.testing.assert_close(conv2.bias, torch.tensor([-1.0, -1.0, -7.0]))
    assert isinstance(folded[1], nn.Identity)


def test_other_models_are_not_prepared():
    model = create_model("hrnet_tiny", 3)
    assert prepare_for_inference(model) is model


def test_onnx_export_matches_torch(tmp_path):
    pytest.importorskip("onnxruntime")
    from otmark.export import export_onnx, ort_session

    torch.manual_seed(0)
    model = create_model("mobilenet_v2", 5, **tiny_kwargs("mobilenet_v2"))
    _random_bn_stats(model)
    model.eval()
    path = export_onnx(model, tmp_path / "fast.onnx", 64)
    x = torch.randn(2, 3, 64, 64)
    out = ort_session(path, 1).run(None, {"images": x.numpy()})[0]
    with torch.no_grad():
        ref = model(x).numpy()
    assert out.shape == (2, 5, 16, 16)
    assert abs(out - ref).max() < 1e-4
