"""Failure rates, cumulative error distributions (CED) and the area under the CED (AUC).

Two granularities (``per``):

* ``"image"``: the value of image ``i`` is its NME ``mean_j errors[i, j]`` (classical FR^I).
* ``"landmark"``: the paper's FR^L. For each landmark ``j`` the fraction of images with
  ``errors[i, j] > theta``, then the mean over landmarks. Because every landmark is scored on
  the same ``N`` images, this is exactly the fraction of all ``N * K`` values above ``theta``,
  so the landmark-wise CED is the empirical distribution of the pooled values.

All rates are fractions in ``[0, 1]``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from otmark.metrics.errors import as_errors

Per = Literal["image", "landmark"]


def pooled_values(errors: np.ndarray, per: Per = "image") -> np.ndarray:
    """The 1-D sample whose empirical distribution is the CED: ``(N,)`` or ``(N*K,)``."""
    errors = as_errors(errors)
    if per == "image":
        return errors.mean(axis=1)
    if per == "landmark":
        return errors.reshape(-1)
    raise ValueError(f"per must be 'image' or 'landmark', got {per!r}")


def failure_rate(errors: np.ndarray, theta: float, per: Per = "image") -> float:
    """Fraction of failures (value strictly greater than ``theta``).

    ``errors``: ``(N, K)``. ``per="image"``: fraction of images whose NME exceeds ``theta``.
    ``per="landmark"``: mean over landmarks of the fraction of images whose error on that
    landmark exceeds ``theta``.
    """
    values = pooled_values(errors, per)
    return float(np.mean(values > theta))


def ced(errors: np.ndarray, thetas: np.ndarray, per: Per = "image") -> np.ndarray:
    """Cumulative error distribution: ``(T,)`` fraction of values ``<= theta`` per threshold.

    ``errors``: ``(N, K)``; ``thetas``: ``(T,)``. Equals ``1 - failure_rate`` at each theta.
    """
    values = np.sort(pooled_values(errors, per))
    thetas = np.asarray(thetas, dtype=np.float64)
    return np.searchsorted(values, thetas, side="right") / values.size


def auc(errors: np.ndarray, theta_max: float, per: Per = "image") -> float:
    """Area under the CED from 0 to ``theta_max``, divided by ``theta_max`` (so in ``[0, 1]``).

    Computed exactly, not on a grid: the CED is the step function
    ``F(t) = (1/n) * #{v <= t}``, hence
    ``integral_0^T F(t) dt = (1/n) * sum_v max(0, T - v)`` for non-negative values ``v``.
    A perfect predictor scores 1; every value ``>= theta_max`` scores 0.
    """
    if not theta_max > 0:
        raise ValueError(f"theta_max must be > 0, got {theta_max!r}")
    values = pooled_values(errors, per)
    return float(np.mean(np.clip(theta_max - values, 0.0, None)) / theta_max)
