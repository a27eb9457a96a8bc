"""Benchmark: normalised errors + summary + CED on >= 10^6 landmark errors (target < 1 s).

Run: ``python benchmarks/metrics.py``. Prints a table and writes
``benchmarks/results/metrics.json`` (atomically).
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np

from otmark.atomic import write_json_atomic
from otmark.metrics import ced, landmark_errors, summary

N_IMAGES = 10_240
N_POINTS = 98  # a WFLW-sized scheme; 10_240 * 98 = 1_003_520 landmark errors
REPEATS = 5


def run_once(pred: np.ndarray, gt: np.ndarray, norm: np.ndarray) -> float:
    t0 = time.perf_counter()
    err = landmark_errors(pred, gt, norm)
    summary(err)
    thetas = np.linspace(0.0, 0.5, 501)
    ced(err, thetas, per="image")
    ced(err, thetas, per="landmark")
    return time.perf_counter() - t0


def main() -> None:
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 256, (N_IMAGES, N_POINTS, 2))
    pred = gt + rng.normal(0, 3, gt.shape)
    norm = rng.uniform(60, 120, N_IMAGES)
    times = [run_once(pred, gt, norm) for _ in range(REPEATS)]
    result = {
        "values": N_IMAGES * N_POINTS,
        "images": N_IMAGES,
        "points": N_POINTS,
        "repeats": REPEATS,
        "best_s": min(times),
        "median_s": float(np.median(times)),
        "target_s": 1.0,
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    print("| values | best (s) | median (s) | target (s) |")
    print("|---:|---:|---:|---:|")
    print(f"| {result['values']:,} | {result['best_s']:.3f} | {result['median_s']:.3f} | 1.0 |")
    out = Path(__file__).resolve().parent / "results" / "metrics.json"
    write_json_atomic(out, result, indent=2)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
