"""``otmark study``: the learning-rate stage, then the cells that are not done, one JSON per
cell, resumable and splittable over several processes (``--shard I/N``).

1. **Learning rate per loss or family** (:func:`run_lr_stage`): for every learning-rate
   family of the cells to run (:meth:`otmark.study.config.StudyConfig.family_of`: the loss,
   or with ``lr_select.per: family`` model x dataset x loss x sigma), the family's setting is
   trained once per ``optim.lr_candidates`` rate with the ``lr_select`` recipe and scored on
   the validation split (faces held out of the training split, never a test protocol);
   :func:`otmark.study.lr_select.select_lr_in_grid` keeps the best and extends the grid while
   the best is at an edge (``lr_select.max_extensions``). Stored in
   ``<results>/lr/<family>.json`` with every candidate's validation curve (each candidate's
   run in ``<results>/lr/<family>/``), so an interrupted stage resumes.
2. **Cells** (:func:`run_cell`): the cell's engine config (packaged config + the study's
   ``train`` fragment + the chosen rate) trained by
   :func:`otmark.study.training.train_model` on the training split minus the validation
   faces (to the validation plateau with the paper config), then scored on its protocols and
   on the clean counterpart of every perturbed protocol (the same images, not perturbed), at
   the end and at the weights kept every ``score_every`` steps.
3. **Mean shape** (:func:`mean_shape_results`): the mean training shape scored on the same
   protocols, in ``<results>/mean_shape__<experiment>__<scheme>.json``.

An interrupted study continues where it stopped (a cell whose JSON exists with the same
definition is skipped, :func:`otmark.study.config.is_done`). The report and ``summary.json``
are written by :mod:`otmark.study.report`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from otmark import datasets
from otmark.atomic import write_json_atomic
from otmark.device import resolve_device
from otmark.study.benchmark import ensure_benchmark
from otmark.study.cells import setting_of
from otmark.study.config import (
    CED_THETAS,
    FORMAT,
    Cell,
    Experiment,
    StudyConfig,
    cell_path,
    is_done,
    key_hash,
    lr_select_config,
)
from otmark.study.log import say
from otmark.study.lr_select import select_lr_in_grid
from otmark.study.report import write_report
from otmark.study.scoring import (
    evaluate_mean_shape,
    evaluate_model,
    evaluation_record,
    load_protocols,
    protocol_spec,
)
from otmark.study.scoring import with_clean_counterparts as with_clean
from otmark.study.shard import Shard, ShardItem, select_shard
from otmark.study.training import TrainedModel, convert_samples, split_validation, train_model


def training_key(cell: Cell) -> str:
    """What a cell's *training* depends on: the decoder only changes evaluation, so cells that
    differ only in it (``l2_s1_max`` and ``l2_s1_bc``) share one trained model."""
    return cell.training_id


def training_data(study: StudyConfig, dataset: str, scheme: str, roots: dict) -> tuple:
    """``(train, val)`` samples of ``dataset``'s training split in ``scheme``: ``val`` are the
    study's ``val_faces`` faces held out of it (seed 0), ``train`` the others."""
    samples = list(datasets.load(dataset, roots[dataset], "train"))
    train, val = split_validation(samples, study.val_faces, 0, f"{roots[dataset]} ({dataset})")
    return convert_samples(train, scheme), convert_samples(val, scheme)


# ---------------------------------------------------------------------------------------------
# learning rate per loss


