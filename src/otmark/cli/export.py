"""``otmark export``: a training checkpoint -> an ONNX model (heatmap network + metadata).

Wiring only: see :func:`otmark.export.export_checkpoint`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from otmark.cli.errors import CLIError
from otmark.cli.options import add_overwrite_argument, claim_output_file

HELP = "export a trained checkpoint to ONNX (verified against PyTorch with ONNX Runtime)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", required=True, metavar="CKPT", help="training checkpoint or 'pretrained'"
    )
    parser.add_argument("--onnx", required=True, metavar="OUT", help="ONNX file to write")
    parser.add_argument(
        "--input-size",
        type=int,
        default=None,
        metavar="N",
        help="square input side (default: the checkpoint's codec input_size)",
    )
    parser.add_argument(
        "--decoder",
        choices=("get_max", "get_bc"),
        default=None,
        help="decoder recorded in the metadata (default: the checkpoint's)",
    )
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset, >= 17 (default 17)")
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the ONNX Runtime vs PyTorch comparison"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="largest accepted |ONNX - PyTorch| on the heatmaps (default 1e-4)",
    )
    add_overwrite_argument(parser, help="replace an existing --onnx file (otherwise it is refused)")


def check_target(path: str | os.PathLike[str]) -> Path:
    """The ONNX file to write, checked before the export runs: not a folder, inside a folder
    (or one that can be created) that is writable. :class:`CLIError` naming ``--onnx`` and
    the path otherwise."""
    target = Path(path)
    if target.is_dir():
        raise CLIError(
            f"--onnx {path}: is a folder; give the file to write, e.g. {target / 'model.onnx'}"
        )
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the nearest existing ancestor (export creates the rest)
    if not folder.is_dir():
        raise CLIError(f"--onnx {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CLIError(f"--onnx {path}: the folder {folder} is not writable")
    return target


def run(args: argparse.Namespace) -> int:
    from otmark.export import export_checkpoint  # lazy: keeps `otmark --help` free of torch

    if args.input_size is not None and args.input_size < 4:
        raise CLIError(f"--input-size must be >= 4, got {args.input_size}")
    check_target(args.onnx)
    claim_output_file(args, args.onnx)
    try:
        report = export_checkpoint(
            args.checkpoint,
            args.onnx,
            input_size=args.input_size,
            decode=args.decoder,
            opset=args.opset,
            verify_batch=0 if args.no_verify else 2,
        )
    except (FileNotFoundError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    h, w = report["input_size"]
    shape = "x".join(str(v) for v in report["output_shape"])
    print(
        f"wrote {report['onnx']}: {report['model_name']}, input batchx3x{h}x{w}, "
        f"heatmaps {shape}, opset {report['opset']} ({report['seconds']:.1f} s)"
    )
    diff = report["max_abs_diff"]
    if diff is not None:
        print(
            f"ONNX Runtime vs PyTorch: max |difference| = {diff:.2e} "
            f"(largest |output| {report['max_abs_output']:.2e})"
        )
        if diff > args.tolerance:
            raise CLIError(
                f"{report['onnx']}: ONNX output differs by {diff:.2e} > {args.tolerance}"
            )
    return 0
