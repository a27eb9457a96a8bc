"""Experiment configs: a dataclass schema, YAML loading with ``base:`` inheritance, ``--set``
overrides and validation (all before any work starts).

A config file is a YAML mapping with the sections of :class:`ExperimentConfig`; any key left out
keeps its default. The defaults are the HRNet face recipe (``docs/conventions.md`` §6), written
once: the dataclasses below (the codec's in :class:`otmark.heatmaps.HeatmapCodec`, the
augmentation's in :class:`otmark.transforms.AugmentConfig`); the packaged ``_hrnet_face.yaml``
adds nothing to them. The ``codec`` section builds a :class:`~otmark.heatmaps.HeatmapCodec`
whose ``softmax`` follows from the loss (:func:`otmark.losses.output_is_logits`); a config that
sets ``codec.softmax`` against its loss is refused. ``base: NAME`` (or a list of names, merged
in order) merges the file onto other configs: packaged names such as ``_300w`` or paths
relative to the file (:mod:`otmark.engine.config_files`, which reads the files and knows the
packaged names). ``otmark train --config`` accepts a path or a packaged name
(:func:`list_configs`: ``<dataset>_<setting>``, a dataset base with a setting of
:mod:`otmark.settings`).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml

from otmark.datasets import DATASETS, dataset_info
from otmark.datasets.errors import ON_ERROR
from otmark.engine.config_files import PACKAGED_DATASETS as PACKAGED_DATASETS
from otmark.engine.config_files import ConfigError as ConfigError
from otmark.engine.config_files import config_source, load_raw, resolve_config
from otmark.engine.config_files import list_configs as list_configs
from otmark.engine.config_files import merge as _merge
from otmark.engine.config_files import packaged_config_dir as packaged_config_dir
from otmark.engine.schedule import DECAY_SHAPES
from otmark.heatmaps import DECODERS
from otmark.heatmaps.codec import HeatmapCodec
from otmark.losses import LOSSES, output_is_logits
from otmark.models import list_models
from otmark.registry import UnknownNameError
from otmark.transforms.augment import AugmentConfig
from otmark.transforms.dataset import CROP_SOURCES


@dataclass
class DataConfig:
    """Which data to train and validate on.

    Attributes:
        dataset: a name of ``otmark.datasets`` (e.g. ``300w``, ``wflw``).
        root: the dataset's root folder (must exist).
        train_split, val_split: split names of that dataset.
        crop_from: ``landmarks`` (tight box of the ground truth, HRNet) or ``box``.
        num_workers: DataLoader worker processes (per process).
        limit, val_limit: use only the first N samples (smoke runs); None = all.
        on_error: what ``train`` does with a bad sample (an image that cannot be decoded, a
            zero or non-finite normaliser, absurd landmarks): ``raise`` (stop before the first
            epoch with one line naming the file) or ``skip`` (leave it out and log it).
        max_bad_fraction: with ``on_error: skip``, stop anyway when more than this fraction of
            a split is bad.
    """

    dataset: str = "300w"
    root: str = "data/300W"
    train_split: str = "train"
    val_split: str = "test"
    crop_from: str = "landmarks"
    num_workers: int = 2
    limit: int | None = None
    val_limit: int | None = None
    on_error: str = "raise"
    max_bad_fraction: float = 0.05


@dataclass
class ModelConfig:
    """``otmark.models.create_model(name, K, coordconv=coordconv, **kwargs)``; ``init``: a
    checkpoint whose weights start the run (a fine-tune; empty = random initialisation)."""

    name: str = "hrnet_w18"
    coordconv: bool = False
    kwargs: dict = field(default_factory=dict)
    init: str = ""


@dataclass
class LossConfig:
    """``otmark.losses.create_loss(name, **kwargs)``."""

    name: str = "l2"
    kwargs: dict = field(default_factory=dict)


#: ``optim.schedule`` values: ``multistep`` is stepped once per epoch, the others per step
SCHEDULES = ("multistep", "warmup_cosine", "constant_then_decay")


@dataclass
class PlateauConfig:
    """Train to the validation plateau (:class:`otmark.engine.plateau.PlateauRule`).

    Attributes:
        enabled: stop at the plateau (``optim.schedule`` must be ``constant_then_decay`` and
            ``optim.max_steps`` the cap).
        val_every: validate on the validation split every N optimizer steps.
        patience_steps: window of the improvement test (steps).
        min_improvement: relative improvement of the best validation NME over the window
            below which the run is on its plateau (0.02 = 2 %).
        decay_steps: length of the final decay after the plateau.
        keep_checkpoints: also keep the weights of every validation (``steps/stepNNNNNN.pt``
            in the run folder).
        smooth_window: the rule judges the median of the last this many validations (1: the
            raw curve; 3: one spike, up or down, neither stops nor prolongs the run).
    """

    enabled: bool = False
    val_every: int = 100
    patience_steps: int = 400
    min_improvement: float = 0.02
    decay_steps: int = 100
    keep_checkpoints: bool = False
    smooth_window: int = 1


@dataclass
class SpikeGuardConfig:
    """Skip an optimizer step whose loss jumps (:class:`otmark.engine.spikes.SpikeGuard`).

    Attributes:
        enabled: guard the steps (off: every step updates the weights).
        factor: a step whose loss is above ``factor`` x the median of the last ``window``
            losses is skipped (no update; the schedule still advances; counted in the log).
        window: how many recent losses the median covers (skipped ones included, so a lasting
            rise of the loss is accepted after about ``window / 2`` skips).
        min_history: no step is skipped before this many losses were seen.
    """

    enabled: bool = False
    factor: float = 3.0
    window: int = 50
    min_history: int = 20


@dataclass
class AdaptiveClipConfig:
    """Clip each step's gradient norm to ``factor`` x the median of the last ``window`` steps'
    norms (:class:`otmark.engine.spikes.AdaptiveClip`): the same rule for losses whose
    gradients differ in scale by orders of magnitude; no step is clipped before
    ``min_history`` norms were seen. With ``optim.grad_clip_norm`` too, the smaller bound
    applies. Clipped steps are counted in the history (``clipped_steps``)."""

    enabled: bool = False
    factor: float = 2.0
    window: int = 50
    min_history: int = 20


@dataclass
class OptimConfig:
    """Adam and its learning-rate schedule.

    ``batch_size`` is the global batch: each of N DDP processes loads ``batch_size / N``.

    ``schedule``: ``multistep`` (the HRNet recipe: ``epochs`` epochs, the rate times ``gamma``
    at each of ``milestones``, stepped once per epoch) or a per-step schedule of
    :mod:`otmark.engine.schedule`, stepped after every optimizer step:
    ``warmup_cosine`` (``warmup_steps`` linear warm-up, then a cosine to ``final_factor``) or
    ``constant_then_decay`` (warm-up, constant, then a ``decay_shape`` decay over the last
    ``decay_steps`` steps). A per-step schedule runs either ``steps`` steps or for
    ``budget_minutes`` of wall-clock time (re-planned after every step from the median of the
    last ``step_time_window`` step times; at least ``min_decay_steps`` decay steps; at most
    ``max_steps`` steps), or, with ``plateau.enabled``, until the validation plateau (cap
    ``max_steps``). ``epochs`` and ``milestones`` are ignored by per-step schedules.
    ``lr_candidates``: the rates a learning-rate selection tries (``otmark study``).
    ``grad_clip_norm``: clip the gradients' global L2 norm to this value before every step
    (``torch.nn.utils.clip_grad_norm_``; null: no clipping); ``grad_clip_adaptive``: clip it
    to a multiple of the recent norms' median (:class:`AdaptiveClipConfig`; off by default).
    ``spike_guard``: skip steps whose loss jumps (:class:`SpikeGuardConfig`; off by default).
    """

    lr: float = 1e-4
    weight_decay: float = 0.0
    epochs: int = 60
    milestones: list = field(default_factory=lambda: [30, 50])
    gamma: float = 0.1
    batch_size: int = 16
    schedule: str = "multistep"
    warmup_steps: int = 0
    steps: int | None = None
    budget_minutes: float | None = None
    decay_steps: int = 0
    decay_shape: str = "linear"
    final_factor: float = 0.0
    min_decay_steps: int = 10
    step_time_window: int = 20
    max_steps: int | None = None
    lr_candidates: list = field(default_factory=list)
    plateau: PlateauConfig = field(default_factory=PlateauConfig)
    grad_clip_norm: float | None = None
    grad_clip_adaptive: AdaptiveClipConfig = field(default_factory=AdaptiveClipConfig)
    spike_guard: SpikeGuardConfig = field(default_factory=SpikeGuardConfig)

    def __post_init__(self) -> None:
        # YAML reads 1e-3 (no dot) as a string: accept it like the float fields do
        self.lr_candidates = [
            float(v) if isinstance(v, str) and _looks_like_float(v) else v
            for v in self.lr_candidates
        ]

    @property
    def per_step(self) -> bool:
        """Whether the schedule is stepped after every optimizer step (not ``multistep``)."""
        return self.schedule != "multistep"


_AUGMENT = AugmentConfig()


@dataclass
class AugmentSection:
    """Training augmentation (:class:`otmark.transforms.AugmentConfig`, whose defaults these
    are); ``enabled: false`` trains on plain crops."""

    enabled: bool = True
    scale_range: list = field(default_factory=lambda: list(_AUGMENT.scale_range))
    rotation: float = _AUGMENT.rotation
    rotation_prob: float = _AUGMENT.rotation_prob
    flip_prob: float = _AUGMENT.flip_prob
    color_jitter: float = _AUGMENT.color_jitter
    grayscale_prob: float = _AUGMENT.grayscale_prob
    lowres_prob: float = _AUGMENT.lowres_prob
    lowres_min: float = _AUGMENT.lowres_min
    blur_prob: float = _AUGMENT.blur_prob
    blur_max_sigma: float = _AUGMENT.blur_max_sigma
    shift_prob: float = _AUGMENT.shift_prob
    shift_sd: list = field(default_factory=lambda: list(_AUGMENT.shift_sd))
    shift_mean_y: float = _AUGMENT.shift_mean_y


@dataclass
class TrainConfig:
    """How the run executes.

    Attributes:
        seed: seeds model initialisation, sampling order and augmentation.
        output_dir: where checkpoints and logs go (``{name}`` is replaced by the config name).
        device: ``auto`` (CUDA if available), ``cpu``, ``cuda``, ``cuda:1``...
        amp: ``auto`` (bf16 on CUDA and on CPUs with native bf16, else off), ``none``,
            ``bf16`` or ``fp16`` (CUDA only).
        channels_last: use the channels-last memory format.
        deterministic: ``torch.use_deterministic_algorithms(True)`` (slower; exact repeats).
        val_every: validate every N epochs (and after the last); 0 = never.
        progress: show a tqdm progress bar (rank 0, when stderr is a terminal).
        tensorboard: also log to TensorBoard when it is installed.
        threads: ``torch.set_num_threads`` on CPU (0 = torch's default).
        checkpoint_every: also write ``last.pt`` (marked mid-epoch) every N optimisation steps
            inside an epoch, so that a killed run repeats at most N steps; 0 = only at the end of
            each epoch (and on a signal or an exception, which always write it).
        bn_recalibrate: before every validation of a per-step run (the last one included),
            re-estimate the BatchNorm running statistics on this many training batches
            (:func:`otmark.engine.batchnorm.recalibrate_batchnorm`; 0 = off): at a high rate
            the running averages lag the weights and the eval-mode model reads far worse than
            it is.
    """

    seed: int = 0
    output_dir: str = "runs/{name}"
    device: str = "auto"
    amp: str = "auto"
    channels_last: bool = False
    deterministic: bool = False
    val_every: int = 1
    progress: bool = True
    tensorboard: bool = True
    threads: int = 0
    checkpoint_every: int = 500
    bn_recalibrate: int = 0


@dataclass
class ExperimentConfig:
    """One experiment (one YAML file)."""

    name: str = "experiment"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    codec: HeatmapCodec = field(default_factory=HeatmapCodec)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentSection = field(default_factory=AugmentSection)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        self.codec = codec_for_loss(self.codec, self.loss.name)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML/JSON/checkpoint friendly)."""
        return dataclasses.asdict(self)

    @property
    def output_path(self) -> Path:
        return Path(self.train.output_dir.replace("{name}", self.name))


AMP_MODES = ("auto", "none", "bf16", "fp16")
#: every registered model outputs heatmaps at 1/4 of the input resolution (otmark.models)
MODEL_OUTPUT_STRIDE = 4


def codec_for_loss(codec: HeatmapCodec, loss: str) -> HeatmapCodec:
    """``codec`` with ``softmax`` set from loss ``loss`` (unchanged for an unknown loss name,
    which :func:`validate` reports)."""
    if loss not in LOSSES:
        return codec
    return dataclasses.replace(codec, softmax=output_is_logits(loss))


# ---------------------------------------------------------------------------------------------
# loading


# reading files, base: and the packaged names: otmark.engine.config_files (names kept here)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b=value"`` -> ``(["a", "b"], value)``, the value parsed as YAML (``1e-3`` -> float,
    ``[1, 2]`` -> list, ``null`` -> None)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. optim.lr=0.001")
    key, _, raw = text.partition("=")
    keys = [k for k in key.strip().split(".")]
    if not all(keys):
        raise ConfigError(f"--set {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str) and _looks_like_float(value):
        value = float(value)
    return keys, value


def _looks_like_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply ``--set`` overrides to a raw config dict (returns a new dict)."""
    out = _merge(raw, {})
    for text in overrides:
        keys, value = parse_override(text)
        node = out
        for k in keys[:-1]:
            child = node.get(k)
            if child is None:
                child = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"--set {text!r}: {k!r} is not a section")
            node[k] = child = dict(child)
            node = child
        node[keys[-1]] = value
    return out


def _coerce(value: Any, default: Any, where: str) -> Any:
    """Check/convert a YAML value against the type of the field's default."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if isinstance(default, int) and not isinstance(default, bool):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, str) and _looks_like_float(value):  # YAML reads 1e-4 as a string
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(default, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return list(value)
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    return value  # Optional fields (default None)


def _build(cls: type, data: dict, source: str, prefix: str = "") -> Any:
    where = f"{source}: {prefix.rstrip('.') or 'top level'}"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    valid = {f.name: f for f in fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in valid:
            hint = difflib.get_close_matches(str(key), list(valid), n=1)
            more = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(f"{where}: unknown key {key!r}; valid keys: {', '.join(valid)}{more}")
        f = valid[key]
        sub = f"{source}: {prefix}{key}"
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if is_dataclass(default):
            kwargs[key] = _build(type(default), value or {}, source, f"{prefix}{key}.")
        elif default is None and "float" in str(f.type):
            kwargs[key] = None if value is None else _coerce(value, 0.0, sub)
        elif default is None:
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise ConfigError(f"{sub}: expected an integer or null, got {value!r}")
            kwargs[key] = value
        else:
            kwargs[key] = _coerce(value, default, sub)
    try:
        return cls(**kwargs)
    except UnknownNameError as exc:  # e.g. HeatmapCodec's decoder: name the key that holds it
        key = next((k for k, v in kwargs.items() if v == exc.name), None)
        raise ConfigError(f"{source}: {prefix}{key}: {exc}" if key else f"{where}: {exc}") from None
    except ValueError as exc:  # the section's own checks (e.g. HeatmapCodec's sizes)
        msg = str(exc)
        key = msg.split(" ", 1)[0]
        if key in kwargs:  # "sigma = inf: ..." names its key: give its full path
            raise ConfigError(f"{source}: {prefix}{msg}") from None
        raise ConfigError(f"{where}: {msg}") from None


def config_from_dict(raw: dict, source: str = "<config>") -> ExperimentConfig:
    """Build and validate the schema (types and unknown keys; see :func:`validate`).

    ``codec.softmax`` is not a setting: it follows from ``loss.name``. A config that still
    gives it is accepted when it agrees with the loss (no effect) and refused otherwise.
    """
    raw = dict(raw)
    given = None
    if isinstance(raw.get("codec"), dict) and "softmax" in raw["codec"]:
        raw["codec"] = dict(raw["codec"])
        given = raw["codec"].pop("softmax")
    cfg = _build(ExperimentConfig, raw, source)
    if given is not None and given != cfg.codec.softmax:
        raise ConfigError(
            f"{source}: codec.softmax: {given!r} disagrees with loss {cfg.loss.name!r}, whose "
            f"outputs are {'logits' if cfg.codec.softmax else 'not logits'}; codec.softmax "
            f"follows from the loss: remove it from the config"
        )
    return cfg


def load_config(
    name_or_path: str | Path, overrides: list[str] | None = None, check_paths: bool = True
) -> ExperimentConfig:
    """Load, override and validate an experiment config.

    Args:
        name_or_path: a YAML path or a packaged config name.
        overrides: ``["a.b=value", ...]`` (``otmark train --set``).
        check_paths: also require ``data.root`` to exist.

    Raises:
        ConfigError: naming the file and the problem (unknown key with the valid ones and a close
            match, unknown model/loss/dataset/decoder name with the valid ones, missing root).
    """
    path = resolve_config(name_or_path)
    raw = load_raw(path)
    raw.setdefault("name", path.stem)
    raw = apply_overrides(raw, overrides or [])
    source = config_source(path)
    cfg = config_from_dict(raw, source)
    validate(cfg, source, check_paths=check_paths)
    return cfg


# ---------------------------------------------------------------------------------------------
# validation of names and values


def _choice(value: str, valid: list[str], where: str, what: str) -> None:
    if value not in valid:
        raise ConfigError(f"{where}: {UnknownNameError(what, value, valid)}")


def valid_names() -> dict[str, list[str]]:
    """The registries the config refers to: models, losses, datasets, decoders."""
    return {
        "model": list_models(),
        "loss": sorted(LOSSES),
        "dataset": sorted(DATASETS),
        "decoder": sorted(DECODERS),
    }


def validate(cfg: ExperimentConfig, source: str = "<config>", check_paths: bool = True) -> None:
    """Check names against the registries and values against their ranges.

    Raises :class:`ConfigError` naming ``source`` and the key.
    """
    names = valid_names()
    _choice(cfg.model.name, names["model"], f"{source}: model.name", "model")
    _choice(cfg.loss.name, names["loss"], f"{source}: loss.name", "loss")
    _choice(cfg.data.dataset, names["dataset"], f"{source}: data.dataset", "dataset")
    _choice(cfg.codec.decoder, names["decoder"], f"{source}: codec.decoder", "decoder")
    if codec_for_loss(cfg.codec, cfg.loss.name) != cfg.codec:
        raise ConfigError(f"{source}: codec.softmax disagrees with loss {cfg.loss.name!r}")
    splits = list(dataset_info(cfg.data.dataset).splits)
    _choice(cfg.data.train_split, splits, f"{source}: data.train_split", "split")
    if cfg.train.val_every > 0:
        _choice(cfg.data.val_split, splits, f"{source}: data.val_split", "split")
    _choice(cfg.train.amp, list(AMP_MODES), f"{source}: train.amp", "amp mode")
    _choice(cfg.data.crop_from, list(CROP_SOURCES), f"{source}: data.crop_from", "crop source")
    _choice(cfg.data.on_error, list(ON_ERROR), f"{source}: data.on_error", "mode")
    for msg in value_problems(cfg):
        raise ConfigError(f"{source}: {msg}")
    validate_schedule(cfg, source)
    try:
        augment_config(cfg)
    except ValueError as exc:
        raise ConfigError(f"{source}: augment: {exc}") from exc
    if check_paths and not Path(cfg.data.root).exists():
        raise ConfigError(
            f"{source}: data.root {cfg.data.root!r} does not exist "
            f"(set it with --set data.root=PATH)"
        )


def _finite(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def value_problems(cfg: ExperimentConfig) -> list[str]:
    """Range checks of the numbers of a config, each problem as ``"key = value: what is wrong"``
    (empty when all is well): finite and positive where it must be, and the input/heatmap
    stride the models produce (:data:`MODEL_OUTPUT_STRIDE`)."""
    c, o, a, d, t = cfg.codec, cfg.optim, cfg.augment, cfg.data, cfg.train
    checks = [
        ("codec.input_size", c.input_size, c.input_size > 0, "must be > 0"),
        ("codec.heatmap_size", c.heatmap_size, c.heatmap_size > 0, "must be > 0"),
        ("codec.sigma", c.sigma, _finite(c.sigma) and c.sigma > 0, "must be a finite number > 0"),
        ("optim.lr", o.lr, _finite(o.lr) and o.lr > 0, "must be a finite number > 0"),
        (
            "optim.weight_decay",
            o.weight_decay,
            _finite(o.weight_decay) and o.weight_decay >= 0,
            "must be a finite number >= 0",
        ),
        ("optim.epochs", o.epochs, o.epochs >= 1, "must be >= 1"),
        ("optim.batch_size", o.batch_size, o.batch_size >= 1, "must be >= 1"),
        ("optim.gamma", o.gamma, _finite(o.gamma) and 0 < o.gamma <= 1, "must be in (0, 1]"),
        (
            "optim.milestones",
            o.milestones,
            all(isinstance(m, int) and not isinstance(m, bool) and m > 0 for m in o.milestones),
            "must be positive integers (epochs)",
        ),
        (
            "augment.scale_range",
            a.scale_range,
            len(a.scale_range) == 2 and all(_finite(v) and v > 0 for v in a.scale_range),
            "must be [low, high], finite and > 0",
        ),
        ("augment.rotation", a.rotation, _finite(a.rotation), "must be a finite number"),
        ("augment.color_jitter", a.color_jitter, _finite(a.color_jitter), "must be finite"),
        ("data.num_workers", d.num_workers, d.num_workers >= 0, "must be >= 0"),
        ("data.limit", d.limit, d.limit is None or d.limit >= 1, "must be >= 1 or null"),
        ("data.val_limit", d.val_limit, d.val_limit is None or d.val_limit >= 1, "must be >= 1"),
        (
            "data.max_bad_fraction",
            d.max_bad_fraction,
            _finite(d.max_bad_fraction) and 0 <= d.max_bad_fraction <= 1,
            "must be in [0, 1]",
        ),
        ("train.val_every", t.val_every, t.val_every >= 0, "must be >= 0"),
        ("train.checkpoint_every", t.checkpoint_every, t.checkpoint_every >= 0, "must be >= 0"),
        ("train.threads", t.threads, t.threads >= 0, "must be >= 0"),
        ("train.bn_recalibrate", t.bn_recalibrate, t.bn_recalibrate >= 0, "must be >= 0"),
    ]
    problems = [f"{key} = {value!r}: {what}" for key, value, ok, what in checks if not ok]
    if not problems and c.heatmap_size * MODEL_OUTPUT_STRIDE != c.input_size:
        problems.append(
            f"codec.heatmap_size = {c.heatmap_size} does not fit codec.input_size = "
            f"{c.input_size}: the models output heatmaps of input_size / {MODEL_OUTPUT_STRIDE} "
            f"(set codec.heatmap_size = {c.input_size // MODEL_OUTPUT_STRIDE})"
        )
    return problems


def validate_schedule(cfg: ExperimentConfig, source: str) -> None:
    """Check the ``optim`` schedule options (see :class:`OptimConfig`), raising
    :class:`ConfigError` naming ``source``; the numbers shared with the multi-step recipe
    (``optim.lr``, ``optim.batch_size``...) are :func:`value_problems`'s."""
    o, p = cfg.optim, cfg.optim.plateau
    _choice(o.schedule, list(SCHEDULES), f"{source}: optim.schedule", "schedule")
    _choice(o.decay_shape, list(DECAY_SHAPES), f"{source}: optim.decay_shape", "decay shape")
    per_step = "a per-step schedule (optim.schedule: warmup_cosine or constant_then_decay)"
    checks = _schedule_value_checks(o)
    if o.schedule == "multistep":
        for name in ("steps", "budget_minutes", "max_steps"):
            checks.append((getattr(o, name) is None, f"optim.{name} needs {per_step}"))
        checks.append((not p.enabled, f"optim.plateau needs {per_step}"))
    elif p.enabled:
        checks += _plateau_checks(cfg)
    else:
        checks += _fixed_length_checks(o)
    for ok, msg in checks:
        if not ok:
            raise ConfigError(f"{source}: {msg}")


def _schedule_value_checks(o: OptimConfig) -> list[tuple[bool, str]]:
    """``(ok, message)`` of the schedule numbers every schedule shares."""
    return [
        (o.warmup_steps >= 0, "optim.warmup_steps must be >= 0"),
        (o.decay_steps >= 0, "optim.decay_steps must be >= 0"),
        (
            _finite(o.final_factor) and 0.0 <= o.final_factor < 1.0,
            "optim.final_factor must be in [0, 1)",
        ),
        (o.min_decay_steps >= 1, "optim.min_decay_steps must be >= 1"),
        (o.step_time_window >= 1, "optim.step_time_window must be >= 1"),
        (o.steps is None or o.steps >= 1, "optim.steps must be >= 1"),
        (o.max_steps is None or o.max_steps >= 1, "optim.max_steps must be >= 1"),
        (
            o.budget_minutes is None or (_finite(o.budget_minutes) and o.budget_minutes > 0),
            "optim.budget_minutes must be a finite number > 0",
        ),
        (
            all(_is_rate(v) for v in o.lr_candidates),
            f"optim.lr_candidates must be finite numbers > 0, got {o.lr_candidates}",
        ),
        (
            len(set(o.lr_candidates)) == len(o.lr_candidates),
            f"optim.lr_candidates has duplicates: {o.lr_candidates}",
        ),
        *_stability_checks(o),
    ]


def _stability_checks(o: OptimConfig) -> list[tuple[bool, str]]:
    """``(ok, message)`` of ``optim.grad_clip_norm``, ``optim.spike_guard`` and the plateau
    rule's ``smooth_window`` (checked for every schedule)."""
    g, a = o.spike_guard, o.grad_clip_adaptive
    return [
        (
            _finite(a.factor) and a.factor > 1.0,
            f"optim.grad_clip_adaptive.factor must be a finite number > 1, got {a.factor!r}",
        ),
        (
            a.window >= 1 and a.min_history >= 1,
            "optim.grad_clip_adaptive.window and min_history must be >= 1, got "
            f"{a.window}, {a.min_history}",
        ),
        (
            o.grad_clip_norm is None or (_finite(o.grad_clip_norm) and o.grad_clip_norm > 0),
            f"optim.grad_clip_norm must be a finite number > 0 or null, got {o.grad_clip_norm!r}",
        ),
        (
            _finite(g.factor) and g.factor > 1.0,
            f"optim.spike_guard.factor must be a finite number > 1, got {g.factor!r}",
        ),
        (g.window >= 1, f"optim.spike_guard.window must be >= 1, got {g.window}"),
        (
            g.min_history >= 1,
            f"optim.spike_guard.min_history must be >= 1, got {g.min_history}",
        ),
        (
            o.plateau.smooth_window >= 1,
            f"optim.plateau.smooth_window must be >= 1, got {o.plateau.smooth_window}",
        ),
    ]


def _plateau_checks(cfg: ExperimentConfig) -> list[tuple[bool, str]]:
    """``(ok, message)`` of a run to the validation plateau (``optim.plateau.enabled``)."""
    o, p = cfg.optim, cfg.optim.plateau
    return [
        (
            o.schedule == "constant_then_decay",
            "optim.plateau: the plateau rule trains at the peak rate, then decays: set "
            "optim.schedule: constant_then_decay",
        ),
        (o.max_steps is not None, "optim.plateau needs optim.max_steps (the cap)"),
        (
            o.steps is None and o.budget_minutes is None,
            "optim.plateau: the plateau decides the length; leave optim.steps and "
            "optim.budget_minutes out (optim.max_steps is the cap)",
        ),
        (cfg.train.val_every > 0, "optim.plateau validates: train.val_every must be > 0"),
        (p.val_every >= 1, "optim.plateau.val_every must be >= 1"),
        (
            p.patience_steps >= p.val_every,
            "optim.plateau.patience_steps must be >= optim.plateau.val_every",
        ),
        (0.0 <= p.min_improvement < 1.0, "optim.plateau.min_improvement must be in [0, 1)"),
        (p.decay_steps >= 1, "optim.plateau.decay_steps must be >= 1"),
        (
            o.max_steps is None or o.max_steps >= o.warmup_steps + p.decay_steps,
            "optim.max_steps must cover optim.warmup_steps + optim.plateau.decay_steps",
        ),
    ]


def _fixed_length_checks(o: OptimConfig) -> list[tuple[bool, str]]:
    """``(ok, message)`` of a per-step schedule by ``optim.steps`` or ``optim.budget_minutes``."""
    checks = [
        (
            (o.steps is None) != (o.budget_minutes is None),
            f"optim.schedule {o.schedule}: give exactly one of optim.steps and "
            "optim.budget_minutes (or enable optim.plateau)",
        )
    ]
    if o.steps is not None:
        checks.append((o.steps > o.warmup_steps, "optim.steps must be > optim.warmup_steps"))
    if o.schedule == "constant_then_decay":
        checks.append(
            (o.decay_steps >= 1, "optim.decay_steps must be >= 1 for constant_then_decay")
        )
        if o.steps is not None:
            checks.append(
                (
                    o.steps >= o.warmup_steps + o.decay_steps,
                    "optim.steps must cover optim.warmup_steps + optim.decay_steps",
                )
            )
    return checks


def _is_rate(v: Any) -> bool:
    return _finite(v) and v > 0


def augment_config(cfg: ExperimentConfig):
    """The :class:`otmark.transforms.AugmentConfig` of a config (None when disabled)."""
    a = cfg.augment
    if not a.enabled:
        return None
    return AugmentConfig(
        scale_range=tuple(float(v) for v in a.scale_range),
        rotation=float(a.rotation),
        rotation_prob=float(a.rotation_prob),
        flip_prob=float(a.flip_prob),
        color_jitter=float(a.color_jitter),
        grayscale_prob=float(a.grayscale_prob),
        lowres_prob=float(a.lowres_prob),
        lowres_min=float(a.lowres_min),
        blur_prob=float(a.blur_prob),
        blur_max_sigma=float(a.blur_max_sigma),
        shift_prob=float(a.shift_prob),
        shift_sd=tuple(float(v) for v in a.shift_sd),
        shift_mean_y=float(a.shift_mean_y),
    )


def dump_config(cfg: ExperimentConfig) -> str:
    """The config as YAML text (what a run saves as ``config.yaml``)."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
