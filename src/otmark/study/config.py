"""Study configs: the YAML of ``otmark study`` parsed into :class:`StudyConfig` (experiments,
settings, seeds, sizes), its cells, and where each cell's JSON is stored.

A study config (YAML, e.g. ``otmark/configs/study/paper.yaml``) names the benchmark size, the
seeds, the settings (packaged config names such as ``w_s3_bc``, :mod:`otmark.study.cells`),
the experiments, and ``train``: an engine-config fragment (``codec`` sizes, ``optim``
schedule and plateau rule, ``model.kwargs``, ``train.amp`` ...) merged onto every cell's
packaged config. Each cell's config is built and validated by the engine's config system when
the study config is loaded, so a bad value is reported like ``otmark train`` reports it.

One *cell* = one experiment, setting, scheme and seed = one training run + its evaluations,
stored as a small JSON file under ``results/<profile>/`` (``profile`` = ``cpu`` or ``gpu``:
each has its own sizes). A cell whose JSON exists with the same definition is done
(:func:`is_done`). The learning rate of each loss is chosen first on a validation split
(:mod:`otmark.study.lr_select`, run by :func:`otmark.study.runner.run_lr_stage`) and stored
in ``results/<profile>/lr/``.

Learning-rate families (:func:`training_family`): with ``lr_select.per: loss`` (the default,
``paper.yaml``) one rate per loss, chosen on ``lr_select``'s model, dataset and settings; with
``lr_select.per: family`` one rate per *family* of trainings that share a model, a training
dataset, a loss and a target sigma, chosen on the family's own model and dataset with the
family's first setting (so L2 sigma 1 and L2 sigma 3, SimpleBaselines and the WFLW density
runs each get their own rate; decoder-only variants, CoordConv and the landmark schemes of one
dataset share theirs). ``lr_select.max_extensions``, ``min_candidates`` and ``min_decades``
set the grid rule (:func:`otmark.study.lr_select.select_lr_in_grid`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from otmark.engine.config import packaged_config_dir
from otmark.engine.config_files import ConfigError, read_yaml
from otmark.study.benchmark import FOLDERS, BenchmarkSize
from otmark.study.blur_select import BlurSelect, parse_blur_select
from otmark.study.cells import Setting, experiment_config, merge, setting_of
from otmark.study.lr_select import LrSelectionError, check_candidates

#: training datasets of the study
TRAIN_ON = ("300w", "wflw")
#: thresholds of the CED curves stored in the cell JSON
CED_THETAS = np.round(np.linspace(0.0, 0.3, 61), 6)
FORMAT = "otmark-study-cell-2"
#: what every study run sets (quiet, no DataLoader workers: the study runs many short runs)
STUDY_DEFAULTS: dict = {
    "data": {"num_workers": 0},
    "train": {"progress": False, "tensorboard": False},
}


@dataclass(frozen=True)
class Experiment:
    """One block of the study: ``model`` trained on ``train_on`` (converted to each of
    ``schemes``) with each of ``settings``, evaluated on ``protocols``; ``seeds`` (optional)
    replaces the study's seeds for this block."""

    name: str
    model: str
    train_on: str
    settings: tuple[str, ...]
    schemes: tuple[str, ...]
    protocols: tuple[str, ...]
    seeds: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Cell:
    """One training run of the study."""

    experiment: Experiment
    setting: Setting
    scheme: str
    seed: int

    @property
    def setting_name(self) -> str:
        return self.setting.name

    @property
    def id(self) -> str:
        """File stem: ``<experiment>__<setting>__<scheme>__seed<seed>``."""
        return f"{self.experiment.name}__{self.setting.name}__{self.scheme}__seed{self.seed}"

    @property
    def training_id(self) -> str:
        """Cells with the same training id share one trained model (decoder-only variants)."""
        loss, sigma, cc = self.setting.training
        return (
            f"{self.experiment.name}__{loss}_s{sigma:g}{'_cc' if cc else ''}__{self.scheme}"
            f"__seed{self.seed}"
        )


