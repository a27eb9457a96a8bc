"""The packaging tools of ``otmark pretrain`` (each runs instead of the pretraining):

* ``--package CKPT --weights DIR``: a training checkpoint packaged into the weights folder
  ``DIR`` (:func:`otmark.pretrained.package_checkpoint`);
* ``--info [--weights DIR]``: a description of a packaged model (default: the installed one);
* ``--adapt PREDICTIONS --data-root ROOT [--protocol P] [--ridge R] [--weights DIR]``: the
  label adaptation fitted on labelled faces (leave-one-out report,
  :func:`otmark.pretrained.adapt.fit_label_adaptation`), stored with the weights in ``DIR``
  when given.
"""

from __future__ import annotations

import argparse

from otmark.checkpoint_names import PRETRAINED, PRETRAINED_FAST
from otmark.cli.errors import CLIError


def add_tool_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the packaging tools (see the module docstring)."""
    group = parser.add_argument_group("packaging tools (instead of pretraining)")
    tools = group.add_mutually_exclusive_group()
    tools.add_argument(
        "--package",
        metavar="CKPT",
        help="package the training checkpoint CKPT (e.g. best.pt) into --weights DIR",
    )
    tools.add_argument(
        "--info", action="store_true", help="describe the packaged model in --weights DIR"
    )
    tools.add_argument(
        "--adapt",
        metavar="PREDICTIONS",
        help="fit the label adaptation from otmark evaluate's predictions.json on the labelled "
        "faces of --data-root (leave-one-out report); stored in --weights DIR when given",
    )
    group.add_argument(
        "--weights",
        metavar="DIR",
        default=None,
        help="packaged model folder (--info: default the installed one)",
    )
    group.add_argument("--data-root", default=None, help="--adapt: the evaluated data root")
    group.add_argument(
        "--protocol", default="300w-test", help="--adapt: the protocol (default: %(default)s)"
    )
    group.add_argument(
        "--ridge", type=float, default=1.0, help="--adapt: shrinkage, in faces (default 1)"
    )


def _packaged_name(args: argparse.Namespace) -> str:
    """The packaged model ``--model`` names (``fast``: ``pretrained-fast``)."""
    return PRETRAINED_FAST if getattr(args, "model", "hrnet") == "fast" else PRETRAINED


def run_tool(args: argparse.Namespace) -> int | None:
    """Run the packaging tool that ``args`` asks for; None when it asks for none."""
    try:
        if getattr(args, "package", None):
            return _package(args)
        if getattr(args, "info", False):
            # lazy: keeps `otmark --help` free of torch
            from otmark.pretrained.package import describe

            print(describe(args.weights, _packaged_name(args)))
            return 0
        if getattr(args, "adapt", None):
            return _adapt(args)
    except (FileNotFoundError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    return None


def _package(args: argparse.Namespace) -> int:
    # lazy: keeps `otmark --help` free of torch
    from otmark.pretrained.package import describe, package_checkpoint

    if not args.weights:
        raise CLIError("--package needs --weights DIR (the folder to write)")
    name = _packaged_name(args)
    path = package_checkpoint(args.package, args.weights, name=name)
    print(f"wrote {path}")
    print(describe(args.weights, name))
    return 0


def _adapt(args: argparse.Namespace) -> int:
    # lazy: keeps `otmark --help` free of torch
    from otmark.pretrained.adapt import fit_label_adaptation, store_label_adaptation

    if not args.data_root:
        raise CLIError("--adapt needs --data-root (the labelled faces it was evaluated on)")
    adapt, report = fit_label_adaptation(args.adapt, args.data_root, args.protocol, args.ridge)
    print(
        f"{report['protocol']}: {report['faces']} faces, NME {report['nme_before']:.2f}% "
        f"-> {report['nme_leave_one_out']:.2f}% with label adaptation (leave-one-out, "
        f"ridge {report['ridge']:g})"
    )
    if args.weights:
        print(f"wrote {store_label_adaptation(args.weights, adapt, report)}")
    return 0
