"""``otmark study``: run the cells of a study that are not done, one JSON per cell, resumable.

An interrupted study continues where it stopped (a cell whose JSON exists with the same
definition is skipped, :func:`otmark.study.config.is_done`), so a long study can be finished
over several runs (and the JSONs committed). The report is written by
:mod:`otmark.study.report`.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from otmark.atomic import write_json_atomic
from otmark.study.benchmark import ensure_benchmark
from otmark.study.cells import experiment_config
from otmark.study.config import (
    CED_THETAS,
    FORMAT,
    VAL_SPLITS,
    Cell,
    StudyConfig,
    cell_path,
    is_done,
    key_hash,
)
from otmark.study.log import say
from otmark.study.report import write_report

if TYPE_CHECKING:
    from otmark.study.training import TrainedModel


def training_key(cell: Cell) -> tuple:
    """What a cell's *training* depends on: the decoder only changes evaluation, so cells that
    differ only in it (``L2 σ1 GET_MAX`` and ``L2 σ1 GET_BC``) share one trained model."""
    s = cell.setting
    return (cell.experiment.name, s.loss, s.sigma, s.coordconv, cell.scheme, cell.seed)


def train_cell(study: StudyConfig, cell: Cell, roots: dict, log=say) -> TrainedModel:
    """Train the model of ``cell`` on its training dataset (``roots``: dataset -> folder) with
    the study's recipe; returns :class:`otmark.study.training.TrainedModel`."""
    from otmark import datasets
    from otmark.study.training import convert_samples, train_model

    exp = cell.experiment
    root = roots[exp.train_on]
    train = convert_samples(list(datasets.load(exp.train_on, root, "train")), cell.scheme)
    val = list(datasets.load(exp.train_on, root, VAL_SPLITS[exp.train_on]))
    val = convert_samples(val[: study.train.val_limit or None], cell.scheme)
    cfg = experiment_config(
        cell.id,
        exp.model,
        cell.setting,
        study.train,
        cell.seed,
        exp.train_on,
        str(root),
        device=study.device,
    )
    return train_model(
        cfg,
        train,
        val,
        steps=study.train.steps,
        minutes=study.train.minutes,
        log=log,
        warmup=study.train.warmup,
    )


def run_cell(
    study: StudyConfig,
    cell: Cell,
    roots: dict,
    cache: dict,
    log=say,
    trained_models: dict | None = None,
) -> dict:
    """Train and evaluate one cell; write and return its JSON dict.

    ``cache`` keeps loaded protocols between cells; ``trained_models`` (optional) keeps the
    last trained model by :func:`training_key`, so a cell that differs from the previous one
    only in its decoder is evaluated on the same weights instead of retrained.
    """
    import torch

    from otmark.device import resolve_device
    from otmark.metrics import ced
    from otmark.study.scoring import evaluate_model, load_protocols

    t0 = time.perf_counter()
    exp = cell.experiment
    tkey = training_key(cell)
    shared = trained_models is not None and tkey in trained_models
    if shared:
        trained, trained_by = trained_models[tkey]
        codec = dataclasses.replace(trained.codec, decoder=cell.setting.decoder)
        trained = dataclasses.replace(trained, codec=codec)
        log(f"  same training as {trained_by} (only the decoder differs)")
    else:
        trained = train_cell(study, cell, roots, log=log)
        trained_by = cell.id
        if trained_models is not None:
            trained_models.clear()
            trained_models[tkey] = (trained, trained_by)
    t_train = time.perf_counter() - t0
    missing = [p for p in exp.protocols if p not in cache]
    cache.update(load_protocols(missing, roots))
    device = resolve_device(study.device)
    evals = evaluate_model(
        trained.model, trained.scheme, trained.codec, {p: cache[p] for p in exp.protocols}, device
    )
    results = {
        name: {
            "num_images": int(ev.errors.shape[0]),
            "num_points": int(ev.errors.shape[1]),
            "summary": ev.summary,
            "ced_image": [round(v, 5) for v in ced(ev.errors, CED_THETAS, per="image").tolist()],
        }
        for name, ev in evals.items()
    }
    key = study.cell_key(cell)
    doc = {
        "format": FORMAT,
        "study": study.name,
        "cell": cell.id,
        "key": key,
        "key_hash": key_hash(key),
        "label": cell.setting.label,
        "device": str(device),
        "hardware": (
            torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else f"{platform.machine()}, {os.cpu_count()} CPU cores"
        ),
        "torch_threads": torch.get_num_threads(),
        "seconds": {"train": t_train, "total": time.perf_counter() - t0},
        "trained_by": trained_by,
        "history": trained.history,
        "ced_thetas": CED_THETAS.tolist(),
        "results": results,
    }
    write_json_atomic(cell_path(study, cell), doc)
    return doc


def run_study(
    study: StudyConfig,
    max_cells: int | None = None,
    minutes: float | None = None,
    only: tuple[str, ...] = (),
    log: Callable[[str], None] = say,
) -> dict:
    """Run the cells not yet done (optionally only experiments ``only``), at most ``max_cells``
    of them or until ``minutes`` have passed (checked between cells), then write the report.

    A cell whose training diverges (non-finite loss) is logged, not stored, and skipped.

    Returns ``{"ran": [...], "skipped": [...], "failed": [...], "remaining": [...],
    "report": path}``.
    """
    t0 = time.perf_counter()
    cells = [c for c in study.cells() if not only or c.experiment.name in only]
    todo = [c for c in cells if not is_done(study, c)]
    skipped = [c.id for c in cells if c not in todo]
    log(
        f"study {study.name} ({study.profile} profile): {len(cells)} cells, "
        f"{len(skipped)} already done, {len(todo)} to run; results in {study.results_dir}"
    )
    ran: list[str] = []
    failed: list[str] = []
    if todo:
        datasets_needed = {c.experiment.train_on for c in todo}
        from otmark.study.scoring import protocol_spec

        for c in todo:
            datasets_needed.update(protocol_spec(p).dataset for p in c.experiment.protocols)
        generate = tuple(sorted(datasets_needed - set(study.data_roots)))
        roots = ensure_benchmark(study.data, study.benchmark, generate, log=log) if generate else {}
        roots.update(study.data_roots)
        cache: dict = {}
        trained_models: dict = {}
        for i, cell in enumerate(todo):
            if max_cells is not None and len(ran) >= max_cells:
                break
            if minutes is not None and time.perf_counter() - t0 >= 60 * minutes:
                log(f"time limit of {minutes:g} min reached")
                break
            log(f"[{i + 1}/{len(todo)}] {cell.id} ({cell.experiment.model}, {cell.setting.label})")
            try:
                doc = run_cell(study, cell, roots, cache, log=log, trained_models=trained_models)
            except FloatingPointError as exc:  # a diverged training: stays to do, study goes on
                log(f"  {cell.id} diverged ({exc}); not stored, the study continues")
                failed.append(cell.id)
                continue
            ran.append(cell.id)
            nmes = ", ".join(f"{k} {v['summary']['NME']:.2f}%" for k, v in doc["results"].items())
            log(f"  done in {doc['seconds']['total']:.0f} s: {nmes}")
    remaining = [c.id for c in cells if not is_done(study, c)]
    report = write_report(study)
    log(f"{len(remaining)} cells remaining; report: {report}")
    return {
        "ran": ran,
        "skipped": skipped,
        "failed": failed,
        "remaining": remaining,
        "report": report,
    }
