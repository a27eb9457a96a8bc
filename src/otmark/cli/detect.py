"""``otmark detect``: landmarks on an image, a folder of images or a video.

Wiring only: see :mod:`otmark.inference` for the detector, box sources and output formats.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from tqdm import tqdm

from otmark.cli.errors import CLIError
from otmark.cli.options import add_on_error_argument, add_overwrite_argument, claim_output

#: ``otmark.inference.finders.FINDERS`` (not imported here: that would load torch for --help)
FINDER_NAMES = ("auto", "dlib", "haar")

HELP = "detect facial landmarks on images, folders of images or videos"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input",
        nargs="+",
        metavar="INPUT",
        help="images, folders of images or video files (one landmarks.json for all)",
    )
    model = parser.add_mutually_exclusive_group()
    model.add_argument(
        "--checkpoint",
        metavar="CKPT",
        help="a training checkpoint (.pt), or 'pretrained': the packaged model (the default)",
    )
    model.add_argument(
        "--onnx",
        metavar="MODEL",
        help="an exported ONNX model (metadata in the model or in MODEL.json)",
    )
    boxes = parser.add_mutually_exclusive_group()
    boxes.add_argument(
        "--boxes",
        metavar="FILE",
        help="face boxes per image name / frame index (JSON or CSV name,x0,y0,x1,y1)",
    )
    boxes.add_argument(
        "--box",
        metavar="X0,Y0,X1,Y1",
        action="append",
        help="a face box used on every image/frame (repeat for several faces)",
    )
    boxes.add_argument(
        "--whole-image",
        action="store_true",
        help="the inputs are face crops: use the whole image as the face box",
    )
    parser.add_argument(
        "--allow-empty",
        action="store_true",
        help="run even when no key of --boxes matches an input (a warning instead of an error)",
    )
    add_on_error_argument(
        parser,
        default="raise",
        help="an unreadable image: stop with an error naming it (raise, the default) or leave it "
        "out, listed under 'skipped' in landmarks.json (skip)",
    )
    parser.add_argument(
        "--finder",
        choices=FINDER_NAMES,
        default="auto",
        help="face finder when no boxes are given: dlib's HOG detector (pip install "
        "'otmark[faces]'), OpenCV's Haar cascade, or auto = dlib when installed (default)",
    )
    parser.add_argument(
        "--all-faces",
        action="store_true",
        help="report every face the finder finds, the chosen one first (default: only the "
        "chosen one: the largest; among faces of similar size the most central, then the best "
        "detector score; landmarks.json names the rule as chosen_by)",
    )
    parser.add_argument(
        "--out", default="detections", metavar="DIR", help="output folder (default: detections)"
    )
    parser.add_argument(
        "--flip-test", action="store_true", help="average with the prediction on mirrored crops"
    )
    parser.add_argument(
        "--passes",
        type=int,
        default=2,  # otmark.inference.recrop.DEFAULT_PASSES (not imported: it loads torch)
        metavar="N",
        help="predictions per face at most: the first from the face box, then re-crops from the "
        "predicted landmarks as in training until the crop stops moving (default: 2; 1: the "
        "box crop only)",
    )
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default=None, help="default: cuda when available"
    )
    parser.add_argument("--batch-size", type=int, default=16, help="crops per forward pass")
    parser.add_argument(
        "--recursive", action="store_true", help="for a folder: also read its sub-folders"
    )
    parser.add_argument("--no-overlay", action="store_true", help="write JSON/CSV only")
    parser.add_argument(
        "--video-format",
        choices=("mp4", "avi"),
        default="mp4",
        help="container of the overlay video (default: mp4)",
    )
    _add_video_arguments(parser)
    add_overwrite_argument(parser, "--out")


def _add_video_arguments(parser: argparse.ArgumentParser) -> None:
    """Tracking and smoothing flags (``otmark.inference.tracking``; defaults written here so
    that --help does not import torch)."""
    video = parser.add_argument_group("video (tracking and smoothing)")
    video.add_argument(
        "--no-track",
        action="store_true",
        help="run the face finder on every frame instead of placing each crop from the "
        "previous frame's landmarks",
    )
    video.add_argument(
        "--track-threshold",
        type=float,
        default=0.5,
        metavar="C",
        help="heatmap confidence (0-1) under which a tracked face is lost and the face finder "
        "runs again (default: %(default)s)",
    )
    video.add_argument(
        "--redetect-every",
        type=int,
        default=30,
        metavar="N",
        help="also run the face finder every N frames; 0: only when a face is lost "
        "(default: %(default)s)",
    )
    video.add_argument(
        "--smooth",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="One-Euro smoothing of the landmarks over time (default: on)",
    )
    video.add_argument(
        "--smooth-min-cutoff",
        type=float,
        default=1.0,
        metavar="HZ",
        help="the shape filter's cutoff frequency at rest (the landmarks with the face's "
        "position, scale and roll undone): lower is smoother (default: %(default)s)",
    )
    video.add_argument(
        "--smooth-beta",
        type=float,
        default=3.0,
        metavar="B",
        help="how fast the shape filter's cutoff rises with speed (per face radius): higher "
        "lags less in fast motion (default: %(default)s)",
    )
    video.add_argument(
        "--smooth-centre-min-cutoff",
        type=float,
        default=2.0,
        metavar="HZ",
        help="the face centre filter's cutoff at rest (default: %(default)s)",
    )
    video.add_argument(
        "--smooth-centre-beta",
        type=float,
        default=30.0,
        metavar="B",
        help="the face centre filter's speed coefficient (per face size; default: %(default)s)",
    )


def _video_options(args: argparse.Namespace):
    from otmark.inference.tracking import VideoOptions  # lazy: keeps `otmark --help` free of torch

    if not 0.0 <= args.track_threshold <= 1.0:
        raise CLIError(f"--track-threshold must be in [0, 1], got {args.track_threshold}")
    if args.redetect_every < 0:
        raise CLIError(f"--redetect-every must be >= 0, got {args.redetect_every}")
    for flag in ("smooth_min_cutoff", "smooth_centre_min_cutoff"):
        if not getattr(args, flag) > 0:
            raise CLIError(f"--{flag.replace('_', '-')} must be > 0, got {getattr(args, flag)}")
    for flag in ("smooth_beta", "smooth_centre_beta"):
        if not getattr(args, flag) >= 0:
            raise CLIError(f"--{flag.replace('_', '-')} must be >= 0, got {getattr(args, flag)}")
    return VideoOptions(
        track=not args.no_track,
        threshold=args.track_threshold,
        redetect_every=args.redetect_every,
        max_faces=None if args.all_faces else 1,
        smooth=args.smooth,
        min_cutoff=args.smooth_min_cutoff,
        beta=args.smooth_beta,
        centre_min_cutoff=args.smooth_centre_min_cutoff,
        centre_beta=args.smooth_centre_beta,
    )


def _note(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from otmark.inference import (  # lazy: keeps `otmark --help` free of torch
        Detector,
        FaceFinderUnavailable,
        InputError,
        box_table_coverage,
        fixed_boxes,
        found_boxes,
        input_kind,
        load_box_file,
        make_face_finder,
        parse_box_arg,
        run_detection,
        table_boxes,
        whole_image_boxes,
    )

    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.passes < 1:
        raise CLIError(f"--passes must be >= 1, got {args.passes}")
    paths = list(args.input) if isinstance(args.input, list | tuple) else [args.input]
    args.input = paths[0] if len(paths) == 1 else " ".join(map(str, paths))  # for messages
    video = _video_options(args)
    kwargs = dict(
        flip_test=args.flip_test, batch_size=args.batch_size, device=args.device, passes=args.passes
    )
    try:
        for path in paths:
            input_kind(path)  # a missing input is reported first
        if args.boxes:
            table = load_box_file(args.boxes)
            cover = [box_table_coverage(table, p, args.recursive) for p in paths]
            matched = sorted({k for m, _ in cover for k in m})
            _check_box_keys(args, (matched, [k for k in table if k not in matched]))
            boxes_for = table_boxes(table, label=f"--boxes {args.boxes}")
        elif args.box:
            boxes_for = fixed_boxes(np.concatenate([parse_box_arg(b) for b in args.box]))
        elif args.whole_image:
            boxes_for = whole_image_boxes
        else:
            boxes_for = found_boxes
            kwargs["face_finder"] = make_face_finder(
                args.finder, all_faces=args.all_faces, notify=_note
            )
        if args.onnx:
            detector = Detector.from_onnx(args.onnx, **kwargs)
        else:
            detector = Detector.from_checkpoint(args.checkpoint or "pretrained", **kwargs)
    except (FileNotFoundError, ValueError, KeyError, FaceFinderUnavailable, InputError) as exc:
        raise CLIError(str(exc.args[0] if exc.args else exc)) from None

    inputs = (*paths, args.boxes, args.onnx, args.checkpoint)
    claim_output(args, args.out, resume_flag=None, inputs=inputs)
    bar = None
    if sys.stderr.isatty():
        bar = tqdm(unit="frame", desc="detect", file=sys.stderr)
    try:
        result = run_detection(
            detector,
            paths if len(paths) > 1 else paths[0],
            args.out,
            boxes_for=boxes_for,
            overlays=not args.no_overlay,
            video_suffix=f".{args.video_format}",
            progress=None if bar is None else (lambda r: bar.update(1)),
            recursive=args.recursive,
            on_error=args.on_error,
            video=video,
        )
    except InputError as exc:
        raise CLIError(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()
    n_images = len(result.results)
    no_face = sum(1 for r in result.results if not r.faces)
    report = result.report
    if report.truncated:
        _warn(
            f"{args.input}: truncated video: frames decoded {report.frames_decoded}, "
            f"announced {report.frames_announced} (recorded in landmarks.json)"
        )
    for source, reason in report.skipped:
        _warn(f"skipped {source}: {reason}")
    skipped = f", {len(report.skipped)} skipped" if report.skipped else ""
    if no_face and boxes_for is found_boxes:
        _note(f"no face found in {no_face} of {n_images} image(s)/frame(s) (faces: [])")
    _report_videos(result)
    print(
        f"{n_images} image(s)/frame(s), {result.num_faces} face(s) "
        f"({no_face} without a face{skipped}); {detector.num_landmarks} landmarks, "
        f"scheme {detector.scheme.name}"
    )
    for path in result.files[:2]:
        print(f"wrote {path}")
    if len(result.files) > 2:
        print(f"wrote {len(result.files) - 2} overlay file(s) under {args.out}")
    return 0


def _report_videos(result) -> None:
    """One line per video: the frames without a face (ranges) and the face-finder runs."""
    from otmark.inference.tracking import frame_ranges  # lazy: keeps `otmark --help` free of torch

    for video in result.videos:
        name = video["source"]
        empty = [
            r.frame
            for r in result.results
            if r.source == name and r.frame is not None and not r.faces
        ]
        tracking = video.get("tracking") or {}
        finder = tracking.get("finder_frames")
        runs = f"; face finder run on {len(finder)} frame(s)" if finder is not None else ""
        if empty:
            print(f"{name}: no face in frame(s) {frame_ranges(empty)} ({len(empty)}){runs}")
        else:
            print(f"{name}: a face in every frame{runs}")
        score = video.get("evaluation")
        if score is not None and score["nme"] is not None:
            jitter = "-" if score["jitter"] is None else f"{score['jitter']:.2f}%"
            print(
                f"{name}: against its annotations ({score['frames_scored']} of "
                f"{score['frames_annotated']} annotated frames): NME {score['nme']:.2f}%, "
                f"jitter {jitter}"
            )


def _warn(text: str) -> None:
    print(f"otmark detect: warning: {text}", file=sys.stderr)


def _check_box_keys(args: argparse.Namespace, coverage: tuple[list[str], list[str]]) -> None:
    """No key of ``--boxes`` matching the input is an error (a warning with --allow-empty);
    some keys matching nothing is a warning."""
    matched, unmatched = coverage
    if matched and not unmatched:
        return
    shown = ", ".join(repr(k) for k in unmatched[:3]) + (", ..." if len(unmatched) > 3 else "")
    if not matched:
        text = (
            f"--boxes {args.boxes}: none of its {len(unmatched)} key(s) matches an image or "
            f"frame of {args.input} (keys {shown}; images match by name, video frames by "
            "0-based index)"
            if unmatched
            else f"--boxes {args.boxes}: the file holds no box"
        )
        if not args.allow_empty:
            raise CLIError(text + "; --allow-empty runs anyway")
        _warn(text)
        return
    _warn(
        f"--boxes {args.boxes}: {len(unmatched)} of {len(matched) + len(unmatched)} key(s) "
        f"match no image or frame of {args.input}: {shown}"
    )
