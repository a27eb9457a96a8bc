"""Factories from an :class:`~otmark.engine.config.ExperimentConfig` to the objects of a run.

Each works on its own (the quickstart and the study call them from Python).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import cv2
import torch

from otmark.datasets import load
from otmark.engine.checkpoint import load_checkpoint
from otmark.engine.config import ExperimentConfig, augment_config
from otmark.engine.plateau import PlateauRule
from otmark.engine.sampler import EpochSampler
from otmark.engine.schedule import ScheduledLR, make_schedule
from otmark.losses import create_loss
from otmark.models import create_model
from otmark.schemes import get_scheme
from otmark.transforms import CropConfig, LandmarkDataset


def build_samples(cfg: ExperimentConfig, split: str, limit: int | None = None) -> list:
    """``otmark.datasets.load(dataset, root, split)``, optionally cut to the first ``limit``."""
    samples = list(load(cfg.data.dataset, cfg.data.root, split))
    if not samples:
        raise ValueError(f"{cfg.data.root}: dataset {cfg.data.dataset!r} split {split!r} is empty")
    return samples[:limit] if limit is not None else samples


def crop_config(cfg: ExperimentConfig) -> CropConfig:
    """Where a config's crops are placed (``data.crop_from``; the sizes are ``cfg.codec``'s)."""
    return CropConfig(crop_from=cfg.data.crop_from)


def scheme_of(samples: list) -> str:
    """The (single) landmark scheme of a list of samples."""
    schemes = {s.scheme for s in samples}
    if len(schemes) != 1:
        raise ValueError(f"samples mix landmark schemes {sorted(schemes)}")
    return schemes.pop()


def build_dataset(cfg: ExperimentConfig, samples: list, train: bool) -> LandmarkDataset:
    """A :class:`~otmark.transforms.LandmarkDataset`: augmented for training, plain otherwise.

    Training items carry ``target_points`` only: the loop renders the target heatmaps on its
    device (cheaper than moving ``(K, M, M)`` maps through the DataLoader).
    """
    aug = augment_config(cfg) if train else None
    perm = get_scheme(scheme_of(samples)).flip_permutation if aug is not None else None
    return LandmarkDataset(
        samples,
        cfg.codec,
        aug,
        perm,
        seed=cfg.train.seed,
        render_targets=not train,
        crop=crop_config(cfg),
    )


def build_datasets(cfg: ExperimentConfig) -> tuple[LandmarkDataset, LandmarkDataset | None]:
    """Training and validation datasets (validation None when ``train.val_every == 0``)."""
    train = build_dataset(cfg, build_samples(cfg, cfg.data.train_split, cfg.data.limit), True)
    val = None
    if cfg.train.val_every > 0:
        samples = build_samples(cfg, cfg.data.val_split, cfg.data.val_limit)
        if scheme_of(samples) != scheme_of(train.samples):
            raise ValueError("training and validation splits use different landmark schemes")
        val = build_dataset(cfg, samples, False)
    return train, val


def model_kwargs(cfg: ExperimentConfig, num_landmarks: int) -> dict[str, Any]:
    """``create_model`` keyword arguments as stored in checkpoints."""
    return {
        "num_landmarks": int(num_landmarks),
        "coordconv": cfg.model.coordconv,
        **cfg.model.kwargs,
    }


def build_model(cfg: ExperimentConfig, num_landmarks: int) -> torch.nn.Module:
    """``otmark.models.create_model`` from the config's ``model`` section, with the weights of
    ``model.init`` when set (a fine-tune; a resumed run then restores its own)."""
    model = create_model(cfg.model.name, **model_kwargs(cfg, num_landmarks))
    if cfg.model.init:
        load_checkpoint(cfg.model.init, model)
    return model


def build_loss(cfg: ExperimentConfig) -> torch.nn.Module:
    """``otmark.losses.create_loss(name, **kwargs)``:
    ``(pred (B,K,h,w), target (B,K,h,w), weight (B,K) | None) -> scalar``."""
    return create_loss(cfg.loss.name, **cfg.loss.kwargs)


def build_optimizer(cfg: ExperimentConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """Adam over the trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.Adam(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)


def build_scheduler(
    cfg: ExperimentConfig,
    optimizer: torch.optim.Optimizer,
    clock: Callable[[], float] | None = None,
):
    """The learning-rate schedule of ``cfg.optim``.

    ``multistep``: ``MultiStepLR``, stepped once per epoch (lr x gamma at each milestone).
    Otherwise an :class:`otmark.engine.schedule.ScheduledLR`, stepped after every optimizer
    step, over the schedule of ``optim.schedule`` by ``optim.steps``, by
    ``optim.budget_minutes`` (timed with ``clock``) or, with ``optim.plateau.enabled``, over
    a :class:`otmark.engine.plateau.PlateauRule` (:func:`build_plateau_rule`).
    ``clock`` (default ``time.perf_counter``, looked up at the call) times a budget.
    """
    clock = clock or time.perf_counter
    o = cfg.optim
    if not o.per_step:
        return torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=list(o.milestones), gamma=o.gamma
        )
    if o.plateau.enabled:
        return ScheduledLR(optimizer, build_plateau_rule(cfg), clock)
    schedule = make_schedule(
        o.schedule,
        steps=o.steps,
        budget_s=None if o.budget_minutes is None else 60.0 * o.budget_minutes,
        warmup_steps=o.warmup_steps,
        decay_steps=o.decay_steps,
        shape=o.decay_shape,
        final=o.final_factor,
        min_decay_steps=o.min_decay_steps,
        window=o.step_time_window,
        max_steps=o.max_steps,
    )
    return ScheduledLR(optimizer, schedule, clock)


def build_plateau_rule(cfg: ExperimentConfig):
    """The :class:`otmark.engine.plateau.PlateauRule` of ``optim.plateau`` (cap
    ``optim.max_steps``, warm-up ``optim.warmup_steps``, decay shape ``optim.decay_shape``)."""
    o, p = cfg.optim, cfg.optim.plateau
    return PlateauRule(
        val_every=p.val_every,
        patience_steps=p.patience_steps,
        decay_steps=p.decay_steps,
        max_steps=int(o.max_steps),
        min_improvement=p.min_improvement,
        warmup_steps=o.warmup_steps,
        shape=o.decay_shape,
        final=o.final_factor,
        smooth_window=p.smooth_window,
    )


def local_batch_size(global_batch: int, world: int) -> int:
    """Per-process batch of a global batch (must divide evenly)."""
    if global_batch % world:
        raise ValueError(f"optim.batch_size {global_batch} is not divisible by {world} processes")
    return global_batch // world


def _worker_init(worker_id: int) -> None:
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def build_loader(
    dataset: LandmarkDataset,
    sampler: EpochSampler,
    batch_size: int,
    num_workers: int = 0,
    seed: int = 0,
    pin_memory: bool = False,
) -> torch.utils.data.DataLoader:
    """A DataLoader over ``sampler``'s order with its own generator (never the global RNG)."""
    g = torch.Generator()
    g.manual_seed(seed)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=False,
        generator=g,
        worker_init_fn=_worker_init if num_workers > 0 else None,
        persistent_workers=False,
    )
