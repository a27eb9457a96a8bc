"""Study configs: the YAML of ``otmark study`` parsed into :class:`StudyConfig` (experiments,
settings, seeds, sizes), its cells, and where each cell's JSON is stored.

A study config (YAML, e.g. ``otmark/configs/study/paper.yaml``) names the benchmark size, the
training size, the seeds, the settings (loss, sigma, decoder, CoordConv) and the experiments;
each experiment crosses a model, a training dataset, landmark schemes and settings with the
seeds, and lists the protocols its models are evaluated on. One *cell* = one experiment,
setting, scheme and seed = one training run + its evaluations, stored as a small JSON file
under ``results/<profile>/`` (``profile`` = ``cpu`` or ``gpu``: each has its own sizes). A cell
whose JSON exists with the same definition is done (:func:`is_done`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import yaml

from otmark.study.benchmark import FOLDERS, BenchmarkSize
from otmark.study.cells import Setting, TrainSize

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
