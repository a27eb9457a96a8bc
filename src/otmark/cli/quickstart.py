"""``otmark quickstart``: generated data, a trained HRNetV2-W18 and its report, in minutes.

Wiring only: see :mod:`otmark.study.quickstart`.
"""

from __future__ import annotations

import argparse
import fnmatch
from pathlib import Path

from otmark.cli.errors import CLIError
from otmark.cli.options import (
    add_overwrite_argument,
    add_threads_argument,
    claim_output,
    use_threads,
)
from otmark.rundir import contents

HELP = "generate a small benchmark, train HRNetV2-W18 (W loss, sigma 3, GET_BC) and report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default="otmark_quickstart",
        metavar="DIR",
        help="output folder (default: otmark_quickstart)",
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=10.0,
        metavar="M",
        help="wall-clock training budget: warm-up, then a cosine re-planned after every step "
        "from the measured step times so that it anneals to 0 when the budget is used, "
        "however busy the machine (default: 10, about 13 min in total on 2 CPU cores)",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    add_threads_argument(parser)
    parser.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
    parser.add_argument(
        "--train-faces",
        type=int,
        default=1200,
        metavar="N",
        help="generated 300W training faces (default: 1200)",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=160,
        metavar="PX",
        help="side of the generated images (default: 160)",
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="smoke run: tiny model, a few 64-px faces, a few steps (seconds)",
    )
    add_overwrite_argument(parser, "--out")


def is_quickstart_folder(folder) -> bool:
    """Whether ``folder`` holds only what a quickstart writes (its generated data, reused by
    the next run, and the model and report that the next run replaces)."""
    names = ("data/", "model.pt", "report.md", "results.json", "ced_*.png", "overlay_*.png")
    names += (".*.tmp.*",)  # an interrupted atomic write
    return all(any(fnmatch.fnmatch(n, p) for p in names) for n in contents(folder))


def options_from_args(args: argparse.Namespace):
    """:class:`otmark.study.quickstart.QuickstartOptions` of the command line."""
    # lazy: keeps `otmark --help` free of torch and cv2 (the quickstart trains and generates)
    from otmark.models import tiny_kwargs
    from otmark.study.benchmark import BenchmarkSize
    from otmark.study.cells import merge
    from otmark.study.quickstart import TRAIN, QuickstartOptions

    if args.tiny:
        return QuickstartOptions(
            out=Path(args.out),
            minutes=args.minutes,
            device=args.device,
            seed=args.seed,
            benchmark=BenchmarkSize(
                w300_train=12, wflw_train=6, vw_videos=1, vw_frames=6, image_size=64
            ),
            train=merge(
                TRAIN,
                {
                    "codec": {"input_size": 64, "heatmap_size": 16},
                    "optim": {"steps": 2, "warmup_steps": 1, "batch_size": 4},
                    "model": {"kwargs": tiny_kwargs("hrnet_w18")},
                },
            ),
            val_faces=2,
            overlays=4,
            protocol_limit=8,
        )
    return QuickstartOptions(
        out=Path(args.out),
        minutes=args.minutes,
        device=args.device,
        seed=args.seed,
        benchmark=BenchmarkSize(w300_train=args.train_faces, image_size=args.image_size),
    )


def run(args: argparse.Namespace) -> int:
    if args.minutes <= 0:
        raise CLIError(f"--minutes must be positive, got {args.minutes}")
    if args.train_faces < 1:
        raise CLIError(f"--train-faces must be at least 1, got {args.train_faces}")
    if args.image_size < 64:
        raise CLIError(f"--image-size must be at least 64 pixels, got {args.image_size}")
    use_threads(args)
    claim_output(args, args.out, accept=is_quickstart_folder, resume_flag=None)
    from otmark.study.quickstart import run_quickstart  # lazy: as in options_from_args

    try:
        run_quickstart(options_from_args(args))
    except (ValueError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from None
    return 0