def run_lr_stage(study: StudyConfig, losses, roots: dict, log=say) -> dict:
    """Choose (or read) the learning rate of each family of ``losses`` (loss names with
    ``lr_select.per: loss``); returns family -> the stored choice (``{"lr",
    "lr_candidates", "val_nme", "curves", ...}``)."""
    out = {}
    sel = study.lr_select
    families = study.families()
    for loss in sorted(losses):
        done = study.lr_of(loss)
        if done is not None:
            out[loss] = done
            continue
        fam = families[loss]
        key = study.lr_key(loss)
        train, val = training_data(study, fam.train_on, fam.scheme, roots)
        root = str(roots[fam.train_on])
        candidates = lr_select_config(study, loss, root, None).optim.lr_candidates
        log(f"learning rate of {loss} ({fam.setting}): candidates {candidates}")

        trial = LrTrial(study, loss, key, train, val, root, log)
        choice = select_lr_in_grid(
            trial, candidates, sel.max_extensions, sel.min_candidates, sel.min_decades
        )
        doc = {
            "loss": setting_loss(fam.setting, fam.train_on, study.source),
            "family": loss,
            "setting": fam.setting,
            **choice.to_dict(),
            "extensions": list(choice.extensions),
            "inside": choice.inside,
            "curves": {f"{lr:g}": trial.histories.get(lr, []) for lr in choice.candidates},
            "split": f"{study.val_faces} faces held out of the {fam.train_on} training split",
            "key": key,
            "key_hash": key_hash(key),
        }
        write_json_atomic(study.lr_path(loss), doc)
        edge = "" if choice.inside else " (at the edge of the grid: max_extensions reached)"
        log(f"  {loss}: lr {choice.lr:g}{edge} (validation NME {dict(choice.table)})")
        out[loss] = doc
    return out


def setting_loss(setting: str, train_on: str, where: str) -> str:
    """The ``otmark.losses`` name of a setting name."""
    return setting_of(train_on, setting, where).loss


@dataclass
class LrTrial:
    """One loss's learning-rate trial: ``trial(lr)`` trains the study's ``lr_select`` setting
    at ``lr`` on ``train`` and returns the validation NME on ``val`` (inf when the training
    diverged); stored in ``<results>/lr/<loss>/lr<lr>.json`` and read back from there when
    stored with the same definition (``key``)."""

    study: StudyConfig
    loss: str
    key: dict
    train: list
    val: list
    root: str
    log: Callable[[str], None] = say
    histories: dict = dataclasses.field(default_factory=dict)  # lr -> validation rows

    def __call__(self, lr: float) -> float:
        part = self.study.lr_path(self.loss).with_suffix("") / f"lr{lr:g}.json"
        digest = key_hash({**self.key, "lr": lr})
        if part.is_file():
            doc = json.loads(part.read_text(encoding="utf-8"))
            if doc.get("key_hash") == digest:
                self.histories[lr] = doc.get("history", [])
                return _nme_or_inf(doc["val_nme"])
        self.log(f"  lr {lr:g}")
        cfg = lr_select_config(self.study, self.loss, self.root, lr)
        try:
            trained = train_model(cfg, self.train, self.val, log=self.log)
            nme, steps, history = trained.val_nme, trained.steps, trained.history
        except FloatingPointError as exc:
            self.log(f"  lr {lr:g} diverged ({exc})")
            nme, steps, history = float("inf"), None, []
        finite = nme if nme == nme and nme != float("inf") else None
        doc = {"lr": lr, "val_nme": finite, "steps": steps, "history": history}
        write_json_atomic(part, {**doc, "key_hash": digest})
        self.histories[lr] = history
        return nme


def _nme_or_inf(v) -> float:
    return float("inf") if v is None else float(v)


# ---------------------------------------------------------------------------------------------
# cells


def train_cell(study: StudyConfig, cell: Cell, roots: dict, lr: float, log=say) -> TrainedModel:
    """Train the model of ``cell`` on its training split (``roots``: dataset -> folder) with
    the study's recipe at peak rate ``lr``."""
    exp = cell.experiment
    train, val = training_data(study, exp.train_on, cell.scheme, roots)
    cfg = study.cell_config(cell, str(roots[exp.train_on]), lr)
    return train_model(cfg, train, val, log=log, keep_every=study.score_every)


