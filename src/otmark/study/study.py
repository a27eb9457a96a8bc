"""``otmark study``: the paper's ablations on the generated benchmark, resumable, one JSON per cell.

A study config (YAML, e.g. ``otmark/configs/study/paper.yaml``) names the benchmark size, the
training size, the seeds, the settings (loss, sigma, decoder, CoordConv) and the experiments;
each experiment crosses a model, a training dataset, landmark schemes and settings with the
seeds, and lists the protocols its models are evaluated on. One *cell* = one experiment,
setting, scheme and seed = one training run + its evaluations, stored as a small JSON file
under ``results/<profile>/`` (``profile`` = ``cpu`` or ``gpu``: each has its own sizes). A cell
whose JSON exists with the same definition is skipped, so an interrupted study continues where
it stopped and a long study can be finished over several runs (and the JSONs committed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml

from otmark.atomic import write_json_atomic
from otmark.study.benchmark import FOLDERS, BenchmarkSize, ensure_benchmark
from otmark.study.cells import Setting, TrainSize, experiment_config
from otmark.study.log import say

if TYPE_CHECKING:
    from otmark.study.training import TrainedModel

#: validation split (logged every epoch, never used to pick weights) per training dataset
VAL_SPLITS = {"300w": "common", "wflw": "test"}
#: thresholds of the CED curves stored in the cell JSON
CED_THETAS = np.round(np.linspace(0.0, 0.3, 61), 6)
FORMAT = "otmark-study-cell-1"


@dataclass(frozen=True)
class Experiment:
    """One block of the study: ``model`` trained on ``train_on`` (converted to each of
    ``schemes``) with each of ``settings``, evaluated on ``protocols``."""

    name: str
    model: str
    train_on: str
    settings: tuple[str, ...]
    schemes: tuple[str, ...]
    protocols: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    """One training run of the study."""

    experiment: Experiment
    setting_name: str
    setting: Setting
    scheme: str
    seed: int

    @property
    def id(self) -> str:
        """File stem: ``<experiment>__<setting>__<scheme>__seed<seed>``."""
        return f"{self.experiment.name}__{self.setting_name}__{self.scheme}__seed{self.seed}"


@dataclass(frozen=True)
class StudyConfig:
    """A parsed study config (see the module docstring)."""

    name: str
    source: str
    results: Path
    data: Path
    profile: str
    benchmark: BenchmarkSize
    train: TrainSize
    seeds: tuple[int, ...]
    settings: dict
    experiments: tuple[Experiment, ...]
    device: str
    data_roots: dict = field(default_factory=dict)

    @property
    def results_dir(self) -> Path:
        """``results/<profile>``; ``results/<profile>-real`` when ``data_roots`` replace
        generated datasets (the cells are then not comparable with the generated ones)."""
        return self.results / (self.profile + ("-real" if self.data_roots else ""))

    def cells(self) -> list[Cell]:
        """All cells, seed-major (every setting of seed 0 first: a partial study is balanced)."""
        out = []
        for seed in self.seeds:
            for exp in self.experiments:
                for s in exp.settings:
                    for scheme in exp.schemes:
                        out.append(Cell(exp, s, self.settings[s], scheme, seed))
        return out

    def cell_key(self, cell: Cell) -> dict:
        """What a cell's result depends on (a stored JSON with another key is recomputed)."""
        key = {
            "experiment": asdict(cell.experiment),
            "setting": asdict(cell.setting),
            "scheme": cell.scheme,
            "seed": cell.seed,
            "benchmark": asdict(self.benchmark),
            "train": self.train.to_dict(),
        }
        if self.data_roots:
            key["data_roots"] = {k: str(v) for k, v in sorted(self.data_roots.items())}
        return key


def _req(raw: dict, key: str, where: str):
    if key not in raw:
        raise ValueError(f"{where}: missing key {key!r}")
    return raw[key]


