"""SimpleBaselines: ResNet + 3 deconvolutions (256 ch, 4x4, stride 2) + 1x1 head."""

import pytest
import torch

from otmark.models import count_parameters, create_model
from otmark.models.resnet import ResNetBackbone
from otmark.schemes import get_scheme

K300W = get_scheme("300w").num_points


def head_params(c5: int, k: int) -> int:
    """Closed form: 3 deconvs 4x4 without bias, 3 BN (2 * 256 each), 1x1 conv 256 -> K + bias."""
    return (c5 * 256 + 2 * 256 * 256) * 16 + 3 * 2 * 256 + 256 * k + k


@pytest.mark.parametrize(("name", "depth", "c5"), [("simple_baseline_r50", 50, 2048)])
def test_parameter_count_is_backbone_plus_closed_form_head(name, depth, c5):
    model = create_model(name, K300W)
    expected = count_parameters(ResNetBackbone(depth)) + head_params(c5, K300W)
    assert count_parameters(model) == expected
    assert 33.9e6 < expected < 34.1e6  # SimpleBaselines-R50 is published as 34.0 M


def test_deconvolutions_upsample_c5_by_8():
    model = create_model("simple_baseline_r18", 3, base_width=4, blocks=(1, 1, 1, 1)).eval()
    deconvs = [m for m in model.deconv if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(d.kernel_size, d.stride, d.out_channels) for d in deconvs] == [
        ((4, 4), (2, 2), 256)
    ] * 3
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 3, 16, 16)
