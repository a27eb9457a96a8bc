"""Benchmark: one training step (forward, loss, backward, Adam) per model and loss.

For every registered paper model (HRNetV2-W18, Hourglass-2/4, SimpleBaselines-R18/R50, CPN) x
{heatmap L2, Wasserstein} at 128 and 256 px, batch 8: the median step time and the W / L2 ratio.
The loss is summed over the output stacks (Hourglass, CPN) as the training engine does, with
``otmark.losses.create_loss(name)`` called as ``loss(pred (B,K,h,w), target (B,K,h,w))``;
targets are peak-1 Gaussians from ``otmark.heatmaps.render_gaussian`` (sigma 1.5) at random
sub-pixel positions, as the training targets.

Run: ``python benchmarks/train_step.py`` (about 10 minutes on 2 CPU cores; ``--models``,
``--sizes``, ``--losses``, ``--steps``, ``--batch``, ``--device`` to change). Prints a table and
writes ``benchmarks/results/train_step.json`` (atomically). Without ``otmark.losses`` only
``--losses l2`` runs (a plain mean squared error).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from otmark.heatmaps import render_gaussian
from otmark.models import as_stack_list, count_parameters, create_model
from otmark.schemes import get_scheme

RESULTS = Path(__file__).resolve().parent / "results" / "train_step.json"
DEFAULT_MODELS = [
    "hrnet_w18",
    "hourglass2",
    "hourglass4",
    "simple_baseline_r18",
    "simple_baseline_r50",
    "cpn",
]
LOSS_NAMES = {"l2": "l2", "w": "wasserstein"}


def make_loss(short: str):
    """``(pred, target) -> scalar`` for ``l2`` or ``w`` (Wasserstein) from otmark.losses."""
    try:
        from otmark.losses import create_loss
    except ImportError:
        if short != "l2":
            raise SystemExit("otmark.losses is not available: run with --losses l2") from None
        return lambda pred, target: torch.mean((pred - target) ** 2)
    loss = create_loss(LOSS_NAMES[short])
    params = [
        p
        for p in inspect.signature(loss.forward if hasattr(loss, "forward") else loss).parameters
        if p != "self"
    ]
    if len(params) >= 3:  # (pred, target, weight): per-landmark weights of 1
        return lambda pred, target: loss(
            pred, target, torch.ones(pred.shape[:2], device=pred.device)
        )
    return loss


def step_time(model_name, k, size, batch, loss_fn, steps, device, seed=0):
    torch.manual_seed(seed)
    model = create_model(model_name, k).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    images = torch.randn(batch, 3, size, size, device=device)
    hm = size // 4
    coords = torch.rand(batch, k, 2, device=device) * (hm - 1)
    target = render_gaussian(coords, (hm, hm), 1.5)

    def step():
        opt.zero_grad(set_to_none=True)
        outputs = as_stack_list(model(images))
        loss = sum(loss_fn(out.float(), target) for out in outputs)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return float(loss.detach())

    first = step()  # warm-up (allocations, kernel caches)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, first, count_parameters(model)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--losses", nargs="+", choices=sorted(LOSS_NAMES), default=["l2", "w"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up")
    parser.add_argument("--scheme", default="300w", help="number of landmarks from this scheme")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default all)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    k = get_scheme(args.scheme).num_points
    losses = {name: make_loss(name) for name in args.losses}
    load_before = os.getloadavg()
    rows = []
    print(f"{'model':22s} {'size':>4s} {'loss':>4s} {'step s':>8s} {'loss value':>11s}")
    for name in args.models:
        for size in args.sizes:
            for short, loss_fn in losses.items():
                med, times, value, params = step_time(
                    name, k, size, args.batch, loss_fn, args.steps, device
                )
                rows.append(
                    {
                        "model": name,
                        "parameters": params,
                        "size": size,
                        "batch": args.batch,
                        "loss": LOSS_NAMES[short],
                        "step_s": med,
                        "times_s": times,
                        "first_loss": value,
                    }
                )
                print(f"{name:22s} {size:4d} {short:>4s} {med:8.3f} {value:11.4g}", flush=True)

    def get(model, size, loss):
        return next(
            (
                r["step_s"]
                for r in rows
                if (r["model"], r["size"], r["loss"]) == (model, size, loss)
            ),
            None,
        )

    ratios = []
    if {"l2", "w"} <= set(args.losses):
        print(f"\n{'model':22s} {'size':>4s} {'L2 s':>8s} {'W s':>8s} {'W/L2':>6s}")
        for name in args.models:
            for size in args.sizes:
                l2, w = get(name, size, "l2"), get(name, size, "wasserstein")
                ratios.append({"model": name, "size": size, "l2_s": l2, "w_s": w, "ratio": w / l2})
                print(f"{name:22s} {size:4d} {l2:8.3f} {w:8.3f} {w / l2:6.2f}")
    result = {
        "benchmark": "train_step",
        "num_landmarks": k,
        "batch": args.batch,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "rows": rows,
        "w_over_l2": ratios,
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "torch": torch.__version__,
        },
        "command": "python benchmarks/train_step.py",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=args.out.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(result, f, indent=2)
    os.replace(tmp_name, args.out)
    print(f"load average before {load_before}, after {os.getloadavg()}; wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
