"""Command-line options shared by several ``otmark`` subcommands."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os

from otmark.cli.errors import CLIError
from otmark.datasets.errors import ON_ERROR
from otmark.rundir import RunFolderError, claim_file, claim_folder


def _threads_value(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads N|auto``: torch CPU threads (0 = torch's choice; ``auto``, the default: one
    per CPU that other processes leave free, :func:`otmark.device.free_cpus`)."""
    parser.add_argument(
        "--threads",
        type=_threads_value,
        default="auto",
        metavar="N",
        help="torch CPU threads (default auto: one per CPU other processes leave free, measured "
        "at the start; 0: torch's choice)",
    )


def use_threads(args: argparse.Namespace) -> None:
    """Check ``--threads`` (a :class:`~otmark.cli.main.CLIError` when negative) and apply it;
    ``auto`` becomes the number of free CPUs (torch's choice when every CPU is free)."""
    if args.threads == "auto":
        from otmark.device import free_cpus  # lazy: keeps `otmark --help` free of torch

        free = free_cpus()
        args.threads = 0 if free is None or free >= (os.cpu_count() or 1) else free
    if args.threads < 0:
        raise CLIError(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        import torch  # lazy: keeps `otmark --help` free of torch

        torch.set_num_threads(args.threads)


def add_on_error_argument(parser: argparse.ArgumentParser, help: str, default: str | None) -> None:
    """``--on-error raise|skip``: what a command does with a bad input (``help`` says what)."""
    parser.add_argument("--on-error", choices=ON_ERROR, default=default, help=help)


def add_set_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """``--set KEY=VALUE`` (repeatable) into ``args.overrides``: config values that replace
    the config file's (parsed as YAML by :func:`otmark.engine.config.load_config`)."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=help,
    )


def add_resume_override_argument(parser: argparse.ArgumentParser) -> None:
    """``--resume-override``: with ``--resume``, accept a config that differs from the
    checkpoint's in what :mod:`otmark.engine.resume` lets change (each change logged)."""
    parser.add_argument(
        "--resume-override",
        action="store_true",
        help="with --resume: accept a config that differs from the checkpoint's in the "
        "optimiser, schedule, batch size, epochs, augmentation or data splits (each change is "
        "logged); architecture, loss, codec and dataset changes are always refused",
    )


def add_overwrite_argument(
    parser: argparse.ArgumentParser, what: str = "the output folder", help: str | None = None
) -> None:
    """``--overwrite``: delete what ``what`` holds before writing (see :mod:`otmark.rundir`)."""
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help=help
        or f"delete what {what} holds first (otherwise a folder holding another run's outputs "
        "or other files is refused)",
    )


def _claim(args: argparse.Namespace, make) -> None:
    """Enter the claim ``make(command, overwrite)`` until the command returns: on the exit
    stack :func:`otmark.cli.main.main` closes (at exit when ``run`` is called without it)."""
    stack = getattr(args, "_claims", None)
    if stack is None:
        stack = args._claims = contextlib.ExitStack()
        atexit.register(stack.close)
    command = f"otmark {getattr(args, 'command', None) or 'run'}"
    try:
        stack.enter_context(make(command, bool(getattr(args, "overwrite", False))))
    except RunFolderError as exc:
        raise CLIError(str(exc)) from None


def claim_output(
    args: argparse.Namespace,
    folder,
    *,
    resume: bool = False,
    accept=None,
    shared: bool = False,
    resume_flag: str | None = "--resume",
    inputs: tuple = (),
) -> None:
    """Claim the output ``folder`` for this command until it returns
    (:func:`otmark.rundir.claim_folder`, with ``--overwrite`` from ``args``; ``inputs``: what
    the command reads, which ``--overwrite`` must not delete); a folder that cannot be claimed
    is a :class:`CLIError`."""
    _claim(
        args,
        lambda command, overwrite: claim_folder(
            folder,
            command,
            resume=resume,
            overwrite=overwrite,
            accept=accept,
            shared=shared,
            resume_flag=resume_flag,
            inputs=inputs,
        ),
    )


def claim_output_file(args: argparse.Namespace, path) -> None:
    """Claim the output file ``path`` for this command until it returns
    (:func:`otmark.rundir.claim_file`, with ``--overwrite`` from ``args``)."""
    _claim(args, lambda command, overwrite: claim_file(path, command, overwrite=overwrite))
