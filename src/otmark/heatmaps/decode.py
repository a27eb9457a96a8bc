"""Decoding: heatmaps ``(B, K, H, W)`` -> coordinates ``(B, K, 2)`` in heatmap pixels.

Both decoders are vectorised over batch and landmarks (no Python loop). They are the
primitives: a model's outputs are read through :class:`otmark.heatmaps.HeatmapCodec`, whose
``decoder`` and ``softmax`` (from the training loss) are passed explicitly; the ``softmax``
argument defaults below are these functions' own, not the codec's.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from otmark.heatmaps.render import pixel_grid
from otmark.registry import lookup


def decode_max(heatmaps: torch.Tensor, softmax: bool = False) -> torch.Tensor:
    """GET_MAX: the arg-max pixel, shifted a quarter pixel towards the higher neighbour.

    HRNet's rule, per axis: with ``p`` the arg-max column (row), if ``0 < p < W - 1`` (``H - 1``)
    the coordinate moves by ``+0.25`` when the right (lower) neighbour is higher than the left
    (upper) one, by ``-0.25`` when lower, and not at all when they are equal. On the border
    (``p = 0`` or ``p = W - 1``) the neighbour on one side is missing and no shift is applied, so
    the result always lies inside ``[0, W - 1] x [0, H - 1]``. Ties in the arg-max take the
    first pixel in row-major order.

    Args:
        heatmaps: ``(..., H, W)`` any real values (logits or activations).
        softmax: ignored (the softmax keeps the order of the pixels, so the arg-max and its
            neighbours' order are those of the logits); accepted so that every decoder of
            :data:`DECODERS` has the signature ``(heatmaps, softmax)``.

    Returns:
        ``(..., 2)`` coordinates ``(x, y)`` in heatmap pixels (pixel centres at integers).
    """
    *lead, h, w = heatmaps.shape
    flat = heatmaps.reshape(-1, h * w)
    idx = flat.argmax(dim=1)
    py, px = idx // w, idx % w
    rows = torch.arange(flat.shape[0], device=flat.device)

    def shift(p: torch.Tensor, n: int, step: int) -> torch.Tensor:
        inside = (p > 0) & (p < n - 1)
        hi = flat[rows, (idx + step).clamp(max=h * w - 1)]
        lo = flat[rows, (idx - step).clamp(min=0)]
        return torch.where(inside, 0.25 * torch.sign(hi - lo), torch.zeros_like(hi))

    dtype = heatmaps.dtype if heatmaps.is_floating_point() else torch.float32
    x = px.to(dtype) + shift(px, w, 1).to(dtype)
    y = py.to(dtype) + shift(py, h, w).to(dtype)
    return torch.stack([x, y], dim=-1).reshape(*lead, 2)


def decode_barycenter(heatmaps: torch.Tensor, softmax: bool = True) -> torch.Tensor:
    """GET_BC (the paper's Eq. 6): the spatial barycenter of the normalised heatmap.

    Args:
        heatmaps: ``(..., H, W)``.
        softmax: if True the maps are logits and the barycenter is that of their softmax over
            the ``H * W`` pixels (how Wasserstein-, JS- and Soft-ArgMax-trained outputs are read).
            If False the map itself is normalised by its sum after negative values are clamped to
            0 (for heatmap-L2 outputs); an all-zero map decodes to the map centre.

    Returns:
        ``(..., 2)`` coordinates ``(x, y)`` in heatmap pixels. Differentiable.
    """
    *lead, h, w = heatmaps.shape
    flat = heatmaps.reshape(*lead, h * w)
    if not flat.is_floating_point():
        flat = flat.float()
    if softmax:
        prob = torch.softmax(flat, dim=-1)
    else:
        pos = flat.clamp_min(0)
        total = pos.sum(dim=-1, keepdim=True)
        uniform = torch.full_like(pos, 1.0 / (h * w))
        prob = torch.where(total > 0, pos / total.clamp_min(torch.finfo(pos.dtype).tiny), uniform)
    prob = prob.reshape(*lead, h, w)
    xs, ys = pixel_grid((h, w), device=prob.device, dtype=prob.dtype)
    x = (prob.sum(dim=-2) * xs).sum(dim=-1)
    y = (prob.sum(dim=-1) * ys).sum(dim=-1)
    return torch.stack([x, y], dim=-1)


#: decoder names used in configs, checkpoints and ONNX metadata: ``(heatmaps, softmax) -> (..., 2)``
DECODERS: dict[str, Callable[..., torch.Tensor]] = {
    "get_max": decode_max,
    "get_bc": decode_barycenter,
}


def get_decoder(name: str) -> Callable[..., torch.Tensor]:
    """The decoder called ``name`` (:class:`otmark.registry.UnknownNameError` if unknown)."""
    return lookup(DECODERS, name, "decoder")


def decode(heatmaps: torch.Tensor, method: str, softmax: bool = True) -> torch.Tensor:
    """Decode with a decoder of :data:`DECODERS` chosen by name (``"get_max"``, ``"get_bc"``).

    ``softmax`` only changes ``"get_bc"`` (see :func:`decode_barycenter`).
    """
    return get_decoder(method)(heatmaps, softmax=softmax)
