"""``otmark check-data``: load a dataset's splits and report what is wrong with them.

Wiring only: see :func:`otmark.datasets.load` for the layouts and the error rules.
"""

from __future__ import annotations

import argparse

from otmark.cli.errors import CLIError

HELP = "check a dataset in its official layout: counts per split, bad files, decodable images"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from otmark.datasets.registry import DATASETS

    parser.add_argument("--dataset", required=True, choices=tuple(DATASETS), help="format")
    parser.add_argument("--root", required=True, metavar="DIR", help="dataset root folder")
    parser.add_argument(
        "--split", action="append", metavar="NAME", help="split to check (repeatable; default: all)"
    )
    parser.add_argument(
        "--decode",
        type=int,
        default=0,
        metavar="N",
        help="also decode the first N images of each split (default: 0)",
    )
    parser.add_argument(
        "--show", type=int, default=10, metavar="N", help="problems listed per split (default: 10)"
    )


def run(args: argparse.Namespace) -> int:
    from otmark.datasets import DatasetError, dataset_info, load

    info = dataset_info(args.dataset)
    splits = args.split or list(info.splits)
    for split in splits:
        if split not in info.splits:
            raise CLIError(f"unknown split {split!r} of {args.dataset}; known: {info.splits}")
    if args.decode < 0 or args.show < 0:
        raise CLIError("--decode and --show must be non-negative")
    bad = 0
    for split in splits:
        try:
            res = load(args.dataset, args.root, split, on_error="skip")
        except DatasetError as exc:
            print(f"{args.dataset} {split}: error: {exc}")
            bad += 1
            continue
        problems = list(res.skipped)
        for sample in res.samples[: args.decode]:
            try:
                sample.load_image()
            except (OSError, ValueError) as exc:
                problems.append((sample.id, str(exc)))
        print(f"{args.dataset} {split}: {res.summary()}, {len(problems)} problems")
        for where, what in problems[: args.show]:
            print(f"  {where}: {what}")
        bad += len(problems)
    return 1 if bad else 0
