"""Benchmark: HRNetV2-W18 inference on the CPU, eager PyTorch vs channels_last vs ONNX Runtime.

Target: ONNX Runtime >= 1.5x eager PyTorch (images/s) at batch 1, 256 px.

Run: ``python benchmarks/inference.py`` (about 5 minutes on 2 quiet cores, much longer when
other processes load them). Options: ``--sizes``, ``--batches``, ``--threads``, ``--model``,
``--min-time``, ``--out``. Prints a table and writes ``benchmarks/results/inference.json``
(atomically). Backends are timed round-robin so that load bursts hit them alike; with 2 threads
on 2 busy cores PyTorch's OpenMP threads degrade far more than ONNX Runtime's, so on a shared
machine also run ``--threads 1 --out benchmarks/results/inference_1thread.json``.

``python benchmarks/inference.py fast`` runs the other suite, :func:`fast_main`: the small fast
model beside the packaged HRNet and dlib's shape predictor, per face and on video (issue #26:
otmark's tracked video at least 3x dlib's per-frame pipeline, measured in the same run;
``python benchmarks/inference.py fast --video-only`` measures only that, in about a minute).

Backends (all with ``--threads`` threads, default 2):

- ``torch_eager``: ``model.eval()`` under ``torch.no_grad()``, NCHW;
- ``torch_inference_mode``: the same under ``torch.inference_mode()``;
- ``torch_channels_last``: ``torch.inference_mode()`` with model and input in channels_last;
- ``ort_basic`` / ``ort_extended`` / ``ort_all``: ONNX Runtime (CPU provider,
  ``intra_op_num_threads=threads``) with graph optimisation level ``ORT_ENABLE_BASIC`` (constant
  folding, Conv+BN fusion) / ``ORT_ENABLE_EXTENDED`` (+ Conv+activation fusion) /
  ``ORT_ENABLE_ALL`` (+ NCHWc layout), on the file written by :func:`otmark.export.export_onnx`.

The weights are random but trained-like (unit-gain convolutions, BatchNorm statistics of a random
batch): HRNet's N(0, 0.001) init gives denormal activations, which would time the CPU's denormal
slow path instead of the network.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from machine import machine_info
from otmark.atomic import write_json_atomic
from otmark.export import export_onnx, ort_session
from otmark.models import count_parameters, create_model, final_output
from otmark.schemes import get_scheme

RESULTS = Path(__file__).resolve().parent / "results" / "inference.json"
TARGET_SPEEDUP = 1.5


def trained_like(model: torch.nn.Module, size: int) -> torch.nn.Module:
    """Unit-gain conv weights and BatchNorm statistics of one random batch; eval mode."""
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="linear")
        elif isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 3, size, size))
    return model.eval()


def time_interleaved(
    runners: dict[str, Callable[[], object]], min_time: float, min_rounds: int = 3
) -> dict[str, list[float]]:
    """Seconds per call of every runner, measured round-robin (one call of each per round) so
    that a burst of load from other processes hits all backends alike. One warm-up call each,
    then at least ``min_rounds`` rounds and ``min_time`` seconds per runner on average."""
    for run in runners.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    start = time.perf_counter()
    rounds = 0
    while rounds < min_rounds or time.perf_counter() - start < min_time * len(runners):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
        rounds += 1
    return times


def torch_runner(model, x: torch.Tensor, mode: str) -> Callable[[], object]:
    if mode == "torch_eager":

        def run():
            with torch.no_grad():
                return final_output(model(x))

    elif mode == "torch_inference_mode":

        def run():
            with torch.inference_mode():
                return final_output(model(x))

    else:  # channels_last
        m = copy.deepcopy(model).to(memory_format=torch.channels_last)
        xc = x.contiguous(memory_format=torch.channels_last)

        def run():
            with torch.inference_mode():
                return final_output(m(xc))

    return run


def main(argv: list[str] | None = None) -> dict:
    if argv is None:
        import sys

        argv = sys.argv[1:]
    if argv[:1] == ["fast"]:
        return fast_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="hrnet_w18")
    parser.add_argument("--scheme", default="300w", help="number of landmarks from this scheme")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--min-time", type=float, default=2.0, help="seconds per backend and configuration"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    k = get_scheme(args.scheme).num_points
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            model = trained_like(create_model(args.model, k), size)
            onnx_path = export_onnx(model, Path(tmp) / f"{args.model}_{size}.onnx", size)
            sessions = {
                f"ort_{level}": ort_session(onnx_path, args.threads, optimization=level)
                for level in ("basic", "extended", "all")
            }
            for batch in args.batches:
                x = torch.randn(batch, 3, size, size)
                xn = x.numpy()
                runners: dict[str, Callable[[], object]] = {}
                for mode in ("torch_eager", "torch_inference_mode", "torch_channels_last"):
                    runners[mode] = torch_runner(model, x, mode)
                for name, sess in sessions.items():
                    runners[name] = lambda s=sess, a=xn: s.run(None, {"images": a})
                reference = runners["torch_eager"]().numpy()
                diffs = {}
                for name, run in runners.items():
                    out = run()
                    out = out[0] if isinstance(out, list) else out.float().contiguous().numpy()
                    diffs[name] = float(np.abs(np.asarray(out) - reference).max())
                for name, times in time_interleaved(runners, args.min_time).items():
                    med = statistics.median(times)
                    rows.append(
                        {
                            "backend": name,
                            "size": size,
                            "batch": batch,
                            "latency_ms": 1000 * med,
                            "min_latency_ms": 1000 * min(times),
                            "images_per_s": batch / med,
                            "calls": len(times),
                            "max_abs_diff_vs_eager": diffs[name],
                        }
                    )
                    r = rows[-1]
                    print(
                        f"{name:22s} {size:4d}px b{batch:<3d} {r['latency_ms']:9.1f} ms "
                        f"(min {r['min_latency_ms']:7.1f}) {r['images_per_s']:8.2f} img/s "
                        f"(diff {diffs[name]:.1e})",
                        flush=True,
                    )

    def ips(backend: str, size: int, batch: int) -> float | None:
        for r in rows:
            if (r["backend"], r["size"], r["batch"]) == (backend, size, batch):
                return r["images_per_s"]
        return None

    summary = []
    print()
    header = f"{'size':>4} {'batch':>5} " + " ".join(
        f"{b:>22s}" for b in dict.fromkeys(r["backend"] for r in rows)
    )
    print(header + "   (images/s; xN = speed-up over torch_eager)")
    for size in args.sizes:
        for batch in args.batches:
            base = ips("torch_eager", size, batch)
            cells = []
            for backend in dict.fromkeys(r["backend"] for r in rows):
                v = ips(backend, size, batch)
                cells.append(f"{v:10.2f} (x{v / base:4.2f})".rjust(22))
                summary.append(
                    {"backend": backend, "size": size, "batch": batch, "speedup": v / base}
                )
            print(f"{size:4d} {batch:5d} " + " ".join(cells))
    target = None
    if 256 in args.sizes and 1 in args.batches:
        best = max(("ort_basic", "ort_all"), key=lambda b: ips(b, 256, 1) or 0.0)
        speedup = ips(best, 256, 1) / ips("torch_eager", 256, 1)
        target = {
            "target": f"ONNX Runtime >= {TARGET_SPEEDUP}x eager PyTorch at batch 1, 256 px",
            "best_ort": best,
            "speedup": speedup,
            "met": speedup >= TARGET_SPEEDUP,
        }
        print(
            f"\ntarget: {target['target']}: {best} x{speedup:.2f} -> "
            f"{'met' if target['met'] else 'NOT met'}"
        )
    import onnxruntime

    result = {
        "benchmark": "inference",
        "model": args.model,
        "num_landmarks": k,
        "parameters": count_parameters(create_model(args.model, k)),
        "threads": args.threads,
        "rows": rows,
        "speedups": summary,
        "target": target,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "command": "python benchmarks/inference.py",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(f"load average before {load_before}, after {os.getloadavg()}")
    write_json_atomic(args.out, result, indent=2)
    print(f"wrote {args.out}")
    return result


# --- the fast model beside the packaged HRNet and dlib ------------------------------------------

FAST_RESULTS = Path(__file__).resolve().parent / "results" / "inference_fast.json"
VIDEO_RESULTS = FAST_RESULTS.with_name("inference_fast_video.json")


def _detector_for(name: str, notes: list[str]):
    """``(Detector, model, description)`` of a packaged model name; the fast model untrained (with
    trained-like weights) when its packaged weights are not built: latency does not depend on
    the weights."""
    from otmark.checkpoint_names import PretrainedNotInstalled
    from otmark.inference import Detector
    from otmark.models import load_model_from_checkpoint

    try:
        model, meta = load_model_from_checkpoint(name)
        return Detector.from_checkpoint(name, device="cpu"), model, f"{name} (packaged weights)"
    except PretrainedNotInstalled:
        if name != "pretrained-fast":
            raise
    ref = load_model_from_checkpoint("pretrained")[1]
    k = get_scheme(ref["scheme"]).num_points
    model = trained_like(create_model("mobilenet_v2", k), ref["codec"]["input_size"])
    notes.append(
        "pretrained-fast is not built: its timings use an untrained mobilenet_v2 with "
        "trained-like weights (latency does not depend on the weights; its landmarks mean "
        "nothing)"
    )
    det = Detector.from_model(model, ref["scheme"], ref["codec"], device="cpu")
    return det, model, "mobilenet_v2 width 1 (untrained: pretrained-fast not built)"


def _dlib_parts():
    """``(hog_detector, shape_predictor)`` when dlib and its 68-point model are installed."""
    try:
        import dlib
    except ImportError:
        return None
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from real_faces import landmark_model_path

    path = landmark_model_path(Path(__file__).resolve().parent / "real_faces_data" / "dlib")
    if path is None or not Path(path).is_file():
        return None
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(path))


def _median_ms(fn: Callable[[], object], min_time: float, min_calls: int = 20) -> float:
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def _one_pass(det) -> None:
    """Per-face latency with one prediction per face (no re-crop passes)."""
    if hasattr(det, "passes"):
        det.passes = 1


#: the HOG upsampling of dlib's per-frame video pipeline: dlib's default (``detector(image)`` runs
#: with ``upsample_num_times=0``), enough for the ~230-pixel face of the generated 640x480 video
DLIB_VIDEO_UPSAMPLE = 0

#: issue #26: otmark's tracked video at least this many times dlib's per-frame pipeline
TARGET_VIDEO_RATIO = 3.0

DLIB_VIDEO = "dlib HOG every frame + shape predictor"
FAST = "pretrained-fast"
ORT_VIDEO = f"otmark {FAST} (ONNX Runtime) + tracking"


def _nme(pts: list[np.ndarray | None], gt: np.ndarray) -> float:
    """Mean NME (inter-ocular, 68 points) over the frames with a face ``(F, 68, 2)``."""
    filled = np.stack([np.full(gt[0].shape, np.nan) if p is None else p for p in pts])
    norm = np.linalg.norm(gt[:, 36] - gt[:, 45], axis=1)
    return float(np.nanmean(np.linalg.norm(filled - gt, axis=-1).mean(axis=1) / norm))


def _otmark_video(tracker, frames: list[np.ndarray]) -> tuple[float, list, int]:
    """Seconds for ``tracker`` over the decoded RGB ``frames``, the first face's landmarks per
    frame (None without a face) and the number of frames where the face finder ran."""
    tracker.reset()
    pts, finder_frames = [], 0
    t0 = time.perf_counter()
    for f in frames:
        step = tracker(f)
        pts.append(step.faces[0].landmarks if step.faces else None)
        finder_frames += int(step.found)
    return time.perf_counter() - t0, pts, finder_frames


def _dlib_video(hog, predictor, frames: list[np.ndarray]) -> tuple[float, list, int]:
    """dlib's per-frame pipeline over the decoded RGB ``frames``: OpenCV's gray conversion, the
    HOG detector at :data:`DLIB_VIDEO_UPSAMPLE`, the 68-point shape predictor on the largest
    face. Returns as :func:`_otmark_video` (the finder runs on every frame)."""
    import cv2

    pts = []
    t0 = time.perf_counter()
    for f in frames:
        gray = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
        rects = hog(gray, DLIB_VIDEO_UPSAMPLE)
        if len(rects):
            shape = predictor(gray, max(rects, key=lambda r: r.area()))
            pts.append(np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64))
        else:
            pts.append(None)
    return time.perf_counter() - t0, pts, len(frames)


def _onnx_detector(path: Path, threads: int):
    """A :class:`otmark.inference.Detector` on ONNX Runtime (CPU, ``threads`` intra-op
    threads) for the exported model at ``path``."""
    from otmark.inference import Detector
    from otmark.inference.onnx import OnnxBackend

    det = Detector.from_onnx(path, device="cpu")
    det.backend = OnnxBackend(path, device="cpu", intra_op_threads=threads)
    return det


def _export_fast(folder: Path, notes: list[str]) -> Path | None:
    """The packaged fast model exported to ONNX in ``folder`` (None without onnxruntime or
    when the fast model is not built)."""
    from otmark.checkpoint_names import PretrainedNotInstalled
    from otmark.export import export_checkpoint

    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        notes.append("onnxruntime is not installed: no ONNX Runtime video row")
        return None
    try:
        return Path(export_checkpoint(FAST, folder / "fast.onnx")["onnx"])
    except PretrainedNotInstalled:
        return None


def _video_rows(
    frames, gt, models, args, notes, dlib_parts, onnx_fast: Path | None = None
) -> tuple[list[dict], list[dict]]:
    """Frames per second of otmark with tracking (each model) and of dlib's per-frame pipeline
    on the same decoded frames, for each of ``args.video_threads`` torch threads (dlib uses one
    core whatever the setting); ``args.repeats`` passes of each, round-robin so that load from
    other processes hits all alike, after a warm-up on the first 5 frames; the median pass.
    Returns the rows and, per thread count, the ratio of the fast model's frames/s to dlib's."""
    from otmark.inference.finders import make_face_finder
    from otmark.inference.tracking import FaceTracker

    finder = make_face_finder("auto", all_faces=False, notify=notes.append)
    rows, ratios = [], []
    for threads in args.video_threads:
        print(f"video, {threads} torch thread(s) ...", flush=True)
        torch.set_num_threads(threads)
        runs: dict[str, Callable[[list[np.ndarray]], tuple[float, list, int]]] = {}
        dets = [(f"otmark {name} + tracking", det, desc) for name, (det, _, desc) in models.items()]
        if onnx_fast is not None and FAST in models:
            dets.insert(1, (ORT_VIDEO, _onnx_detector(onnx_fast, threads), models[FAST][2]))
        for label, det, desc in dets:
            # an untrained model's confidence means nothing: keep its tracks (threshold 0) so
            # that the timing is the tracking path's, not the face finder's on every frame
            tracker = FaceTracker(
                det,
                threshold=0.0 if "untrained" in desc else 0.5,
                redetect_every=args.redetect_every,
                max_faces=1,
                fps=25.0,
                find_faces=finder,
            )
            runs[label] = lambda fr, t=tracker: _otmark_video(t, fr)
        if dlib_parts is not None:
            runs[DLIB_VIDEO] = lambda fr: _dlib_video(*dlib_parts, fr)
        for run in runs.values():
            run(frames[:5])
        passes: dict[str, list] = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name, run in runs.items():
                passes[name].append(run(frames))
        by_name = {}
        for name, results in passes.items():
            seconds = [r[0] for r in results]
            model = models[name.split()[1]] if name != DLIB_VIDEO else None
            by_name[name] = {
                "method": name,
                "threads": 1 if model is None else threads,  # dlib: one core
                "torch_threads": threads,
                "fps": len(frames) / statistics.median(seconds),
                "fps_passes": [len(frames) / s for s in seconds],
                "finder_frames": results[0][2],
                "nme": None if model and "untrained" in model[2] else _nme(results[0][1], gt),
            }
        rows.extend(by_name.values())
        dlib_row = by_name.get(DLIB_VIDEO)
        for label in (f"otmark {FAST} + tracking", ORT_VIDEO):
            fast = by_name.get(label)
            if fast is None or dlib_row is None:
                continue
            ratio = fast["fps"] / dlib_row["fps"]
            ratios.append(
                {
                    "method": label,
                    "torch_threads": threads,
                    "otmark_fps": fast["fps"],
                    "dlib_fps": dlib_row["fps"],
                    "ratio": ratio,
                    "ratio_passes": [
                        a / b for a, b in zip(fast["fps_passes"], dlib_row["fps_passes"])
                    ],
                    "target": TARGET_VIDEO_RATIO,
                    "met": ratio >= TARGET_VIDEO_RATIO,
                }
            )
    return rows, ratios


def _latency_rows(models, frames, box, args, notes) -> list[dict]:
    """Per-face latency on 1 thread: the torch forward, the detector (one pass), the ONNX Runtime
    forward of each model, and dlib's shape predictor."""
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (det, model, desc) in models.items():
            size = det.codec.input_size
            x = torch.randn(1, 3, size, size)
            fwd = det.backend
            row = {
                "model": name,
                "description": desc,
                "parameters": count_parameters(model),
                "float16_mb": 2 * count_parameters(model) / 1e6,
                "input_size": size,
                "torch_forward_ms": _median_ms(lambda f=fwd, a=x: f(a), args.min_time),
            }
            _one_pass(det)
            row["torch_detector_ms"] = _median_ms(
                lambda d=det: d.predict(frames[0], box), args.min_time
            )
            try:
                onnx_path = export_onnx(copy.deepcopy(model).eval(), Path(tmp) / "m.onnx", size)
                sess = ort_session(onnx_path, 1, optimization="all")
                xn = x.numpy()
                row["ort_forward_ms"] = _median_ms(
                    lambda s=sess, a=xn: s.run(None, {"images": a}), args.min_time
                )
            except ImportError:
                notes.append("onnxruntime is not installed: no ONNX Runtime timings")
            rows.append(row)
            print(
                f"{name:16s} {row['parameters'] / 1e6:5.2f} M params: torch forward "
                f"{row['torch_forward_ms']:6.2f} ms, detector {row['torch_detector_ms']:6.2f} ms"
                + (f", ORT {row['ort_forward_ms']:6.2f} ms" if "ort_forward_ms" in row else ""),
                flush=True,
            )
        dlib_parts = _dlib_parts()
        if dlib_parts is None:
            notes.append("dlib or its 68-point model is not installed: no dlib timings")
        else:
            import dlib

            hog, predictor = dlib_parts
            gray = np.ascontiguousarray(frames[0].mean(axis=2).astype(np.uint8))
            rect = dlib.rectangle(*(int(v) for v in box[0]))
            ms = _median_ms(lambda: predictor(gray, rect), args.min_time)
            rows.append({"model": "dlib shape_predictor_68", "torch_detector_ms": ms})
            print(f"{'dlib 68 points':16s} shape predictor {ms:6.2f} ms", flush=True)
    return rows


