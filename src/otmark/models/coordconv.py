"""CoordConv (Liu et al., 2018): convolutions that also see where they are.

A CoordConv layer concatenates two coordinate channels to its input ``(B, C, H, W)`` and
convolves the resulting ``(B, C + 2, H, W)``: channel ``C`` holds ``x`` (varying along the
width) and channel ``C + 1`` holds ``y`` (varying along the height), both linear in the pixel
index and normalised to ``[-1, 1]``: ``x_j = 2 j / (W - 1) - 1`` so the centre of the leftmost
pixel column is ``-1`` and of the rightmost ``+1`` (a size-1 axis gets ``0``).

:func:`convert_to_coordconv` replaces every ``nn.Conv2d`` / ``nn.ConvTranspose2d`` of a model by
its CoordConv counterpart (the paper replaces all convolutional layers). The original weights are
copied and the weights of the two coordinate channels start at zero, so the converted model
computes exactly the same function until training moves those weights. The subclasses keep the
parameter names (``weight``, ``bias``), only the input dimension of ``weight`` grows by 2.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

NUM_COORD_CHANNELS = 2


def coordinate_channels(x: Tensor) -> Tensor:
    """The ``(B, 2, H, W)`` coordinate channels ``(x, y)`` in ``[-1, 1]`` for input ``x``
    ``(B, C, H, W)`` (same dtype and device)."""
    h, w = x.shape[-2], x.shape[-1]

    def axis(n: int) -> Tensor:
        idx = torch.arange(n, device=x.device, dtype=x.dtype)
        return idx * (2.0 / (n - 1)) - 1.0 if n > 1 else idx * 0.0

    xs = axis(w).view(1, 1, 1, w).expand(1, 1, h, w)
    ys = axis(h).view(1, 1, h, 1).expand(1, 1, h, w)
    return torch.cat([xs, ys], dim=1).expand(x.shape[0], -1, -1, -1)


class _CoordinateCache:
    """The last ``(1, 2, H, W)`` coordinate map a layer used, rebuilt when the size, dtype or
    device changes (saves recomputing it at every call; under ONNX tracing it becomes a
    constant of the graph, expanded to the dynamic batch)."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._coords: Tensor | None = None

    def __call__(self, x: Tensor) -> Tensor:
        key = (x.shape[-2], x.shape[-1], x.dtype, x.device)
        if self._coords is None or self._key != key:
            self._coords = coordinate_channels(x[:1, :1]).detach()
            self._key = key
        coords = self._coords.expand(x.shape[0], -1, -1, -1)
        return torch.cat([x, coords], dim=1)


class CoordConv2d(nn.Conv2d):
    """``nn.Conv2d`` over the input plus its 2 coordinate channels.

    Constructed with the *data* channel count ``in_channels``; ``self.in_channels`` (and the
    weight's second dimension) is ``in_channels + 2``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, **kwargs) -> None:
        if kwargs.get("groups", 1) != 1:
            raise ValueError("CoordConv2d supports groups=1 only")
        super().__init__(in_channels + NUM_COORD_CHANNELS, out_channels, kernel_size, **kwargs)
        self._with_coords = _CoordinateCache()

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(self._with_coords(x))


class CoordConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` over the input plus its 2 coordinate channels (see
    :class:`CoordConv2d`)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, **kwargs) -> None:
        if kwargs.get("groups", 1) != 1:
            raise ValueError("CoordConvTranspose2d supports groups=1 only")
        super().__init__(in_channels + NUM_COORD_CHANNELS, out_channels, kernel_size, **kwargs)
        self._with_coords = _CoordinateCache()

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        return super().forward(self._with_coords(x), output_size)


def _conv_kwargs(conv: nn.Conv2d | nn.ConvTranspose2d) -> dict:
    kw = dict(
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
    )
    if isinstance(conv, nn.ConvTranspose2d):
        kw["output_padding"] = conv.output_padding
    return kw


def _convert_one(conv: nn.Conv2d | nn.ConvTranspose2d) -> nn.Module:
    if conv.groups != 1:
        raise ValueError(f"cannot convert a grouped convolution ({conv}) to CoordConv")
    kw = _conv_kwargs(conv)
    weight = conv.weight
    with torch.no_grad():
        if isinstance(conv, nn.ConvTranspose2d):
            new: nn.Module = CoordConvTranspose2d(
                conv.in_channels, conv.out_channels, conv.kernel_size, **kw
            )
            new.to(device=weight.device, dtype=weight.dtype)
            new.weight.zero_()
            new.weight[: conv.in_channels] = weight  # (in, out, kh, kw)
        else:
            new = CoordConv2d(conv.in_channels, conv.out_channels, conv.kernel_size, **kw)
            new.to(device=weight.device, dtype=weight.dtype)
            new.weight.zero_()
            new.weight[:, : conv.in_channels] = weight  # (out, in, kh, kw)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    new.train(conv.training)
    return new


def convert_to_coordconv(model: nn.Module) -> nn.Module:
    """Replace, in place, every ``nn.Conv2d`` / ``nn.ConvTranspose2d`` of ``model`` by a
    CoordConv layer (weights copied, coordinate weights zero); returns ``model``.

    Idempotent: layers that are already CoordConv are left alone. A bare convolution passed as
    ``model`` is returned converted.
    """
    if isinstance(model, CoordConv2d | CoordConvTranspose2d):
        return model
    if type(model) in (nn.Conv2d, nn.ConvTranspose2d):
        return _convert_one(model)
    for name, child in model.named_children():
        if type(child) in (nn.Conv2d, nn.ConvTranspose2d):
            setattr(model, name, _convert_one(child))
        else:
            convert_to_coordconv(child)
    return model


def count_coordconv_layers(model: nn.Module) -> int:
    """Number of CoordConv layers in ``model``."""
    return sum(isinstance(m, CoordConv2d | CoordConvTranspose2d) for m in model.modules())
