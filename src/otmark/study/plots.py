"""Figures of the quickstart and the study: CED curves and landmark overlays (PNG, atomic)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from otmark.atomic import save_figure_atomic


def _pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib  # lazy: matplotlib is slow to import and only the figures need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: as above

    return plt


def _save(fig, path: Path) -> Path:
    try:
        return save_figure_atomic(fig, path)
    finally:
        _pyplot().close(fig)


def plot_ced(
    path: str | os.PathLike,
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str,
    per: str = "image",
    theta_max: float = 0.2,
) -> Path:
    """One CED plot with a curve per label: ``label -> (thetas (T,), fractions (T,))``."""
    fig, ax = _pyplot().subplots(figsize=(5.5, 4), dpi=100)
    for label, (thetas, values) in curves.items():
        ax.plot(np.asarray(thetas), np.asarray(values), label=label)
    ax.set_xlim(0, theta_max)
    ax.set_ylim(0, 1)
    ax.set_xlabel("normalised error" + (" (per-image NME)" if per == "image" else ""))
    ax.set_ylabel("fraction of " + ("images" if per == "image" else "landmarks"))
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _save(fig, Path(path))


def overlay_grid(
    path: str | os.PathLike,
    images: Sequence[np.ndarray],
    predictions: Sequence[np.ndarray],
    ground_truth: Sequence[np.ndarray],
    titles: Sequence[str],
    columns: int = 4,
) -> Path:
    """A grid of images with ground truth (green) and predictions (red).

    Args:
        images: ``(H, W, 3)`` uint8 RGB each.
        predictions, ground_truth: ``(K, 2)`` image coordinates each (may differ in ``K``).
    """
    n = len(images)
    rows = max(1, -(-n // columns))
    fig, axes = _pyplot().subplots(rows, columns, figsize=(2.6 * columns, 2.8 * rows), dpi=100)
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, img, pred, gt, title in zip(
        np.atleast_1d(axes).ravel(), images, predictions, ground_truth, titles
    ):
        ax.imshow(img)
        ax.scatter(gt[:, 0], gt[:, 1], s=4, c="lime", label="ground truth")
        ax.scatter(pred[:, 0], pred[:, 1], s=4, c="red", label="prediction")
        ax.set_title(title, fontsize=7)
    fig.tight_layout()
    return _save(fig, Path(path))
