"""Benchmark of the Wasserstein loss: launches and syncs, speed against a training step,
accuracy against exact W1, agreement under autocast.

Run: ``python benchmarks/loss.py [--device cuda] [--threads 2] [--quick] [--no-timing]``. Prints
the tables and writes ``benchmarks/results/loss.json`` (``loss_<device>.json`` off the CPU)
atomically:

1. operators, host synchronisations and matrix-product FLOPs of one W-loss forward+backward for
   8x68 maps of 64x64 (counted with ``otmark.ot.counting.DispatchCounter``, kernel tables
   already built), per solver backend, for three different inputs (the counts must not depend
   on the data);
2. the W forward+backward time, per backend, against one HRNetV2-W18 training step (forward,
   L2 loss, backward, Adam) of the same batch at 256 px, timed alternately in the same run;
3. the HRNetV2-W18 training step at 128 px with bf16 autocast + channels-last, with the W loss
   (per backend) against the same step with the L2 loss (round-robin,
   ``benchmarks/train_step.py``);
4. the worst relative error of the default W loss against POT's ``ot.emd2`` on pairs with
   W1 >= 2 px at 16x16 and 32x32 (random, peaked and very concentrated predictions);
5. the relative change of the loss value under ``torch.autocast`` (bf16, fp16) vs float32;
6. late in training, at the study's CPU size (8x68 maps of 32x32, sigma 3 px targets,
   predictions close to their targets): the W forward+backward time, the Sinkhorn iterations
   and the error against ``ot.emd2`` of both forms of the loss (``form="full"``: the whole
   mass is transported; ``"difference"``, the default: only ``(a - b)+``), per backend;
7. the CPU study's W step (HRNetV2-W18, 128 px, batch 8, 68 points, sigma-3 px targets on
   32x32 heatmaps, bf16 autocast + channels-last as ``train.amp: auto`` picks on this CPU), CPU
   default backend, per solver layout (``one_block``: ``split_blocks=False``, the layout
   before; ``split``: the default): the W forward+backward (mean over peaked and near-target
   logits) over the L2 training step, and the W training step over the L2 step, all timed
   round-robin in one loop (medians). ``--study-only`` runs only this section (about a
   minute with ``--repeats 5``) and writes ``loss_study.json`` unless ``--out`` is given.

``--no-timing`` skips 2, 3, 7 and the times of 6 (the sections that depend on the machine's
load) and writes ``loss_counts.json`` unless ``--out`` is given. Timings on a shared machine are
only comparable as ratios measured in one run. On a GPU every timed region ends with
``torch.cuda.synchronize()``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from otmark.atomic import write_json_atomic
from otmark.heatmaps import render_gaussian
from otmark.losses import create_loss
from otmark.ot import DEFAULT_EPS, FORMS, SinkhornOptions, sinkhorn2d, wasserstein2d
from otmark.ot.counting import DispatchCounter
from otmark.ot.wasserstein import difference_problem, solve_difference_problem

RESULTS = Path(__file__).resolve().parent / "results"


def make_batch(b: int, k: int, n: int, sigma: float = 3.0, seed: int = 0, device="cpu"):
    """Peaked ("half-trained") logits and peak-1 Gaussian targets (sigma scaled with n / 64)."""
    g = torch.Generator().manual_seed(seed)
    s = n / 64
    centres = 0.2 * n + torch.rand(b, k, 2, generator=g) * 0.6 * n
    target = render_gaussian(centres, n, sigma * s)
    peak = render_gaussian(centres + torch.tensor([3.0, -2.0]) * s, n, 2.0 * s, truncate=None)
    logits = 8 * peak + 0.5 * torch.randn(b, k, n, n, generator=g)
    return logits.to(device), target.to(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def counts(device: torch.device, backends: list[str]) -> list[dict]:
    """Operators and syncs of one forward+backward, 8x68 maps of 64x64, three inputs."""
    logits, target = make_batch(8, 68, 64, device=device)
    inputs = {
        "peaked": logits,
        "random": torch.randn_like(logits),
        "near-converged": 30 * target + 0.01 * torch.randn_like(logits),
    }
    rows = []
    for backend in backends:
        loss = create_loss("wasserstein", backend=backend)
        loss(logits, target)  # build the kernel tables
        for name, x in inputs.items():
            x = x.clone().requires_grad_(True)
            with DispatchCounter() as c:
                loss(x, target).backward()
            sync(device)
            gflop = c.matmul_flops / 1e9
            rows.append(
                {
                    "backend": backend,
                    "input": name,
                    "ops": c.ops,
                    "syncs": c.syncs,
                    "matmul_gflop": gflop,
                }
            )
            print(
                f"  {backend:9s} {name:15s} {c.ops:6d} operators  {c.syncs:3d} syncs  "
                f"{gflop:7.1f} GFLOP in matrix products",
                flush=True,
            )
    return rows


def hrnet_l2_step(b: int, k: int, size: int, device: torch.device):
    """A closure running one HRNetV2-W18 training step (forward, L2, backward, Adam)."""
    from otmark.engine.loop import optimizer_step
    from otmark.models import as_stack_list, create_model

    model = create_model("hrnet_w18", k).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss = create_loss("l2")
    x = torch.randn(b, 3, size, size, device=device)
    _, target = make_batch(b, k, size // 4, device=device)

    def step():
        out = as_stack_list(model(x))[-1]
        optimizer_step(loss(out, target), opt)  # the engine's step (zero_grad, backward, step)

    return step


#: the clock of the timed sections: ``time.perf_counter`` (wall, the default) or
#: ``time.process_time`` (``--clock process``: this process's CPU time, summed over its
#: threads; on a machine shared with other jobs it counts the work done, not the waiting)
CLOCKS = {"wall": time.perf_counter, "process": time.process_time}
clock = CLOCKS["wall"]


def median_time(fn, device: torch.device) -> float:
    sync(device)
    t0 = clock()
    fn()
    sync(device)
    return clock() - t0


def default_backend(device: torch.device) -> str:
    """The backend ``backend="auto"`` takes on ``device``."""
    return "bucketed" if device.type == "cpu" else "fixed"


def w_vs_step(device: torch.device, repeats: int, backends: list[str]) -> dict:
    """W forward+backward (8x68 @ 64x64) per backend vs the HRNet step at 256 px, timed
    alternately; ``ratio`` is that of the default backend."""
    logits, target = make_batch(8, 68, 64, device=device)
    losses = {be: create_loss("wasserstein", backend=be) for be in backends}
    step = hrnet_l2_step(8, 68, 256, device)

    def w(loss):
        return lambda: loss(logits.clone().requires_grad_(True), target).backward()

    for loss in losses.values():
        w(loss)()
    step()  # warm-up (kernel tables, allocator)
    tw: dict[str, list[float]] = {be: [] for be in backends}
    ts = []
    for _ in range(repeats):
        for be, loss in losses.items():
            tw[be].append(median_time(w(loss), device))
        ts.append(median_time(step, device))
    out: dict = {"hrnet_step_256_s": statistics.median(ts), "step_times": ts, "by_backend": {}}
    for be in backends:
        t = statistics.median(tw[be])
        out["by_backend"][be] = {
            "w_fwd_bwd_s": t,
            "w_times": tw[be],
            "ratio": t / out["hrnet_step_256_s"],
        }
    default = default_backend(device)
    out["backend"] = default
    out["w_fwd_bwd_s"] = out["by_backend"][default]["w_fwd_bwd_s"]
    out["ratio"] = out["by_backend"][default]["ratio"]
    return out


def train_step_ratio(device: torch.device, steps: int, backends: list[str]) -> dict:
    """HRNet training step at 128 px, bf16 autocast + channels-last: W loss (per backend) vs L2
    loss; ``ratio`` is that of the default backend."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train_step import step_times

    fns = {"l2": create_loss("l2")}
    fns.update({f"w_{be}": create_loss("wasserstein", backend=be) for be in backends})
    res, _ = step_times("hrnet_w18", 68, 128, 8, fns, steps, device, 0, torch.bfloat16, True)
    out: dict = {"l2_step_s": res["l2"][0], "by_backend": {}}
    for be in backends:
        t = res[f"w_{be}"][0]
        out["by_backend"][be] = {"w_step_s": t, "ratio": t / out["l2_step_s"]}
    default = default_backend(device)
    out["backend"] = default
    out["w_step_s"] = out["by_backend"][default]["w_step_s"]
    out["ratio"] = out["by_backend"][default]["ratio"]
    return out


