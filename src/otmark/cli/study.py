"""``otmark study``: the paper's ablations on the generated benchmark (resumable).

Wiring only: see :mod:`otmark.study.config`, :mod:`otmark.study.runner` and
:mod:`otmark.study.report`.
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
from otmark.study.lr_select import LrSelectionError
from otmark.study.shard import MergeError, ShardError, merge_cell_files, parse_shard, shard_costs

HELP = "run the paper's ablation study (generated or real data; resumable, one JSON per cell)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default="paper",
        metavar="YAML",
        help="study config: a path or a packaged name (default: paper = "
        "otmark/configs/study/paper.yaml)",
    )
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA when present: the gpu profile), cpu, cuda"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="EXPERIMENT",
        help="run only this experiment (repeatable)",
    )
    parser.add_argument(
        "--cell",
        action="append",
        default=[],
        metavar="ID",
        help="run only this cell, as --list names it (repeatable; cells run in the order given)",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME",
        help="run only the cells of this setting, e.g. w_s3_bc (repeatable; with --only, the "
        "cells of these settings in those experiments)",
    )
    parser.add_argument(
        "--max-cells", type=int, default=None, metavar="N", help="stop after running N cells"
    )
    parser.add_argument(
        "--minutes", type=float, default=None, metavar="M", help="start no new cell after M minutes"
    )
    add_threads_argument(parser)
    parser.add_argument(
        "--data-root",
        action="append",
        default=[],
        metavar="DATASET=DIR",
        help="run on a real dataset in its official layout instead of generating it, e.g. "
        "300w=data/300W (repeatable: 300w, wflw, 300vw); results go to <profile>-real/",
    )
    parser.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="run only the I-th of N parts of the cells (1-based: 1/4 ... 4/4; decoder-only "
        "variants stay together), e.g. one part per SLURM array task or GPU",
    )
    parser.add_argument(
        "--lr-only",
        action="store_true",
        help="only choose the learning rate of each loss (the stage before the cells; run it "
        "once before starting shards)",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        default=None,
        metavar="DIR",
        help="write the report and summary.json from the cell files of these result folders "
        "(e.g. those of several shards or machines) into the study's results folder",
    )
    parser.add_argument("--list", action="store_true", help="list the cells and their state")
    parser.add_argument(
        "--plan",
        action="store_true",
        help="print the learning-rate runs and the trainings of the cells (--only, --cell, "
        "--shard apply) with their step caps and estimated hours (from the config's "
        "shard_cost step times), then exit; trains nothing",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="only rewrite the table and plots from the stored cell JSONs",
    )
    add_overwrite_argument(parser, "the study's results folder")


def is_study_folder(folder) -> bool:
    """Whether ``folder`` holds a study's results (which the study goes on with: a cell stored
    with the same definition is skipped) or only files of the kinds a study writes."""
    names = contents(folder)
    if {"lr/", "study.md", "summary.json"} & set(names):
        return True
    kinds = ("*.json", "*.png", "*.md", ".*.tmp.*")
    return all(any(fnmatch.fnmatch(n, k) for k in kinds) for n in names)


def run(args: argparse.Namespace) -> int:
    # lazy: keeps `otmark --help` free of torch (the study trains through the engine)
    from otmark.study.config import is_done, load_study_config
    from otmark.study.report import write_report
    from otmark.study.runner import run_study

    use_threads(args)
    if args.max_cells is not None and args.max_cells < 0:
        raise CLIError(f"--max-cells must be >= 0, got {args.max_cells}")
    roots = {}
    for item in args.data_root:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise CLIError(f"--data-root {item!r}: expected DATASET=DIR, e.g. 300w=data/300W")
        roots[name.strip().lower()] = folder
    try:
        study = load_study_config(args.config, device=args.device, data_roots=roots)
    except (ValueError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from None
    names = {e.name for e in study.experiments}
    bad = [o for o in args.only if o not in names]
    if bad:
        raise CLIError(
            f"--only {bad[0]}: no such experiment in {study.source} "
            f"(experiments: {', '.join(sorted(names))})"
        )
    ids = {c.id for c in study.cells()}
    unknown = [c for c in args.cell if c not in ids]
    if unknown:
        raise CLIError(
            f"--cell {unknown[0]}: no such cell in {study.source} (otmark study --list names them)"
        )
    settings = {c.setting.name for c in study.cells()}
    bad = [s for s in args.setting if s not in settings]
    if bad:
        raise CLIError(
            f"--setting {bad[0]}: no cell of this setting in {study.source} "
            f"(settings: {', '.join(sorted(settings))})"
        )
    if args.setting:  # as cell ids, in the study's order
        chosen = [
            c.id
            for c in study.cells()
            if c.setting.name in args.setting and (not args.only or c.experiment.name in args.only)
        ]
        args.cell = [c for c in args.cell if c in chosen] if args.cell else chosen
    shard = None
    if args.shard is not None:
        try:
            shard = parse_shard(args.shard)
        except ShardError as exc:
            raise CLIError(str(exc)) from None
    if args.plan:
        return _plan(study, tuple(args.only), tuple(args.cell), shard)
    if not args.list:  # processes of one study may share its results folder (shards)
        claim_output(
            args,
            study.results_dir,
            accept=is_study_folder,
            shared=not args.overwrite,
            resume_flag=None,
        )
    if args.merge:
        return _merge(study, args.merge)
    if args.list:
        from otmark.study.runner import shard_cells, shard_items  # lazy: as above

        cells = shard_cells(study, study.cells(), shard)
        for c in cells:
            state = "done" if is_done(study, c) else "todo"
            print(f"{state}  {c.id}  ({c.experiment.model}, {c.setting.label})")
        done = sum(is_done(study, c) for c in cells)
        print(f"{done}/{len(cells)} cells done ({study.profile} profile, {study.results_dir})")
        if shard is not None:
            costs = shard_costs(shard_items(study, study.cells()), shard.count)
            print(
                f"estimated training cost of shard {shard}: {costs[shard.index]:.1f} "
                f"(shards: {', '.join(f'{v:.1f}' for v in costs.values())}; study shard_cost)"
            )
        return 0
    if args.report_only:
        print(f"wrote {write_report(study)}")
        return 0
    try:
        result = run_study(
            study,
            args.max_cells,
            args.minutes,
            tuple(args.only),
            shard=shard,
            lr_only=args.lr_only,
            cell_ids=tuple(args.cell),
        )
    except LrSelectionError as exc:  # every candidate rate diverged: nothing to train with
        raise CLIError(f"{study.source}: learning-rate stage: {exc}") from None
    if args.lr_only:
        print(f"learning rates: {result['lr']}")
    print(
        f"ran {len(result['ran'])} cells, {len(result['remaining'])} remaining; "
        f"table: {result['report']}"
    )
    return 0


def _plan(study, only: tuple[str, ...], cell_ids: tuple[str, ...], shard) -> int:
    """Print :func:`otmark.study.plan.plan_study` of the selected cells."""
    from otmark.study.plan import plan_study  # lazy: as above
    from otmark.study.runner import shard_cells

    cells = [c for c in study.cells() if not only or c.experiment.name in only]
    if cell_ids:
        cells = [c for c in cells if c.id in cell_ids]
    cells = shard_cells(study, cells, shard)
    print(f"plan of study {study.name} ({study.profile} profile): {len(cells)} cells")
    for line in plan_study(study, cells).lines():
        print(line)
    return 0


def _merge(study, folders: list[str]) -> int:
    """Report and summary.json of the union of the cells stored in ``folders``."""
    from otmark.study.report import write_report  # lazy: keeps `otmark --help` free of torch

    try:
        docs = merge_cell_files(folders)
    except MergeError as exc:
        raise CLIError(str(exc)) from None
    known = {c.id for c in study.cells()}
    foreign = sorted(d["cell"] for d in docs if d["cell"] not in known)
    if foreign:
        raise CLIError(
            f"--merge: {len(foreign)} cell(s) are not cells of {study.source}: "
            f"{', '.join(foreign[:3])}"
        )
    report = write_report(study, docs=docs, folders=[Path(f) for f in folders])
    print(f"merged {len(docs)} cells from {len(folders)} folders; table: {report}")
    return 0
