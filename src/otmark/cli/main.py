"""The ``otmark`` command: a thin dispatcher over one module per subcommand.

Each subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Modules import heavy dependencies (torch, cv2) inside ``run``, marked
``# lazy: keeps `otmark --help` free of torch``, so that ``otmark --help`` stays fast (no
torch, cv2, scipy, h5py or matplotlib). To add a subcommand, add its module to
:data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import os
import sys

from otmark import __version__
from otmark.atomic import is_temporary_name
from otmark.cli.errors import CLIError

#: subcommand name -> module implementing it (order = order in ``otmark --help``)
COMMANDS: dict[str, str] = {
    "train": "otmark.cli.train",
    "detect": "otmark.cli.detect",
    "evaluate": "otmark.cli.evaluate",
    "export": "otmark.cli.export",
    "synth": "otmark.cli.synth",
    "check-data": "otmark.cli.check_data",
    "quickstart": "otmark.cli.quickstart",
    "pretrain": "otmark.cli.pretrain",
    "study": "otmark.cli.study",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otmark",
        description="Robust facial landmark detection with heatmap regression models "
        "and the 2D Wasserstein loss.",
    )
    parser.add_argument("--version", action="version", version=f"otmark {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an error (otherwise: one line, exit code 2)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


#: optional dependencies -> the extra that installs them
EXTRAS = {"onnx": "onnx", "onnxruntime": "onnx", "onnxscript": "onnx"}


def _where(path: str) -> str:
    """A path for messages: the folder of an atomic writer's temporary file."""
    if is_temporary_name(path):
        return os.path.dirname(path) or "."
    return path


def _message_line(exc: BaseException) -> str:
    """The first line of an exception's message (the last one for an error re-raised from a
    DataLoader worker, whose message carries the worker's traceback)."""
    text = str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc).strip()
    lines = text.splitlines()
    if "Original Traceback" in text:
        return lines[-1].split(": ", 1)[-1]
    return lines[0] if lines else ""


def describe_error(exc: BaseException) -> str:
    """One line for an exception: the file and the problem where it has them, an install hint
    for a missing optional dependency, else its type and first message line."""
    if isinstance(exc, ModuleNotFoundError):
        name = (exc.name or "").split(".")[0]
        if name in EXTRAS:
            return (
                f"the optional dependency {name!r} is not installed "
                f"(pip install 'otmark[{EXTRAS[name]}]')"
            )
    first = _message_line(exc)
    if isinstance(exc, OSError) and exc.strerror:
        what = exc.strerror
        if exc.errno == errno.ENOSPC:
            what = "no space left on device"
        elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            what = f"{what} (the folder is not writable)"
        if exc.filename is not None:
            return f"{_where(os.fsdecode(exc.filename))}: {what}"
        return what
    if isinstance(exc, ValueError | OSError | KeyError) and first:
        return first
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


#: exit status when stdout's reader went away: the status a shell reports for a process
#: ended by SIGPIPE (128 + 13), as standard tools end
EXIT_CLOSED_PIPE = 141


def closed_pipe() -> int:
    """:data:`EXIT_CLOSED_PIPE`, after pointing stdout at ``os.devnull`` so that the output
    still buffered is dropped without another ``BrokenPipeError`` at exit (the Python
    documentation's recipe for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no file descriptor (captured stdout)
        pass
    return EXIT_CLOSED_PIPE


def _leave(code: int) -> int:
    """``code``, after ending the process at once if a failed multi-process run left its
    process group (see :func:`otmark.engine.distributed.exit_if_group_left`) or if this is a
    ``torchrun`` worker (see :func:`otmark.engine.distributed.end_worker`)."""
    if "torch.distributed" in sys.modules:
        # lazy: keeps `otmark --help` free of torch
        from otmark.engine.distributed import end_worker, exit_if_group_left

        exit_if_group_left(code)
        end_worker(code)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        with contextlib.ExitStack() as claims:  # output folders claimed by the command
            args._claims = claims
            code = int(args._run(args) or 0)
            sys.stdout.flush()  # a closed pipe shows here, not in Python's flush at exit
    except CLIError as exc:
        if args.debug:
            raise
        print(f"otmark {args.command}: error: {exc}", file=sys.stderr)
        return _leave(2)
    except BrokenPipeError:  # the reader went away (otmark check-data | head): end quietly
        return _leave(closed_pipe())
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"otmark {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        saved = getattr(exc, "otmark_checkpoint", None)
        more = f" (state saved to {saved}; continue with --resume)" if saved else ""
        print(
            f"otmark {args.command}: error: {describe_error(exc)}{more} "
            "[otmark --debug shows the traceback]",
            file=sys.stderr,
        )
        return _leave(2)
    return _leave(code)


if __name__ == "__main__":
    sys.exit(main())
