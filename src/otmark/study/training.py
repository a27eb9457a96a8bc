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
from otmark.device import resolve_device
from otmark.heatmaps.codec import HeatmapCodec
from otmark.study.log import say


@dataclass
class TrainedModel:
    """The outcome of :func:`train_model`.

    Attributes:
        model: the best model (lowest validation NME), in eval mode, on the training device.
        scheme: landmark scheme it predicts.
        codec: the run's :class:`otmark.heatmaps.HeatmapCodec` (sizes, sigma, decoder).
        history: one row per epoch (loss, validation NME, seconds).
        best_epoch: epoch of the kept weights (1-based).
        seconds: training wall time (validation included).
        checkpoint: where the best checkpoint was written (None when not written).
    """

    model: torch.nn.Module
    scheme: str
    codec: HeatmapCodec
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


@dataclass
class StepPlan:
    """Learning-rate factor per optimizer step: linear warm-up, then cosine decay to 0.

    ``total`` may be None at first and set once the step time is known (a time-budgeted run
    plans its steps after a short probe; the warm-up does not depend on it).
    """

    total: int | None
    warmup: int = 50

    def factor(self, step: int) -> float:
        """Factor of the peak rate for the step with 0-based index ``step``."""
        ramp = min(1.0, (step + 1) / self.warmup) if self.warmup > 0 else 1.0
        if self.total is None:
            return ramp
        progress = min(step, self.total) / self.total
        return ramp * 0.5 * (1.0 + math.cos(math.pi * progress))


#: a budgeted run times PROBE_STEPS steps after PROBE_SKIP steps (the first steps of a process
#: are slower: kernel selection, allocator warm-up), then fixes its number of steps
PROBE_SKIP = 3
PROBE_STEPS = 15


def planned_steps(
    done: int, per_step: float, seconds_left: float, val_fraction: float, margin: float = 0.95
) -> int:
    """Total steps of a budgeted run: ``done`` so far plus what ``seconds_left`` affords at
    ``per_step`` seconds a step, validation (``val_fraction`` of a step's time per step) and a
    safety ``margin`` included (at least ``done + 1``)."""
    affordable = margin * seconds_left / (per_step * (1.0 + val_fraction))
    return done + max(1, int(affordable))


