"""Paired comparisons of two settings: per-image differences, bootstrap intervals, per-seed wins,
degradation under a perturbation, and robustness at a matched clean NME.

All NMEs are per image (one value per test face, in percent or as a fraction: the functions do
not care, as long as both sides use the same unit).

* :func:`paired_differences` - ``a - b`` per image (negative: setting A has the lower error).
* :func:`bootstrap_mean_ci` - percentile bootstrap interval of the mean difference, resampling
  images (the same images for every seed) or (seed, image) pairs; seeded
  ``numpy.random.Generator``.
* :func:`hierarchical_bootstrap_ci` - the interval that matches the study's design: seeds
  resampled, then images (or, on video protocols, whole videos) resampled; the interval the
  claims use (:mod:`otmark.study.claims`).
* :func:`per_seed_wins` - in how many seeds A's mean NME is lower than B's.
* :func:`degradation` - perturbed - clean NME per image, on the images both protocols share.
* :func:`interpolate_at_clean`, :func:`common_clean_target`, :func:`at_matched_clean` - the
  perturbed NME of each run at a common clean NME, by linear interpolation along the run's
  checkpoints (so that a setting that merely trained further is not called more robust).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_UNITS = ("image", "pair")
#: resampling units of :func:`hierarchical_bootstrap_ci`
RESAMPLING_UNITS = ("seeds+images", "seeds+videos")


def _as_generator(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def mean_std(values: Sequence[float]) -> str:
    """``"m ± s (n)"`` for a report's table (sample standard deviation; ``± -`` for one
    value; ``–`` for none)."""
    if not values:
        return "–"
    m = statistics.fmean(values)
    s = f"{statistics.stdev(values):.2f}" if len(values) > 1 else "-"
    return f"{m:.2f} ± {s} ({len(values)})"


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
        unit: what was resampled (``image`` or ``pair``: :func:`bootstrap_mean_ci`;
            ``seeds+images`` or ``seeds+videos``: :func:`hierarchical_bootstrap_ci`).
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


def _draw_counts(gen: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``(size, n)``: in each of ``size`` resamples, how often each of ``n`` units is drawn
    when ``n`` units are drawn with replacement."""
    drawn = gen.integers(0, n, size=(size, n)) + n * np.arange(size)[:, None]
    return np.bincount(drawn.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)


def video_of(frame_id: str) -> str:
    """The video of a video frame id ``"<video>/<frame>"``: the part before the last ``/``
    (``"516/000001"`` -> ``"516"``, ``"a/b/000003"`` -> ``"a/b"``)."""
    video, sep, frame = frame_id.rpartition("/")
    if not (sep and video and frame):
        raise ValueError(f"frame id {frame_id!r} is not '<video>/<frame>'")
    return video


def clusters(ids: Sequence[str] | None, n: int, unit: str) -> np.ndarray:
    """``(N,)`` cluster index of every image: itself (``seeds+images``; ``ids`` may be None)
    or its video (``seeds+videos``: :func:`video_of` of each id, indices in order of first
    appearance)."""
    if unit not in RESAMPLING_UNITS:
        raise ValueError(f"unit must be one of {RESAMPLING_UNITS}, got {unit!r}")
    if unit == "seeds+images":
        return np.arange(n)
    if ids is None or len(ids) != n:
        got = "none" if ids is None else len(ids)
        raise ValueError(f"seeds+videos needs one id per image ({n}), got {got}")
    index: dict[str, int] = {}
    return np.array([index.setdefault(video_of(i), len(index)) for i in ids], dtype=np.int64)


def hierarchical_bootstrap_ci(
    diff: np.ndarray,
    rng: np.random.Generator | int,
    unit: str = "seeds+images",
    ids: Sequence[str] | None = None,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> Interval:
    """Percentile bootstrap interval of the mean paired difference over seeds and images.

    The study's design has two sources of chance: the training seed and the test sample. Each
    resample draws the S seeds with replacement, then draws the test sample with replacement:
    the N images (``seeds+images``) or, on video protocols whose frames are not independent,
    the whole videos with all their frames (``seeds+videos``; the video is the id's part
    before the last ``/``, :func:`video_of`). Every seed scored the same test images, so one draw of
    images (or videos) serves every drawn seed (seeds and images are crossed, not nested),
    and the values are paired differences ``A - B``, so both settings get the same draw.
    The statistic is the mean of ``diff`` over the drawn seeds x the drawn images (a seed or
    an image drawn twice counts twice; a video brings all its frames, so longer videos weigh
    more, as in the estimate).

    Special cases: with one seed (or all seeds equal) it is the image (or video) bootstrap;
    with no variation within a seed it is the bootstrap of the S seed means.

    Args:
        diff: ``(S, N)`` per-image differences of S seeds on the same N images in the same
            order, or ``(N,)`` for one seed.
        rng: a seeded ``numpy.random.Generator`` or a seed for one.
        unit: ``seeds+images`` or ``seeds+videos``.
        ids: ``(N,)`` image ids (``"<video>/<frame>"``); needed for ``seeds+videos``.
        n_resamples: resamples.
        level: confidence level.

    Returns:
        :class:`Interval`: the mean of ``diff`` and its interval; ``unit`` is the resampling
        unit.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    d = np.asarray(diff, dtype=np.float64)
    if d.ndim == 1:
        d = d[None, :]
    if d.ndim != 2 or d.size == 0 or not np.isfinite(d).all():
        raise ValueError(f"diff must be a finite (N,) or (S, N) array, got shape {d.shape}")
    n_seeds, n = d.shape
    cluster = clusters(ids, n, unit)
    n_clusters = int(cluster.max()) + 1
    # totals[s, c]: the sum of seed s's values over cluster c's images; sizes[c]: its images
    totals = np.zeros((n_seeds, n_clusters))
    np.add.at(totals.T, cluster, d.T)
    sizes = np.bincount(cluster, minlength=n_clusters).astype(np.float64)
    gen = _as_generator(rng)
    block = max(1, 2_000_000 // (n_clusters + n_seeds))  # bounded memory
    means = []
    for start in range(0, n_resamples, block):
        size = min(block, n_resamples - start)
        # how often each seed / cluster is drawn in each resample
        seed_counts = _draw_counts(gen, n_seeds, size)
        cluster_counts = _draw_counts(gen, n_clusters, size)
        num = ((seed_counts @ totals) * cluster_counts).sum(axis=1)
        means.append(num / (n_seeds * (cluster_counts @ sizes)))
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(np.concatenate(means), [alpha, 1.0 - alpha])
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