def resolve_study_config(path: str | os.PathLike) -> Path:
    """A study config path: the file itself, else the packaged ``otmark/configs/study/<name>``
    (so ``configs/study/paper.yaml``, ``paper.yaml`` and ``paper`` all name the packaged one)."""
    from otmark.engine.config import packaged_config_dir

    p = Path(path)
    if p.is_file():
        return p
    name = p.name if p.name.endswith(".yaml") else f"{p.name}.yaml"
    packaged = packaged_config_dir() / "study" / name
    if packaged.is_file():
        return packaged
    known = sorted(q.stem for q in (packaged_config_dir() / "study").glob("*.yaml"))
    raise FileNotFoundError(f"{path}: no such study config (packaged: {', '.join(known)})")


def load_study_config(
    path: str | os.PathLike, device: str = "auto", data_roots: dict | None = None
) -> StudyConfig:
    """Read and check a study YAML (errors name the file and the key).

    ``device`` ``auto`` picks the ``gpu`` profile (its ``gpu:`` overrides of ``benchmark`` and
    ``train``) when CUDA is available, else ``cpu``. ``data_roots`` (``{"300w": "data/300W",
    ...}``) runs the study on real datasets in their official layouts instead of generating
    them: each named dataset is read from its folder (must exist), the others are generated.
    """
    import torch

    p = resolve_study_config(path)
    where = str(p)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ValueError(f"{where}{line}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a study config must be a YAML mapping")
    known = {
        "name",
        "results",
        "data",
        "benchmark",
        "train",
        "gpu",
        "seeds",
        "settings",
        "experiments",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; valid: {sorted(known)}")
    use_gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    profile = "gpu" if use_gpu else "cpu"
    bench = dict(raw.get("benchmark") or {})
    train = dict(raw.get("train") or {})
    if use_gpu:
        gpu = raw.get("gpu") or {}
        bench.update(gpu.get("benchmark") or {})
        train.update(gpu.get("train") or {})
    settings_raw = _req(raw, "settings", where)
    settings = {
        str(k): Setting.from_dict(v or {}, f"{where}: settings.{k}")
        for k, v in settings_raw.items()
    }
    exps = []
    for name, e in (_req(raw, "experiments", where) or {}).items():
        w = f"{where}: experiments.{name}"
        if not isinstance(e, dict):
            raise ValueError(f"{w}: expected a mapping")
        train_on = str(e.get("train_on", "300w"))
        if train_on not in VAL_SPLITS:
            raise ValueError(f"{w}.train_on: must be one of {sorted(VAL_SPLITS)}")
        names = tuple(str(s) for s in _req(e, "settings", w))
        missing = [s for s in names if s not in settings]
        if missing:
            raise ValueError(f"{w}.settings: {missing} not defined under settings")
        exps.append(
            Experiment(
                str(name),
                str(_req(e, "model", w)),
                train_on,
                names,
                tuple(str(s) for s in e.get("schemes", [train_on])),
                tuple(str(x) for x in _req(e, "protocols", w)),
            )
        )
    roots = {}
    for name, folder in (data_roots or {}).items():
        if name not in FOLDERS:
            raise ValueError(
                f"data root {name}={folder}: unknown dataset; known: {sorted(FOLDERS)}"
            )
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"data root {name}={folder}: no such folder")
        roots[name] = Path(folder)
    seeds = tuple(int(s) for s in raw.get("seeds", [0, 1, 2]))
    if not seeds or not exps:
        raise ValueError(f"{where}: needs at least one seed and one experiment")
    return StudyConfig(
        name=str(raw.get("name", p.stem)),
        source=where,
        results=Path(raw.get("results", f"results/study/{p.stem}")),
        data=Path(raw.get("data", "runs/study/data")),
        profile=profile,
        benchmark=BenchmarkSize.from_dict(bench, f"{where}: benchmark"),
        train=TrainSize.from_dict(train, f"{where}: train"),
        seeds=seeds,
        settings=settings,
        experiments=tuple(exps),
        device=device,
        data_roots=roots,
    )