@dataclass(frozen=True)
class LrSelect:
    """The learning-rate stage: per loss, ``setting`` (one per loss) of ``model`` trained on
    ``train_on`` with seed ``seed`` and each of ``optim.lr_candidates``, with ``train``
    (an engine-config fragment, e.g. a shorter schedule) merged onto the study's ``train``.

    ``per``: ``loss`` (one rate per loss, as above) or ``family`` (one rate per
    :func:`training_family`, trained on the family's own model and dataset; ``model``,
    ``train_on`` and ``settings`` are then unused). ``max_extensions``, ``min_candidates``,
    ``min_decades``: the grid rule of :func:`otmark.study.lr_select.select_lr_in_grid`."""

    model: str
    train_on: str
    seed: int
    settings: dict  # loss -> setting name
    train: dict
    per: str = "loss"
    max_extensions: int = 0
    min_candidates: int = 3
    min_decades: float = 0.0


@dataclass(frozen=True)
class Family:
    """What a family's learning-rate runs train: ``setting`` of ``model`` on ``train_on``,
    its faces in ``scheme``."""

    name: str
    model: str
    train_on: str
    scheme: str
    setting: str


def training_family(model: str, train_on: str, setting: Setting) -> str:
    """The learning-rate family of a training: ``<model>__<train_on>__<loss>_s<sigma>``.

    One learning rate serves every training of a family: the same network, training dataset,
    loss and target width. Not part of it: the decoder (it changes no training), CoordConv
    (two more input channels of the same network) and the landmark scheme of the dataset's
    faces (the density runs train 98, 68 or 17 points of the same WFLW faces). So the paper's
    grid has the families loss x sigma of HRNet on 300W, SimpleBaselines x loss, and the
    WFLW density runs x loss.
    """
    return f"{model}__{train_on}__{setting.loss}_s{setting.sigma:g}"


