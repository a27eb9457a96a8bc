"""Command-line options shared by several ``otmark`` subcommands."""

from __future__ import annotations

import argparse

from otmark.cli.errors import CLIError


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: torch CPU threads (0 = torch's choice)."""
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        metavar="N",
        help="torch CPU threads (default 0: torch's choice; 1 is much faster on a busy machine)",
    )


def use_threads(args: argparse.Namespace) -> None:
    """Check ``--threads`` (a :class:`~otmark.cli.main.CLIError` when negative) and apply it."""

    if args.threads < 0:
        raise CLIError(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
