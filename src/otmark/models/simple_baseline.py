"""SimpleBaselines (Xiao et al., 2018): ResNet + 3 deconvolutions + a 1x1 head.

``(B, 3, H, W)`` -> C5 at ``H/32`` -> three ``ConvTranspose2d(4x4, stride 2, 256 ch) + BN +
ReLU`` -> ``H/4`` -> 1x1 conv to ``K`` heatmap logits ``(B, K, H/4, W/4)``.
"""

from __future__ import annotations

from torch import Tensor, nn

from otmark.models.resnet import ResNetBackbone


class SimpleBaseline(nn.Module):
    """Args: ``num_landmarks`` (K), ``depth`` of the ResNet (18 or 50), ``base_width`` of the
    ResNet (64), ``deconv_channels`` (256), ``num_deconv`` (3: output stride 32 / 2**3 = 4)."""

    def __init__(
        self,
        num_landmarks: int,
        depth: int = 50,
        base_width: int = 64,
        deconv_channels: int = 256,
        num_deconv: int = 3,
        blocks: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        self.backbone = ResNetBackbone(depth, base_width, blocks)
        ch = self.backbone.channels[-1]
        layers: list[nn.Module] = []
        for _ in range(num_deconv):
            layers += [
                nn.ConvTranspose2d(ch, deconv_channels, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(deconv_channels),
                nn.ReLU(inplace=True),
            ]
            ch = deconv_channels
        self.deconv = nn.Sequential(*layers)
        self.head = nn.Conv2d(ch, num_landmarks, kernel_size=1)
        # the original's init for the new layers: N(0, 0.001) weights, zero biases
        for m in [*self.deconv.modules(), self.head]:
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.deconv(self.backbone(x)[-1]))
