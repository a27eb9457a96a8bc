"""Independent references shared by the OT and loss tests."""

import numpy as np
import torch

from otmark.heatmaps import render_gaussian


def grid_cost(h: int, w: int) -> np.ndarray:
    """Euclidean distances between pixel centres of an (h, w) grid, row-major: (h*w, h*w)."""
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    pts = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    return np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))


def random_pair(n: int, sigma: float, kind: str, seed: int, count: int = 1):
    """count pairs of (prediction a, target b), (count, n, n) float64, each summing to 1."""
    g = torch.Generator().manual_seed(seed)
    centres = n / 4 + torch.rand(count, 1, 2, generator=g, dtype=torch.float64) * (n / 2)
    b = render_gaussian(centres, n, sigma, normalize=True)[:, 0]
    if kind == "rand":
        logits = torch.randn(count, n * n, generator=g, dtype=torch.float64)
    else:  # "peaked": a displaced blob over noise, like a half-trained network
        peak = render_gaussian(centres + torch.tensor([1.5, -1.0], dtype=torch.float64), n, 1.5)
        logits = (8 * peak[:, 0] + 0.5 * torch.randn(count, n, n, generator=g)).reshape(count, -1)
    a = torch.softmax(logits, dim=-1).reshape(count, n, n)
    return a, b
