"""Convergence of the fixed-shape Sinkhorn backend: what its iteration count buys.

Run: ``python benchmarks/ot_convergence.py [--threads 1] [--out PATH]``. Independent of the
machine's load (no timing). For the loss benchmark's batch (8x68 maps of 64x64, Gaussian targets
of sigma 3 px, ``R / eps`` about 63 at the default eps) and its two predictions (peaked,
random), prints and writes (``benchmarks/results/ot_convergence.json``, atomically):

1. per over-relaxation weight and iteration count at the final eps: the marginal error the solve
   reports (mean and worst map; the warning fires above ``tol = 2e-3`` on average or ``2e-2``
   for some map) and the worst relative error of the transport cost against a float64 solve
   run to convergence (300 iterations);
2. float32 against float64 after convergence (fixed: 100 iterations; bucketed: tolerance 1e-5,
   at most 300 iterations): the worst relative difference of the cost, i.e. what float32 itself
   costs;
3. the matrix-product FLOPs of one iteration and of one solve at the defaults.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from otmark.atomic import write_json_atomic
from otmark.ot import KernelCache, SinkhornOptions, sinkhorn2d
from otmark.ot.counting import DispatchCounter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loss import make_batch  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def pairs() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """name -> (a, b): (544, 64, 64) float32 histograms of the loss benchmark's batch."""
    logits, target = make_batch(8, 68, 64)
    p = logits.shape[0] * logits.shape[1]
    b = target.reshape(p, 64, 64)
    b = b / b.sum(dim=(1, 2), keepdim=True)
    rand = torch.randn(logits.shape, generator=torch.Generator().manual_seed(3))
    return {
        name: (torch.softmax(x.reshape(p, -1), -1).reshape(p, 64, 64), b)
        for name, x in (("peaked", logits), ("random", rand))
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, default=RESULTS / "ot_convergence.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cache = KernelCache()
    result: dict = {"benchmark": "ot_convergence", "rows": [], "float32_vs_float64": {}}
    print("== fixed backend: marginal error and cost error vs iterations at the final eps ==")
    for name, (a, b) in pairs().items():
        ref = sinkhorn2d(a.double(), b.double(), SinkhornOptions(backend="fixed", iterations=300))
        for omega in (1.0, 1.6, 1.65):
            for iterations in (16, 20, 24, 28):
                opts = SinkhornOptions(backend="fixed", iterations=iterations, overrelax=omega)
                res = sinkhorn2d(a, b, opts, cache)
                err = res.marginal_error
                cost = ((res.cost.double() - ref.cost) / ref.cost).abs().max().item()
                row = {
                    "pairs": name,
                    "overrelax": omega,
                    "iterations": iterations,
                    "marginal_error_mean": err.mean().item(),
                    "marginal_error_max": err.max().item(),
                    "cost_rel_err_max": cost,
                }
                result["rows"].append(row)
                print(
                    f"  {name:7s} omega {omega:4.2f} N {iterations:2d}: marginal error "
                    f"{row['marginal_error_mean']:.1e} mean, {row['marginal_error_max']:.1e} "
                    f"worst; cost {cost:.1e}",
                    flush=True,
                )
        conv = SinkhornOptions(backend="fixed", iterations=100)
        r32, r64 = sinkhorn2d(a, b, conv, cache), sinkhorn2d(a.double(), b.double(), conv)
        diff = ((r32.cost.double() - r64.cost) / r64.cost).abs().max().item()
        result["float32_vs_float64"][name] = diff
        print(f"  {name:7s} fixed: float32 vs float64 after 100 iterations: cost {diff:.1e}")
        tight = {"backend": "bucketed", "tol": 1e-5, "max_iter": 300}
        r32 = sinkhorn2d(a, b, SinkhornOptions(**tight), cache)
        r64 = sinkhorn2d(a, b, SinkhornOptions(precision="float64", **tight), cache)
        diff = ((r32.cost.double() - r64.cost) / r64.cost).abs().max().item()
        result["float32_vs_float64"][f"bucketed_{name}"] = diff
        result["bucketed_precisions"] = sorted(set(r32.backends))
        print(
            f"  {name:7s} bucketed ({'/'.join(sorted(set(r32.backends)))}): float32 vs float64 "
            f"at tolerance 1e-5: cost {diff:.1e}",
            flush=True,
        )
    a, b = pairs()["peaked"]
    with DispatchCounter() as c:
        res = sinkhorn2d(a, b, SinkhornOptions(backend="fixed"), cache)
    p, n = a.shape[0], a.shape[1] * a.shape[2]
    canvas = cache.lookup(("fold", (64, 64), "cpu"), lambda: None)["norm"].shape[0]
    columns = res.window[0]
    per_iteration = 2 * (2 * p * canvas * columns)
    result["flops"] = {
        "canvas_rows": canvas,
        "disc_columns": columns,
        "gflop_per_iteration": per_iteration / 1e9,
        "gflop_per_solve": c.matmul_flops / 1e9,
        "canvas_rows_unfolded": (2 * 64 - 1) ** 2,
        "pixels": n,
    }
    print(
        f"== FLOPs: canvas {canvas} rows (unfolded {(2 * 64 - 1) ** 2}, pixels {n}), disc "
        f"{columns} columns: {per_iteration / 1e9:.2f} GFLOP per iteration, "
        f"{c.matmul_flops / 1e9:.1f} GFLOP per solve =="
    )
    write_json_atomic(args.out, result, indent=2)
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
