"""Paired comparisons of two settings: per-image differences, bootstrap intervals, per-seed wins,
degradation under a perturbation, and robustness at a matched clean NME.

All NMEs are per image (one value per test face, in percent or as a fraction: the functions do
not care, as long as both sides use the same unit).

* :func:`paired_differences` - ``a - b`` per image (negative: setting A has the lower error).
* :func:`bootstrap_mean_ci` - percentile bootstrap interval of the mean difference, resampling
  images (the same images for every seed) or (seed, image) pairs; seeded
  ``numpy.random.Generator``.
* :func:`per_seed_wins` - in how many seeds A's mean NME is lower than B's.
* :func:`degradation` - perturbed - clean NME per image, on the images both protocols share.
* :func:`interpolate_at_clean`, :func:`common_clean_target`, :func:`at_matched_clean` - the
  perturbed NME of each run at a common clean NME, by linear interpolation along the run's
  checkpoints (so that a setting that merely trained further is not called more robust).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_UNITS = ("image", "pair")


def _as_generator(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def paired_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image differences ``a - b``.

    Args:
        a, b: per-image NME of two settings on the same images in the same order: ``(N,)``
            for one seed or ``(S, N)`` for S seeds.

    Returns:
        ``(N,)`` or ``(S, N)`` float64 array.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim not in (1, 2) or a.size == 0:
        raise ValueError(f"paired NMEs need equal (N,) or (S, N) shapes, got {a.shape}, {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired NMEs must be finite")
    return a - b


@dataclass(frozen=True)
class Interval:
    """A point estimate and its bootstrap interval.

    Attributes:
        estimate: the statistic on the data (the mean difference).
        low, high: the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled
            statistic (percentile bootstrap).
        level: confidence level (0.95).
        n_resamples: bootstrap resamples drawn.
        unit: what was resampled (``image`` or ``pair``).
    """

    estimate: float
    low: float
    high: float
    level: float
    n_resamples: int
    unit: str

    def excludes_zero(self) -> bool:
        """True when the whole interval is on one side of 0."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict:
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "level": self.level,
            "n_resamples": self.n_resamples,
            "unit": self.unit,
        }


