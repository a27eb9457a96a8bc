"""A small, fast landmark network: a MobileNetV2 backbone and a light upsampling heatmap head.

Layout (channel counts times ``width``, rounded to multiples of 8, at least 8):

- stem: 3x3 stride-2 conv (32 channels) + BN + ReLU6 -> 1/2 resolution;
- inverted residual blocks (MobileNetV2, Sandler et al. 2018: 1x1 expansion by ``t``, 3x3
  depthwise conv, 1x1 linear projection, identity shortcut when the shape is kept), settings
  ``(t, channels, blocks, stride)`` of :data:`SETTINGS`: 16 ch at 1/2, 24 at 1/4, 32 at 1/8,
  64 and 96 at 1/16, 160 at 1/32;
- head (a light feature pyramid): the 1/32 features through a 1x1 conv to ``head_channels``,
  then three steps of ``bilinear x2 upsampling + a 1x1 lateral conv of the backbone features at
  that resolution (1/16, 1/8, 1/4), summed, + a depthwise-separable 3x3 block``, then a 1x1 conv
  to ``K`` heatmap logits at 1/4.

Maps ``(B, 3, H, W)`` to ``(B, K, H/4, W/4)`` (``H`` and ``W`` multiples of 4; every upsampling
step resizes to the lateral's exact size, so any such size works). At ``width=1`` it has about
1.4 M parameters (about 2.8 MB as float16).

CoordConv (``create_model(..., coordconv=True)``) converts the dense convolutions (the stem and
every 1x1 conv); the depthwise 3x3 convs (:class:`DepthwiseConv2d`, one filter per channel) stay
as they are: a grouped convolution cannot read the two coordinate channels.

For inference the detector folds the BatchNorms into the convolutions and uses the channels-last
layout (:func:`otmark.models.fuse.prepare_for_inference`).
"""

from __future__ import annotations

from torch import Tensor, nn

from otmark.models.layers import init_kaiming_
from otmark.models.upsample import bilinear_resize

#: MobileNetV2's inverted residual settings ``(expansion t, channels c, blocks n, stride s)``,
#: stopped at 1/32 with the 160-channel stage (the 320-channel stage is left out)
SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 96


def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``divisor``, and not
    below 90% of ``value``), MobileNet's channel rule."""
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if out < 0.9 * value:
        out += divisor
    return out


class DepthwiseConv2d(nn.Conv2d):
    """A 3x3 depthwise convolution (``groups = channels``), padding 1, no bias.

    A subclass of ``nn.Conv2d`` so that :func:`otmark.models.coordconv.convert_to_coordconv`,
    which replaces exactly ``nn.Conv2d`` layers, leaves it alone.
    """

    def __init__(self, channels: int, stride: int = 1) -> None:
        super().__init__(
            channels, channels, 3, stride=stride, padding=1, groups=channels, bias=False
        )


def conv_bn_act(in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1) -> nn.Sequential:
    """``Conv(kernel, stride, same padding) -> BN -> ReLU6``."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU6(inplace=True),
    )


def depthwise_bn_act(channels: int, stride: int = 1) -> nn.Sequential:
    """``DepthwiseConv2d(3x3, stride) -> BN -> ReLU6``."""
    return nn.Sequential(
        DepthwiseConv2d(channels, stride), nn.BatchNorm2d(channels), nn.ReLU6(inplace=True)
    )


class InvertedResidual(nn.Module):
    """MobileNetV2 block ``(B, in_ch, H, W) -> (B, out_ch, H/stride, W/stride)``: 1x1 expansion
    to ``in_ch * expansion`` (skipped when ``expansion == 1``), 3x3 depthwise with ``stride``,
    1x1 linear projection + BN; the input is added when ``stride == 1`` and ``in_ch == out_ch``.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int, expansion: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        hidden = in_ch * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(conv_bn_act(in_ch, hidden))
        layers += [
            depthwise_bn_act(hidden, stride),
            nn.Conv2d(hidden, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        return x + out if self.residual else out


class SeparableBlock(nn.Module):
    """Depthwise-separable 3x3 block ``(B, C, H, W) -> (B, C, H, W)``: depthwise 3x3 + BN +
    ReLU6, 1x1 conv + BN + ReLU6."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = depthwise_bn_act(channels)
        self.pointwise = conv_bn_act(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(x))


class MobileNetLandmarks(nn.Module):
    """MobileNetV2 backbone + light pyramid head (see the module docstring).

    Args:
        num_landmarks: ``K``, the number of heatmaps.
        width: channel multiplier of the backbone and head (1.0: MobileNetV2's channels).
        head_channels: channels of the head before the width multiplier (96).
    """

    #: :func:`otmark.models.fuse.prepare_for_inference` folds its BatchNorms for inference
    fuse_for_inference = True

    def __init__(self, num_landmarks: int, width: float = 1.0, head_channels: int = HEAD_CHANNELS):
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be > 0, got {width}")

        def ch(c: int) -> int:
            return make_divisible(c * width)

        self.stem = conv_bn_act(3, ch(STEM_CHANNELS), kernel=3, stride=2)
        in_ch = ch(STEM_CHANNELS)
        # stages grouped by output stride: 1/2, 1/4, 1/8, 1/16, 1/32
        stages: list[list[nn.Module]] = [[] for _ in range(5)]
        level = 0  # index into stages: output stride 2 ** (level + 1)
        self.stage_channels = [0] * 5
        for t, c, n, s in SETTINGS:
            out_ch = ch(c)
            for i in range(n):
                stride = s if i == 0 else 1
                level += stride == 2
                stages[level].append(InvertedResidual(in_ch, out_ch, stride, t))
                in_ch = out_ch
                self.stage_channels[level] = out_ch
        self.stages = nn.ModuleList(nn.Sequential(*blocks) for blocks in stages)
        hc = ch(head_channels)
        self.reduce = conv_bn_act(self.stage_channels[4], hc)
        # laterals at 1/16, 1/8, 1/4 (stages 3, 2, 1)
        self.laterals = nn.ModuleList(
            nn.Sequential(nn.Conv2d(self.stage_channels[i], hc, 1, bias=False), nn.BatchNorm2d(hc))
            for i in (3, 2, 1)
        )
        self.refine = nn.ModuleList(SeparableBlock(hc) for _ in range(3))
        self.head = nn.Conv2d(hc, num_landmarks, kernel_size=1)
        init_kaiming_(self)
        nn.init.normal_(self.head.weight, std=0.001)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor) -> Tensor:
        feats = []
        out = self.stem(x)
        for stage in self.stages:
            out = stage(out)
            feats.append(out)
        out = self.reduce(feats[4])
        for lateral, refine, skip in zip(
            self.laterals, self.refine, (feats[3], feats[2], feats[1])
        ):
            out = bilinear_resize(out, skip.shape[-2:]) + lateral(skip)
            out = refine(out)
        return self.head(out)
