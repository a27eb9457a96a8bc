"""Benchmark of the generated datasets: speed, and the domain gap the cross-dataset protocols see.

Run: ``python benchmarks/synth.py [--num 300]``. Prints two tables and writes
``benchmarks/results/synth.json`` (atomically).

1. Speed on one core (``cv2.setNumThreads(1)``) at 256 px: rendered images per second per
   domain (scene sampling + background + face + accessories + effects + annotation), and the
   end-to-end rate of ``synthesize`` (rendering + JPEG encoding + files). Target: >= 50 images/s.
2. Domain gap with the mean-shape baseline (``otmark.baselines.mean_shape``, tight ground-truth
   boxes): fitted on generated 300W train, tested on every generated test set, next to the
   same baseline fitted on that dataset's own training split. NME in the common space (WFLW
   converted to 68 points; AFLW and COFW in AFLW-19 space), normalised by the test set's own
   normaliser (outer eye corners; AFLW: ``box_size``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from otmark.baselines.mean_shape import MeanShape
from otmark.datasets import load
from otmark.datasets.fileio import write_text_atomic
from otmark.datasets.records import Sample
from otmark.metrics.errors import landmark_errors
from otmark.schemes import convert, get_scheme
from otmark.synth.domains import DOMAINS
from otmark.synth.generate import synth_face
from otmark.synth.writers import synthesize

TARGET_IMAGES_PER_S = 50.0


def render_rate(domain: str, n: int) -> tuple[float, float]:
    """``(images per wall-clock second, images per CPU second)`` of ``synth_face``."""
    rng = np.random.default_rng(0)
    scheme = {"wflw": "wflw", "cofw": "cofw", "aflw": "aflw"}.get(domain, "300w")
    synth_face(DOMAINS[domain], rng, (scheme,))  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        synth_face(DOMAINS[domain], rng, (scheme,))
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


def as_scheme(samples, scheme: str) -> list[Sample]:
    out = []
    for s in samples:
        lm = convert(np.asarray(s.landmarks)[None], s.scheme, scheme)[0]
        out.append(Sample(s.image, lm, scheme, s.box, None, dict(s.attributes), s.id))
    return out


def nme(model: MeanShape, test: list[Sample], norm_src: list[Sample]) -> float:
    """NME of ``model`` on ``test`` (already in the model's scheme); normalisers from the
    original samples ``norm_src`` (their own scheme's rule)."""
    from otmark.schemes import normaliser

    pred = model.predict(test)
    gt = np.stack([s.landmarks for s in test])
    src = norm_src[0].scheme
    if get_scheme(src).normaliser_kind == "box":
        norms = np.array([s.attributes["box_size"] for s in norm_src], dtype=np.float64)
    else:
        norms = normaliser(np.stack([s.landmarks for s in norm_src]), src)
    return float(landmark_errors(pred, gt, norms).mean())


def domain_gap(root: Path, num: int, seed: int) -> list[dict]:
    n_vid = max(1, num // 30)
    for name, n in (("300w", num), ("wflw", num), ("cofw", num), ("aflw", num), ("300vw", n_vid)):
        synthesize(name, root / name, n, seed, frames=30)
    w_train = list(load("300w", root / "300w", "train"))
    fits = {
        "300w": MeanShape.fit(w_train),
        "aflw": MeanShape.fit(as_scheme(w_train, "aflw")),
    }
    own = {
        "300w": fits["300w"],
        "wflw": MeanShape.fit(as_scheme(load("wflw", root / "wflw", "train"), "300w")),
        "aflw": MeanShape.fit(load("aflw", root / "aflw", "train")),
        "cofw": MeanShape.fit(as_scheme(load("cofw", root / "cofw", "train"), "aflw")),
        "300vw": MeanShape.fit(as_scheme(load("300vw", root / "300vw", "train"), "300w")),
    }
    cases = [
        ("300w", "common", "300w"),
        ("300w", "challenge", "300w"),
        ("300w", "test", "300w"),
        ("wflw", "test", "300w"),
        ("cofw", "test", "aflw"),
        ("aflw", "full", "aflw"),
        ("300vw", "test1", "300w"),
        ("300vw", "test2", "300w"),
        ("300vw", "test3", "300w"),
    ]
    rows = []
    for dataset, split, space in cases:
        samples = list(load(dataset, root / dataset, split))
        test = as_scheme(samples, space)
        rows.append(
            {
                "test": f"{dataset}/{split}",
                "faces": len(samples),
                "space": space,
                "nme_trained_on_300w": nme(fits[space], test, samples),
                "nme_trained_on_own_train": nme(own[dataset], test, samples),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="speed and domain gap of otmark synth")
    ap.add_argument("--num", type=int, default=300, help="training faces per dataset")
    ap.add_argument("--speed-n", type=int, default=60, help="images timed per domain")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)

    speed = []
    for domain in ("300w", "300w-challenge", "wflw", "cofw", "aflw"):
        wall, cpu = render_rate(domain, args.speed_n)
        speed.append({"domain": domain, "images_per_s": wall, "images_per_cpu_s": cpu})
    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        counts = synthesize("300w", Path(tmp) / "w", args.speed_n, args.seed)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        total = sum(counts.values())
        speed.append(
            {
                "domain": "synthesize 300w (files)",
                "images_per_s": total / dt,
                "images_per_cpu_s": total / dc,
            }
        )
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"(load average {load1:.1f}; images/CPU-s is what one free core would do)")
    print(f"{'domain (256 px, 1 thread)':<28} {'images/s':>9} {'images/CPU-s':>13}")
    for r in speed:
        r["meets_target"] = r["images_per_cpu_s"] >= TARGET_IMAGES_PER_S
        print(f"{r['domain']:<28} {r['images_per_s']:>9.1f} {r['images_per_cpu_s']:>13.1f}")

    with tempfile.TemporaryDirectory() as tmp:
        gap = domain_gap(Path(tmp), args.num, args.seed)
    print()
    print(f"{'test set':<18} {'faces':>6} {'space':>6} {'NME 300W-fit':>13} {'NME own-fit':>12}")
    for r in gap:
        a, b = 100 * r["nme_trained_on_300w"], 100 * r["nme_trained_on_own_train"]
        print(f"{r['test']:<18} {r['faces']:>6} {r['space']:>6} {a:>12.2f}% {b:>11.2f}%")
    out = {
        "benchmark": "synth",
        "target_images_per_s": TARGET_IMAGES_PER_S,
        "speed": speed,
        "domain_gap_mean_shape": gap,
        "num_train": args.num,
        "load_average": load1,
        "seed": args.seed,
        "machine": platform.platform(),
        "python": platform.python_version(),
    }
    path = Path(__file__).parent / "results" / "synth.json"
    write_text_atomic(path, json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
