"""``otmark check-data``: load a dataset's splits and report what is wrong with them.

Wiring only: the loaders are :func:`otmark.datasets.load` (layouts, per-file errors), the
per-sample checks :func:`otmark.datasets.check.check_samples` (normalisers, landmark range,
decoded images) and :mod:`otmark.datasets.leaks` (faces shared by the training split and a test
split: errors; samples repeated inside a split: warnings). By default every image is decoded and
images are compared by content too; ``--fast`` skips both. Without ``--split``, splits that load
with no sample are listed as empty, not problems.
"""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from otmark.cli.errors import CLIError
from otmark.datasets import DatasetError, dataset_info, load
from otmark.datasets.check import check_samples
from otmark.datasets.leaks import (
    covered_splits,
    entry_names,
    find_duplicates,
    find_leaks,
    leak_pairs,
)
from otmark.datasets.registry import DATASETS

HELP = (
    "check a dataset in its official layout: counts per split, bad files, normalisers, "
    "landmark ranges, decodable images, leaks between training and test splits, duplicates"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=tuple(DATASETS), help="format")
    parser.add_argument("--root", required=True, metavar="DIR", help="dataset root folder")
    parser.add_argument(
        "--split", action="append", metavar="NAME", help="split to check (repeatable; default: all)"
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="do not decode images (no image-size and landmark-range checks)",
    )
    parser.add_argument(
        "--decode",
        type=int,
        default=None,
        metavar="N",
        help="decode only the first N images of each split (default: all; 0 = like --fast)",
    )
    parser.add_argument(
        "--show", type=int, default=10, metavar="N", help="problems listed per split (default: 10)"
    )


def run(args: argparse.Namespace) -> int:
    info = dataset_info(args.dataset)
    splits = args.split or list(info.splits)
    for split in splits:
        if split not in info.splits:
            raise CLIError(f"unknown split {split!r} of {args.dataset}; known: {info.splits}")
    if (args.decode is not None and args.decode < 0) or args.show < 0:
        raise CLIError("--decode and --show must be non-negative")
    if args.fast and args.decode:
        raise CLIError("--fast decodes no image; drop --decode or --fast")
    limit = 0 if args.fast else args.decode
    bad = 0
    loaded: dict[str, list] = {}
    empty: list[str] = []
    own = covered_splits(args.dataset, splits)  # splits not inside another checked one
    for split in splits:
        try:
            res = load(args.dataset, args.root, split, on_error="skip")
        except (DatasetError, OSError) as exc:
            print(f"{args.dataset} {split}: error: {exc}")
            bad += 1
            continue
        problems = list(res.skipped)
        if not res.samples and not res.skipped and not args.split:
            empty.append(split)  # e.g. a WFLW attribute subset without a flagged face
            continue
        if not res.samples:
            problems.append((f"{args.root} ({split})", "the split has no usable sample"))
        n_decode = len(res.samples) if limit is None else min(limit, len(res.samples))
        bar = _progress(len(res.samples), f"{args.dataset} {split}")
        try:
            problems += check_samples(
                res.samples[:n_decode], info.scheme, decode=True, progress=bar and bar.update
            )
            problems += check_samples(
                res.samples[n_decode:], info.scheme, decode=False, progress=bar and bar.update
            )
        finally:
            if bar is not None:
                bar.close()
        decoded = "images not decoded" if n_decode == 0 else f"{n_decode} images decoded"
        names = entry_names(res.samples, split, args.dataset, args.root)
        loaded[split] = [res.samples, names]
        duplicates = (
            find_duplicates(res.samples, names, content=not args.fast) if split in own else []
        )
        warned = f", {len(duplicates)} duplicate(s)" if duplicates else ""
        print(
            f"{args.dataset} {split}: {res.summary()}, {len(problems)} problems ({decoded})"
            + warned
        )
        _listed([f"{where}: {what}" for where, what in problems], args.show)
        _listed([f"warning: {d.message}" for d in duplicates], args.show)
        bad += len(problems)
    bad += _check_leaks(args, loaded)
    if empty:
        print(f"{args.dataset}: empty split(s), nothing to check: {', '.join(empty)}")
        if not loaded and not bad:
            print(f"{args.dataset}: error: every split is empty")
            bad += 1
    return 1 if bad else 0


def _listed(lines: list[str], show: int) -> None:
    """The first ``show`` lines, indented, and how many more there are."""
    for line in lines[:show]:
        print(f"  {line}")
    if len(lines) > show:
        print(f"  ... {len(lines) - show} more (--show N lists more)")


def _check_leaks(args: argparse.Namespace, loaded: dict[str, list]) -> int:
    """Print the leaks between the training split and each test split checked; their count."""
    how = "by file" if args.fast else "by file and content"
    found = 0
    for train, test in leak_pairs(args.dataset, loaded):
        (a, a_names), (b, b_names) = loaded[train], loaded[test]
        leaks = find_leaks(a, b, a_names, b_names, content=not args.fast)
        if not leaks:
            print(f"{args.dataset} {train} vs {test}: no shared face ({how})")
            continue
        print(f"{args.dataset} {train} vs {test}: {len(leaks)} leak(s) ({how})")
        _listed([f"error: {f.message}" for f in leaks], args.show)
        found += len(leaks)
    return found


def _progress(total: int, desc: str):
    """A tqdm bar on an interactive stderr, else None."""
    if not sys.stderr.isatty() or total < 100:
        return None
    return tqdm(total=total, desc=desc, unit="sample", file=sys.stderr, leave=False)
