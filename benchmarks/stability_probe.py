"""Probe: do gradient clipping or the spike guard remove vanilla L2's validation spikes?

Trains the study's cell recipe of ``l2_s1_max`` (HRNetV2-W18, 128 px, batch 8, the
``converged2`` study's ``train`` section) at the peak rate ``--lr`` (5e-3: the rate at which
the converged study's L2 sigma-1 runs spiked to 83-190 % validation NME) on the generated
300W training faces, validating every ``--val-every`` steps on ``--val-faces`` held-out faces,
once per variant:

* ``none``: no clipping, no guard (the gradient norm of every step is recorded: clipping at
  1e30 scales nothing);
* ``clip``: ``optim.grad_clip_norm`` = ``--clip`` (default: twice the median gradient norm of
  the ``none`` run after its warm-up);
* ``guard``: ``optim.spike_guard`` on (factor 3, window 50);
* ``recal``: trained as ``none``, with ``train.bn_recalibrate`` (``--recalibrate`` training
  batches re-estimate the BatchNorm running statistics before each validation);
* ``bnbatch``: trained as ``none`` (the same steps: validating changes no weight), but each
  validation reads the model with its BatchNorm layers on the validation batch's statistics
  instead of their running averages (momentum 0: the running averages are left as they are).
  If ``none``'s spikes vanish here, they are the running averages lagging the weights, not
  the weights themselves.

Prints each run's validation curve, its largest validation NME after the warm-up against its
final NME, the steps the guard skipped and the gradient norms; writes
``benchmarks/results/stability_probe.json``. A few minutes per variant on 2 CPU cores::

    python benchmarks/stability_probe.py --steps 500 --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

import otmark.engine.loop as loop
import otmark.engine.validation as validation
from machine import machine_info
from otmark import datasets
from otmark.atomic import write_json_atomic
from otmark.engine.fitting import FitOptions, fit
from otmark.study.benchmark import BenchmarkSize, ensure_benchmark
from otmark.study.cells import experiment_config, merge
from otmark.study.config import STUDY_DEFAULTS, load_study_config
from otmark.study.training import split_validation

RESULTS = Path(__file__).parent / "results" / "stability_probe.json"


def _config(study, root: str, args, clip: float | None, guard: bool, recalibrate: int = 0):
    optim = {
        "lr": args.lr,
        "max_steps": args.steps,
        "warmup_steps": 50,
        # validate every val_every steps, never stop early, no final decay to speak of
        "plateau": {
            "enabled": True,
            "val_every": args.val_every,
            "patience_steps": 100 * args.steps,
            "decay_steps": 1,
            "smooth_window": 1,
        },
        "grad_clip_norm": clip,
        "spike_guard": {"enabled": guard, "factor": 3.0, "window": 50, "min_history": 20},
    }
    train = merge(
        merge(STUDY_DEFAULTS, study.train),
        {"optim": optim, "train": {"bn_recalibrate": recalibrate}},
    )
    return experiment_config(
        "stability_probe",
        "hrnet_w18",
        "l2_s1_max",
        train,
        args.seed,
        "300w",
        root,
        "cpu",
        lr=args.lr,
    )


def _batch_stat_evaluate(model, *args, **kwargs):
    """``validation.evaluate`` with the BatchNorm layers on the batch's statistics."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    real_eval = model.eval

    def eval_with_batch_stats():
        real_eval()
        for m in bns:
            m.train()
            m.momentum = 0.0  # the running averages stay as they are
        return model

    model.eval = eval_with_batch_stats
    try:
        return _REAL_EVALUATE(model, *args, **kwargs)
    finally:
        del model.eval
        for m, mom in zip(bns, momenta, strict=True):
            m.momentum = mom


_REAL_EVALUATE = validation.evaluate