@dataclass(frozen=True)
class StudyConfig:
    """A parsed study config (see the module docstring)."""

    name: str
    source: str
    results: Path
    data: Path
    profile: str
    benchmark: BenchmarkSize
    train: dict
    seeds: tuple[int, ...]
    setting_seeds: dict
    experiments: tuple[Experiment, ...]
    device: str
    val_faces: int
    score_every: int
    lr_select: LrSelect
    data_roots: dict = field(default_factory=dict)
    shard_cost: dict = field(default_factory=dict)  # {"model": {...}, "loss": {...}}
    blur_select: BlurSelect | None = None  # the blur videos kept (otmark.study.blur_select)

    @property
    def results_dir(self) -> Path:
        """``results/<profile>``; ``results/<profile>-real`` when ``data_roots`` replace
        generated datasets (the cells are then not comparable with the generated ones)."""
        return self.results / (self.profile + ("-real" if self.data_roots else ""))

    def seeds_of(self, exp: Experiment, setting: str) -> tuple[int, ...]:
        """The seeds of ``setting`` in ``exp``: the experiment's ``seeds`` if given, else
        ``setting_seeds[setting]`` if given, else the study's ``seeds``."""
        if exp.seeds is not None:
            return exp.seeds
        return tuple(self.setting_seeds.get(setting, self.seeds))

    def cells(self) -> list[Cell]:
        """All cells, seed-major (every setting of seed 0 first: a partial study is balanced)."""
        out = []
        seeds = sorted(
            {
                s
                for exp in self.experiments
                for name in exp.settings
                for s in self.seeds_of(exp, name)
            }
        )
        for seed in seeds:
            for exp in self.experiments:
                for s in exp.settings:
                    if seed not in self.seeds_of(exp, s):
                        continue
                    setting = setting_of(exp.train_on, s, self.source)
                    for scheme in exp.schemes:
                        out.append(Cell(exp, setting, scheme, seed))
        return out

    def training_cost(self, cell: Cell) -> float:
        """Estimated cost of ``cell``'s training for ``--shard``'s balancing: from
        ``shard_cost``, the model's cost plus the loss's extra cost (a ``<loss>_s<sigma>`` key,
        e.g. ``wasserstein_s3``, before a ``<loss>`` key); a missing model costs 1 and a
        missing loss 0, so without ``shard_cost`` every training costs 1."""
        return self.step_cost(cell.experiment.model, cell.setting)

    def step_cost(self, model: str, setting: Setting) -> float:
        """``shard_cost`` of one training step of ``setting`` on ``model`` (see
        :meth:`training_cost`)."""
        models = self.shard_cost.get("model", {})
        losses = self.shard_cost.get("loss", {})
        loss = setting.loss
        extra = losses.get(f"{loss}_s{setting.sigma:g}", losses.get(loss, 0.0))
        return models.get(model, 1.0) + extra

    def cell_config(self, cell: Cell, root: str = "<root>", lr: float | None = None):
        """The engine config of ``cell`` (validated)."""
        exp = cell.experiment
        return experiment_config(
            cell.id,
            exp.model,
            cell.setting.name,
            merge(STUDY_DEFAULTS, self.train),
            cell.seed,
            exp.train_on,
            root,
            device=self.device,
            lr=lr,
            where=f"{self.source}: experiments.{exp.name}",
        )

    def family_of(self, cell: Cell) -> str:
        """The learning-rate family of ``cell``: its loss with ``lr_select.per: loss``, else
        :func:`training_family`."""
        if self.lr_select.per == "loss":
            return cell.setting.loss
        exp = cell.experiment
        return training_family(exp.model, exp.train_on, cell.setting)

    def families(self) -> dict[str, Family]:
        """``family -> Family`` of every family of the cells, in the order of the config
        (experiments, then settings); a family trains its first setting and scheme."""
        out: dict[str, Family] = {}
        sel = self.lr_select
        for exp in self.experiments:
            for name in exp.settings:
                setting = setting_of(exp.train_on, name, self.source)
                cell = Cell(exp, setting, exp.schemes[0], sel.seed)
                fam = self.family_of(cell)
                if fam in out:
                    continue
                if sel.per == "loss":
                    out[fam] = Family(
                        fam, sel.model, sel.train_on, sel.train_on, sel.settings.get(fam, name)
                    )
                else:
                    out[fam] = Family(fam, exp.model, exp.train_on, exp.schemes[0], name)
        return out

    def lr_path(self, loss: str) -> Path:
        """Where the learning-rate choice of ``loss`` (a family name) is stored."""
        return self.results_dir / "lr" / f"{loss}.json"

    def _data_key(self) -> dict:
        """The part of every stored result's key that names the data it is scored on: the
        benchmark, the validation faces and (when given) the dataset roots."""
        key = {"benchmark": self.benchmark.key(), "val_faces": self.val_faces}
        if self.data_roots:
            key["data_roots"] = {k: str(v) for k, v in sorted(self.data_roots.items())}
        return key

    def lr_key(self, loss: str) -> dict:
        """What the learning-rate choice of ``loss`` (a family name) depends on."""
        sel = self.lr_select
        cfg = lr_select_config(self, loss, "<root>", None)
        if sel.per == "loss":
            return {
                "loss": loss,
                "model": sel.model,
                "train_on": sel.train_on,
                "seed": sel.seed,
                "setting": sel.settings[loss],
                "config": _portable(cfg.to_dict()),
                **self._data_key(),
            }
        fam = self.families()[loss]
        return {
            "family": loss,
            "model": fam.model,
            "train_on": fam.train_on,
            "scheme": fam.scheme,
            "seed": sel.seed,
            "setting": fam.setting,
            "config": _portable(cfg.to_dict()),
            "grid": {
                "max_extensions": sel.max_extensions,
                "min_candidates": sel.min_candidates,
                "min_decades": sel.min_decades,
            },
            **self._data_key(),
        }

    def lr_of(self, loss: str) -> dict | None:
        """The stored learning-rate choice of ``loss`` (``{"lr", "lr_candidates", "val_nme",
        ...}``), None when not chosen yet or chosen under another definition."""
        path = self.lr_path(loss)
        if not path.is_file():
            return None
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None
        return doc if doc.get("key_hash") == key_hash(self.lr_key(loss)) else None

    def cell_key(self, cell: Cell) -> dict:
        """What a cell's result depends on (a stored JSON with another key is recomputed);
        includes the learning rate chosen for its family (None before it is chosen)."""
        choice = self.lr_of(self.family_of(cell))
        lr = None if choice is None else choice["lr"]
        cfg = self.cell_config(cell, lr=lr)
        return {
            "experiment": asdict(cell.experiment),
            "setting": cell.setting.name,
            "scheme": cell.scheme,
            "seed": cell.seed,
            "config": _portable(cfg.to_dict()),
            "lr": lr,
            "score_every": self.score_every,
            **self._data_key(),
        }


def lr_select_config(study: StudyConfig, loss: str, root: str, lr: float | None):
    """The engine config of the learning-rate run of ``loss`` (a family name, see
    :meth:`StudyConfig.family_of`) at rate ``lr``."""
    sel = study.lr_select
    if sel.per == "loss":
        model, setting, train_on = sel.model, sel.settings[loss], sel.train_on
    else:
        fam = study.families()[loss]
        model, setting, train_on = fam.model, fam.setting, fam.train_on
    return experiment_config(
        f"lr__{loss}",
        model,
        setting,
        merge(merge(STUDY_DEFAULTS, study.train), sel.train),
        sel.seed,
        train_on,
        root,
        device=study.device,
        lr=lr,
        where=f"{study.source}: lr_select",
    )


