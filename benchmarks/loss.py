"""Benchmark of the four losses: speed, peak memory, and accuracy of the W loss against exact W1.

Run: ``python benchmarks/loss.py [--quick]``. Prints three tables and writes
``benchmarks/results/loss.json``:

1. forward+backward time (median of repeats) and peak extra memory of ``l2``, ``wasserstein``,
   ``js``, ``soft_argmax`` for ``B*K = 8*68`` and ``16*98`` maps at 64x64 and 32x32, next to the
   HRNetV2-W18 training step (forward, L2 loss, backward, Adam) of the same batch at the matching
   input size (256 px for 64x64 maps, 128 px for 32x32), measured in the same run;
2. relative error of the W loss against exact W1 (POT ``ot.emd2``) on fixed pairs, for the default
   settings and the alternatives tried, with their time on the 8*68 @ 64x64 batch;
3. the machine.

Memory is the peak growth of the resident set of a fresh subprocess while it runs one
forward+backward (inputs allocated before, kernel tables included). Timings need a quiet machine:
run it alone (other processes using the cores oversubscribe torch's threads).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from otmark.atomic import write_json_atomic
from otmark.heatmaps import render_gaussian
from otmark.losses import create_loss
from otmark.losses.wasserstein import DEFAULT_EPS

RESULTS = Path(__file__).parent / "results" / "loss.json"
SHAPES = [(8, 68, 64), (16, 98, 64), (8, 68, 32), (16, 98, 32)]
LOSS_NAMES = ["l2", "wasserstein", "js", "soft_argmax"]


def make_batch(b: int, k: int, n: int, sigma: float = 3.0, seed: int = 0):
    """Peaked ("half-trained") logits and Gaussian targets (sigma scaled with the map size)."""
    g = torch.Generator().manual_seed(seed)
    s = n / 64
    centres = 0.2 * n + torch.rand(b, k, 2, generator=g) * 0.6 * n
    target = render_gaussian(centres, n, sigma * s)
    peak = render_gaussian(centres + torch.tensor([3.0, -2.0]) * s, n, 2.0 * s, truncate=None)
    logits = 8 * peak + 0.5 * torch.randn(b, k, n, n, generator=g)
    return logits, target


def time_loss(name: str, b: int, k: int, n: int, repeats: int, **kwargs) -> float:
    loss = create_loss(name, **kwargs)
    logits, target = make_batch(b, k, n)
    times = []
    for i in range(repeats + 1):  # the first call warms caches (kernel tables) and is dropped
        x = logits.clone().requires_grad_(True)
        t0 = time.perf_counter()
        loss(x, target).backward()
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure_peak(fn) -> float:
    """Peak growth of the resident set (MiB) while ``fn()`` runs, sampled every millisecond."""
    import threading

    base = rss_mb()
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    return max(peak[0], rss_mb()) - base


def peak_memory_mb(name: str, b: int, k: int, n: int) -> float:
    """Peak extra memory (MiB) of one forward+backward (kernel tables included), in a fresh
    subprocess so that earlier runs' allocator caches do not hide it."""
    here = str(Path(__file__).parent)
    code = (
        f"import sys, torch; sys.path.insert(0, {here!r});"
        "from loss import make_batch, measure_peak; from otmark.losses import create_loss;"
        f"torch.set_num_threads({torch.get_num_threads()});"
        f"loss = create_loss({name!r}); x, t = make_batch({b}, {k}, {n}); x.requires_grad_(True);"
        "print(measure_peak(lambda: loss(x, t).backward()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def hrnet_step(b: int, k: int, input_size: int, repeats: int) -> float:
    from otmark.models import create_model

    model = create_model("hrnet_w18", num_landmarks=k)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss = create_loss("l2")
    n = input_size // 4
    x = torch.randn(b, 3, input_size, input_size)
    _, target = make_batch(b, k, n)
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        out = model(x)
        out = out[-1] if isinstance(out, (list, tuple)) else out
        loss(out, target).backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def grid_cost(n: int) -> np.ndarray:
    ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    pts = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    return np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))


def fixed_pairs(n: int, per_kind: int):
    """Benchmark pairs: 'rand' (softmax of N(0,1) logits) and 'peaked' (as in make_batch) against
    Gaussian targets of sigma 1 and 3 (64x64 units, scaled with n)."""
    pairs = []
    for kind in ("rand", "peaked"):
        for sigma in (1.0, 3.0):
            logits, target = make_batch(
                1, per_kind, n, sigma=sigma, seed=int(sigma * 10) + len(kind)
            )
            if kind == "rand":
                logits = torch.randn(1, per_kind, n, n, generator=torch.Generator().manual_seed(7))
            p = torch.softmax(logits.flatten(-2), -1).reshape(per_kind, n, n).double()
            q = (target / target.sum(dim=(-2, -1), keepdim=True)).reshape(per_kind, n, n).double()
            pairs.append((f"{kind} s{sigma:g}", p, q))
    return pairs


