"""Bilinear resizing with a deterministic backward on every device.

``F.interpolate(mode="bilinear")`` has no deterministic CUDA backward: under
``torch.use_deterministic_algorithms(True)`` (``train.deterministic=true``) its backward raises on
CUDA. :func:`bilinear_resize` is what the models call instead: it is ``F.interpolate`` except on
CUDA with deterministic algorithms on, where it warns once and computes the same resize as two
matrix products, ``A_h @ x @ A_w^T`` (``A`` the interpolation matrices of
``align_corners=False``), whose backward (two more products) is deterministic. Both give the
same values up to float rounding (checked against ``F.interpolate`` to 1e-6).
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

_warned = False


def interpolation_matrix(size_in: int, size_out: int, device=None, dtype=torch.float32) -> Tensor:
    """``(size_out, size_in)`` weights of 1-D linear interpolation with ``align_corners=False``.

    Output pixel ``i`` samples the input at ``s = (i + 0.5) * size_in / size_out - 0.5``
    (clamped at 0), i.e. ``(1 - f) * x[floor(s)] + f * x[floor(s) + 1]`` with
    ``f = s - floor(s)`` and the upper index clamped to ``size_in - 1``: the rule of
    ``F.interpolate(..., mode="bilinear", align_corners=False, size=...)``.
    """
    # float32 index arithmetic, as PyTorch's kernels do for float inputs
    scale = torch.tensor(size_in / size_out, dtype=torch.float32)
    src = ((torch.arange(size_out, dtype=torch.float32) + 0.5) * scale - 0.5).clamp(min=0.0)
    lo = src.floor().long().clamp(max=size_in - 1)
    hi = (lo + 1).clamp(max=size_in - 1)
    frac = (src - lo.float()).double()
    mat = torch.zeros(size_out, size_in, dtype=torch.float64)
    rows = torch.arange(size_out)
    mat.index_put_((rows, lo), 1.0 - frac, accumulate=True)
    mat.index_put_((rows, hi), frac, accumulate=True)
    return mat.to(device=device, dtype=dtype)


@lru_cache(maxsize=64)
def _cached_matrix(size_in: int, size_out: int, device: torch.device, dtype: torch.dtype):
    # a model resizes between a handful of sizes: build each matrix once per device and dtype
    return interpolation_matrix(size_in, size_out, device, dtype)


def bilinear_resize_matmul(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize of ``x: (B, C, H, W)`` to ``(B, C, *size)`` as ``A_h @ x @ A_w^T``
    (``align_corners=False``); deterministic forward and backward on every device."""
    h, w = x.shape[-2:]
    a_h = _cached_matrix(int(h), int(size[0]), x.device, x.dtype)
    a_w = _cached_matrix(int(w), int(size[1]), x.device, x.dtype)
    return torch.matmul(torch.matmul(a_h, x), a_w.transpose(0, 1))


def needs_deterministic_bilinear(device: torch.device) -> bool:
    """Whether ``F.interpolate(mode="bilinear")`` would fail in backward on ``device``: CUDA
    with ``torch.use_deterministic_algorithms(True)`` in effect."""
    return torch.device(device).type == "cuda" and torch.are_deterministic_algorithms_enabled()


def bilinear_resize(x: Tensor, size) -> Tensor:
    """Bilinear resize of ``x: (B, C, H, W)`` to ``size = (h, w)`` (``align_corners=False``).

    ``F.interpolate``, or :func:`bilinear_resize_matmul` (with a warning, once per process)
    where :func:`needs_deterministic_bilinear` says its backward is not deterministic.
    """
    size = (int(size[0]), int(size[1]))
    if needs_deterministic_bilinear(x.device):
        global _warned
        if not _warned:
            _warned = True
            warnings.warn(
                "deterministic algorithms on CUDA: bilinear upsampling runs as two matrix "
                "products instead of F.interpolate (whose CUDA backward is not deterministic); "
                "same values, somewhat slower",
                stacklevel=2,
            )
        return bilinear_resize_matmul(x, size)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