def key_hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def cell_path(study: StudyConfig, cell: Cell) -> Path:
    return study.results_dir / f"{cell.id}.json"


def is_done(study: StudyConfig, cell: Cell) -> bool:
    """The cell's JSON exists and was computed with the same definition."""
    path = cell_path(study, cell)
    if not path.is_file():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return False
    return data.get("key_hash") == key_hash(study.cell_key(cell))


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


def load_results(study: StudyConfig) -> list[dict]:
    """The current cell JSONs of ``study`` (stale or foreign files ignored)."""
    out = []
    for cell in study.cells():
        if is_done(study, cell):
            out.append(json.loads(cell_path(study, cell).read_text(encoding="utf-8")))
    return out


def mean_std(values: list[float]) -> str:
    """``"m ± s (n)"`` (sample standard deviation; ``±  -`` for one value)."""
    if not values:
        return "–"
    m = statistics.fmean(values)
    s = f"{statistics.stdev(values):.2f}" if len(values) > 1 else "-"
    return f"{m:.2f} ± {s} ({len(values)})"


def aggregate(study: StudyConfig, docs: list[dict]) -> dict:
    """``experiment -> row label -> protocol -> {"nme": [per seed], "ced": [per seed]}``."""
    table: dict = {}
    for d in docs:
        k = d["key"]
        exp = k["experiment"]
        row = f"{exp['model']} {d['label']}"
        if len(exp["schemes"]) > 1:
            row += f" [{k['scheme']}]"
        rows = table.setdefault(exp["name"], {})
        for proto, r in d["results"].items():
            slot = rows.setdefault(row, {}).setdefault(proto, {"nme": [], "ced": []})
            slot["nme"].append(r["summary"]["NME"])
            slot["ced"].append(r["ced_image"])
    return table


def write_report(study: StudyConfig) -> Path:
    """``study.md`` (NME mean ± std (n seeds) per experiment and protocol) and CED plots (mean
    curve over seeds) in the results folder."""
    from otmark.atomic import write_text_atomic
    from otmark.study.plots import plot_ced

    docs = load_results(study)
    table = aggregate(study, docs)
    out = study.results_dir
    secs = sum(d["seconds"]["total"] for d in docs)
    hw = sorted({d["hardware"] for d in docs})
    lines = [
        f"# Study `{study.name}` ({study.profile} profile)",
        "",
        f"{len(docs)} of {len(study.cells())} cells done; summed cell wall time "
        f"{secs / 3600:.2f} h on {', '.join(hw) or '-'}. NME in %, mean ± sample std (number "
        "of seeds). "
        + (
            "Real datasets: "
            + json.dumps({k: str(v) for k, v in study.data_roots.items()})
            + "; generated benchmark for the others: "
            if study.data_roots
            else "Benchmark: "
        )
        + json.dumps(asdict(study.benchmark))
        + "; training: "
        + json.dumps(study.train.to_dict())
        + ".",
        "",
    ]
    for exp in study.experiments:
        rows = table.get(exp.name, {})
        lines += [
            f"## {exp.name}",
            "",
            "| | " + " | ".join(exp.protocols) + " |",
            "|---|" + "---:|" * len(exp.protocols),
        ]
        for row, protos in rows.items():
            cells = [mean_std(protos.get(p, {}).get("nme", [])) for p in exp.protocols]
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
        lines.append("")
        for p in exp.protocols:
            curves = {
                row: (CED_THETAS.tolist(), np.mean(protos[p]["ced"], axis=0).tolist())
                for row, protos in rows.items()
                if p in protos
            }
            if curves:
                name = f"ced_{exp.name}_{p}.png"
                plot_ced(out / name, curves, f"{exp.name}: {p} (mean over seeds)")
                lines.append(f"![{exp.name} {p}]({name})")
        lines.append("")
    path = out / "study.md"
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "\n".join(lines))
    return path
