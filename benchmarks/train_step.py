"""Benchmark: one training step (forward, loss, backward, Adam) per model and loss.

For every registered paper model (HRNetV2-W18, Hourglass-2/4, SimpleBaselines-R18/R50, CPN) x
{heatmap L2, Wasserstein} at 128 and 256 px, batch 8: the median step time and the W / L2 ratio.
The loss is summed over the output stacks (Hourglass, CPN) as the training engine does, with
``otmark.losses.create_loss(name)`` called as ``loss(pred (B,K,h,w), target (B,K,h,w))``;
targets are peak-1 Gaussians from ``otmark.heatmaps.render_gaussian`` (sigma 1.5) at random
sub-pixel positions, as the training targets.

Run: ``python benchmarks/train_step.py`` (``--models``, ``--sizes``, ``--losses``, ``--steps``,
``--batch``, ``--sigma`` (of the targets; 1.5 by default, 3 for the study's W cells),
``--threads``, ``--device cpu|cuda|cuda:N``, ``--amp none|auto|bf16|fp16``,
``--channels-last`` to change it). ``--amp`` follows ``train.amp`` through
``otmark.engine.precision`` (``auto`` on a GPU without native bf16 is fp16); fp16 steps use a
``GradScaler`` as the engine does.
Prints a table and writes ``benchmarks/results/train_step.json`` (atomically). The losses of
one model and size are timed round-robin on the same model, so load from other processes hits
L2 and W alike.

The full default (6 models x 2 sizes x 2 losses) takes far longer than 10 minutes on 2 CPU
cores; the committed results (docs/models.md, "Training speed") come from these reduced runs on
an idle 2-core CPU, float32 and bf16 autocast + channels-last::

    python benchmarks/train_step.py --models hrnet_w18 hourglass2 simple_baseline_r18 cpn \
        --sizes 128 --threads 2 --steps 3 --out benchmarks/results/train_step_models_128_fp32.json
    python benchmarks/train_step.py --models hrnet_w18 hourglass2 simple_baseline_r18 cpn \
        --sizes 128 --threads 2 --steps 3 --amp bf16 --channels-last \
        --out benchmarks/results/train_step_models_128_bf16.json
    python benchmarks/train_step.py --models hrnet_w18 --sizes 256 --threads 2 --steps 3 \
        --amp bf16 --channels-last --out benchmarks/results/train_step_hrnet_w18_256_bf16.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from machine import machine_info
from otmark.atomic import write_json_atomic
from otmark.engine.loop import autocast_context, optimizer_step
from otmark.engine.precision import amp_dtype_for, make_grad_scaler
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
    return create_loss(LOSS_NAMES[short])


def make_step(
    model_name, k, size, batch, device, seed=0, amp=None, channels_last=False, sigma=1.5
):
    """``(step, parameters)``: ``step(loss_fn)`` runs one training step of a fresh model on a
    fixed random batch with targets of ``sigma`` heatmap pixels and returns the loss value.
    ``amp`` (a dtype) autocasts the forward pass as ``otmark.engine`` does (float16 with a
    ``GradScaler``); the loss is always computed in float32."""
    torch.manual_seed(seed)
    model = create_model(model_name, k).to(device).train()
    images = torch.randn(batch, 3, size, size, device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    hm = size // 4
    coords = torch.rand(batch, k, 2, device=device) * (hm - 1)
    target = render_gaussian(coords, (hm, hm), sigma)
    scaler = make_grad_scaler(amp, device)

    def step(loss_fn):
        with autocast_context(device, amp):
            outputs = as_stack_list(model(images))
        loss = sum(loss_fn(out.float(), target) for out in outputs)
        optimizer_step(loss, opt, scaler)  # the engine's step (zero_grad, backward, step)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return float(loss.detach())

    return step, count_parameters(model)


def step_times(
    model_name,
    k,
    size,
    batch,
    loss_fns,
    steps,
    device,
    seed=0,
    amp=None,
    channels_last=False,
    sigma=1.5,
):
    """Median step time per loss for one model and size: the losses are timed round-robin on
    the same model (one warm-up step each), so that load from other processes hits them alike.
    ``amp``, ``channels_last`` and ``sigma`` (of the targets, heatmap pixels): see
    :func:`make_step`.

    Returns ``({loss: (median_s, times, first_loss_value)}, parameters)``.
    """
    step, params = make_step(
        model_name, k, size, batch, device, seed, amp, channels_last, sigma
    )
    first = {name: step(fn) for name, fn in loss_fns.items()}  # warm-up
    times: dict[str, list[float]] = {name: [] for name in loss_fns}
    for _ in range(steps):
        for name, fn in loss_fns.items():
            t0 = time.perf_counter()
            step(fn)
            times[name].append(time.perf_counter() - t0)
    out = {name: (statistics.median(t), t, first[name]) for name, t in times.items()}
    return out, params


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--losses", nargs="+", choices=sorted(LOSS_NAMES), default=["l2", "w"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up")
    parser.add_argument("--scheme", default="300w", help="number of landmarks from this scheme")
    parser.add_argument(
        "--sigma", type=float, default=1.5, help="target sigma in heatmap pixels (the study's W: 3)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default all)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--amp",
        choices=["none", "auto", "bf16", "fp16"],
        default="none",
        help="autocast the forward pass (train.amp rules of otmark.engine.precision)",
    )
    parser.add_argument("--channels-last", action="store_true", help="channels-last tensors")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    amp = amp_dtype_for(args.amp, device)
    k = get_scheme(args.scheme).num_points
    losses = {name: make_loss(name) for name in args.losses}
    load_before = os.getloadavg()
    rows = []
    print(f"{'model':22s} {'size':>4s} {'loss':>4s} {'step s':>8s} {'loss value':>11s}")
    for name in args.models:
        for size in args.sizes:
            measured, params = step_times(
                name,
                k,
                size,
                args.batch,
                losses,
                args.steps,
                device,
                0,
                amp,
                args.channels_last,
                args.sigma,
            )
            for short, (med, times, value) in measured.items():
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
        "amp": args.amp,
        "amp_dtype": str(amp).replace("torch.", "") if amp is not None else None,
        "grad_scaler": make_grad_scaler(amp, device) is not None,
        "channels_last": args.channels_last,
        "sigma": args.sigma,
        "rows": rows,
        "w_over_l2": ratios,
        "machine": machine_info(load_before),
        "command": " ".join(["python benchmarks/train_step.py", *(argv or sys.argv[1:])]),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json_atomic(args.out, result, indent=2)
    print(f"load average before {load_before}, after {os.getloadavg()}; wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
