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
``beta`` how quickly the cutoff rises with the speed (higher: less lag in fast motion). Every
coordinate is filtered on its own. A NaN coordinate (a missing point) passes through as NaN and
leaves that coordinate's state as it was.

Two extensions, both off in :class:`OneEuroFilter` by default:

- **size-normalised speed**: ``filter(x, t, size)`` uses ``|dx_hat| / size`` in the cutoff, so
  ``beta`` is per face size (a face crossing its own width in a second has speed 1) and one
  value works for small and large faces (a filter of ``(c x, c size)`` gives ``c`` times the
  filter of ``(x, size)``);
- **trend** (``trend=True``): the previous estimate is carried forward by its speed before the
  blend, ``x_hat = alpha * x + (1 - alpha) * (x_hat_prev + dx_hat_prev * dt)``: a signal moving
  at a constant speed is followed without lag (a double exponential smoothing).

:class:`FaceSmoother` filters each face in three parts. With ``c`` the mean of its landmarks
and ``d_k = p_k - c`` their offsets as complex numbers:

- the **centre** ``c``: with trend, ``centre_min_cutoff`` / ``centre_beta`` per face size (the
  geometric mean of the sides of the landmarks' tight box);
- the **pose** ``z = sum conj(u_k) d_k / sum |u_k|^2``, the scale and roll that best map the
  track's template ``u`` (its first offsets over their RMS) onto ``d``: ``log |z|`` and the
  unwrapped ``arg z`` with trend, ``pose_min_cutoff`` / ``pose_beta``;
- the **shape** ``d / z`` (the offsets with that scale and roll undone): ``min_cutoff`` /
  ``beta``.

The result is ``c_hat + z_hat * shape_hat``. A moving head moves the centre, a turning or
nearing one changes the pose; the shape changes only with the head's yaw, pitch and
expression, so it is smoothed hard, while the centre and the pose, fitted to all the landmarks,
are much less noisy than each landmark. Every part is scale-free: the same parameters fit
small and large faces.
"""

from __future__ import annotations

import math

import numpy as np

#: defaults of ``otmark detect --smooth-min-cutoff / --smooth-beta`` (the shape),
#: ``--smooth-centre-min-cutoff / --smooth-centre-beta`` (the centre) and the derivative
#: cutoff. Chosen with ``pretrained-fast`` tracking the training videos of two generated 300VW
#: (``docs/detect/detect.md``, "Smoothing").
MIN_CUTOFF = 1.0
BETA = 3.0
CENTRE_MIN_CUTOFF = 2.0
CENTRE_BETA = 30.0
#: the pose filter's (scale and roll of the face): not a flag of ``otmark detect``
POSE_MIN_CUTOFF = 2.0
POSE_BETA = 3.0
D_CUTOFF = 1.0


def smoothing_factor(cutoff: float | np.ndarray, dt: float) -> float | np.ndarray:
    """``alpha = 1 / (1 + tau / dt)`` with ``tau = 1 / (2 pi cutoff)`` (cutoff in Hz, dt in s)."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Stateful One-Euro filter over arrays of a fixed shape (e.g. landmarks ``(K, 2)``).

    Args:
        min_cutoff: cutoff frequency at rest, Hz (> 0).
        beta: speed coefficient, per unit of the signal, or per ``size`` (>= 0).
        d_cutoff: cutoff frequency of the speed estimate, Hz (> 0).
        trend: carry the previous estimate forward by its speed (module docstring).

    Call it as ``filter(points, t, size=1.0)`` with ``t`` in seconds, increasing, and ``size``
    (> 0) the unit of the speed in the cutoff; returns the filtered points (float64, same
    shape). :meth:`reset` forgets the past (e.g. when a face is lost).
    """

    def __init__(
        self,
        min_cutoff: float = MIN_CUTOFF,
        beta: float = BETA,
        d_cutoff: float = D_CUTOFF,
        trend: bool = False,
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
        self.trend = bool(trend)
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

    def __call__(self, points, t: float, size: float = 1.0) -> np.ndarray:
        x = np.array(points, dtype=np.float64)
        t = float(t)
        if not (size > 0 and math.isfinite(size)):
            raise ValueError(f"size must be a finite number > 0, got {size}")
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
        a = smoothing_factor(self.min_cutoff + self.beta * np.abs(dx_hat) / size, dt)
        carried = prev + self._dx * dt if self.trend else prev
        x_hat = np.where(fresh, x, a * x + (1.0 - a) * carried)
        self._x = np.where(seen, x_hat, prev)
        self._dx = np.where(seen, dx_hat, self._dx)
        self._t = t
        return np.where(seen, x_hat, np.nan)


def face_size(landmarks: np.ndarray) -> float:
    """The size of a face ``(K, 2)``: the geometric mean of the sides of its landmarks' tight box
    (finite points only); its longer side when the other is 0; 0 without any extent."""
    pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) < 2:
        return 0.0
    w, h = pts.max(axis=0) - pts.min(axis=0)
    return float(np.sqrt(w * h)) if w > 0 and h > 0 else float(max(w, h))


class _FaceFilter:
    """One face's filters: centre (with trend), pose ``log |z|, arg z`` (with trend) and the
    shape ``D / z`` (module docstring)."""

    def __init__(self, shape: OneEuroFilter, centre: OneEuroFilter, pose: OneEuroFilter) -> None:
        self.shape, self.centre, self.pose = shape, centre, pose
        self.size = 1.0  # the last face size > 0 (1 pixel until there is one)
        self.template: np.ndarray | None = None  # (K,) complex, RMS 1
        self.angle = 0.0  # the last unwrapped angle of z

    def _pose(self, d: np.ndarray) -> complex:
        """``z`` of the offsets ``d (K,)`` (complex) against the template (set on first use)."""
        ok = np.isfinite(d)
        rms = float(np.sqrt(np.mean(np.abs(d[ok]) ** 2))) if ok.sum() >= 2 else 0.0
        if rms == 0.0:
            return 1.0 + 0.0j
        if self.template is None:
            self.template = d / rms
        u = self.template
        both = ok & np.isfinite(u)
        if both.sum() < 2 or not np.abs(u[both]).sum() > 0:
            return rms + 0.0j
        z = complex(np.sum(np.conj(u[both]) * d[both]) / np.sum(np.abs(u[both]) ** 2))
        return z if z != 0 else rms + 0.0j

    def __call__(self, pts: np.ndarray, t: float) -> np.ndarray:
        finite = np.isfinite(pts).all(axis=1)
        size = face_size(pts)
        if size > 0:
            self.size = size
        if not finite.any():
            return np.full_like(pts, np.nan)  # nothing to filter: state unchanged
        centre = pts[finite].mean(axis=0)
        d = (pts[:, 0] - centre[0]) + 1j * (pts[:, 1] - centre[1])
        d[~finite] = np.nan
        z = self._pose(d)
        self.angle += (np.angle(z) - self.angle + math.pi) % (2.0 * math.pi) - math.pi
        log_z, angle = self.pose(np.array([math.log(abs(z)), self.angle]), t)
        shape = d / z
        r = self.shape(np.stack([shape.real, shape.imag], axis=-1), t)
        out = np.exp(log_z + 1j * angle) * (r[:, 0] + 1j * r[:, 1])
        return self.centre(centre, t, self.size) + np.stack([out.real, out.imag], axis=-1)


class FaceSmoother:
    """One centre + shape filter per tracked face (module docstring), keyed by a track id.

    ``smoother(ids, landmarks, t)`` filters the faces ``landmarks (N, K, 2)`` whose track ids are
    ``ids (N,)`` at time ``t``; tracks absent from ``ids`` are dropped (their filters reset), new
    ids get fresh filters.

    Args:
        min_cutoff, beta: the shape's filter (Hz; per unit of the face's RMS radius).
        d_cutoff: cutoff of the speed estimates, Hz.
        centre_min_cutoff, centre_beta: the centre's filter (Hz; per face size), with trend.
        pose_min_cutoff, pose_beta: the pose's filter (Hz; per radian or unit of log scale),
            with trend.
    """

    def __init__(
        self,
        min_cutoff: float = MIN_CUTOFF,
        beta: float = BETA,
        d_cutoff: float = D_CUTOFF,
        centre_min_cutoff: float = CENTRE_MIN_CUTOFF,
        centre_beta: float = CENTRE_BETA,
        pose_min_cutoff: float = POSE_MIN_CUTOFF,
        pose_beta: float = POSE_BETA,
    ) -> None:
        self.params = (min_cutoff, beta, d_cutoff)
        self.centre_params = (centre_min_cutoff, centre_beta, d_cutoff)
        self.pose_params = (pose_min_cutoff, pose_beta, d_cutoff)
        self._new()  # checks the parameters
        self._filters: dict[int, _FaceFilter] = {}

    def _new(self) -> _FaceFilter:
        return _FaceFilter(
            OneEuroFilter(*self.params),
            OneEuroFilter(*self.centre_params, trend=True),
            OneEuroFilter(*self.pose_params, trend=True),
        )

    def reset(self) -> None:
        """Drop every track."""
        self._filters.clear()

    def __call__(self, ids, landmarks: np.ndarray, t: float) -> np.ndarray:
        ids = [int(i) for i in ids]
        pts = np.asarray(landmarks, dtype=np.float64)
        if len(ids) != len(pts):
            raise ValueError(f"{len(ids)} track ids for {len(pts)} faces")
        self._filters = {i: self._filters.get(i) or self._new() for i in ids}
        if not ids:
            return pts.copy()
        return np.stack([self._filters[i](p, t) for i, p in zip(ids, pts)])