def train_model(
    cfg,
    train_samples: Sequence[Sample],
    val_samples: Sequence[Sample],
    steps: int | None = None,
    minutes: float | None = None,
    checkpoint: str | Path | None = None,
    log: Callable[[str], None] = say,
    keep: str = "last",
    warmup: int = 50,
) -> TrainedModel:
    """Train ``cfg`` (an :class:`otmark.engine.ExperimentConfig`) on ``train_samples``.

    Runs ``steps`` optimizer steps with Adam at peak rate ``cfg.optim.lr`` on the
    :class:`StepPlan` schedule (warm-up, cosine to 0), validates on ``val_samples`` after
    every epoch and at the end, in float32. With ``steps`` None the number of steps is planned
    from ``minutes`` after timing :data:`PROBE_STEPS` steps; ``minutes`` also stops any run
    that uses it up (checked after every step). Training uses ``cfg.train.amp`` and
    ``cfg.train.channels_last``.

    Args:
        cfg: the run's config (model, codec, loss, optim, augment, train.seed/device/amp).
        train_samples, val_samples: annotated faces, all in one scheme.
        steps: optimizer steps (None: planned from ``minutes``).
        minutes: wall-clock budget for training (None = no budget).
        checkpoint: write the kept model there (an ``otmark detect``-loadable checkpoint).
        keep: ``"last"`` (the final weights; the default: the cosine schedule ends at its
            best) or ``"best"`` (lowest validation NME).
        warmup: linear warm-up steps.
    """
    if keep not in ("best", "last"):
        raise ValueError(f"keep must be 'best' or 'last', got {keep!r}")
    if steps is None and minutes is None:
        raise ValueError("train_model needs steps or minutes")
    from otmark.engine import builders, evaluate, save_checkpoint, seed_everything, train_one_epoch
    from otmark.engine.precision import amp_dtype_for, make_grad_scaler
    from otmark.engine.sampler import EpochSampler
    from otmark.schemes import get_scheme

    device = resolve_device(cfg.train.device)
    amp = amp_dtype_for(cfg.train.amp, device)
    scaler = make_grad_scaler(amp, device)  # fp16 needs loss scaling
    channels_last = bool(cfg.train.channels_last)
    seed_everything(cfg.train.seed)
    train_ds = builders.build_dataset(cfg, list(train_samples), True)
    val_ds = builders.build_dataset(cfg, list(val_samples), False)
    scheme = builders.scheme_of(train_ds.samples)
    if builders.scheme_of(val_ds.samples) != scheme:
        raise ValueError("training and validation samples use different landmark schemes")
    k = get_scheme(scheme).num_points
    model = builders.build_model(cfg, k).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = builders.build_loss(cfg)
    if isinstance(loss_fn, torch.nn.Module):
        loss_fn = loss_fn.to(device)
    optimizer = builders.build_optimizer(cfg, model)
    plan = StepPlan(steps, warmup)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, plan.factor)
    bs = cfg.optim.batch_size
    sampler = EpochSampler(len(train_ds), cfg.train.seed, 0, 1)
    loader = builders.build_loader(train_ds, sampler, bs, cfg.data.num_workers, cfg.train.seed)
    val_sampler = EpochSampler(len(val_ds), 0, 0, 1, shuffle=False)
    val_loader = builders.build_loader(val_ds, val_sampler, bs, cfg.data.num_workers, 0)
    codec = cfg.codec
    # one validation (forward only, ~1/3 of a training step per batch) per epoch
    val_fraction = len(val_loader) / (3.0 * max(len(loader), 1))

    t0 = time.perf_counter()
    state = {"step": 0, "probe_t": None}

    def out_of_time() -> bool:
        return minutes is not None and time.perf_counter() - t0 >= 60.0 * minutes

    def should_stop() -> bool:
        state["step"] += 1
        now = time.perf_counter()
        if plan.total is None:
            if state["step"] == PROBE_SKIP:
                state["probe_t"] = now
            elif state["step"] == PROBE_SKIP + PROBE_STEPS:
                per_step = (now - state["probe_t"]) / PROBE_STEPS
                plan.total = planned_steps(
                    state["step"], per_step, 60.0 * minutes - (now - t0), val_fraction
                )
                log(f"  {per_step:.2f} s per step: planned {plan.total} steps")
        return (plan.total is not None and state["step"] >= plan.total) or out_of_time()

    best, best_state, best_epoch, history = math.inf, None, 0, []
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        train_ds.set_epoch(epoch)
        res = train_one_epoch(
            model,
            loader,
            loss_fn,
            optimizer,
            device,
            amp_dtype=amp,
            scaler=scaler,
            channels_last=channels_last,
            scheduler=scheduler,
            should_stop=should_stop,
        )
        epoch += 1
        metrics = evaluate(
            model,
            val_loader,
            device,
            decoder=cfg.codec.decoder,
            softmax=cfg.codec.softmax,
            channels_last=channels_last,
        )
        elapsed = time.perf_counter() - t0
        row = {
            "epoch": epoch,
            "steps": state["step"],
            "lr": optimizer.param_groups[0]["lr"],
            "train_loss": res.loss_sum / max(res.images, 1),
            "val_NME": metrics["NME"],
            "seconds": elapsed,
        }
        history.append(row)
        total = "?" if plan.total is None else plan.total
        log(
            f"  epoch {epoch}, step {state['step']}/{total}: loss {row['train_loss']:.4g}, "
            f"val NME {row['val_NME']:.2f}%, {elapsed:.0f} s"
        )
        if math.isfinite(metrics["NME"]) and metrics["NME"] < best:
            best, best_epoch = metrics["NME"], epoch
            if keep == "best":
                best_state = copy.deepcopy(model.state_dict())
        if plan.total is not None and state["step"] >= plan.total:
            break
        if out_of_time():
            log(f"  time budget of {minutes:g} min reached at step {state['step']}")
            break
        if res.steps == 0:
            raise ValueError("no training step ran: the training set is empty")
    if keep == "last":
        best_epoch = len(history)
        best = history[-1]["val_NME"]
    elif best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    path = None
    if checkpoint is not None:
        ran = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, epochs=epoch))
        path = save_checkpoint(
            Path(checkpoint),
            model=model,
            model_name=cfg.model.name,
            model_kwargs=builders.model_kwargs(cfg, k),
            scheme=scheme,
            codec=codec.to_dict(),
            epoch=best_epoch,
            config=ran.to_dict(),
            history=history,
            best_nme=best if math.isfinite(best) else None,
        )
    return TrainedModel(model, scheme, codec, history, best_epoch, time.perf_counter() - t0, path)