STUDY_VARIANTS = {"one_block": {"split_blocks": False}, "split": {}}


def study_size(device: torch.device, repeats: int) -> dict:
    """Section 7 (module docs): ratios at the CPU study's size, per solver layout."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train_step import make_step

    step, _ = make_step("hrnet_w18", 68, 128, 8, device, 0, torch.bfloat16, True, sigma=3.0)
    l2 = create_loss("l2")
    losses = {name: create_loss("wasserstein", **kw) for name, kw in STUDY_VARIANTS.items()}
    inputs = [make_batch(8, 68, 32, sigma=6.0, device=device)]  # sigma 6 * 32/64 = 3 px
    inputs.append(tuple(t.to(device) for t in near_target_batch(8, 68, 32, 3.0, 0.25)))

    def fwd_bwd(loss):
        def run():
            for logits, target in inputs:
                loss(logits.clone().requires_grad_(True), target).backward()

        return run

    timed = {"l2_step": lambda: step(l2)}
    for name, loss in losses.items():
        timed[f"w_step_{name}"] = lambda loss=loss: step(loss)
        timed[f"w_fwd_bwd_{name}"] = fwd_bwd(loss)
    for fn in timed.values():
        fn()  # warm-up: kernel tables, allocator
    times: dict[str, list[float]] = {key: [] for key in timed}
    for _ in range(repeats):
        for key, fn in timed.items():
            times[key].append(median_time(fn, device))
    med = {key: statistics.median(t) for key, t in times.items()}
    med.update({f"w_fwd_bwd_{n}": med[f"w_fwd_bwd_{n}"] / len(inputs) for n in losses})
    out: dict = {"l2_step_s": med["l2_step"], "times_s": times, "by_variant": {}}
    for name in losses:
        w, ws = med[f"w_fwd_bwd_{name}"], med[f"w_step_{name}"]
        out["by_variant"][name] = {
            "options": STUDY_VARIANTS[name],
            "w_fwd_bwd_s": w,
            "w_step_s": ws,
            "w_fwd_bwd_over_l2_step": w / med["l2_step"],
            "w_step_over_l2_step": ws / med["l2_step"],
        }
    return out


def print_study(r: dict) -> None:
    for name, row in r["by_variant"].items():
        print(
            f"  {name:9s} L2 step {r['l2_step_s']:.3f} s  W fwd+bwd {row['w_fwd_bwd_s']:.3f} s "
            f"({row['w_fwd_bwd_over_l2_step']:.2f} x the step)  W step {row['w_step_s']:.3f} s "
            f"({row['w_step_over_l2_step']:.2f} x)",
            flush=True,
        )


def grid_cost(n: int) -> np.ndarray:
    ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    pts = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    return np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))


def accuracy_pairs(n: int, count: int):
    """(label, a, b) float64 (count, n, n): random, peaked and concentrated predictions
    against normalised Gaussian targets of sigma 1, 1.5 and 3 px."""
    g = torch.Generator().manual_seed(n)
    out = []
    for sigma in (1.0, 1.5, 3.0):
        c = n / 4 + torch.rand(count, 1, 2, generator=g, dtype=torch.float64) * (n / 2)
        b = render_gaussian(c, n, sigma, normalize=True)[:, 0]
        rand = torch.randn(count, n * n, generator=g, dtype=torch.float64)
        off = c + torch.tensor([1.5, -1.0], dtype=torch.float64)
        peak = render_gaussian(off, n, 1.5)[:, 0].reshape(count, -1)
        peaked = 8 * peak + 0.5 * torch.randn(count, n * n, generator=g, dtype=torch.float64)
        for label, logits in (("rand", rand), ("peaked", peaked)):
            a = torch.softmax(logits, -1).reshape(count, n, n)
            out.append((f"{label} s{sigma:g}", a, b))
        shift = c + torch.tensor([1.6, 1.2], dtype=torch.float64)
        a = render_gaussian(shift, n, 0.7, normalize=True, truncate=None)[:, 0]
        out.append((f"concentrated s{sigma:g}", a, b))
    return out


def accuracy(backends: list[str], count: int) -> list[dict]:
    import ot

    rows = []
    for n in (16, 32):
        cost = grid_cost(n)
        for label, a, b in accuracy_pairs(n, count):
            exact = np.array(
                [
                    ot.emd2(a[i].reshape(-1).numpy(), b[i].reshape(-1).numpy(), cost)
                    for i in range(count)
                ]
            )
            keep = exact >= 2.0
            if not keep.any():
                continue
            for backend in backends:
                w = wasserstein2d(a.float(), b.float(), options=SinkhornOptions(backend=backend))
                rel = (w.double().numpy() - exact) / exact
                rows.append(
                    {
                        "n": n,
                        "pairs": label,
                        "backend": backend,
                        "count": int(keep.sum()),
                        "max_abs_rel_err": float(np.abs(rel[keep]).max()),
                        "mean_rel_err": float(rel[keep].mean()),
                        "max_bias_over_eps": float(((w.double().numpy() - exact)[keep]).max())
                        / DEFAULT_EPS,
                    }
                )
    return rows


def autocast_agreement(device: torch.device) -> dict:
    logits, target = make_batch(4, 68, 64, device=device)
    loss = create_loss("wasserstein")
    ref = loss(logits, target).item()
    out = {}
    for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        with torch.autocast(device.type, dtype=dtype):
            val = loss(logits, target).item()
        out[name] = abs(val - ref) / abs(ref)
    return out


def near_target_batch(b: int, k: int, n: int, sigma: float, offset: float, seed: int = 0):
    """Logits whose softmax is a Gaussian of the target's width displaced by about ``offset``
    px (a model close to convergence), and peak-1 targets; float32."""
    g = torch.Generator().manual_seed(seed)
    centres = 0.25 * n + torch.rand(b, k, 2, generator=g) * 0.5 * n
    target = render_gaussian(centres, n, sigma)
    moved = centres + offset * torch.randn(b, k, 2, generator=g)
    logits = torch.log(render_gaussian(moved, n, sigma, normalize=True, truncate=None) + 1e-6)
    return logits, target


def near_target(device: torch.device, repeats: int, backends: list[str], timing: bool) -> list:
    """Section 6: both forms, per backend and offset: time (None without ``timing``),
    iterations of the solve and the mean relative error vs exact W1 on 8 maps."""
    import ot

    rows = []
    cost = grid_cost(32)
    for offset in (0.25, 1.0):
        logits, target = near_target_batch(8, 68, 32, 3.0, offset)
        logits, target = logits.to(device), target.to(device)
        a = torch.softmax(logits.flatten(-2), -1).reshape(logits.shape)
        bn = target / target.sum(dim=(-2, -1), keepdim=True)
        exact = np.array(
            [
                ot.emd2(
                    a[0, j].double().reshape(-1).cpu().numpy(),
                    bn[0, j].double().reshape(-1).cpu().numpy(),
                    cost,
                )
                for j in range(8)
            ]
        )
        for backend in backends:
            opts = SinkhornOptions(backend=backend)
            for form in FORMS:
                loss = create_loss("wasserstein", backend=backend, form=form)

                def run(loss=loss, logits=logits, target=target):
                    loss(logits.clone().requires_grad_(True), target).backward()

                run()  # kernel tables
                t = statistics.median(median_time(run, device) for _ in range(repeats))
                w = wasserstein2d(a[0, :8], bn[0, :8], options=opts, form=form)
                if form == "full":
                    iters = sinkhorn2d(a.flatten(0, 1), bn.flatten(0, 1), opts).iterations
                else:
                    pb = difference_problem(a.flatten(0, 1), bn.flatten(0, 1), opts)
                    iters = solve_difference_problem(pb, opts).iterations
                rel = (w.double().cpu().numpy() - exact) / exact
                rows.append(
                    {
                        "offset_px": offset,
                        "backend": backend,
                        "form": form,
                        "w_fwd_bwd_s": t if timing else None,
                        "iterations": int(iters),
                        "exact_w1_mean": float(exact.mean()),
                        "mean_rel_err": float(rel.mean()),
                    }
                )
    return rows


STUDY_TITLE = (
    "== the CPU study's W step: HRNetV2-W18 128 px, bf16 + channels-last, 8x68 maps of 32x32, "
    "sigma 3 px =="
)


def machine_record(device: torch.device) -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_avg": os.getloadavg(),
        "platform": platform.platform(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }


def print_by_backend(r: dict, times) -> None:
    """One line per backend of a timed section: ``times(row)``, the ratio, the default marked."""
    for be, row in r["by_backend"].items():
        mark = " (default)" if be == r["backend"] else ""
        print(f"  {be:9s} {times(row)}: {row['ratio']:.3f} x{mark}", flush=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (CPU)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats")
    parser.add_argument("--quick", action="store_true", help="1 repeat, fewer accuracy pairs")
    parser.add_argument(
        "--no-timing", action="store_true", help="skip the timed sections (2 and 3)"
    )
    parser.add_argument(
        "--study-only", action="store_true", help="only section 7 (the CPU study's W step)"
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall time, or this process's CPU time (for a machine shared with other jobs)",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON path")
    args = parser.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    repeats = 1 if args.quick else args.repeats
    backends = ["fixed"] if device.type != "cpu" else ["fixed", "bucketed"]
    result: dict = {
        "benchmark": "loss",
        "device": str(device),
        "default_eps_px": DEFAULT_EPS,
        "clock": args.clock,
    }
    if args.study_only:
        print(STUDY_TITLE, flush=True)
        result["study_size_128"] = r = study_size(device, repeats)
        print_study(r)
        result["machine"] = machine_record(device)
        result["command"] = " ".join(["python benchmarks/loss.py", *(argv or sys.argv[1:])])
        out = args.out or RESULTS / "loss_study.json"
        write_json_atomic(out, result, indent=2)
        print(f"wrote {out}")
        return result

    print("== operators and host syncs, one forward+backward, 8x68 maps of 64x64 ==", flush=True)
    result["counts"] = counts(device, backends)
    if args.no_timing:
        print("== timed sections skipped (--no-timing) ==")
    else:
        print("== W forward+backward vs HRNetV2-W18 training step (same batch, 256 px) ==")
        result["w_vs_hrnet_step_256"] = r = w_vs_step(device, repeats, backends)
        print_by_backend(
            r, lambda row: f"W {row['w_fwd_bwd_s']:.3f} s, step {r['hrnet_step_256_s']:.3f} s"
        )
        print("== HRNetV2-W18 step at 128 px, bf16 autocast + channels-last: W vs L2 ==")
        result["train_step_128_bf16_cl"] = r = train_step_ratio(device, repeats, backends)
        print_by_backend(r, lambda row: f"L2 {r['l2_step_s']:.3f} s, W {row['w_step_s']:.3f} s")
        print(STUDY_TITLE, flush=True)
        result["study_size_128"] = r = study_size(device, repeats)
        print_study(r)
    print("== default W loss vs exact W1 (POT emd2), pairs with W1 >= 2 px ==")
    result["accuracy"] = rows = accuracy(backends, 2 if args.quick else 4)
    for row in rows:
        print(
            f"  {row['n']:2d} px {row['pairs']:18s} {row['backend']:9s} "
            f"max |rel err| {row['max_abs_rel_err']:.4f}  "
            f"max bias {row['max_bias_over_eps']:.2f} eps"
        )
    result["accuracy_worst"] = max(row["max_abs_rel_err"] for row in rows)
    print(f"  worst: {result['accuracy_worst']:.4f}")
    print("== near the target: 8x68 maps of 32x32, sigma 3 px, both forms ==")
    result["near_target_32"] = rows = near_target(device, repeats, backends, not args.no_timing)
    for row in rows:
        t = "" if row["w_fwd_bwd_s"] is None else f"{row['w_fwd_bwd_s']:6.3f} s  "
        print(
            f"  offset {row['offset_px']:4.2f} px  {row['backend']:9s} {row['form']:10s} {t}"
            f"{row['iterations']:4d} iterations  W1 {row['exact_w1_mean']:.3f} px  "
            f"error {100 * row['mean_rel_err']:+.1f} %",
            flush=True,
        )
    print("== autocast vs float32 (relative change of the loss) ==")
    result["autocast_rel_change"] = r = autocast_agreement(device)
    print(f"  bf16 {r['bf16']:.2e}  fp16 {r['fp16']:.2e}", flush=True)
    result["machine"] = machine_record(device)
    name = "loss.json" if device.type == "cpu" else f"loss_{device.type}.json"
    if args.no_timing:
        name = name.replace("loss", "loss_counts", 1)
    out = args.out or RESULTS / name
    write_json_atomic(out, result, indent=2)
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