def score_snapshots(trained: TrainedModel, protocols: dict, device) -> list[dict]:
    """Mean NME (%) of every protocol at each kept snapshot but the last (the final model is
    scored in full): ``[{"step", "nme": {protocol: NME}}]``."""
    rows = []
    model = copy.deepcopy(trained.model)
    for step, state in trained.snapshots[:-1]:
        model.load_state_dict(state)
        model.eval()
        evals = evaluate_model(model, trained.scheme, trained.codec, protocols, device)
        rows.append({"step": step, "nme": {n: ev.summary["NME"] for n, ev in evals.items()}})
    return rows


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
    t0 = time.perf_counter()
    exp = cell.experiment
    family = study.family_of(cell)
    choice = study.lr_of(family)
    if choice is None:
        raise ValueError(f"{cell.id}: no learning rate chosen for {family} yet")
    trained, trained_by = _trained_for(study, cell, roots, choice["lr"], trained_models, log)
    t_train = time.perf_counter() - t0
    missing = [p for p in exp.protocols if p not in cache]
    cache.update(load_protocols(missing, roots))
    protocols = with_clean({p: cache[p] for p in exp.protocols})
    device = resolve_device(study.device)
    evals = evaluate_model(trained.model, trained.scheme, trained.codec, protocols, device)
    records = {name: evaluation_record(ev, CED_THETAS) for name, ev in evals.items()}
    checkpoints = score_snapshots(trained, protocols, device)
    checkpoints.append(
        {"step": trained.steps, "nme": {n: r["summary"]["NME"] for n, r in records.items()}}
    )
    doc = _cell_doc(study, cell, choice, trained, trained_by, device)
    doc.update(
        seconds={"train": t_train, "total": time.perf_counter() - t0},
        results={n: r for n, r in records.items() if n in exp.protocols},
        clean={n: r for n, r in records.items() if n not in exp.protocols},
        checkpoints=checkpoints,
    )
    write_json_atomic(cell_path(study, cell), doc)
    return doc


def _trained_for(
    study: StudyConfig, cell: Cell, roots: dict, lr: float, trained_models, log
) -> tuple[TrainedModel, str]:
    """``(trained model, id of the cell that trained it)``: the model kept in
    ``trained_models`` by :func:`training_key` with this cell's decoder, else a new training
    (then kept there, in place of the previous one)."""
    tkey = training_key(cell)
    if trained_models is not None and tkey in trained_models:
        trained, trained_by = trained_models[tkey]
        codec = dataclasses.replace(trained.codec, decoder=cell.setting.decoder)
        log(f"  same training as {trained_by} (only the decoder differs)")
        return dataclasses.replace(trained, codec=codec), trained_by
    trained = train_cell(study, cell, roots, lr, log=log)
    if trained_models is not None:
        trained_models.clear()
        trained_models[tkey] = (trained, cell.id)
    return trained, cell.id


def _cell_doc(
    study: StudyConfig, cell: Cell, choice: dict, trained: TrainedModel, trained_by: str, device
) -> dict:
    """The cell's JSON fields that describe it and its training (the caller adds
    ``seconds``, ``results``, ``clean`` and ``checkpoints``)."""
    exp = cell.experiment
    key = study.cell_key(cell)
    return {
        "format": FORMAT,
        "study": study.name,
        "cell": cell.id,
        "key": key,
        "key_hash": key_hash(key),
        "experiment": exp.name,
        "model": exp.model,
        "setting": cell.setting.name,
        "label": cell.setting.label,
        "scheme": cell.scheme,
        "seed": cell.seed,
        "lr": choice["lr"],
        "lr_candidates": choice["lr_candidates"],
        "lr_val_nme": choice["val_nme"],
        "lr_family": study.family_of(cell),
        "lr_curve": lr_curve(choice),
        "steps": trained.steps,
        "epochs": trained.epochs,
        "stopped_at_plateau": trained.stopped_at_plateau,
        "val_nme": trained.val_nme,
        "device": str(device),
        "hardware": (
            torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else f"{platform.machine()}, {os.cpu_count()} CPU cores"
        ),
        "torch_threads": torch.get_num_threads(),
        "seconds": None,
        "trained_by": trained_by,
        "history": trained.history,
        "ced_thetas": CED_THETAS.tolist(),
        "results": None,
        "clean": None,
        "checkpoints": None,
    }


