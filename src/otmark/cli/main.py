"""The ``otmark`` command: a thin dispatcher over one module per subcommand.

Each subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Modules import heavy dependencies (torch, cv2) inside ``run`` so that
``otmark --help`` stays fast. To add a subcommand, add its module to :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from otmark import __version__
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except CLIError as exc:
        print(f"otmark {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