def _run(name: str, cfg, tr, val, batch_stats: bool = False) -> dict:
    norms: list[float] = []
    real = loop.clip_gradients

    def recording(optimizer, max_norm):
        norm = real(optimizer, max_norm)
        norms.append(norm)
        return norm

    loop.clip_gradients = recording
    if batch_stats:
        validation.evaluate = _batch_stat_evaluate
    t0 = time.perf_counter()
    try:
        result = fit(cfg, tr, val, FitOptions(log=lambda _m: None, run_folder=False))
    finally:
        loop.clip_gradients = real
        validation.evaluate = _REAL_EVALUATE
    curve = [(r["step"], r["val_nme"]) for r in result.validations if r["val_nme"] is not None]
    after = [v for s, v in curve if s > 100]
    final = curve[-1][1]
    row = {
        "variant": name,
        "grad_clip_norm": cfg.optim.grad_clip_norm,
        "spike_guard": cfg.optim.spike_guard.enabled,
        "curve": curve,
        "final_nme": final,
        "max_after_warmup": max(after) if after else None,
        "spikes_over_3x_final": sum(v > 3 * final for v in after),
        "skipped_steps": result.validations[-1].get("skipped_steps", 0),
        "grad_norm_median": statistics.median(norms) if norms else None,
        "grad_norm_max": max(norms) if norms else None,
        "clipped_share": (
            sum(n > cfg.optim.grad_clip_norm for n in norms) / len(norms) if norms else None
        ),
        "grad_norms": norms,
        "seconds": time.perf_counter() - t0,
    }
    print(
        f"{name:6s} final {final:.2f}%  max after step 100 {row['max_after_warmup']}%  "
        f"spikes >3x final {row['spikes_over_3x_final']}  skipped {row['skipped_steps']}  "
        f"grad norm median {row['grad_norm_median']}  clipped share {row['clipped_share']}  "
        f"({row['seconds']:.0f} s)\n    curve {[(s, round(v, 1)) for s, v in curve]}",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", default="converged2")
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--val-every", type=int, default=50)
    parser.add_argument("--val-faces", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--clip", type=float, default=None, help="default: 2 x median norm")
    parser.add_argument("--variants", nargs="+", default=["none", "clip", "guard"])
    parser.add_argument(
        "--recalibrate", type=int, default=8, help="training batches of the recal variant"
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    if args.threads:
        torch.set_num_threads(args.threads)
    study = load_study_config(args.config, device="cpu")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        size = BenchmarkSize(
            w300_train=600 + args.val_faces, wflw_train=8, vw_videos=1, vw_frames=2
        )
        roots = ensure_benchmark(tmp, size, ("300w",), log=lambda _m: None)
        faces = list(datasets.load("300w", roots["300w"], "train"))
        tr, val = split_validation(faces, args.val_faces, 0, "generated 300W")
        root = str(roots["300w"])
        clip = args.clip
        for variant in args.variants:
            if variant == "none":
                row = _run("none", _config(study, root, args, 1e30, False), tr, val)
                if clip is None and row["grad_norms"]:
                    clip = float(f"{2 * statistics.median(row['grad_norms'][50:]):.3g}")
            elif variant == "clip":
                row = _run("clip", _config(study, root, args, clip or 1.0, False), tr, val)
            elif variant == "recal":
                cfg = _config(study, root, args, 1e30, False, recalibrate=args.recalibrate)
                row = _run("recal", cfg, tr, val)
            elif variant == "bnbatch":
                cfg = _config(study, root, args, 1e30, False)
                row = _run("bnbatch", cfg, tr, val, batch_stats=True)
            elif variant == "guard":
                row = _run("guard", _config(study, root, args, None, True), tr, val)
            else:
                raise SystemExit(f"unknown variant {variant!r}")
            rows.append(row)
    write_json_atomic(
        args.out,
        {
            "command": "python benchmarks/stability_probe.py " + " ".join(argv or sys.argv[1:]),
            "lr": args.lr,
            "steps": args.steps,
            "seed": args.seed,
            "threads": torch.get_num_threads(),
            "machine": machine_info(load_before),
            "rows": rows,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
