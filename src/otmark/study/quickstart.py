"""``otmark quickstart``: generated data -> HRNetV2-W18 (W loss, sigma 3, GET_BC) -> report.

Steps: generate the default benchmark unless it is there (:mod:`otmark.study.benchmark`);
train the packaged ``300w_w_s3_bc`` config with the engine's per-step recipe within a
wall-clock budget (``optim.schedule: warmup_cosine``, ``optim.budget_minutes``: warm-up, then a
cosine re-planned after every step so that it reaches 0 when the budget is used, however busy
the machine; :func:`otmark.study.training.train_model`); evaluate the model
and the mean-shape baseline on the 300W test set, occlusion-large, 300W -> WFLW and blur-large;
write ``report.md``, ``results.json``, CED plots and landmark overlays under ``out``.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from otmark import datasets
from otmark.atomic import write_json_atomic, write_text_atomic
from otmark.device import resolve_device
from otmark.metrics import ced, markdown_table
from otmark.protocols import CED_THETAS
from otmark.study.benchmark import BenchmarkSize, ensure_benchmark
from otmark.study.cells import RECOMMENDED, experiment_config, merge, setting_of
from otmark.study.log import say
from otmark.study.plots import overlay_grid, plot_ced
from otmark.study.scoring import evaluate_mean_shape, evaluate_model, load_protocols
from otmark.study.training import split_validation, train_model

#: protocols of the quickstart report (the first one gives the headline ratio)
PROTOCOLS = ("300w-test", "occlusion-large", "300w-wflw", "blur-large")

#: the quickstart's training: an engine-config fragment merged onto ``300w_w_s3_bc``. 128 px
#: input and 32x32 heatmaps (a 2-core CPU trains about 4x more steps than at 256 px); sigma
#: 1.5 heatmap pixels = the paper's sigma 3 on 64x64 maps, the same width relative to the face;
#: the schedule's budget is set from ``--minutes``.
TRAIN = {
    "codec": {"input_size": 128, "heatmap_size": 32, "sigma": 1.5},
    "optim": {
        "lr": 2e-3,
        "batch_size": 8,
        "schedule": "warmup_cosine",
        "warmup_steps": 50,
        "min_decay_steps": 50,
        "step_time_window": 20,
    },
    "train": {"amp": "auto", "channels_last": True, "progress": False, "tensorboard": False},
    "data": {"num_workers": 0},
}


@dataclass
class QuickstartOptions:
    """What the quickstart runs.

    Attributes:
        out: output folder (data in ``out/data``, the model in ``out/model.pt``).
        minutes: wall-clock training budget (``optim.budget_minutes``), unless ``train``
            gives ``optim.steps``.
        benchmark: size of the generated data.
        train: engine-config fragment merged onto the packaged ``300w_w_s3_bc`` config
            (default :data:`TRAIN`).
        val_faces: training faces held out for the validation of the final model (at most a
            fifth of the training faces).
        model: ``otmark.models`` name.
        seed: training seed.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        overlays: number of test faces drawn in each overlay figure.
        protocol_limit: evaluate at most this many faces per protocol (None = all).
    """

    out: Path = Path("otmark_quickstart")
    minutes: float = 10.0
    benchmark: BenchmarkSize = field(default_factory=BenchmarkSize)
    train: dict = field(default_factory=lambda: merge(TRAIN, {}))
    val_faces: int = 100
    model: str = "hrnet_w18"
    seed: int = 0
    device: str = "auto"
    overlays: int = 8
    protocol_limit: int | None = None


def _fmt(x: float) -> str:
    return f"{x:.2f}"


@dataclass
class _Trained:
    """The quickstart's training: its config, recipe label, device, training faces, model."""

    cfg: object
    setting: object
    device: torch.device
    faces: list
    trained: object


@dataclass
class _Scores:
    """The evaluated protocols, the model's and the mean shape's evaluations of each."""

    protocols: dict
    model: dict
    mean_shape: dict


