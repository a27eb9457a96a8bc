"""A time-budgeted training run on given samples, built from the engine's functions.

``otmark.engine.train`` runs a whole config from files; the quickstart and the study need two
things it does not offer: a wall-clock budget (stop after the epoch that exhausts it) and
training samples converted to another landmark scheme (the density study trains on 98, 68 or
17 points of the same WFLW faces). This module composes the engine's builders, its
``train_one_epoch`` and ``evaluate`` into that loop.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from otmark.datasets.records import Sample
from otmark.study.log import say


@dataclass
class TrainedModel:
    """The outcome of :func:`train_model`.

    Attributes:
        model: the best model (lowest validation NME), in eval mode, on the training device.
        scheme: landmark scheme it predicts.
        codec: ``otmark.engine.codec_dict`` of the run (decoder, sizes...).
        history: one row per epoch (loss, validation NME, seconds).
        best_epoch: epoch of the kept weights (1-based).
        seconds: training wall time (validation included).
        checkpoint: where the best checkpoint was written (None when not written).
    """

    model: torch.nn.Module
    scheme: str
    codec: dict
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0
    checkpoint: Path | None = None


def convert_samples(samples: Sequence[Sample], scheme: str) -> list[Sample]:
    """The same faces annotated in ``scheme`` (``otmark.schemes.convert``; occlusion flags are
    dropped when the point count changes)."""
    from otmark.schemes import canonical_name, convert

    scheme = canonical_name(scheme)
    out = []
    for s in samples:
        if canonical_name(s.scheme) == scheme:
            out.append(s)
            continue
        lm = convert(s.landmarks.astype(float), s.scheme, scheme)
        out.append(dataclasses.replace(s, landmarks=lm, scheme=scheme, occluded=None))
    return out


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def train_model(
    cfg,
    train_samples: Sequence[Sample],
    val_samples: Sequence[Sample],
    minutes: float | None = None,
    checkpoint: str | Path | None = None,
    log: Callable[[str], None] = say,
    keep: str = "best",
) -> TrainedModel:
    """Train ``cfg`` (an :class:`otmark.engine.ExperimentConfig`) on ``train_samples``.

    Validates on ``val_samples`` after every epoch, keeps the weights with the lowest NME and
    stops after ``cfg.optim.epochs`` epochs or as soon as ``minutes`` are used up (the budget
    is checked after every step: the current epoch ends early, is validated, and training
    stops; an epoch on a slow machine cannot overshoot the budget).

    Args:
        cfg: the run's config (model, codec, loss, optim, augment, train.seed/device).
        train_samples, val_samples: annotated faces, all in one scheme.
        minutes: wall-clock budget for training (None = no budget).
        checkpoint: write the kept model there (an ``otmark detect``-loadable checkpoint).
        keep: ``"best"`` (lowest validation NME) or ``"last"`` (the final epoch's weights: no
            model selection, e.g. when the validation faces are also evaluated).
    """
    if keep not in ("best", "last"):
        raise ValueError(f"keep must be 'best' or 'last', got {keep!r}")
    from otmark.engine import builders, evaluate, save_checkpoint, seed_everything, train_one_epoch
    from otmark.engine.sampler import EpochSampler
    from otmark.schemes import get_scheme

    device = resolve_device(cfg.train.device)
    amp = torch.bfloat16 if device.type == "cuda" else None
    seed_everything(cfg.train.seed)
    train_ds = builders.build_dataset(cfg, list(train_samples), True)
    val_ds = builders.build_dataset(cfg, list(val_samples), False)
    scheme = builders.scheme_of(train_ds.samples)
    if builders.scheme_of(val_ds.samples) != scheme:
        raise ValueError("training and validation samples use different landmark schemes")
    k = get_scheme(scheme).num_points
    model = builders.build_model(cfg, k).to(device)
    loss_fn = builders.build_loss(cfg)
    if isinstance(loss_fn, torch.nn.Module):
        loss_fn = loss_fn.to(device)
    optimizer = builders.build_optimizer(cfg, model)
    scheduler = builders.build_scheduler(cfg, optimizer)
    bs = cfg.optim.batch_size
    sampler = EpochSampler(len(train_ds), cfg.train.seed, 0, 1)
    loader = builders.build_loader(train_ds, sampler, bs, cfg.data.num_workers, cfg.train.seed)
    val_sampler = EpochSampler(len(val_ds), 0, 0, 1, shuffle=False)
    val_loader = builders.build_loader(val_ds, val_sampler, bs, cfg.data.num_workers, 0)
    codec = builders.codec_dict(cfg)

    t0 = time.perf_counter()

    def out_of_time() -> bool:
        return minutes is not None and time.perf_counter() - t0 >= 60.0 * minutes

    best, best_state, best_epoch, history = math.inf, None, 0, []
    for epoch in range(cfg.optim.epochs):
        sampler.set_epoch(epoch)
        train_ds.set_epoch(epoch)
        res = train_one_epoch(
            model, loader, loss_fn, optimizer, device, amp_dtype=amp, should_stop=out_of_time
        )
        if not res.interrupted:
            scheduler.step()
        metrics = evaluate(
            model,
            val_loader,
            device,
            decoder=cfg.codec.decoder,
            softmax=cfg.codec.softmax,
            amp_dtype=amp,
        )
        elapsed = time.perf_counter() - t0
        row = {
            "epoch": epoch + 1,
            "steps": res.steps,
            "complete": not res.interrupted,
            "train_loss": res.loss_sum / max(res.images, 1),
            "val_NME": metrics["NME"],
            "seconds": elapsed,
        }
        history.append(row)
        log(
            f"  epoch {epoch + 1}/{cfg.optim.epochs}: loss {row['train_loss']:.4g}, "
            f"val NME {row['val_NME']:.2f}%, {elapsed:.0f} s"
        )
        if math.isfinite(metrics["NME"]) and metrics["NME"] < best:
            best, best_epoch = metrics["NME"], epoch + 1
            best_state = copy.deepcopy(model.state_dict())
        if out_of_time():
            log(f"  time budget of {minutes:g} min reached in epoch {epoch + 1}")
            break
    if keep == "last":
        best_epoch = len(history)
        best = history[-1]["val_NME"] if history else math.inf
    elif best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    path = None
    if checkpoint is not None:
        path = save_checkpoint(
            Path(checkpoint),
            model=model,
            model_name=cfg.model.name,
            model_kwargs=builders.model_kwargs(cfg, k),
            scheme=scheme,
            codec=codec,
            epoch=best_epoch,
            config=cfg.to_dict(),
            history=history,
            best_nme=best if math.isfinite(best) else None,
        )
    return TrainedModel(model, scheme, codec, history, best_epoch, time.perf_counter() - t0, path)
