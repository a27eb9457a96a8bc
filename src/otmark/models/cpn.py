"""Cascaded Pyramid Network (Chen et al., 2018): GlobalNet + RefineNet on a ResNet.

- GlobalNet: an FPN-style top-down pathway over ResNet's C2..C5 (1x1 lateral convs to
  ``channels``; the coarser level is upsampled bilinearly, passed through a 1x1 conv + BN and
  added), and one prediction per level (1x1 conv + BN + ReLU, 3x3 conv to ``K``), resized to
  the C2 resolution ``H/4``.
- RefineNet: level ``l`` (0 = C2) goes through ``l`` Bottlenecks, is upsampled to ``H/4``; the
  four are concatenated and a Bottleneck + 3x3 conv predicts the final heatmaps.

Return type: in training mode a ``list`` of 5 tensors ``(B, K, H/4, W/4)``: the GlobalNet
predictions for C2, C3, C4, C5, then the RefineNet prediction (the final one, last); in eval mode
only the RefineNet tensor ``(B, K, H/4, W/4)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from otmark.models.layers import Bottleneck, conv_bn, init_kaiming_
from otmark.models.resnet import ResNetBackbone
from otmark.models.upsample import bilinear_resize


def _resize(x: Tensor, ref: Tensor) -> Tensor:
    return bilinear_resize(x, ref.shape[-2:])


class GlobalNet(nn.Module):
    """``[C2..C5]`` -> (pyramid features ``[P2..P5]`` with ``channels`` each, per-level
    heatmaps ``[(B, K, h2, w2)] * 4`` at the C2 resolution)."""

    def __init__(self, in_channels: list[int], channels: int, num_landmarks: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(conv_bn(c, channels, 1) for c in in_channels)
        self.top_down = nn.ModuleList(
            conv_bn(channels, channels, 1, relu=False) for _ in in_channels[:-1]
        )
        self.predict = nn.ModuleList(
            nn.Sequential(
                conv_bn(channels, channels, 1),
                nn.Conv2d(channels, num_landmarks, 3, padding=1),
            )
            for _ in in_channels
        )

    def forward(self, feats: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        n = len(feats)
        pyramid: list[Tensor] = [torch.empty(0)] * n
        prev: Tensor | None = None
        for i in reversed(range(n)):
            p = self.lateral[i](feats[i])
            if prev is not None:
                p = p + self.top_down[i](_resize(prev, p))
            pyramid[i] = p
            prev = p
        heatmaps = [_resize(pred(p), pyramid[0]) for pred, p in zip(self.predict, pyramid)]
        return pyramid, heatmaps


class RefineNet(nn.Module):
    """Pyramid features ``[P2..P5]`` -> final heatmaps ``(B, K, h2, w2)``."""

    def __init__(self, num_levels: int, channels: int, num_landmarks: int) -> None:
        super().__init__()
        planes = max(channels // Bottleneck.expansion, 1)
        out = planes * Bottleneck.expansion
        self.levels = nn.ModuleList(
            nn.Sequential(*(Bottleneck(channels if k == 0 else out, planes) for k in range(level)))
            for level in range(num_levels)
        )
        level_out = [channels] + [out] * (num_levels - 1)
        self.final = nn.Sequential(
            Bottleneck(sum(level_out), planes),
            nn.Conv2d(out, num_landmarks, 3, padding=1),
        )

    def forward(self, pyramid: list[Tensor]) -> Tensor:
        ref = pyramid[0]
        ups = [_resize(level(p), ref) for level, p in zip(self.levels, pyramid)]
        return self.final(torch.cat(ups, dim=1))


class CPN(nn.Module):
    """Args: ``num_landmarks`` (K), ``depth`` of the ResNet (50; 18 also works), ``base_width``
    of the ResNet (64), ``channels`` of the pyramid (256), ``blocks`` ResNet override."""

    def __init__(
        self,
        num_landmarks: int,
        depth: int = 50,
        base_width: int = 64,
        channels: int = 256,
        blocks: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        self.backbone = ResNetBackbone(depth, base_width, blocks)
        self.global_net = GlobalNet(self.backbone.channels, channels, num_landmarks)
        self.refine_net = RefineNet(len(self.backbone.channels), channels, num_landmarks)
        init_kaiming_(self.global_net)
        init_kaiming_(self.refine_net)

    def forward(self, x: Tensor) -> Tensor | list[Tensor]:
        pyramid, global_maps = self.global_net(self.backbone(x))
        refined = self.refine_net(pyramid)
        return [*global_maps, refined] if self.training else refined
