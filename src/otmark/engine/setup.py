"""The set-up step of a training run: seeding, bad-sample screening, datasets, model, loss,
optimiser, schedule and loaders (:func:`build_run_parts`), for one process or one ``torchrun``
rank."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from otmark.datasets.validity import screen_samples
from otmark.engine import builders
from otmark.engine.config import ExperimentConfig
from otmark.engine.distributed import DistInfo
from otmark.engine.precision import amp_dtype_for, make_grad_scaler
from otmark.engine.sampler import EpochSampler
from otmark.schemes import get_scheme


def seed_everything(seed: int, deterministic: bool = False, threads: int = 0) -> None:
    """Seed torch, numpy and Python; optionally make torch deterministic (``deterministic``)
    and set its CPU thread count (``threads`` > 0)."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the global RNG other libraries use)
    random.seed(seed)


@dataclass
class RunParts:
    """The objects of one run, built by :func:`build_run_parts`.

    ``model`` is the bare model; ``net`` the module that trains (``model`` itself, or its
    ``DistributedDataParallel`` wrapper under ``torchrun``). ``val_ds``/``val_loader`` are None
    without validation samples. ``amp_dtype`` is the autocast dtype (None: float32).
    """

    cfg: ExperimentConfig
    info: DistInfo
    amp_dtype: torch.dtype | None
    scheme: str
    num_landmarks: int
    model: torch.nn.Module
    loss_fn: Callable
    optimizer: torch.optim.Optimizer
    scheduler: object
    scaler: object
    train_ds: object
    val_ds: object | None
    sampler: EpochSampler
    loader: object
    val_loader: object | None
    net: torch.nn.Module | None = None

    @property
    def device(self) -> torch.device:
        return self.info.device

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def screen(samples: Sequence, what: str, cfg: ExperimentConfig, log, missing_ok: bool) -> list:
    """The samples that pass :func:`otmark.datasets.validity.screen_samples` under
    ``data.on_error`` (``raise``: the first bad one raises naming its file; ``skip``: left out
    and logged). ``missing_ok``: a training split, whose targets leave NaN points out."""
    d = cfg.data
    found = screen_samples(
        list(samples), what, d.on_error, d.max_bad_fraction, log, missing_ok=missing_ok
    )
    return found.samples


def build_datasets_from(cfg: ExperimentConfig, train_samples, val_samples, log) -> tuple:
    """Screened training and validation datasets (validation None when ``val_samples`` is)."""
    d = cfg.data
    train = screen(train_samples, f"training split {d.train_split!r}", cfg, log, True)
    train_ds = builders.build_dataset(cfg, train, True)
    if val_samples is None:
        return train_ds, None
    val = screen(val_samples, f"validation split {d.val_split!r}", cfg, log, False)
    if builders.scheme_of(val) != builders.scheme_of(train):
        raise ValueError("training and validation samples use different landmark schemes")
    return train_ds, builders.build_dataset(cfg, val, False)


def build_run_parts(
    cfg: ExperimentConfig, train_samples, val_samples, info: DistInfo, log
) -> RunParts:
    """Seed (``train.seed``, ``train.deterministic``, ``train.threads``), screen the samples,
    build the datasets, the model (on ``info.device``, channels-last when configured), loss,
    Adam, schedule, gradient scaler and loaders (each process its share of the global
    batch). ``net`` is left None: :func:`wrap_for_ddp` sets it once the weights are final."""
    t = cfg.train
    seed_everything(t.seed, t.deterministic, t.threads)
    amp_dtype = amp_dtype_for(t.amp, info.device)
    train_ds, val_ds = build_datasets_from(cfg, train_samples, val_samples, log)
    scheme = builders.scheme_of(train_ds.samples)
    k = get_scheme(scheme).num_points
    model = builders.build_model(cfg, k).to(info.device)
    if t.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = builders.build_loss(cfg)
    if isinstance(loss_fn, torch.nn.Module):
        loss_fn = loss_fn.to(info.device)
    optimizer = builders.build_optimizer(cfg, model)
    sampler, loader, val_loader = build_loaders(cfg, train_ds, val_ds, info)
    return RunParts(
        cfg=cfg,
        info=info,
        amp_dtype=amp_dtype,
        scheme=scheme,
        num_landmarks=k,
        model=model,
        loss_fn=loss_fn,
        optimizer=optimizer,
        scheduler=builders.build_scheduler(cfg, optimizer),
        scaler=make_grad_scaler(amp_dtype, info.device),
        train_ds=train_ds,
        val_ds=val_ds,
        sampler=sampler,
        loader=loader,
        val_loader=val_loader,
    )


def build_loaders(cfg: ExperimentConfig, train_ds, val_ds, info: DistInfo) -> tuple:
    """``(sampler, loader, val_loader)``: the training sampler (shuffled with ``train.seed``,
    this rank's share) and the loaders of the local batch (``val_loader`` None without
    ``val_ds``)."""
    local_bs = builders.local_batch_size(cfg.optim.batch_size, info.world)
    workers, seed = cfg.data.num_workers, cfg.train.seed
    pin = info.device.type == "cuda"
    sampler = EpochSampler(len(train_ds), seed, info.rank, info.world)
    loader = builders.build_loader(train_ds, sampler, local_bs, workers, seed, pin)
    val_loader = None
    if val_ds is not None:
        vs = EpochSampler(len(val_ds), 0, info.rank, info.world, shuffle=False)
        val_loader = builders.build_loader(val_ds, vs, local_bs, workers, 0, pin)
    return sampler, loader, val_loader


def wrap_for_ddp(parts: RunParts) -> None:
    """Set ``parts.net``: the model, or its ``DistributedDataParallel`` wrapper under
    ``torchrun`` (after a resume restored the weights: DDP broadcasts rank 0's)."""
    net = parts.model
    info = parts.info
    if info.distributed:
        ids = [info.device.index] if info.device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(parts.model, device_ids=ids)
    parts.net = net