def lr_curve(choice: dict) -> dict:
    """``{rate: validation NME}`` of a stored learning-rate choice (rates as ``%g`` strings,
    diverged runs as null): the cell's ``lr_curve``."""
    return {f"{lr:g}": v for lr, v in zip(choice["lr_candidates"], choice["val_nme"], strict=True)}


# ---------------------------------------------------------------------------------------------
# mean shape


def mean_shape_path(study: StudyConfig, exp: Experiment, scheme: str):
    return study.results_dir / f"mean_shape__{exp.name}__{scheme}.json"


def mean_shape_results(study: StudyConfig, roots: dict, cache: dict, log=say) -> list:
    """Score the mean training shape (of the training split minus the validation faces) on
    every experiment's protocols and their clean counterparts; stored per experiment and
    scheme (skipped when stored with the same definition). Returns the paths."""
    paths = []
    for exp in study.experiments:
        if not all(d in roots for d in _datasets_of(exp)):
            continue
        for scheme in exp.schemes:
            path = mean_shape_path(study, exp, scheme)
            key = {
                "experiment": exp.name,
                "scheme": scheme,
                "protocols": list(exp.protocols),
                "benchmark": str(study.benchmark),
                "val_faces": study.val_faces,
                "data_roots": {k: str(v) for k, v in sorted(study.data_roots.items())},
            }
            paths.append(path)
            if path.is_file():
                try:
                    if json.loads(path.read_text(encoding="utf-8")).get("key_hash") == key_hash(
                        key
                    ):
                        continue
                except json.JSONDecodeError:
                    pass
            train, _ = training_data(study, exp.train_on, scheme, roots)
            missing = [p for p in exp.protocols if p not in cache]
            cache.update(load_protocols(missing, roots))
            protocols = with_clean({p: cache[p] for p in exp.protocols})
            evals = evaluate_mean_shape(train, protocols)
            records = {n: evaluation_record(ev, CED_THETAS) for n, ev in evals.items()}
            write_json_atomic(
                path,
                {
                    "format": "otmark-study-mean-shape-1",
                    "experiment": exp.name,
                    "train_on": exp.train_on,
                    "scheme": scheme,
                    "key": key,
                    "key_hash": key_hash(key),
                    "results": {n: r for n, r in records.items() if n in exp.protocols},
                    "clean": {n: r for n, r in records.items() if n not in exp.protocols},
                },
            )
            log(
                f"mean shape ({exp.name}, {scheme}): "
                + ", ".join(f"{n} {r['summary']['NME']:.2f}%" for n, r in records.items())
            )
    return paths


def _datasets_of(exp: Experiment) -> set:
    return {exp.train_on} | {protocol_spec(p).dataset for p in exp.protocols}


# ---------------------------------------------------------------------------------------------
# the study


def shard_items(study: StudyConfig, cells: list[Cell]) -> list[ShardItem]:
    """The cells as :func:`otmark.study.shard.assign_shards` sees them: grouped by training
    (decoder-only variants stay together), weighted by :meth:`StudyConfig.training_cost`."""
    return [ShardItem(c.id, c.seed, c.training_id, study.training_cost(c)) for c in cells]


def shard_cells(study: StudyConfig, cells: list[Cell], shard: Shard | None) -> list[Cell]:
    """The cells of ``shard`` (all when None)."""
    if shard is None:
        return cells
    keep = {it.key for it in select_shard(shard_items(study, cells), shard)}
    return [c for c in cells if c.id in keep]