def fast_main(argv: list[str] | None = None) -> dict:
    """``python benchmarks/inference.py fast``: per-face latency on 1 thread (128-px crops,
    batch 1) of the fast model and the packaged HRNet, with torch and ONNX Runtime (when
    installed), beside dlib's shape predictor (when installed); then video throughput on a
    generated 640x480 video on 2 torch threads (and 1: ``--video-threads``; PyTorch's OpenMP
    threads degrade badly when other processes load the cores): otmark with tracking (the
    face finder's video schedule on the first frame, every ``--redetect-every`` frames and
    after a loss: :func:`otmark.inference.finders.find_video_faces`) beside dlib's per-frame
    pipeline (OpenCV gray conversion, HOG face detector at :data:`DLIB_VIDEO_UPSAMPLE` on every
    frame, 68-point shape predictor), with the ratio of the fast model's frames/s to dlib's
    (target: :data:`TARGET_VIDEO_RATIO`). Frames are decoded before timing for both; each is
    timed ``--repeats`` times round-robin (:func:`_video_rows`). ``--video-only`` skips the
    per-face latencies."""
    parser = argparse.ArgumentParser(prog="python benchmarks/inference.py fast")
    parser.add_argument("--min-time", type=float, default=2.0, help="seconds per latency case")
    parser.add_argument("--frames", type=int, default=40, help="frames of the generated video")
    parser.add_argument("--redetect-every", type=int, default=30)
    parser.add_argument(
        "--video-threads", type=int, nargs="+", default=[2, 1], help="torch threads on video"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the video")
    parser.add_argument(
        "--models", nargs="+", default=[FAST, "pretrained"], choices=[FAST, "pretrained"]
    )
    parser.add_argument("--video-only", action="store_true", help="no per-face latencies")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"default {FAST_RESULTS.name} ({VIDEO_RESULTS.name} with --video-only)",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = VIDEO_RESULTS if args.video_only else FAST_RESULTS
    if args.repeats < 1 or args.frames < 5:
        parser.error("--repeats must be >= 1 and --frames >= 5")

    from otmark.synth.video import render_video

    notes: list[str] = []
    load_before = os.getloadavg()
    print(f"generating a {args.frames}-frame 640x480 video ...", flush=True)
    video = render_video(1, np.random.default_rng(0), args.frames, size=(480, 640))
    frames = [r.image for r in video]
    gt = np.stack([r.landmarks["300vw"] for r in video])
    lo, hi = gt[0].min(axis=0), gt[0].max(axis=0)
    box = np.array([[lo[0], lo[1], hi[0], hi[1]]])

    models = {}
    for name in args.models:
        det, model, desc = _detector_for(name, notes)
        models[name] = (det, model, desc)

    rows = [] if args.video_only else _latency_rows(models, frames, box, args, notes)

    # --- video throughput: otmark with tracking beside dlib on every frame, in one run
    with tempfile.TemporaryDirectory() as tmp:
        onnx_fast = _export_fast(Path(tmp), notes) if FAST in models else None
        video_rows, ratios = _video_rows(frames, gt, models, args, notes, _dlib_parts(), onnx_fast)
    if rows:
        print("\nper face, 1 thread (ms)")
        print(f"{'model':26s} {'params':>8s} {'torch fwd':>10s} {'detector':>10s} {'ORT fwd':>10s}")
    for r in rows:
        params = f"{r['parameters'] / 1e6:.2f}M" if "parameters" in r else "-"
        fwd = f"{r['torch_forward_ms']:.2f}" if "torch_forward_ms" in r else "-"
        ort = f"{r['ort_forward_ms']:.2f}" if "ort_forward_ms" in r else "-"
        print(f"{r['model']:26s} {params:>8s} {fwd:>10s} {r['torch_detector_ms']:10.2f} {ort:>10s}")
    print(
        f"\nvideo, 640x480, {len(frames)} frames (decoded before timing), median of "
        f"{args.repeats} passes; dlib: HOG at upsampling {DLIB_VIDEO_UPSAMPLE} on every frame"
    )
    for r in video_rows:
        nme = "-" if r["nme"] is None else f"{100 * r['nme']:.2f}%"
        print(
            f"{r['method']:48s} {r['threads']} thread(s) {r['fps']:7.1f} frames/s   NME {nme}   "
            f"finder on {r['finder_frames']} frame(s)"
        )
    for q in ratios:
        print(
            f"{q['method']} / dlib, torch threads {q['torch_threads']}: "
            f"x{q['ratio']:.2f} (passes {', '.join(f'{v:.2f}' for v in q['ratio_passes'])}; "
            f"target x{q['target']:.0f}: {'met' if q['met'] else 'NOT met'})"
        )
    for n in notes:
        print(f"note: {n}")
    result = {
        "benchmark": "inference_fast",
        "latency_1thread": rows,
        "video": video_rows,
        "video_vs_dlib": ratios,
        "video_input": {
            "frames": len(frames),
            "size": [640, 480],
            "generator": "otmark.synth.video, 300VW category 1",
            "repeats": args.repeats,
            "redetect_every": args.redetect_every,
            "dlib_upsample": DLIB_VIDEO_UPSAMPLE,
            "dlib_gray": "cv2.cvtColor(RGB2GRAY), inside the timing",
        },
        "notes": notes,
        "machine": machine_info(load_before),
        "command": " ".join(["python benchmarks/inference.py fast", *(argv or [])]),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json_atomic(args.out, result, indent=2)
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
