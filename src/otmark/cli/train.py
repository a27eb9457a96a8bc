"""``otmark train --config FILE|NAME [--set key=value ...] [--resume]``.

Also runs under ``torchrun --nproc_per_node N -m otmark train ...`` (DistributedDataParallel).
"""

from __future__ import annotations

import argparse
import os

from otmark.cli.errors import CLIError
from otmark.cli.main import describe_error
from otmark.cli.options import (
    add_on_error_argument,
    add_overwrite_argument,
    add_resume_override_argument,
    add_set_argument,
    claim_output,
)
from otmark.datasets.errors import DatasetError

HELP = "train a heatmap regression model from an experiment config (also under torchrun)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        help="experiment config: a YAML path or a packaged name (see --list-configs)",
    )
    add_set_argument(
        parser,
        help="override a config value, e.g. --set optim.lr=2e-4 --set data.root=data/300W "
        "(repeatable; values are parsed as YAML)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUTPUT_DIR/last.pt (model, optimiser, schedule, RNG, data order)",
    )
    add_resume_override_argument(parser)
    add_overwrite_argument(parser, "OUTPUT_DIR")
    add_on_error_argument(
        parser,
        default=None,
        help="a bad sample (image that cannot be decoded, zero or non-finite normaliser, absurd "
        "landmarks): stop with its file (raise, default) or leave it out and log it (skip); "
        "same as --set data.on_error=...",
    )
    parser.add_argument(
        "--list-configs", action="store_true", help="print the packaged config names and exit"
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved config (after --set) as YAML and exit",
    )


def run(args: argparse.Namespace) -> int:
    # lazy: keeps `otmark --help` free of torch (the engine imports it)
    from otmark.engine.config import ConfigError, dump_config, list_configs, load_config

    if args.list_configs:
        print("\n".join(list_configs()))
        return 0
    if not args.config:
        raise CLIError("--config is required (a YAML path or a packaged name, see --list-configs)")
    overrides = list(args.overrides)
    if args.on_error:
        overrides.append(f"data.on_error={args.on_error}")
    if args.resume_override and not args.resume:
        raise CLIError("--resume-override needs --resume")
    try:
        cfg = load_config(args.config, overrides, check_paths=not args.print_config)
    except ConfigError as exc:
        raise CLIError(str(exc)) from None
    if args.print_config:
        print(dump_config(cfg), end="")
        return 0

    from otmark.engine.trainer import TrainingInterrupted, train  # lazy: as above

    if args.resume and args.overwrite:
        raise CLIError("--resume and --overwrite exclude each other")
    if int(os.environ.get("RANK", "0")) == 0:  # torchrun: rank 0 owns the folder
        claim_output(args, cfg.output_path, resume=args.resume)
    try:
        result = train(cfg, resume=args.resume, resume_override=args.resume_override)
    except TrainingInterrupted as exc:
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"otmark train: {exc}; continue with --resume")
        return 128 + int(exc.signum)
    except (ConfigError, DatasetError, FileNotFoundError) as exc:
        if getattr(args, "debug", False):
            raise
        saved = getattr(exc, "otmark_checkpoint", None)
        more = f" (state saved to {saved}; continue with --resume)" if saved else ""
        raise CLIError(f"{describe_error(exc)}{more}") from None
    if result.get("rank", 0) != 0:
        return 0
    if result.get("best_path") is not None:
        print(f"best validation NME {result['best_nme']:.3f}% -> {result['best_path']}")
    print(f"done: {result['output_dir']}/last.pt")
    return 0