#: config options added after results were stored: ``(section, key, is_off, keys dropped with
#: it)``; while off (their default) they leave a cell's definition, so that results stored
#: before they existed stay done
ADDED_LATER: tuple[tuple[str, str, Any, tuple[str, ...]], ...] = (
    ("optim", "grad_clip_norm", lambda v: v is None, ()),
    ("optim", "spike_guard", lambda v: not v["enabled"], ()),
    ("optim", "grad_clip_adaptive", lambda v: not v["enabled"], ()),
    ("optim.plateau", "smooth_window", lambda v: v == 1, ()),
    ("train", "bn_recalibrate", lambda v: v == 0, ()),
    ("augment", "shift_prob", lambda v: not v, ("shift_sd", "shift_mean_y")),
    ("model", "init", lambda v: not v, ()),
)


def _portable(d: dict) -> dict:
    """A config dict without what does not change results (paths, device, names)."""
    d = json.loads(json.dumps(d))
    d.pop("name", None)
    d.pop("description", None)
    d["data"].pop("root", None)
    for k in ("output_dir", "device", "progress", "tensorboard"):
        d["train"].pop(k, None)
    for section, key, off, siblings in ADDED_LATER:
        where = d
        for name in section.split("."):
            where = where.get(name, {})
        if key in where and off(where[key]):
            for k in (key, *siblings):
                where.pop(k, None)
    return d


def _req(raw: dict, key: str, where: str):
    if key not in raw:
        raise ValueError(f"{where}: missing key {key!r}")
    return raw[key]


def resolve_study_config(path: str | os.PathLike) -> Path:
    """A study config path: the file itself, else the packaged ``otmark/configs/study/<name>``
    (so ``configs/study/paper.yaml``, ``paper.yaml`` and ``paper`` all name the packaged one)."""
    p = Path(path)
    if p.is_file():
        return p
    name = p.name if p.name.endswith(".yaml") else f"{p.name}.yaml"
    packaged = packaged_config_dir() / "study" / name
    if packaged.is_file():
        return packaged
    known = sorted(q.stem for q in (packaged_config_dir() / "study").glob("*.yaml"))
    raise FileNotFoundError(f"{path}: no such study config (packaged: {', '.join(known)})")


def _read(p: Path) -> dict:
    try:
        return read_yaml(p)
    except ConfigError as exc:  # the engine's YAML reader and its messages
        raise ValueError(str(exc)) from None


