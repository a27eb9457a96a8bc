"""``otmark pretrain``: reproduce the packaged model (generated data, training, packaging).

Three resumable steps under ``--out``:

1. ``data/300W``: generated faces (:func:`otmark.pretrained.data.write_pretrain_data`); skipped
   when ``data/pretrain_data.json`` records the same arguments;
2. ``train/``: ``otmark train`` on the packaged config ``configs/pretrained/pretrained_300w.yaml``
   (:func:`default_config`; with ``--resume`` it continues from ``train/last.pt`` when there is
   one);
3. ``weights/``: the best checkpoint packaged (:func:`otmark.pretrained.package_checkpoint`);
   ``--install`` also writes it into the weights folder ``pretrained`` resolves to.

``--package CKPT``, ``--info`` and ``--adapt PREDICTIONS`` run a packaging tool instead
(:mod:`otmark.cli.pretrain_tools`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from otmark.atomic import write_json_atomic
from otmark.checkpoint_names import packaged_model, weights_dir
from otmark.cli.errors import CLIError
from otmark.cli.options import (
    add_overwrite_argument,
    add_resume_override_argument,
    add_set_argument,
    claim_output,
)
from otmark.cli.pretrain_tools import add_tool_arguments, run_tool
from otmark.datasets.errors import DatasetError

HELP = "reproduce the packaged model: generate faces, train, package (resumable; hours on CPU)"

DATA_STAMP = "pretrain_data.json"


#: ``--model`` -> the packaged model it builds (:data:`otmark.checkpoint_names.PACKAGED_MODELS`)
PACKAGED_BY_MODEL = {"hrnet": "pretrained", "fast": "pretrained-fast"}


def default_config(model: str = "hrnet") -> Path:
    """The packaged recipe of ``--model`` (in a folder of its own: it is not one of the paper's
    experiments that ``otmark train --list-configs`` lists)."""
    # lazy: keeps `otmark --help` free of torch (the engine imports it)
    from otmark.engine.config import packaged_config_dir

    return packaged_config_dir() / "pretrained" / packaged_model(PACKAGED_BY_MODEL[model]).config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        choices=tuple(PACKAGED_BY_MODEL),
        default="hrnet",
        help="which packaged model to build: hrnet = 'pretrained' (HRNetV2-W18), fast = "
        "'pretrained-fast' (MobileNetV2, pretrained_fast.yaml) (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="run folder (default: runs/pretrained, or runs/pretrained-fast with --model fast)",
    )
    parser.add_argument(
        "--faces",
        type=int,
        default=20000,
        metavar="N",
        help="generated training faces (default: %(default)s)",
    )
    parser.add_argument(
        "--val-faces",
        type=int,
        default=512,
        metavar="N",
        help="generated validation faces, held out (default: %(default)s)",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=192,
        metavar="PX",
        help="side of the generated images (default: %(default)s)",
    )
    parser.add_argument(
        "--mix",
        default=None,
        metavar="DOMAIN=SHARE,...",
        help="generator domains of the training faces and their shares, e.g. 300w=0.3,"
        "300w-outdoor=0.15,wflw=0.2,300w-challenge=0.2,aflw=0.15 (default: the packaged mix "
        "300w=0.5,300w-outdoor=0.2,wflw=0.3)",
    )
    parser.add_argument("--seed", type=int, default=0, help="generator and training seed")
    parser.add_argument(
        "--config",
        default=None,
        metavar="NAME",
        help="training config, a packaged name or a YAML path (default: the packaged "
        "otmark/configs/pretrained/pretrained_300w.yaml)",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved training config (after --set) as YAML and exit",
    )
    add_set_argument(parser, help="override a config value, as in otmark train (repeatable)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run (data already written is kept; training continues "
        "from train/last.pt when present)",
    )
    add_resume_override_argument(parser)
    add_overwrite_argument(parser, "--out")
    parser.add_argument(
        "--install",
        action="store_true",
        help="also write the packaged model where 'pretrained' resolves to "
        "($OTMARK_WEIGHTS_DIR, else the package's otmark/weights/)",
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="smoke run: tiny model, a few 64-px faces, two training steps (seconds)",
    )
    add_tool_arguments(parser)


def tiny_overrides(model: str = "hrnet") -> list[str]:
    from otmark.models import tiny_kwargs  # lazy: keeps `otmark --help` free of torch

    kw = json.dumps(tiny_kwargs("mobilenet_v2" if model == "fast" else "hrnet_w18"))
    return [
        f"model.kwargs={kw}",
        "codec.input_size=64",
        "codec.heatmap_size=16",
        "optim.schedule=warmup_cosine",
        "optim.steps=2",
        "optim.warmup_steps=1",
        "optim.batch_size=4",
        "data.limit=8",
        "data.val_limit=4",
        "data.num_workers=0",
        "train.progress=false",
        "train.tensorboard=false",
        "train.threads=1",
    ]


def _overrides(args: argparse.Namespace, data_root: Path) -> list[str]:
    return [
        f"data.root={data_root}",
        f"train.output_dir={Path(args.out) / 'train'}",
        f"train.seed={args.seed}",
        *(tiny_overrides(args.model) if args.tiny else []),
        *args.overrides,
    ]


def _print_folder(folder: str, n: int) -> None:
    print(f"  {folder}: {n} faces", flush=True)


def _in_fresh_process(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` in a spawned process. The generator's OpenCV calls start
    thread pools that a DataLoader worker forked later from this process can hang or die on;
    drawing the faces in a child of its own keeps this process clean for training."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def _mix(text: str) -> dict[str, float]:
    """The ``--mix`` argument as domain -> share (a CLIError names a bad entry)."""
    from otmark.pretrained.data import parse_mix  # lazy: keeps `otmark --help` free of cv2

    try:
        return parse_mix(text)
    except ValueError as exc:
        raise CLIError(f"--mix: {exc}") from None


def _write_data(args: argparse.Namespace, out: Path, data_root: Path) -> dict:
    """Step 1: the generated faces under ``data_root``, unless ``out/data/pretrain_data.json``
    records the same arguments; returns their description (stored in the manifest)."""
    # lazy: keeps `otmark --help` free of cv2 (the face generator imports it)
    from otmark.pretrained.data import DEFAULT_MIX, data_description, write_pretrain_data

    mix = DEFAULT_MIX if args.mix is None else _mix(args.mix)
    desc = data_description(args.faces, args.val_faces, args.image_size, args.seed, mix)
    stamp = out / "data" / DATA_STAMP
    try:
        done = json.loads(stamp.read_text(encoding="utf-8")) if stamp.is_file() else None
    except (OSError, json.JSONDecodeError):
        done = None
    if done == desc:
        print(f"data: {data_root} already written ({args.faces} training faces)")
        return desc
    print(f"data: writing {args.faces} + {args.val_faces} generated faces to {data_root}")
    _in_fresh_process(
        write_pretrain_data,
        data_root,
        args.faces,
        args.val_faces,
        args.image_size,
        args.seed,
        mix,
        progress=_print_folder,
    )
    write_json_atomic(stamp, desc)
    return desc


def _package_run(args: argparse.Namespace, out: Path, config: dict, desc: dict) -> None:
    """Step 3: ``train/best.pt`` (else ``last.pt``) packaged into ``out/weights`` (and the
    installed weights folder with ``--install``)."""
    # lazy: keeps `otmark --help` free of torch
    from otmark.pretrained.package import package_checkpoint

    src = out / "train" / "best.pt"
    if not src.is_file():
        src = out / "train" / "last.pt"
    recipe = {"command": "otmark pretrain", "config": config}
    targets = [out / "weights"] + ([weights_dir()] if args.install else [])
    try:
        for folder in targets:
            manifest = package_checkpoint(
                src, folder, recipe=recipe, data=desc, name=PACKAGED_BY_MODEL[args.model]
            )
            print(f"packaged {src} -> {manifest.parent} ({manifest.name})")
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    done = run_tool(args)  # --package / --info / --adapt instead of pretraining
    if done is not None:
        return done
    if args.tiny:
        args.faces, args.val_faces, args.image_size = min(args.faces, 12), 3, 64
    if args.faces < 3 or args.val_faces < 3:
        raise CLIError("--faces and --val-faces must be at least 3 (one per domain)")
    domains = 3 if args.mix is None else len(_mix(args.mix))  # a bad --mix fails here
    if min(args.faces, args.val_faces) < domains:
        raise CLIError(f"--faces and --val-faces must be at least {domains} (one per domain)")
    if args.image_size < 64:
        raise CLIError(f"--image-size must be at least 64 pixels, got {args.image_size}")
    if args.resume_override and not args.resume:
        raise CLIError("--resume-override needs --resume")
    # lazy: keeps `otmark --help` free of torch (the engine imports it)
    from otmark.engine.config import ConfigError, dump_config, load_config
    from otmark.engine.trainer import TrainingInterrupted, train

    if args.out is None:
        args.out = "runs/pretrained-fast" if args.model == "fast" else "runs/pretrained"
    out = Path(args.out)
    data_root = out / "data" / "300W"
    config = args.config or default_config(args.model)
    if args.print_config:
        try:
            cfg = load_config(config, _overrides(args, data_root), check_paths=False)
        except ConfigError as exc:
            raise CLIError(str(exc)) from None
        print(dump_config(cfg), end="")
        return 0
    if args.resume and args.overwrite:
        raise CLIError("--resume and --overwrite exclude each other")
    claim_output(args, out, resume=args.resume)
    desc = _write_data(args, out, data_root)

    train_dir = out / "train"
    try:
        cfg = load_config(config, _overrides(args, data_root))
    except ConfigError as exc:
        raise CLIError(str(exc)) from None
    resume = args.resume and (train_dir / "last.pt").is_file()
    print(f"train: {cfg.name} -> {train_dir}" + (" (resumed)" if resume else ""))
    try:
        result = train(cfg, resume=resume, resume_override=args.resume_override)
    except TrainingInterrupted as exc:
        print(f"otmark pretrain: {exc}; continue with --resume")
        return 128 + int(exc.signum)
    except (ConfigError, DatasetError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from None

    _package_run(args, out, cfg.to_dict(), desc)
    if result.get("best_nme") is not None:
        print(f"best validation NME {result['best_nme']:.3f}% (generated faces, held out)")
    return 0