def run_cells(
    study: StudyConfig,
    todo: list[Cell],
    roots: dict,
    cache: dict,
    limits: tuple[int | None, float | None, float],
    log: Callable[[str], None] = say,
) -> tuple[list[str], list[str]]:
    """Run the cells of ``todo`` in order; ``(ran, failed)``: the ids run and those whose
    training diverged (not stored: they stay to do). ``limits = (max_cells, minutes, t0)``:
    stop after ``max_cells`` cells or ``minutes`` after ``t0`` (``time.perf_counter()``,
    checked between cells). A cell stored meanwhile by another process is skipped."""
    max_cells, minutes, t0 = limits
    ran: list[str] = []
    failed: list[str] = []
    trained_models: dict = {}
    for i, cell in enumerate(todo):
        if max_cells is not None and len(ran) >= max_cells:
            break
        if minutes is not None and time.perf_counter() - t0 >= 60 * minutes:
            log(f"time limit of {minutes:g} min reached")
            break
        if is_done(study, cell):
            log(f"[{i + 1}/{len(todo)}] {cell.id}: stored meanwhile, skipped")
            continue
        log(f"[{i + 1}/{len(todo)}] {cell.id} ({cell.experiment.model}, {cell.setting.label})")
        try:
            doc = run_cell(study, cell, roots, cache, log=log, trained_models=trained_models)
        except FloatingPointError as exc:  # a diverged training: stays to do
            log(f"  {cell.id} diverged ({exc}); not stored, the study continues")
            failed.append(cell.id)
            continue
        ran.append(cell.id)
        nmes = ", ".join(f"{k} {v['summary']['NME']:.2f}%" for k, v in doc["results"].items())
        log(f"  done in {doc['seconds']['total']:.0f} s: {nmes}")
    return ran, failed


def run_study(
    study: StudyConfig,
    max_cells: int | None = None,
    minutes: float | None = None,
    only: tuple[str, ...] = (),
    log: Callable[[str], None] = say,
    shard: Shard | None = None,
    lr_only: bool = False,
    cell_ids: tuple[str, ...] = (),
) -> dict:
    """Run the learning-rate stage and the cells not yet done (optionally only experiments
    ``only``, only the cells of ``shard``, only the cells named in ``cell_ids`` and in that
    order), at most ``max_cells`` of them or until ``minutes`` have passed (checked between
    cells), then write the report and ``summary.json``. ``lr_only``: stop after the
    learning-rate stage.

    A cell whose training diverges (non-finite loss) is logged, not stored, and skipped.

    Returns ``{"ran": [...], "skipped": [...], "failed": [...], "remaining": [...],
    "report": path, "lr": {loss: lr}}``.
    """
    t0 = time.perf_counter()
    cells = [c for c in study.cells() if not only or c.experiment.name in only]
    if cell_ids:
        cells = sorted((c for c in cells if c.id in cell_ids), key=lambda c: cell_ids.index(c.id))
    cells = shard_cells(study, cells, shard)
    todo = [c for c in cells if not is_done(study, c)]
    skipped = [c.id for c in cells if c not in todo]
    part = f", shard {shard}" if shard is not None else ""
    log(
        f"study {study.name} ({study.profile} profile{part}): {len(cells)} cells, "
        f"{len(skipped)} already done, {len(todo)} to run; results in {study.results_dir}"
    )
    ran: list[str] = []
    failed: list[str] = []
    chosen: dict = {}
    cache: dict = {}
    losses = {study.family_of(c) for c in todo}
    if todo and (lr_only or max_cells != 0):
        datasets_needed = {c.experiment.train_on for c in todo} | {study.lr_select.train_on}
        for c in todo:
            datasets_needed |= _datasets_of(c.experiment)
        generate = tuple(sorted(datasets_needed - set(study.data_roots)))
        roots = ensure_benchmark(study.data, study.benchmark, generate, log=log) if generate else {}
        roots.update(study.data_roots)
        if max_cells != 0 or lr_only:
            chosen = run_lr_stage(study, losses, roots, log=log)
        if not lr_only and max_cells != 0:
            mean_shape_results(study, roots, cache, log=log)
            todo = [c for c in cells if not is_done(study, c)]  # the keys now carry the rates
            ran, failed = run_cells(study, todo, roots, cache, (max_cells, minutes, t0), log)
    remaining = [c.id for c in cells if not is_done(study, c)]
    report = write_report(study)
    log(f"{len(remaining)} cells remaining; report: {report}")
    return {
        "ran": ran,
        "skipped": skipped,
        "failed": failed,
        "remaining": remaining,
        "report": report,
        "lr": {k: v["lr"] for k, v in chosen.items()},
    }