def run_quickstart(opts: QuickstartOptions, log: Callable[[str], None] = say) -> dict:
    """Run the quickstart; returns the ``results.json`` dict (also written under ``opts.out``).

    Keys: ``nme`` (protocol -> {"model", "mean_shape"} NME in percent), ``ratio`` (mean-shape
    NME / model NME on ``300w-test``), ``seconds`` (data, train, evaluate, total), ``files``.
    """
    t0 = time.perf_counter()
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    roots = ensure_benchmark(out / "data", opts.benchmark, log=log)
    t_data = time.perf_counter() - t0
    run = _train_quickstart(opts, roots, out, log)
    t_train = time.perf_counter() - t0 - t_data

    log(f"evaluating on {', '.join(PROTOCOLS)}")
    protocols = load_protocols(PROTOCOLS, roots, opts.protocol_limit)
    trained = run.trained
    scores = _Scores(
        protocols,
        evaluate_model(trained.model, trained.scheme, trained.codec, protocols, run.device),
        evaluate_mean_shape(run.faces, protocols),
    )
    t_eval = time.perf_counter() - t0 - t_data - t_train
    files = _write_figures(out, opts, run, scores)
    seconds = {"data": t_data, "train": t_train, "evaluate": t_eval}
    seconds["total"] = time.perf_counter() - t0
    result = _results(opts, run, scores, seconds, files)
    write_json_atomic(files["results"], result)
    _write_report(files["report"], result, scores.model, scores.mean_shape)
    head, nme = PROTOCOLS[0], result["nme"]
    log(
        f"300W test NME: model {_fmt(nme[head]['model'])}%, mean shape "
        f"{_fmt(nme[head]['mean_shape'])}% (ratio {result['ratio']:.1f}x); total "
        f"{seconds['total'] / 60:.1f} min"
    )
    log("wrote:")
    for k, v in files.items():
        log(f"  {k:24s} {v}")
    return result