def bootstrap_mean_ci(
    diff: np.ndarray,
    rng: np.random.Generator | int,
    n_resamples: int = 10_000,
    level: float = 0.95,
    unit: str = "image",
) -> Interval:
    """Percentile bootstrap interval of the mean of paired differences.

    Args:
        diff: ``(N,)`` per-image differences, or ``(S, N)`` for S seeds on the same N images.
        rng: a ``numpy.random.Generator`` or a seed for one.
        n_resamples: resamples (each draws as many units as there are, with replacement).
        level: confidence level.
        unit: ``image`` - draw images (for ``(S, N)`` each drawn image brings its S seeds, so
            the per-image correlation between seeds is kept; the statistic is the mean of
            all S x N values); ``pair`` - draw the S x N (seed, image) values independently.

    Returns:
        :class:`Interval` with the mean difference and its interval.
    """
    if unit not in BOOTSTRAP_UNITS:
        raise ValueError(f"unit must be one of {BOOTSTRAP_UNITS}, got {unit!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    d = np.asarray(diff, dtype=np.float64)
    if d.ndim not in (1, 2) or d.size == 0 or not np.isfinite(d).all():
        raise ValueError(f"diff must be a finite (N,) or (S, N) array, got shape {d.shape}")
    # with S seeds, every image column holds S values: the mean of drawn columns equals the
    # mean of the drawn column means
    values = (d.mean(axis=0) if d.ndim == 2 else d) if unit == "image" else d.ravel()
    gen = _as_generator(rng)
    n = values.size
    block = max(1, 2_000_000 // n)  # bounded memory: at most ~2e6 drawn indices at a time
    means = np.concatenate(
        [
            values[gen.integers(0, n, size=(min(block, n_resamples - start), n))].mean(axis=1)
            for start in range(0, n_resamples, block)
        ]
    )
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(float(d.mean()), float(low), float(high), level, n_resamples, unit)


@dataclass(frozen=True)
class Wins:
    """Per-seed comparison of settings A and B (lower mean NME wins).

    Attributes:
        wins, losses, ties: seeds where A's mean NME is lower, higher, equal.
        diffs: ``(S,)`` per-seed mean NME of A minus B.
    """

    wins: int
    losses: int
    ties: int
    diffs: tuple[float, ...]

    def __str__(self) -> str:
        return f"{self.wins}/{self.wins + self.losses + self.ties}"


def per_seed_wins(a: np.ndarray, b: np.ndarray) -> Wins:
    """Count the seeds in which setting A beats B.

    Args:
        a, b: ``(S, N)`` per-image NME per seed, or ``(S,)`` per-seed mean NME.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim not in (1, 2) or a.size == 0:
        raise ValueError(
            f"per-seed NMEs need equal (S,) or (S, N) shapes, got {a.shape}, {b.shape}"
        )
    if a.ndim == 2:
        a, b = a.mean(axis=1), b.mean(axis=1)
    d = a - b
    return Wins(int((d < 0).sum()), int((d > 0).sum()), int((d == 0).sum()), tuple(d.tolist()))


def degradation(
    clean: Mapping[str, float], perturbed: Mapping[str, float]
) -> tuple[list[str], np.ndarray]:
    """Perturbed minus clean NME per image, on the same images.

    Args:
        clean: image id -> NME on the clean protocol.
        perturbed: image id -> NME on the perturbed (or cross-dataset) version of those
            images; every id must be in ``clean``.

    Returns:
        ``(ids, diff)``: the perturbed protocol's ids, sorted, and ``(N,)`` perturbed - clean.
    """
    missing = sorted(set(perturbed) - set(clean))
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ValueError(
            f"{len(missing)} perturbed images have no clean counterpart (not the same "
            f"images): {shown}"
        )
    if not perturbed:
        raise ValueError("no perturbed images")
    ids = sorted(perturbed)
    diff = np.array([perturbed[i] - clean[i] for i in ids], dtype=np.float64)
    return ids, diff


def interpolate_at_clean(
    clean: Sequence[float], perturbed: Sequence[float], target: float, crossing: str = "first"
) -> float:
    """Perturbed NME of one run where its clean NME equals ``target``.

    The run's checkpoints, in training order, give points ``(clean[k], perturbed[k])``; the
    polyline through them is cut where the clean NME crosses ``target`` and the perturbed NME
    interpolated linearly on that segment. A clean curve that is not monotonic can cross
    ``target`` several times: ``crossing`` picks the ``first`` (earliest in training) or the
    ``last``.

    Args:
        clean, perturbed: ``(C,)`` NMEs at C checkpoints.
        target: the clean NME to match.

    Returns:
        The interpolated perturbed NME, or NaN when ``target`` is outside the run's range.
    """
    if crossing not in ("first", "last"):
        raise ValueError(f"crossing must be 'first' or 'last', got {crossing!r}")
    c = np.asarray(clean, dtype=np.float64)
    p = np.asarray(perturbed, dtype=np.float64)
    if c.shape != p.shape or c.ndim != 1 or c.size == 0:
        raise ValueError(f"clean and perturbed need equal (C,) shapes, got {c.shape}, {p.shape}")
    if c.size == 1:
        return float(p[0]) if c[0] == target else float("nan")
    segments = range(c.size - 1) if crossing == "first" else range(c.size - 2, -1, -1)
    for k in segments:
        c0, c1 = c[k], c[k + 1]
        if min(c0, c1) <= target <= max(c0, c1):
            if c0 == c1:
                return float(p[k] if crossing == "first" else p[k + 1])
            t = (target - c0) / (c1 - c0)
            return float(p[k] + t * (p[k + 1] - p[k]))
    return float("nan")


def common_clean_target(cleans: Sequence[Sequence[float]]) -> float:
    """The lowest clean NME that every run reaches: ``max`` over runs of each run's minimum
    (NaN when some run never gets as high as it, i.e. the runs' ranges do not overlap)."""
    if not cleans:
        raise ValueError("no runs")
    arrays = [np.asarray(c, dtype=np.float64) for c in cleans]
    if any(a.size == 0 for a in arrays):
        raise ValueError("a run has no checkpoints")
    target = max(float(a.min()) for a in arrays)
    if target > min(float(a.max()) for a in arrays):
        return float("nan")
    return target


@dataclass(frozen=True)
class MatchedClean:
    """Perturbed NME of several runs at one clean NME.

    Attributes:
        target: the matched clean NME.
        perturbed: ``(R,)`` each run's perturbed NME there (NaN: outside that run's range).
    """

    target: float
    perturbed: np.ndarray


def at_matched_clean(
    runs: Sequence[tuple[Sequence[float], Sequence[float]]],
    target: float | None = None,
    crossing: str = "first",
) -> MatchedClean:
    """:func:`interpolate_at_clean` for every run ``(clean, perturbed)`` at ``target``
    (default: :func:`common_clean_target` of the runs, so every run of both settings can be
    compared when the runs of both are passed together)."""
    if target is None:
        target = common_clean_target([c for c, _ in runs])
    values = np.array(
        [interpolate_at_clean(c, p, target, crossing) for c, p in runs], dtype=np.float64
    )
    return MatchedClean(float(target), values)
