"""Temporal smoothing of landmarks in video: the One-Euro filter (Casiez, Roussel and Vogel,
CHI 2012).

A first-order low-pass filter whose cutoff frequency rises with the speed of the signal: slow
motion (where jitter shows) is smoothed hard, fast motion follows with little lag. For each
coordinate ``x`` sampled at time ``t`` (seconds), with ``dt`` the time since the last sample::

    alpha(fc) = 1 / (1 + tau / dt),  tau = 1 / (2 pi fc)
    dx_hat = alpha(d_cutoff) * (x - x_hat_prev) / dt + (1 - alpha(d_cutoff)) * dx_hat_prev
    fc = min_cutoff + beta * |dx_hat|
    x_hat = alpha(fc) * x + (1 - alpha(fc)) * x_hat_prev

The first sample (and the first after :meth:`OneEuroFilter.reset`) is returned unchanged, with
``dx_hat = 0``. ``min_cutoff`` (Hz) sets the smoothing at rest (lower: smoother, more lag);
``beta`` (per pixel) how quickly the cutoff rises with the speed in pixels per second (higher:
less lag in fast motion). Every coordinate of every landmark is filtered on its own.
A NaN coordinate (a missing point) passes through as NaN and leaves that coordinate's state as
it was.
"""

from __future__ import annotations

import math

import numpy as np

#: defaults of ``otmark detect --smooth-min-cutoff / --smooth-beta`` and of the derivative cutoff.
#: Chosen with the packaged HRNet tracking two generated 256-px videos at 25 frames/s (300VW
#: categories 1 and 2, 30 frames): (1, 0.5) cut the jitter by 22% and 9% for 3% and 8% more
#: NME; a lower beta (0.05) lagged behind the head's motion (50% more NME).
MIN_CUTOFF = 1.0
BETA = 0.5
D_CUTOFF = 1.0


def smoothing_factor(cutoff: float | np.ndarray, dt: float) -> float | np.ndarray:
    """``alpha = 1 / (1 + tau / dt)`` with ``tau = 1 / (2 pi cutoff)`` (cutoff in Hz, dt in s)."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Stateful One-Euro filter over arrays of a fixed shape (e.g. landmarks ``(K, 2)``).

    Args:
        min_cutoff: cutoff frequency at rest, Hz (> 0).
        beta: speed coefficient, per unit of the signal (>= 0).
        d_cutoff: cutoff frequency of the speed estimate, Hz (> 0).

    Call it as ``filter(points, t)`` with ``t`` in seconds, increasing; returns the filtered
    points (float64, same shape). :meth:`reset` forgets the past (e.g. when a face is lost).
    """

    def __init__(
        self, min_cutoff: float = MIN_CUTOFF, beta: float = BETA, d_cutoff: float = D_CUTOFF
    ) -> None:
        if not (min_cutoff > 0 and math.isfinite(min_cutoff)):
            raise ValueError(f"min_cutoff must be a finite number > 0 (Hz), got {min_cutoff}")
        if not (beta >= 0 and math.isfinite(beta)):
            raise ValueError(f"beta must be a finite number >= 0, got {beta}")
        if not (d_cutoff > 0 and math.isfinite(d_cutoff)):
            raise ValueError(f"d_cutoff must be a finite number > 0 (Hz), got {d_cutoff}")
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next sample is returned unchanged."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    @property
    def started(self) -> bool:
        """Whether a sample has been seen since construction or the last :meth:`reset`."""
        return self._x is not None

    def __call__(self, points, t: float) -> np.ndarray:
        x = np.array(points, dtype=np.float64)
        t = float(t)
        if self._x is None:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x
        if x.shape != self._x.shape:
            raise ValueError(f"points of shape {x.shape} after {self._x.shape}; reset() first")
        dt = t - self._t
        if not dt > 0:
            raise ValueError(f"time must increase: t = {t} after {self._t}")
        prev = self._x
        seen = np.isfinite(x)
        fresh = seen & ~np.isfinite(prev)  # a point back after a NaN: start from it
        dx = np.where(seen & ~fresh, (x - prev) / dt, 0.0)
        a_d = smoothing_factor(self.d_cutoff, dt)
        dx_hat = a_d * dx + (1.0 - a_d) * self._dx
        a = smoothing_factor(self.min_cutoff + self.beta * np.abs(dx_hat), dt)
        x_hat = np.where(fresh, x, a * x + (1.0 - a) * prev)
        self._x = np.where(seen, x_hat, prev)
        self._dx = np.where(seen, dx_hat, self._dx)
        self._t = t
        return np.where(seen, x_hat, np.nan)


class FaceSmoother:
    """One :class:`OneEuroFilter` per tracked face, keyed by a track id.

    ``smoother(ids, landmarks, t)`` filters the faces ``landmarks (N, K, 2)`` whose track ids are
    ``ids (N,)`` at time ``t``; tracks absent from ``ids`` are dropped (their filters reset), new
    ids get fresh filters.
    """

    def __init__(
        self, min_cutoff: float = MIN_CUTOFF, beta: float = BETA, d_cutoff: float = D_CUTOFF
    ) -> None:
        OneEuroFilter(min_cutoff, beta, d_cutoff)  # checks the parameters
        self.params = (min_cutoff, beta, d_cutoff)
        self._filters: dict[int, OneEuroFilter] = {}

    def reset(self) -> None:
        """Drop every track."""
        self._filters.clear()

    def __call__(self, ids, landmarks: np.ndarray, t: float) -> np.ndarray:
        ids = [int(i) for i in ids]
        pts = np.asarray(landmarks, dtype=np.float64)
        if len(ids) != len(pts):
            raise ValueError(f"{len(ids)} track ids for {len(pts)} faces")
        self._filters = {i: self._filters.get(i) or OneEuroFilter(*self.params) for i in ids}
        if not ids:
            return pts.copy()
        return np.stack([self._filters[i](p, t) for i, p in zip(ids, pts)])
