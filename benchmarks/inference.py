"""Benchmark: HRNetV2-W18 inference on the CPU, eager PyTorch vs channels_last vs ONNX Runtime.

Target: ONNX Runtime >= 1.5x eager PyTorch (images/s) at batch 1, 256 px.

Run: ``python benchmarks/inference.py`` (about 5 minutes on 2 quiet cores, much longer when
other processes load them). Options: ``--sizes``, ``--batches``, ``--threads``, ``--model``,
``--min-time``, ``--out``. Prints a table and writes ``benchmarks/results/inference.json``
(atomically). Backends are timed round-robin so that load bursts hit them alike; with 2 threads
on 2 busy cores PyTorch's OpenMP threads degrade far more than ONNX Runtime's, so on a shared
machine also run ``--threads 1 --out benchmarks/results/inference_1thread.json``.

Backends (all with ``--threads`` threads, default 2):

- ``torch_eager``: ``model.eval()`` under ``torch.no_grad()``, NCHW;
- ``torch_inference_mode``: the same under ``torch.inference_mode()``;
- ``torch_channels_last``: ``torch.inference_mode()`` with model and input in channels_last;
- ``ort_basic`` / ``ort_extended`` / ``ort_all``: ONNX Runtime (CPU provider,
  ``intra_op_num_threads=threads``) with graph optimisation level ``ORT_ENABLE_BASIC`` (constant
  folding, Conv+BN fusion) / ``ORT_ENABLE_EXTENDED`` (+ Conv+activation fusion) /
  ``ORT_ENABLE_ALL`` (+ NCHWc layout), on the file written by :func:`otmark.export.export_onnx`.

The weights are random but trained-like (unit-gain convolutions, BatchNorm statistics of a random
batch): HRNet's N(0, 0.001) init gives denormal activations, which would time the CPU's denormal
slow path instead of the network.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from otmark.atomic import write_json_atomic
from otmark.export import export_onnx, ort_session
from otmark.models import count_parameters, create_model, final_output
from otmark.schemes import get_scheme

RESULTS = Path(__file__).resolve().parent / "results" / "inference.json"
TARGET_SPEEDUP = 1.5


def trained_like(model: torch.nn.Module, size: int) -> torch.nn.Module:
    """Unit-gain conv weights and BatchNorm statistics of one random batch; eval mode."""
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="linear")
        elif isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 3, size, size))
    return model.eval()


def time_interleaved(
    runners: dict[str, Callable[[], object]], min_time: float, min_rounds: int = 3
) -> dict[str, list[float]]:
    """Seconds per call of every runner, measured round-robin (one call of each per round) so
    that a burst of load from other processes hits all backends alike. One warm-up call each,
    then at least ``min_rounds`` rounds and ``min_time`` seconds per runner on average."""
    for run in runners.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    start = time.perf_counter()
    rounds = 0
    while rounds < min_rounds or time.perf_counter() - start < min_time * len(runners):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
        rounds += 1
    return times


def torch_runner(model, x: torch.Tensor, mode: str) -> Callable[[], object]:
    if mode == "torch_eager":

        def run():
            with torch.no_grad():
                return final_output(model(x))

    elif mode == "torch_inference_mode":

        def run():
            with torch.inference_mode():
                return final_output(model(x))

    else:  # channels_last
        m = copy.deepcopy(model).to(memory_format=torch.channels_last)
        xc = x.contiguous(memory_format=torch.channels_last)

        def run():
            with torch.inference_mode():
                return final_output(m(xc))

    return run


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="hrnet_w18")
    parser.add_argument("--scheme", default="300w", help="number of landmarks from this scheme")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--min-time", type=float, default=2.0, help="seconds per backend and configuration"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    k = get_scheme(args.scheme).num_points
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            model = trained_like(create_model(args.model, k), size)
            onnx_path = export_onnx(model, Path(tmp) / f"{args.model}_{size}.onnx", size)
            sessions = {
                f"ort_{level}": ort_session(onnx_path, args.threads, optimization=level)
                for level in ("basic", "extended", "all")
            }
            for batch in args.batches:
                x = torch.randn(batch, 3, size, size)
                xn = x.numpy()
                runners: dict[str, Callable[[], object]] = {}
                for mode in ("torch_eager", "torch_inference_mode", "torch_channels_last"):
                    runners[mode] = torch_runner(model, x, mode)
                for name, sess in sessions.items():
                    runners[name] = lambda s=sess, a=xn: s.run(None, {"images": a})
                reference = runners["torch_eager"]().numpy()
                diffs = {}
                for name, run in runners.items():
                    out = run()
                    out = out[0] if isinstance(out, list) else out.float().contiguous().numpy()
                    diffs[name] = float(np.abs(np.asarray(out) - reference).max())
                for name, times in time_interleaved(runners, args.min_time).items():
                    med = statistics.median(times)
                    rows.append(
                        {
                            "backend": name,
                            "size": size,
                            "batch": batch,
                            "latency_ms": 1000 * med,
                            "min_latency_ms": 1000 * min(times),
                            "images_per_s": batch / med,
                            "calls": len(times),
                            "max_abs_diff_vs_eager": diffs[name],
                        }
                    )
                    r = rows[-1]
                    print(
                        f"{name:22s} {size:4d}px b{batch:<3d} {r['latency_ms']:9.1f} ms "
                        f"(min {r['min_latency_ms']:7.1f}) {r['images_per_s']:8.2f} img/s "
                        f"(diff {diffs[name]:.1e})",
                        flush=True,
                    )

    def ips(backend: str, size: int, batch: int) -> float | None:
        for r in rows:
            if (r["backend"], r["size"], r["batch"]) == (backend, size, batch):
                return r["images_per_s"]
        return None

    summary = []
    print()
    header = f"{'size':>4} {'batch':>5} " + " ".join(
        f"{b:>22s}" for b in dict.fromkeys(r["backend"] for r in rows)
    )
    print(header + "   (images/s; xN = speed-up over torch_eager)")
    for size in args.sizes:
        for batch in args.batches:
            base = ips("torch_eager", size, batch)
            cells = []
            for backend in dict.fromkeys(r["backend"] for r in rows):
                v = ips(backend, size, batch)
                cells.append(f"{v:10.2f} (x{v / base:4.2f})".rjust(22))
                summary.append(
                    {"backend": backend, "size": size, "batch": batch, "speedup": v / base}
                )
            print(f"{size:4d} {batch:5d} " + " ".join(cells))
    target = None
    if 256 in args.sizes and 1 in args.batches:
        best = max(("ort_basic", "ort_all"), key=lambda b: ips(b, 256, 1) or 0.0)
        speedup = ips(best, 256, 1) / ips("torch_eager", 256, 1)
        target = {
            "target": f"ONNX Runtime >= {TARGET_SPEEDUP}x eager PyTorch at batch 1, 256 px",
            "best_ort": best,
            "speedup": speedup,
            "met": speedup >= TARGET_SPEEDUP,
        }
        print(
            f"\ntarget: {target['target']}: {best} x{speedup:.2f} -> "
            f"{'met' if target['met'] else 'NOT met'}"
        )
    import onnxruntime

    result = {
        "benchmark": "inference",
        "model": args.model,
        "num_landmarks": k,
        "parameters": count_parameters(create_model(args.model, k)),
        "threads": args.threads,
        "rows": rows,
        "speedups": summary,
        "target": target,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "command": "python benchmarks/inference.py",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(f"load average before {load_before}, after {os.getloadavg()}")
    write_json_atomic(args.out, result, indent=2)
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
