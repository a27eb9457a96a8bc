"""ResNet backbones against torchvision's published parameter counts (without the classifier)."""

import pytest
import torch

from otmark.models import count_parameters
from otmark.models.resnet import ResNetBackbone

# torchvision resnet18 / resnet50 have 11,689,512 / 25,557,032 parameters, of which the fc
# classifier holds 512 * 1000 + 1000 / 2048 * 1000 + 1000.
PUBLISHED = {18: 11_689_512 - 513_000, 50: 25_557_032 - 2_049_000}


@pytest.mark.parametrize("depth", [18, 50])
def test_backbone_parameter_count_matches_torchvision(depth):
    assert count_parameters(ResNetBackbone(depth)) == PUBLISHED[depth]


@pytest.mark.parametrize(("depth", "expansion"), [(18, 1), (50, 4)])
def test_backbone_returns_c2_to_c5_at_strides_4_to_32(depth, expansion):
    net = ResNetBackbone(depth, base_width=4, blocks=(1, 1, 1, 1)).eval()
    with torch.no_grad():
        feats = net(torch.randn(1, 3, 64, 96))
    assert [tuple(f.shape[1:]) for f in feats] == [
        (4 * expansion * 2**i, 64 // 2 ** (i + 2), 96 // 2 ** (i + 2)) for i in range(4)
    ]
    assert net.channels == [4 * expansion * 2**i for i in range(4)]


def test_bad_depth_is_rejected():
    with pytest.raises(ValueError, match="depth"):
        ResNetBackbone(19)
