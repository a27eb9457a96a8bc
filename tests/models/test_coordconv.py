"""CoordConv: coordinate channels in closed form, conversion of every registered model."""

import numpy as np
import pytest
import torch
from torch import nn

from otmark.models import (
    CoordConv2d,
    CoordConvTranspose2d,
    convert_to_coordconv,
    count_coordconv_layers,
    create_model,
    list_models,
    tiny_kwargs,
)
from otmark.models.coordconv import coordinate_channels


def test_coordinate_channels_closed_form():
    c = coordinate_channels(torch.zeros(2, 7, 3, 5))
    assert c.shape == (2, 2, 3, 5)
    np.testing.assert_allclose(c[1, 0, 2].numpy(), [-1, -0.5, 0, 0.5, 1], atol=1e-7)
    np.testing.assert_allclose(c[0, 1, :, 4].numpy(), [-1, 0, 1], atol=1e-7)
    assert (c[:, 0] == c[:, 0, :1]).all()  # x constant down each column
    single = coordinate_channels(torch.zeros(1, 1, 1, 1))
    assert single.abs().max() == 0


def test_coordconv_equals_a_plain_conv_on_the_concatenated_input():
    torch.manual_seed(0)
    cc = CoordConv2d(3, 4, 3, padding=1, stride=2)
    assert cc.in_channels == 5 and cc.weight.shape == (4, 5, 3, 3)
    x = torch.randn(2, 3, 6, 8)
    xs = np.linspace(-1, 1, 8, dtype=np.float32)
    ys = np.linspace(-1, 1, 6, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)  # (6, 8) each
    coords = torch.from_numpy(np.stack([gx, gy]))[None].expand(2, -1, -1, -1)
    ref = nn.functional.conv2d(torch.cat([x, coords], 1), cc.weight, cc.bias, 2, 1)
    torch.testing.assert_close(cc(x), ref)


def test_a_1x1_coordconv_reading_only_x_outputs_the_x_coordinate():
    cc = CoordConv2d(1, 1, 1, bias=False)
    cc.weight.data.zero_()
    cc.weight.data[0, 1] = 1.0  # channel 1 = x
    out = cc(torch.randn(1, 1, 2, 4))
    np.testing.assert_allclose(out[0, 0].detach().numpy(), [[-1, -1 / 3, 1 / 3, 1]] * 2, atol=1e-6)


def test_conversion_of_a_transposed_conv_preserves_it():
    torch.manual_seed(0)
    deconv = nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1)
    x = torch.randn(1, 3, 5, 5)
    ref = deconv(x)
    new = convert_to_coordconv(deconv)
    assert isinstance(new, CoordConvTranspose2d) and new.in_channels == 5
    torch.testing.assert_close(new(x), ref)


def test_grouped_convolutions_are_refused():
    with pytest.raises(ValueError, match="group"):
        convert_to_coordconv(nn.Sequential(nn.Conv2d(4, 4, 3, groups=2)))


@pytest.mark.parametrize("name", list_models())
def test_conversion_preserves_the_function_and_the_coordinate_weights_learn(name):
    torch.manual_seed(0)
    model = create_model(name, 3, **tiny_kwargs(name)).eval()
    n_convs = sum(type(m) in (nn.Conv2d, nn.ConvTranspose2d) for m in model.modules())
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == 3
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
    convert_to_coordconv(model)
    assert count_coordconv_layers(model) == n_convs
    assert not any(type(m) in (nn.Conv2d, nn.ConvTranspose2d) for m in model.modules())
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert isinstance(first, CoordConv2d) and first.in_channels == 5
    after = model(x)
    torch.testing.assert_close(after, before, atol=1e-6, rtol=1e-5)
    after.square().mean().backward()
    assert first.weight.grad[:, 3:].abs().sum() > 0  # gradient reaches the coordinate weights
    assert count_coordconv_layers(convert_to_coordconv(model)) == n_convs  # idempotent


@pytest.mark.parametrize("name", list_models())
def test_create_model_with_coordconv_runs_in_both_modes(name):
    model = create_model(name, 3, coordconv=True, **tiny_kwargs(name))
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert isinstance(first, CoordConv2d) and first.in_channels == 3 + 2
    model.train()
    for out in [model(torch.randn(2, 3, 64, 64))]:
        outs = out if isinstance(out, list) else [out]
        assert all(o.shape == (2, 3, 16, 16) for o in outs)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 128, 96)).shape == (1, 3, 32, 24)
