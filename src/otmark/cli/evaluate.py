"""``otmark evaluate``: score a model on a named protocol.

Wiring only: protocols, scoring and the predictions format live in :mod:`otmark.protocols`,
the metrics in :mod:`otmark.metrics`. Writes ``results.json``, ``results.md``,
``ced_image.png`` and ``ced_landmark.png`` (and ``predictions.json`` when it ran a model).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from otmark import datasets
from otmark.atomic import write_text_atomic
from otmark.cli.errors import CLIError
from otmark.cli.options import add_on_error_argument, add_overwrite_argument, claim_output
from otmark.datasets.validity import screen_samples
from otmark.metrics import markdown_table
from otmark.study.plots import plot_ced

HELP = "evaluate predictions, a checkpoint or the mean-shape baseline on a named protocol"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-root", metavar="DIR", help="root folder of the evaluated dataset (official layout)"
    )
    parser.add_argument("--protocol", metavar="NAME", help="protocol name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the protocols and exit")
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--predictions", metavar="FILE", help="predictions file (.json or .csv)")
    model.add_argument(
        "--checkpoint", metavar="CKPT", help="training checkpoint (.pt) or 'pretrained'"
    )
    model.add_argument(
        "--baseline",
        choices=("mean-shape",),
        help="fit a non-learned baseline on a training split, then evaluate it",
    )
    parser.add_argument(
        "--train-root",
        metavar="DIR",
        help="--baseline: data root of the training set (default: --data-root)",
    )
    parser.add_argument(
        "--train-dataset",
        metavar="NAME",
        help="--baseline: training dataset (default: the protocol's model scheme)",
    )
    parser.add_argument(
        "--train-split",
        default="train",
        metavar="SPLIT",
        help="--baseline: training split (default: train)",
    )
    parser.add_argument(
        "--box-source",
        choices=("landmarks", "box"),
        default="landmarks",
        help="face box given to the model: tight ground-truth box (HRNet convention, default) "
        "or the dataset's box",
    )
    parser.add_argument(
        "--out", metavar="DIR", help="output folder (default: runs/evaluate/<protocol>)"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="--checkpoint")
    parser.add_argument("--flip-test", action="store_true", help="--checkpoint: flip test")
    parser.add_argument(
        "--allow-extra-ids",
        action="store_true",
        help="--predictions: ignore predictions for ids outside the protocol (e.g. full-test-set "
        "predictions scored on a subset) instead of failing",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_overwrite_argument(parser, "--out")
    add_on_error_argument(
        parser,
        default="raise",
        help="a bad sample (image that cannot be decoded, zero or non-finite normaliser, absurd "
        "landmarks): stop with its file (raise, default) or leave it out of the scores, logging "
        "each one and the count (skip)",
    )
    parser.add_argument(
        "--max-bad-fraction",
        type=float,
        default=0.05,
        metavar="F",
        help="--on-error skip: stop anyway when more than this fraction of samples is bad "
        "(default 0.05)",
    )


def _list_protocols() -> int:
    from otmark.protocols import PROTOCOLS  # lazy: keeps `otmark --help` free of torch

    width = max(map(len, PROTOCOLS))
    for name in sorted(PROTOCOLS):
        spec = PROTOCOLS[name]
        print(
            f"{name:<{width}}  {spec.dataset}/{spec.split}  model={spec.model_scheme}  "
            f"{spec.description}"
        )
    return 0


def _mean_shape_predictor(args, protocol):
    from otmark.baselines import MeanShape  # lazy: keeps `otmark --help` free of torch

    name = args.train_dataset or protocol.spec.model_scheme
    root = Path(args.train_root or args.data_root)
    protocol.check_scheme(datasets.dataset_info(name).scheme)  # before fitting or writing
    train = datasets.load(name, root, args.train_split, on_error="raise")
    if not train:
        raise CLIError(f"{root}: no training samples in {name}/{args.train_split}")
    model = MeanShape.fit(train, box_source=args.box_source)
    return lambda image, box: model.predict_boxes(box)[0], model.scheme, model


def _checkpoint_predictor(args):
    from otmark.inference import Detector  # lazy: keeps `otmark --help` free of torch

    # passes=1: a protocol places each crop from its annotations; re-crops would change it
    detector = Detector.from_checkpoint(
        args.checkpoint, device=args.device, flip_test=args.flip_test, passes=1
    )
    return lambda image, box: detector.predict(image, box[None])[0], detector.scheme.name


def _screen_protocol(args, protocol):
    """The protocol without its bad samples (``--on-error``), and the skipped ``(where, why)``."""
    from otmark.protocols import Protocol  # lazy: keeps `otmark --help` free of torch

    result = screen_samples(
        protocol.samples,
        f"protocol {protocol.spec.name}",
        args.on_error,
        args.max_bad_fraction,
        log=lambda line: print(line, file=sys.stderr),
        limit_name="--max-bad-fraction",
    )
    if not result.skipped:
        return protocol, []
    return Protocol(protocol.spec, result.samples, box_source=protocol.box_source), result.skipped


def run(args: argparse.Namespace) -> int:
    if args.list:
        return _list_protocols()
    if not args.protocol or not args.data_root:
        raise CLIError("--data-root and --protocol are required (or --list)")
    if not (args.predictions or args.checkpoint or args.baseline):
        raise CLIError("give one of --predictions FILE, --checkpoint CKPT, --baseline mean-shape")
    from otmark.protocols import (  # lazy: keeps `otmark --help` free of torch
        build_protocol,
        evaluate_predictions,
        get_protocol_spec,
        predict_all,
        read_predictions,
        write_predictions,
    )
    from otmark.protocols.jitter import video_jitter  # lazy: as above

    try:
        spec = get_protocol_spec(args.protocol)
    except KeyError as exc:
        raise CLIError(exc.args[0]) from None
    if not 0 <= args.max_bad_fraction <= 1:
        raise CLIError(f"--max-bad-fraction {args.max_bad_fraction}: must be in [0, 1]")
    out = Path(args.out or Path("runs") / "evaluate" / spec.name)
    inputs = (args.data_root, args.predictions, args.checkpoint, args.train_root)
    try:
        protocol = build_protocol(spec, args.data_root, box_source=args.box_source)
        full_ids = protocol.ids
        protocol, skipped = _screen_protocol(args, protocol)
        extra: dict = {"box_source": args.box_source}
        if skipped:
            extra["skipped"] = [{"sample": where, "problem": why} for where, why in skipped]
        if args.predictions:
            predictions = read_predictions(args.predictions)
            if skipped:
                kept = set(protocol.ids)
                dropped = set(full_ids) - kept
                predictions = dataclasses.replace(
                    predictions,
                    landmarks={k: v for k, v in predictions.landmarks.items() if k not in dropped},
                )
            extra["source"] = {"predictions": str(args.predictions)}
        else:
            if args.checkpoint:
                predict, scheme = _checkpoint_predictor(args)
                extra["source"] = {"checkpoint": str(args.checkpoint)}
                claim_output(args, out, resume_flag=None, inputs=inputs)  # inputs read: claim
            else:
                predict, scheme, model = _mean_shape_predictor(args, protocol)
                claim_output(args, out, resume_flag=None, inputs=inputs)
                write_model = model.save(out / "mean_shape.json")
                extra["source"] = {
                    "baseline": "mean-shape",
                    "model": str(write_model),
                    "train_samples": model.num_samples,
                }
            predictions = predict_all(protocol, predict, scheme, progress=not args.no_progress)
            write_predictions(out / "predictions.json", predictions)
        result = evaluate_predictions(protocol, predictions, allow_extra=args.allow_extra_ids)
        if args.predictions:
            claim_output(args, out, resume_flag=None, inputs=inputs)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        if getattr(args, "debug", False):
            raise
        raise CLIError(str(exc.args[0] if isinstance(exc, KeyError) else exc)) from None
    # video protocols (300VW): jitter beside NME
    jitter = video_jitter(
        protocol.samples, result.predictions.for_ids(result.ids), result.model_scheme
    )
    if jitter is not None:
        extra["jitter"] = jitter
    write_results(out, result, spec, extra)
    s = result.summary
    print(
        f"{spec.name}: {len(result.ids)} images, {result.errors.shape[1]} points "
        f"({result.space}); NME {s['NME']:.2f}%, FR^I_0.1 {s['FR^I_0.1']:.2f}%, "
        f"FR^L_0.1 {s['FR^L_0.1']:.2f}%, AUC^I_0.1 {s['AUC^I_0.1']:.2f}%"
        + (
            f", jitter {jitter['jitter']:.2f}% ({jitter['frames']} frame pairs)"
            if jitter is not None and jitter["jitter"] is not None
            else ""
        )
    )
    if skipped:
        print(f"skipped {len(skipped)} bad sample(s) (listed in results.json under 'skipped')")
    print(f"wrote {out}/results.json, results.md, ced_image.png, ced_landmark.png")
    return 0


def write_results(out: Path, result, spec, extra: dict) -> None:
    """``results.json``, ``results.md`` and the two CED plots, each written atomically."""
    doc = result.to_dict()
    doc.update(
        {
            "description": spec.description,
            "dataset": spec.dataset,
            "split": spec.split,
            "perturbation": spec.perturbation,
            "level": spec.level,
            "seed": spec.seed,
        }
    )
    doc.update(extra)
    write_text_atomic(out / "results.json", json.dumps(doc, indent=1) + "\n")
    label = next(iter(extra.get("source", {"model": ""}).values()))
    md = (
        f"# {spec.name}\n\n{spec.description}. {len(result.ids)} images, "
        f"{result.errors.shape[1]} points in the `{result.space}` space, predictions in "
        f"`{result.model_scheme}`.\n\n"
        + markdown_table({Path(str(label)).name or "model": result.summary})
    )
    write_text_atomic(out / "results.md", md)
    thetas = doc["ced"]["thetas"]
    for per in ("image", "landmark"):
        plot_ced(
            out / f"ced_{per}.png",
            {Path(str(label)).name or "model": (thetas, doc["ced"][per])},
            f"{spec.name}: {per}-wise CED",
            per=per,
            theta_max=max(thetas),
        )
