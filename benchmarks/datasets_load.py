"""Benchmark: ``otmark.datasets.load`` on a few thousand samples, without decoding any image.

Target: under 1 ms per sample (the loaders parse annotations and stat image files only).
Run: ``python benchmarks/datasets_load.py``. Prints a table and writes
``benchmarks/results/datasets_load.json`` (atomically). The data are tiny generated faces written
with otmark's own writers into a temporary folder.
"""

from __future__ import annotations

import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from otmark.datasets import ImageRef, Sample, load, write_300w, write_aflw, write_wflw
from otmark.datasets.fileio import write_text_atomic
from otmark.schemes import get_scheme

N = 3000
REPEATS = 3
TARGET_US_PER_SAMPLE = 1000.0


def faces(scheme: str, n: int, seed: int):
    rng = np.random.default_rng(seed)
    k = get_scheme(scheme).num_points
    img = np.zeros((4, 4, 3), np.uint8)
    samples = [
        Sample(ImageRef(Path("x.png")), rng.uniform(0, 3, (k, 2)), scheme, id=f"f{i:05d}")
        for i in range(n)
    ]
    return samples, [img] * n


def main() -> None:
    rows = []
    decoded = []
    real_imread = cv2.imread
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        s, im = faces("300w", N, 0)
        write_300w(root / "300w", "ibug", s, im)
        s, im = faces("wflw", N, 1)
        write_wflw(root / "wflw", "test", s, im)
        s, im = faces("aflw", N, 2)
        write_aflw(root / "aflw", "full", s, im)
        cases = [("300w", "challenge"), ("wflw", "test"), ("aflw", "full")]
        cv2.imread = lambda *a, **k: decoded.append(a) or real_imread(*a, **k)
        try:
            for name, split in cases:
                times = []
                for _ in range(REPEATS):
                    t0 = time.perf_counter()
                    res = load(name, root / name, split)
                    times.append(time.perf_counter() - t0)
                assert len(res) == N
                med = statistics.median(times)
                rows.append(
                    {
                        "dataset": name,
                        "split": split,
                        "samples": N,
                        "median_s": med,
                        "us_per_sample": 1e6 * med / N,
                        "meets_target": 1e6 * med / N < TARGET_US_PER_SAMPLE,
                    }
                )
        finally:
            cv2.imread = real_imread
    print(f"{'dataset':<8} {'split':<10} {'samples':>7} {'median s':>9} {'us/sample':>10}")
    for r in rows:
        print(
            f"{r['dataset']:<8} {r['split']:<10} {r['samples']:>7} {r['median_s']:>9.3f} "
            f"{r['us_per_sample']:>10.1f}"
        )
    print(f"images decoded during load: {len(decoded)}")
    out = {
        "benchmark": "datasets_load",
        "target_us_per_sample": TARGET_US_PER_SAMPLE,
        "images_decoded": len(decoded),
        "rows": rows,
        "machine": platform.platform(),
        "python": platform.python_version(),
    }
    path = Path(__file__).parent / "results" / "datasets_load.json"
    write_text_atomic(path, json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