def _train_quickstart(opts: QuickstartOptions, roots: dict, out: Path, log) -> _Trained:
    """Hold validation faces out of the generated 300W training split and train the
    quickstart's config on the others (:func:`otmark.study.training.train_model`), writing
    ``out/model.pt``."""
    faces = list(datasets.load("300w", roots["300w"], "train"))
    # at most a fifth of a small training set is held out
    held = min(opts.val_faces, max(1, len(faces) // 5))
    train, val = split_validation(faces, held, opts.seed)
    overrides = opts.train
    if "steps" not in overrides.get("optim", {}):
        overrides = merge(overrides, {"optim": {"budget_minutes": float(opts.minutes)}})
    cfg = experiment_config(
        "quickstart",
        opts.model,
        RECOMMENDED,
        overrides,
        opts.seed,
        "300w",
        str(roots["300w"]),
        device=opts.device,
        output_dir=str(out),
        where="otmark quickstart",
    )
    setting = setting_of("300w", RECOMMENDED)
    device = resolve_device(opts.device)
    log(
        f"training {opts.model} ({setting.label}, {cfg.codec.input_size} px, "
        f"{len(train)} faces) on {device}, "
        + (
            f"{cfg.optim.steps} steps"
            if cfg.optim.steps is not None
            else f"{opts.minutes:g} min (warm-up, then a cosine re-planned after every step)"
        )
    )
    trained = train_model(cfg, train, val, checkpoint=out / "model.pt", log=log)
    return _Trained(cfg, setting, device, train, trained)


def _write_figures(out: Path, opts: QuickstartOptions, run: _Trained, scores: _Scores) -> dict:
    """CED plots of every protocol and overlays of two; returns name -> path of every file
    the quickstart writes (``report``, ``results`` and ``checkpoint`` included)."""
    files = {
        "report": out / "report.md",
        "results": out / "results.json",
        "checkpoint": out / "model.pt",
    }
    model_eval, mean_eval = scores.model, scores.mean_shape
    for name in PROTOCOLS:
        curves = {
            f"{opts.model} {run.setting.label}": _curve(model_eval[name]),
            "mean shape": _curve(mean_eval[name]),
        }
        files[f"ced_{name}"] = plot_ced(out / f"ced_{name}.png", curves, f"{name}: CED")
    for name in ("300w-test", "occlusion-large"):
        p = scores.protocols[name]
        n = min(opts.overlays, len(p))
        files[f"overlay_{name}"] = overlay_grid(
            out / f"overlay_{name}.png",
            [p.input_image(i) for i in range(n)],
            [model_eval[name].predictions.landmarks[p.ids[i]] for i in range(n)],
            [p.samples[i].landmarks for i in range(n)],
            [f"{p.ids[i]} NME {100 * model_eval[name].errors[i].mean():.1f}%" for i in range(n)],
        )
    return files


def _results(
    opts: QuickstartOptions, run: _Trained, scores: _Scores, seconds: dict, files: dict
) -> dict:
    """The ``results.json`` dict (see :func:`run_quickstart`)."""
    cfg, trained = run.cfg, run.trained
    model_eval, mean_eval = scores.model, scores.mean_shape
    nme = {
        n: {"model": model_eval[n].summary["NME"], "mean_shape": mean_eval[n].summary["NME"]}
        for n in PROTOCOLS
    }
    head = PROTOCOLS[0]
    return {
        "model": opts.model,
        "setting": run.setting.label,
        "train": {
            "input_size": cfg.codec.input_size,
            "heatmap_size": cfg.codec.heatmap_size,
            "sigma": cfg.codec.sigma,
            "batch_size": cfg.optim.batch_size,
            "lr": cfg.optim.lr,
            "optim": dataclasses.asdict(cfg.optim),
        },
        "benchmark": asdict(opts.benchmark),
        "device": str(run.device),
        "hardware": _hardware(run.device),
        "torch_threads": torch.get_num_threads(),
        "train_faces": len(run.faces),
        "epochs_run": trained.epochs,
        "steps_run": trained.steps,
        "val_nme": trained.val_nme,
        "history": trained.history,
        "summary": {
            n: {"model": model_eval[n].summary, "mean_shape": mean_eval[n].summary}
            for n in PROTOCOLS
        },
        "num_images": {n: len(scores.protocols[n]) for n in PROTOCOLS},
        "nme": nme,
        "ratio": nme[head]["mean_shape"] / max(nme[head]["model"], 1e-12),
        "seconds": seconds,
        "files": {k: str(v) for k, v in files.items()},
    }


def _curve(evaluation) -> tuple[list, list]:
    return CED_THETAS.tolist(), ced(evaluation.errors, CED_THETAS, per="image").tolist()


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores"


def _write_report(path: Path, result: dict, model_eval, mean_eval) -> None:
    sec = result["seconds"]
    lines = [
        "# otmark quickstart report",
        "",
        f"{result['model']} trained with {result['setting']} on {result['train_faces']} "
        f"generated 300W faces ({result['train']['input_size']} px input, "
        f"{result['train']['heatmap_size']}x{result['train']['heatmap_size']} heatmaps, "
        f"{result['steps_run']} steps of {result['train']['batch_size']} images in "
        f"{result['epochs_run']} epochs, warm-up + cosine learning rate re-planned to the "
        "time budget, final weights) on "
        f"{result['device']} ({result['hardware']}, {result['torch_threads']} torch threads).",
        "",
        f"Wall time: data {sec['data']:.0f} s, training {sec['train']:.0f} s, evaluation "
        f"{sec['evaluate']:.0f} s, total {sec['total'] / 60:.1f} min.",
        "",
        f"**300W test NME: model {_fmt(result['nme']['300w-test']['model'])} %, mean shape "
        f"{_fmt(result['nme']['300w-test']['mean_shape'])} % "
        f"(mean-shape NME / model NME = {result['ratio']:.2f}).**",
        "",
    ]
    for name in PROTOCOLS:
        lines += [
            f"## {name} ({result['num_images'][name]} images)",
            "",
            markdown_table(
                {"model": model_eval[name].summary, "mean shape": mean_eval[name].summary}
            ),
            f"![CED {name}](ced_{name}.png)",
            "",
        ]
    lines += [
        "## Overlays (green: ground truth, red: model)",
        "",
        "![300W test](overlay_300w-test.png)",
        "",
        "![occlusion-large](overlay_occlusion-large.png)",
        "",
    ]
    write_text_atomic(path, "\n".join(lines))