def _ints(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(f"{where}: expected a non-empty list of integers, got {value!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise ValueError(f"{where}: seeds must be integers >= 0, got {value!r}")
    return tuple(int(v) for v in value)


KNOWN_KEYS = {
    "name",
    "results",
    "data",
    "benchmark",
    "train",
    "gpu",
    "seeds",
    "setting_seeds",
    "val_faces",
    "score_every",
    "lr_select",
    "settings",
    "experiments",
    "shard_cost",
    "blur_select",
}


def _shard_cost(raw: Any, where: str) -> dict:
    """Check ``shard_cost``: ``{model: {name: cost > 0}, loss: {name: extra >= 0}}``."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or set(raw) - {"model", "loss"}:
        raise ValueError(
            f"{where}: expected a mapping with keys 'model' and/or 'loss', got {raw!r}"
        )
    out = {}
    for part, minimum in (("model", "> 0"), ("loss", ">= 0")):
        table = raw.get(part) or {}
        if not isinstance(table, dict):
            raise ValueError(f"{where}.{part}: expected a mapping of names to numbers")
        for name, value in table.items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not (value > 0 if part == "model" else value >= 0):
                raise ValueError(
                    f"{where}.{part}.{name}: must be a number {minimum}, got {value!r}"
                )
        out[part] = {str(k): float(v) for k, v in table.items()}
    return out


def _profile_sections(raw: dict, use_gpu: bool) -> tuple[dict, dict, Any]:
    """``(benchmark, train, shard_cost)`` of the profile: the top-level sections, with the
    ``gpu:`` overrides applied when ``use_gpu`` (``shard_cost`` is replaced, not merged)."""
    bench = dict(raw.get("benchmark") or {})
    train = dict(raw.get("train") or {})
    shard_cost_raw = raw.get("shard_cost")
    if use_gpu:
        gpu = raw.get("gpu") or {}
        bench.update(gpu.get("benchmark") or {})
        train = merge(train, gpu.get("train") or {})
        shard_cost_raw = gpu.get("shard_cost", shard_cost_raw)
    return bench, train, shard_cost_raw


def _experiment(name: str, e: Any, settings: list[str], w: str) -> Experiment:
    """One ``experiments.<name>`` entry (``w`` names it in errors)."""
    if not isinstance(e, dict):
        raise ValueError(f"{w}: expected a mapping")
    train_on = str(e.get("train_on", "300w"))
    if train_on not in TRAIN_ON:
        raise ValueError(f"{w}.train_on: must be one of {list(TRAIN_ON)}")
    used = tuple(str(s) for s in _req(e, "settings", w))
    missing = [s for s in used if s not in settings]
    if missing:
        raise ValueError(f"{w}.settings: {missing} not listed under settings")
    return Experiment(
        str(name),
        str(_req(e, "model", w)),
        train_on,
        used,
        tuple(str(s) for s in e.get("schemes", [train_on])),
        tuple(str(x) for x in _req(e, "protocols", w)),
        _ints(e["seeds"], f"{w}.seeds") if "seeds" in e else None,
    )


def _data_roots(data_roots: dict | None) -> dict[str, Path]:
    """``{dataset: folder}`` of real datasets (known names, existing folders)."""
    roots = {}
    for name, folder in (data_roots or {}).items():
        if name not in FOLDERS:
            raise ValueError(
                f"data root {name}={folder}: unknown dataset; known: {sorted(FOLDERS)}"
            )
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"data root {name}={folder}: no such folder")
        roots[name] = Path(folder)
    return roots


def _seeds(raw: dict, settings: list[str], where: str) -> tuple[tuple[int, ...], dict]:
    """``(seeds, setting_seeds)``: the study's seeds and the per-setting overrides."""
    seeds = _ints(raw.get("seeds", [0, 1, 2]), f"{where}: seeds")
    setting_seeds = {
        str(k): _ints(v, f"{where}: setting_seeds.{k}")
        for k, v in (raw.get("setting_seeds") or {}).items()
    }
    bad = sorted(set(setting_seeds) - set(settings))
    if bad:
        raise ValueError(f"{where}: setting_seeds: {bad} not listed under settings")
    return seeds, setting_seeds


def _val_faces_and_score_every(raw: dict, where: str) -> tuple[int, int]:
    """``val_faces`` (>= 1) and ``score_every`` (>= 0), both integers."""
    val_faces = raw.get("val_faces", 128)
    score_every = raw.get("score_every", 0)
    for key, value in (("val_faces", val_faces), ("score_every", score_every)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{where}: {key} must be an integer >= 0, got {value!r}")
    if val_faces < 1:
        raise ValueError(f"{where}: val_faces must be >= 1 (held-out training faces)")
    return val_faces, score_every


def _lr_select(raw: dict, use_gpu: bool, first: Experiment, seed: int, where: str) -> LrSelect:
    """The ``lr_select`` section; model, training set and seed default to the first
    experiment's and the first study seed."""
    lr_raw = dict(raw.get("lr_select") or {})
    if use_gpu:  # gpu: {lr_select: {train: ...}} merged onto lr_select.train
        gpu_sel = (raw.get("gpu") or {}).get("lr_select") or {}
        lr_raw["train"] = merge(lr_raw.get("train") or {}, gpu_sel.get("train") or {})
    lw = f"{where}: lr_select"
    grid_keys = {"per", "max_extensions", "min_candidates", "min_decades"}
    unknown = sorted(set(lr_raw) - {"model", "train_on", "seed", "settings", "train"} - grid_keys)
    if unknown:
        raise ValueError(f"{lw}: unknown keys {unknown}")
    grid = _lr_grid_rule(lr_raw, lw)
    sel_on = str(lr_raw.get("train_on", first.train_on))
    by_loss: dict[str, str] = {}
    for s in (str(s) for s in lr_raw.get("settings", [])):
        loss = setting_of(sel_on, s, lw).loss
        if loss in by_loss:
            raise ValueError(f"{lw}.settings: two settings for loss {loss}: {by_loss[loss]}, {s}")
        by_loss[loss] = s
    return LrSelect(
        model=str(lr_raw.get("model", first.model)),
        train_on=sel_on,
        seed=int(lr_raw.get("seed", seed)),
        settings=by_loss,
        train=dict(lr_raw.get("train") or {}),
        **grid,
    )


def _lr_grid_rule(lr_raw: dict, lw: str) -> dict:
    """``per``, ``max_extensions``, ``min_candidates`` and ``min_decades`` of ``lr_select``
    (defaults: the paper study's rule, one rate per loss from 3 candidates, no extension)."""
    per = lr_raw.get("per", "loss")
    if per not in ("loss", "family"):
        raise ValueError(f"{lw}.per: must be 'loss' or 'family', got {per!r}")
    out: dict = {"per": per}
    for key, default, low in (("max_extensions", 0, 0), ("min_candidates", 3, 3)):
        value = lr_raw.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{lw}.{key}: must be an integer >= {low}, got {value!r}")
        out[key] = value
    decades = lr_raw.get("min_decades", 0.0)
    if isinstance(decades, bool) or not isinstance(decades, int | float) or not decades >= 0:
        raise ValueError(f"{lw}.min_decades: must be a number >= 0, got {decades!r}")
    out["min_decades"] = float(decades)
    return out


def load_study_config(
    path: str | os.PathLike, device: str = "auto", data_roots: dict | None = None
) -> StudyConfig:
    """Read and check a study YAML (errors name the file and the key).

    ``device`` ``auto`` picks the ``gpu`` profile (its ``gpu:`` overrides of ``benchmark`` and
    ``train``) when CUDA is available, else ``cpu``. ``data_roots`` (``{"300w": "data/300W",
    ...}``) runs the study on real datasets in their official layouts instead of generating
    them: each named dataset is read from its folder (must exist), the others are generated.
    Every cell's engine config is built and validated here.
    """
    p = resolve_study_config(path)
    where = str(p)
    raw = _read(p)
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; valid: {sorted(KNOWN_KEYS)}")
    use_gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    bench, train, shard_cost_raw = _profile_sections(raw, use_gpu)
    names = [str(s) for s in _req(raw, "settings", where) or []]
    exps = [
        _experiment(name, e, names, f"{where}: experiments.{name}")
        for name, e in (_req(raw, "experiments", where) or {}).items()
    ]
    roots = _data_roots(data_roots)
    seeds, setting_seeds = _seeds(raw, names, where)
    if not exps:
        raise ValueError(f"{where}: needs at least one experiment")
    val_faces, score_every = _val_faces_and_score_every(raw, where)
    lr_select = _lr_select(raw, use_gpu, exps[0], seeds[0], where)
    study = StudyConfig(
        name=str(raw.get("name", p.stem)),
        source=where,
        results=Path(raw.get("results", f"results/study/{p.stem}")),
        data=Path(raw.get("data", "runs/study/data")),
        profile="gpu" if use_gpu else "cpu",
        benchmark=BenchmarkSize.from_dict(bench, f"{where}: benchmark"),
        train=train,
        seeds=seeds,
        setting_seeds=setting_seeds,
        experiments=tuple(exps),
        device=device,
        val_faces=val_faces,
        score_every=score_every,
        lr_select=lr_select,
        data_roots=roots,
        shard_cost=_shard_cost(shard_cost_raw, f"{where}: shard_cost"),
        blur_select=parse_blur_select(
            raw.get("blur_select"),
            {e.name: e.settings for e in exps},
            int(bench.get("blur_pool", 0)),
            f"{where}: blur_select",
        ),
    )
    _check(study)
    return study


def _check(study: StudyConfig) -> None:
    """Build (and so validate) every cell's config and every learning-rate run's config."""
    cells = study.cells()
    losses = set()
    for cell in cells:
        study.cell_config(cell)
        losses.add(cell.setting.loss)
    sel = study.lr_select
    if sel.per == "loss":
        missing = sorted(losses - set(sel.settings))
        if missing:
            raise ValueError(
                f"{study.source}: lr_select.settings: no setting for loss(es) {missing} (one "
                "setting per loss trains the learning-rate candidates)"
            )
    families = list(sel.settings) if sel.per == "loss" else list(study.families())
    for fam in families:
        cands = lr_select_config(study, fam, "<root>", None).optim.lr_candidates
        try:
            check_candidates(cands, sel.min_candidates, sel.min_decades)
        except LrSelectionError as exc:
            raise ValueError(
                f"{study.source}: optim.lr_candidates: the learning-rate stage needs at least "
                f"{sel.min_candidates} candidates spanning {sel.min_decades:g} decades "
                f"({fam}): {exc}"
            ) from None


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
