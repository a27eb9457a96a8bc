"""Benchmark: seconds per training step of the study's cells, through the engine.

For each ``model x setting`` asked (default: hrnet_w18 and simple_baseline_r18, each with
``l2_s1_max`` and ``w_s3_bc``), one short run of the study config's own cell recipe
(:meth:`otmark.study.config.StudyConfig.cell_config`: 128 px, batch 8, augmentation, amp,
channels-last, gradient clipping / spike guard as configured) on a small generated 300W set,
with a fixed number of steps instead of the plateau rule and one validation on 8 faces at the
end. The step time is the training wall time of steps ``warm+1 .. warm+steps`` (the first
``warm`` steps are left out: allocation and the first calls are slower), data loading and
augmentation included, as in a study run.

Run (a rough estimate when other processes share the CPU; the study's plan in
``docs/study_method.md``, "Re-run plan", uses it)::

    python benchmarks/study_step_time.py --config converged2 --threads 2 --steps 20 \
        --out benchmarks/results/study_step_time.json
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from machine import machine_info
from otmark import datasets
from otmark.atomic import write_json_atomic
from otmark.engine.fitting import FitOptions, fit
from otmark.study.benchmark import BenchmarkSize, ensure_benchmark
from otmark.study.cells import experiment_config, merge
from otmark.study.config import STUDY_DEFAULTS, load_study_config
from otmark.study.training import split_validation

RESULTS = Path(__file__).parent / "results" / "study_step_time.json"


def _timed_run(study, model: str, setting: str, samples, root, steps: int, warm: int) -> dict:
    """One run of ``warm + steps`` steps; the median and mean of the timed steps' seconds."""
    train = merge(STUDY_DEFAULTS, copy.deepcopy(study.train))
    train = merge(
        train,
        {
            "optim": {
                "schedule": "warmup_cosine",
                "steps": warm + steps,
                "warmup_steps": 0,
                "max_steps": None,
                "plateau": {"enabled": False},
            }
        },
    )
    cfg = experiment_config(
        f"steptime_{model}_{setting}", model, setting, train, 0, "300w", str(root), "cpu"
    )
    times: list[float] = []
    cpu: list[float] = []
    last = [time.perf_counter(), time.process_time()]

    tr, val = samples
    # time every step: wrap the optimizer's step

    original_step = torch.optim.Adam.step

    def timed_step(self, *args, **kwargs):
        out = original_step(self, *args, **kwargs)
        now, now_cpu = time.perf_counter(), time.process_time()
        times.append(now - last[0])
        cpu.append(now_cpu - last[1])
        last[0], last[1] = now, now_cpu
        return out

    torch.optim.Adam.step = timed_step
    try:
        last[0], last[1] = time.perf_counter(), time.process_time()
        fit(cfg, tr, val, FitOptions(log=lambda _m: None, run_folder=False))
    finally:
        torch.optim.Adam.step = original_step
    timed = times[warm:]
    return {
        "model": model,
        "setting": setting,
        "steps_timed": len(timed),
        "median_s": statistics.median(timed),
        "mean_s": statistics.fmean(timed),
        # CPU seconds of this process per step (all its threads): on a shared machine the wall
        # time grows with the other load, this much less
        "median_cpu_s": statistics.median(cpu[warm:]),
        "grad_clip_norm": cfg.optim.grad_clip_norm,
        "spike_guard": cfg.optim.spike_guard.enabled,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", default="converged2", help="study config (its cell recipe)")
    parser.add_argument("--models", nargs="+", default=["hrnet_w18", "simple_baseline_r18"])
    parser.add_argument("--settings", nargs="+", default=["l2_s1_max", "w_s3_bc"])
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warm", type=int, default=3, help="untimed first steps")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    if args.threads:
        torch.set_num_threads(args.threads)
    study = load_study_config(args.config, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        size = BenchmarkSize(w300_train=72, wflw_train=8, vw_videos=1, vw_frames=2)
        roots = ensure_benchmark(tmp, size, ("300w",), log=lambda _m: None)
        faces = list(datasets.load("300w", roots["300w"], "train"))
        samples = split_validation(faces, 8, 0, "generated 300W")
        rows = []
        for model in args.models:
            for setting in args.settings:
                row = _timed_run(
                    study, model, setting, samples, roots["300w"], args.steps, args.warm
                )
                rows.append(row)
                print(
                    f"{model:22s} {setting:12s} median {row['median_s']:.3f} s/step "
                    f"(mean {row['mean_s']:.3f}, {row['steps_timed']} steps; median CPU "
                    f"{row['median_cpu_s']:.3f} s/step)",
                    flush=True,
                )
    write_json_atomic(
        args.out,
        {
            "config": args.config,
            "threads": torch.get_num_threads(),
            "machine": machine_info(load_before),
            "note": "rough: measured while other processes may have shared the CPU",
            "rows": rows,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
