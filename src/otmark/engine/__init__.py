"""Training engine: configs, builders, the epoch loop, checkpoints, DDP.

Every piece works on its own::

    cfg = load_config("300w_w_s3_bc", ["data.root=data/300W"])
    train_ds, val_ds = build_datasets(cfg)
    model = build_model(cfg, num_landmarks)
    ...
    train(cfg)                      # the whole run, as ``otmark train`` does
    fit(cfg, train_samples, val_samples, FitOptions())   # the same engine on sample lists
"""

from otmark.engine.builders import (
    build_dataset,
    build_datasets,
    build_loader,
    build_loss,
    build_model,
    build_optimizer,
    build_samples,
    build_scheduler,
    crop_config,
    model_kwargs,
)
from otmark.engine.checkpoint import (
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_atomic,
    save_checkpoint,
)
from otmark.engine.config import (
    ConfigError,
    ExperimentConfig,
    apply_overrides,
    config_from_dict,
    list_configs,
    load_config,
    resolve_config,
    validate,
)
from otmark.engine.distributed import DistInfo, init_distributed
from otmark.engine.fitting import FitOptions, FitResult, fit
from otmark.engine.loop import (
    EpochResult,
    evaluate,
    landmark_metrics,
    predict,
    train_one_epoch,
)
from otmark.engine.sampler import EpochSampler, rank_indices
from otmark.engine.trainer import TrainingInterrupted, seed_everything, train

__all__ = [
    "ConfigError",
    "DistInfo",
    "EpochResult",
    "EpochSampler",
    "ExperimentConfig",
    "FitOptions",
    "FitResult",
    "TrainingInterrupted",
    "apply_overrides",
    "build_dataset",
    "build_datasets",
    "build_loader",
    "build_loss",
    "build_model",
    "build_optimizer",
    "build_samples",
    "build_scheduler",
    "capture_rng_state",
    "config_from_dict",
    "crop_config",
    "evaluate",
    "fit",
    "init_distributed",
    "landmark_metrics",
    "list_configs",
    "load_checkpoint",
    "load_config",
    "model_kwargs",
    "predict",
    "rank_indices",
    "resolve_config",
    "restore_rng_state",
    "save_atomic",
    "save_checkpoint",
    "seed_everything",
    "train",
    "train_one_epoch",
    "validate",
]
