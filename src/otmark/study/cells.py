"""Settings of the paper's ablations and the experiment config of one training run.

A *setting* is (loss, sigma, decoder, CoordConv), e.g. the paper's recommended ``W sigma 3
GET_BC``. :func:`experiment_config` turns a setting plus the run's size (:class:`TrainSize`)
into an :class:`otmark.engine.ExperimentConfig`, the object the engine's builders read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

_LOSS_LABEL = {"l2": "L2", "wasserstein": "W", "js": "JS", "soft_argmax": "Soft-ArgMax"}
_DECODER_LABEL = {"get_max": "GET_MAX", "get_bc": "GET_BC"}


@dataclass(frozen=True)
class Setting:
    """One row of the paper's ablation tables.

    Attributes:
        loss: ``otmark.losses.create_loss`` name.
        sigma: target Gaussian sigma in heatmap pixels (of the 64x64 heatmap of the paper; it
            is scaled with the heatmap size, see :func:`experiment_config`).
        decoder: ``get_max`` or ``get_bc``.
        coordconv: CoordConv layers in the model.
    """

    loss: str
    sigma: float
    decoder: str
    coordconv: bool = False

    @property
    def label(self) -> str:
        """The paper's name, e.g. ``W σ3 GET_BC + CoordConv``."""
        s = f"{self.sigma:g}"
        text = f"{_LOSS_LABEL.get(self.loss, self.loss)} σ{s} {_DECODER_LABEL[self.decoder]}"
        if self.loss == "soft_argmax":
            text = f"Soft-ArgMax {_DECODER_LABEL[self.decoder]}"
        return text + (" + CoordConv" if self.coordconv else "")

    @classmethod
    def from_dict(cls, raw: dict, where: str) -> Setting:
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - valid)
        if unknown or not {"loss", "sigma", "decoder"} <= set(raw):
            raise ValueError(
                f"{where}: a setting needs loss, sigma, decoder (and optionally "
                f"coordconv); got keys {sorted(raw)}"
            )
        if raw["decoder"] not in _DECODER_LABEL:
            raise ValueError(f"{where}: decoder must be get_max or get_bc, got {raw['decoder']!r}")
        return cls(
            str(raw["loss"]),
            float(raw["sigma"]),
            str(raw["decoder"]),
            bool(raw.get("coordconv", False)),
        )


#: the paper's recommended setting (quickstart)
RECOMMENDED = Setting("wasserstein", 3.0, "get_bc")


@dataclass(frozen=True)
class TrainSize:
    """Size and recipe of one training run.

    The recipe is step-based: Adam, a linear warm-up over ``warmup`` steps, then a cosine decay
    of the learning rate to 0 at the last step (``otmark.study.training.StepPlan``). Short CPU
    runs learn several times faster this way than with HRNet's constant rate and epoch
    milestones (measured: HRNetV2-W18, W loss, 600 steps -> 3.1 % NME on generated 300W).

    Attributes:
        input_size, heatmap_size: crop side and heatmap side (the models output input / 4).
        steps: optimizer steps; None = as many as ``minutes`` allows (timed after a few steps).
        warmup: linear warm-up steps.
        batch_size: images per step.
        lr: peak Adam learning rate.
        minutes: wall-clock training budget (None = no budget). With ``steps`` None it sets the
            number of steps; otherwise it only stops a run that is slower than expected.
        model_kwargs: extra ``create_model`` arguments (e.g. ``{"width": 4}`` for tests).
        augment: HRNet's augmentation (scale, rotation, flip).
        val_limit: validate on at most this many validation faces after each epoch.
        sigma_reference: heatmap side the settings' sigmas refer to (the paper's 64).
        amp: ``otmark.engine`` ``train.amp`` (``auto``: bf16 on CUDA and on CPUs with native
            bf16, where it is about 1.5x faster; evaluation always runs in float32).
        channels_last: channels-last memory format (faster convolutions on CPU and GPU).
    """

    input_size: int = 128
    heatmap_size: int = 32
    steps: int | None = 600
    warmup: int = 50
    batch_size: int = 8
    lr: float = 2e-3
    minutes: float | None = None
    model_kwargs: dict = field(default_factory=dict)
    augment: bool = True
    val_limit: int | None = 64
    sigma_reference: int = 64
    amp: str = "auto"
    channels_last: bool = True

    @classmethod
    def from_dict(cls, raw: dict, where: str) -> TrainSize:
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - valid)
        if unknown:
            raise ValueError(f"{where}: unknown training keys {unknown}; valid: {sorted(valid)}")
        raw = dict(raw)
        if "lr" in raw:
            raw["lr"] = float(raw["lr"])
        out = cls(**raw)
        if out.steps is None and out.minutes is None:
            raise ValueError(f"{where}: give train.steps or train.minutes (or both)")
        if out.steps is not None and out.steps < 1 or out.warmup < 0:
            raise ValueError(f"{where}: train.steps must be >= 1 and train.warmup >= 0")
        if out.input_size != 4 * out.heatmap_size:
            raise ValueError(
                f"{where}: input_size must be 4 x heatmap_size "
                f"({out.input_size} vs {out.heatmap_size})"
            )
        return out

    def to_dict(self) -> dict:
        return asdict(self)


def scaled_sigma(setting: Setting, size: TrainSize) -> float:
    """The setting's sigma in pixels of this run's heatmap.

    The paper's sigmas are in pixels of a 64x64 heatmap; at 32x32 the same Gaussian (relative
    to the face) has half the sigma. We keep the relative width, not the pixel count.
    """
    return setting.sigma * size.heatmap_size / size.sigma_reference


def experiment_config(
    name: str,
    model: str,
    setting: Setting,
    size: TrainSize,
    seed: int,
    dataset: str,
    root: str,
    device: str = "auto",
    output_dir: str = "runs/{name}",
):
    """The :class:`otmark.engine.ExperimentConfig` of one run (validated like ``otmark train``)."""
    from otmark.engine import config_from_dict, validate

    raw = {
        "name": name,
        "description": f"{model} {setting.label} seed {seed}",
        "data": {
            "dataset": dataset,
            "root": str(root),
            "num_workers": 0,
            "val_limit": size.val_limit,
        },
        "model": {"name": model, "coordconv": setting.coordconv, "kwargs": dict(size.model_kwargs)},
        "codec": {
            "input_size": size.input_size,
            "heatmap_size": size.heatmap_size,
            "sigma": scaled_sigma(setting, size),
            "decoder": setting.decoder,
        },
        "loss": {"name": setting.loss},
        "optim": {
            "lr": size.lr,
            "epochs": 1,  # train_model records the epochs it ran (the recipe is step-based)
            "milestones": [],
            "batch_size": size.batch_size,
        },
        "augment": {"enabled": size.augment},
        "train": {
            "seed": seed,
            "device": device,
            "output_dir": output_dir,
            "progress": False,
            "tensorboard": False,
            "val_every": 1,
            "amp": size.amp,
            "channels_last": size.channels_last,
        },
    }
    cfg = config_from_dict(raw, f"<{name}>")
    validate(cfg, f"<{name}>", check_paths=False)
    return cfg
