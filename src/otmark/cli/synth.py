"""``otmark synth``: write a generated face dataset in an official format.

Wiring only: see :mod:`otmark.synth.writers` for the layouts, split sizes and determinism.
"""

from __future__ import annotations

import argparse

from otmark.cli.errors import CLIError
from otmark.cli.options import add_overwrite_argument, claim_output
from otmark.rundir import FolderNotEmpty

HELP = "generate a synthetic face dataset in an official format (300W, WFLW, COFW, AFLW, 300VW)"

DATASETS = ("300w", "wflw", "cofw", "aflw", "300vw")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=DATASETS, help="format and domain")
    parser.add_argument("--out", required=True, metavar="DIR", help="dataset root to write")
    parser.add_argument(
        "--num",
        type=int,
        default=20,
        metavar="N",
        help="size of the training split (faces; videos for 300vw); other splits keep their "
        "official ratio to it, at least 1 (default: 20)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--size", type=int, default=256, metavar="PX", help="image side in pixels (default: 256)"
    )
    parser.add_argument(
        "--frames", type=int, default=60, help="frames per video, 300vw only (default: 60)"
    )
    add_overwrite_argument(parser, "--out")


def run(args: argparse.Namespace) -> int:
    if args.num < 1:
        raise CLIError(f"--num must be at least 1, got {args.num}")
    if args.size < 64:
        raise CLIError(f"--size must be at least 64 pixels, got {args.size}")
    if args.frames < 2:
        raise CLIError(f"--frames must be at least 2, got {args.frames}")
    if args.seed < 0:
        raise CLIError(f"--seed must be non-negative, got {args.seed}")
    from otmark.synth.writers import synthesize  # lazy: keeps `otmark --help` free of cv2

    # the lock (and --overwrite); synthesize refuses a folder holding another generation
    claim_output(args, args.out, accept=lambda folder: True, resume_flag=None)
    try:
        counts = synthesize(
            args.dataset, args.out, args.num, args.seed, args.size, frames=args.frames
        )
    except FolderNotEmpty as exc:
        raise CLIError(str(exc)) from None
    unit = "videos" if args.dataset == "300vw" else "faces"
    parts = ", ".join(f"{k} {v}" for k, v in counts.items())
    print(f"wrote generated {args.dataset} to {args.out} ({unit}: {parts})")
    return 0