def accuracy_table(n: int, per_kind: int, variants: dict, repeats: int) -> list[dict]:
    import ot

    from otmark.ot import SinkhornOptions, wasserstein2d

    cost = grid_cost(n)
    pairs = fixed_pairs(n, per_kind)
    exact = {
        name: np.array(
            [
                ot.emd2(p[i].reshape(-1).numpy(), q[i].reshape(-1).numpy(), cost, numItermax=10**8)
                for i in range(len(p))
            ]
        )
        for name, p, q in pairs
    }
    rows = []
    for label, (eps, value, opts) in variants.items():
        row = {"variant": label, "eps_px": eps, "value": value}
        worst = 0.0
        for name, p, q in pairs:
            w = wasserstein2d(
                p.float(), q.float(), eps, value, options=SinkhornOptions(eps=eps, **opts)
            )
            rel = (w.double().numpy() - exact[name]) / exact[name]
            row[f"{name} mean"] = float(rel.mean())
            worst = max(worst, float(np.abs(rel).max()))
        row["max |rel err|"] = worst
        row["time 8x68@64 (s)"] = time_loss(
            "wasserstein", 8, 68, 64, repeats, eps=eps, value=value, **opts
        )
        rows.append(row)
        print(
            f"  {label:28s} max |rel err| {worst:6.3f}  time {row['time 8x68@64 (s)']:.3f} s",
            flush=True,
        )
    row = {"variant": "exact W1 (mean, px)"}
    for name, _, _ in pairs:
        row[f"{name} mean"] = float(exact[name].mean())
    rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and pairs (smoke run)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 1 if args.quick else 3
    torch.manual_seed(0)

    print("== forward+backward time and peak extra memory ==", flush=True)
    speed = []
    step_cache: dict[tuple, float] = {}
    for b, k, n in SHAPES:
        key = (b, k, n * 4)
        if key not in step_cache:
            step_cache[key] = hrnet_step(b, k, n * 4, repeats)
        step = step_cache[key]
        for name in LOSS_NAMES:
            t = time_loss(name, b, k, n, repeats)
            mem = peak_memory_mb(name, b, k, n)
            speed.append(
                {
                    "maps": f"{b}x{k}",
                    "size": n,
                    "loss": name,
                    "time_s": t,
                    "peak_mb": mem,
                    "hrnet_step_s": step,
                    "ratio_to_step": t / step,
                }
            )
            print(
                f"  {b}x{k} @ {n}x{n} {name:12s} {t:7.3f} s  {mem:7.1f} MiB  "
                f"= {t / step:.3f} x HRNet step ({step:.2f} s at {n * 4} px)",
                flush=True,
            )

    print("== W loss against exact W1 (POT emd2) ==", flush=True)
    variants = {
        f"default (eps {DEFAULT_EPS} px, cost)": (DEFAULT_EPS, "cost", {}),
        "eps 0.5 px": (0.5, "cost", {}),
        "eps 1.0 px": (1.0, "cost", {}),
        f"eps {DEFAULT_EPS} entropic value": (DEFAULT_EPS, "entropic", {}),
        f"eps {DEFAULT_EPS} no over-relaxation": (DEFAULT_EPS, "cost", {"overrelax": 1.0}),
        f"eps {DEFAULT_EPS} single scale": (DEFAULT_EPS, "cost", {"multiscale": False}),
        f"eps {DEFAULT_EPS} float64": (DEFAULT_EPS, "cost", {"precision": "float64"}),
        f"eps {DEFAULT_EPS} tol 1e-4": (DEFAULT_EPS, "cost", {"tol": 1e-4}),
    }
    if not args.quick:
        variants[f"eps {DEFAULT_EPS} dense (no window)"] = (
            DEFAULT_EPS,
            "cost",
            {"full_window": True},
        )
    n_acc, per_kind = (32, 2) if args.quick else (64, 2)
    accuracy = accuracy_table(n_acc, per_kind, variants, repeats)

    result = {
        "benchmark": "loss",
        "default_eps_px": DEFAULT_EPS,
        "accuracy_grid": n_acc,
        "pairs_per_kind": per_kind,
        "speed": speed,
        "accuracy": accuracy,
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_avg": os.getloadavg(),
            "platform": platform.platform(),
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        },
    }
    write_json_atomic(RESULTS, result, indent=2)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
