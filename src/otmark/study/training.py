"""One training run on given samples, with the engine's recipe.

``otmark.engine.train`` runs a whole config from files; the quickstart and the study train on
sample lists instead: training faces converted to another landmark scheme (the density study
trains on 98, 68 or 17 points of the same WFLW faces) and a validation split held out of the
training faces (:func:`split_validation`). :func:`train_model` composes the engine's builders,
its per-step schedule (``optim.schedule``, ``optim.steps`` / ``optim.budget_minutes`` /
``optim.plateau``: :func:`otmark.engine.builders.build_scheduler`), its run control
(:class:`otmark.engine.stepping.StepRun`), ``train_one_epoch`` and ``evaluate``: the same
recipe as ``otmark train`` with a per-step schedule.
"""

from __future__ import annotations

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
        model: the final model (the schedule ends at its final factor), in eval mode, on the
            training device.
        scheme: landmark scheme it predicts.
        codec: the run's :class:`otmark.heatmaps.HeatmapCodec` (sizes, sigma, decoder).
        history: validation rows ``{"step", "train_loss", "val_nme", "lr"}`` (a plateau run:
            every ``optim.plateau.val_every`` steps; otherwise the final validation only).
        steps: optimizer steps taken.
        epochs: epochs started.
        val_nme: validation NME (%) of the final model.
        stopped_at_plateau: plateau run: stopped by the plateau rule (False: by the cap);
            None for other schedules.
        seconds: training wall time (validation included).
        checkpoint: where the final checkpoint was written (None when not written).
        snapshots: ``(step, state_dict on CPU)`` kept every ``keep_every`` steps and at the
            end (for scores along the run).
    """

    model: torch.nn.Module
    scheme: str
    codec: HeatmapCodec
    history: list[dict] = field(default_factory=list)
    steps: int = 0
    epochs: int = 0
    val_nme: float = math.nan
    stopped_at_plateau: bool | None = None
    seconds: float = 0.0
    checkpoint: Path | None = None
    snapshots: list = field(default_factory=list)


def split_validation(
    samples: Sequence[Sample], n: int, seed: int = 0, where: str = "training split"
) -> tuple[list[Sample], list[Sample]]:
    """Hold ``n`` faces out of ``samples``: ``(training, validation)``.

    The held-out faces are drawn with ``seed`` from the samples sorted by id, so the split
    does not depend on the order of the files; both parts keep the input order.
    """
    import numpy as np

    samples = list(samples)
    if not 1 <= n < len(samples):
        raise ValueError(
            f"{where}: cannot hold out {n} validation faces from {len(samples)} training faces"
        )
    order = sorted(range(len(samples)), key=lambda i: samples[i].id)
    pick = np.random.default_rng(seed).permutation(len(samples))[:n]
    held = {order[int(j)] for j in pick}
    train = [s for i, s in enumerate(samples) if i not in held]
    val = [s for i, s in enumerate(samples) if i in held]
    return train, val


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


def train_model(
    cfg,
    train_samples: Sequence[Sample],
    val_samples: Sequence[Sample],
    checkpoint: str | Path | None = None,
    log: Callable[[str], None] = say,
    keep_every: int = 0,
) -> TrainedModel:
    """Train ``cfg`` (an :class:`otmark.engine.ExperimentConfig` with a per-step schedule) on
    ``train_samples``, validating on ``val_samples``.

    Adam at peak rate ``cfg.optim.lr`` on the schedule of ``cfg.optim`` (by steps, by
    ``budget_minutes`` re-planned after every step, or to the validation plateau); a plateau
    run validates every ``optim.plateau.val_every`` steps, the others once at the end.
    Validation runs in float32; training uses ``cfg.train.amp`` and
    ``cfg.train.channels_last``. The final weights are kept (the schedule ends at its final
    factor). Raises ``FloatingPointError`` when the loss becomes non-finite.

    Args:
        cfg: the run's config (model, codec, loss, optim, augment, train.seed/device/amp).
        train_samples, val_samples: annotated faces, all in one scheme.
        checkpoint: write the final model there (an ``otmark detect``-loadable checkpoint).
        keep_every: also keep the weights every this many steps (0: only the final ones)
            in :attr:`TrainedModel.snapshots`.
    """
    from otmark.engine import builders, evaluate, save_checkpoint, seed_everything, train_one_epoch
    from otmark.engine.precision import amp_dtype_for, make_grad_scaler
    from otmark.engine.sampler import EpochSampler
    from otmark.engine.stepping import StepRun
    from otmark.schemes import get_scheme

    if not cfg.optim.per_step:
        raise ValueError(
            f"{cfg.name}: train_model needs a per-step schedule (optim.schedule "
            f"warmup_cosine or constant_then_decay), got {cfg.optim.schedule!r}"
        )
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
    bs = cfg.optim.batch_size
    sampler = EpochSampler(len(train_ds), cfg.train.seed, 0, 1)
    loader = builders.build_loader(train_ds, sampler, bs, cfg.data.num_workers, cfg.train.seed)
    val_sampler = EpochSampler(len(val_ds), 0, 0, 1, shuffle=False)
    val_loader = builders.build_loader(val_ds, val_sampler, bs, cfg.data.num_workers, 0)

    def validate() -> float:
        metrics = evaluate(
            model,
            val_loader,
            device,
            codec=cfg.codec,
            channels_last=channels_last,
        )
        model.train()
        return float(metrics["NME"])

    t0 = time.perf_counter()

    def show(row: dict) -> None:
        loss = "-" if row["train_loss"] is None else f"{row['train_loss']:.4g}"
        nme = "-" if row["val_nme"] is None else f"{row['val_nme']:.2f}%"
        log(
            f"  step {row['step']}: loss {loss}, val NME {nme}, lr {row['lr']:.3g}, "
            f"{time.perf_counter() - t0:.0f} s"
        )

    scheduler = builders.build_scheduler(cfg, optimizer)
    run = StepRun(scheduler, cfg.optim.steps, validate, show)
    loss_fn = run.wrap_loss(loss_fn)
    snapshots: list = []

    def should_stop() -> bool:
        done = run.after_step()
        if keep_every > 0 and run.steps % keep_every == 0 and not done:
            snapshots.append((run.steps, _cpu_state(model)))
        return done

    epoch = 0
    while not run.done:
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
        if res.steps == 0:
            raise ValueError("no training step ran: the training set is empty")
        if run.rule is None and not run.done:
            log(
                f"  epoch {epoch}, step {run.steps}: loss "
                f"{res.loss_sum / max(res.images, 1):.4g}, {time.perf_counter() - t0:.0f} s"
            )
    if not run.rows or run.rows[-1]["step"] != run.steps:
        run.record(validate())
    final = run.rows[-1]["val_nme"]
    model.eval()
    if keep_every > 0:
        snapshots.append((run.steps, _cpu_state(model)))
    path = None
    if checkpoint is not None:
        path = save_checkpoint(
            Path(checkpoint),
            model=model,
            model_name=cfg.model.name,
            model_kwargs=builders.model_kwargs(cfg, k),
            scheme=scheme,
            codec=cfg.codec.to_dict(),
            epoch=epoch,
            step=0,
            config=cfg.to_dict(),
            history=run.rows,
            best_nme=final,
            metrics={"NME": final} if final is not None else {},
        )
    return TrainedModel(
        model,
        scheme,
        cfg.codec,
        history=run.rows,
        steps=run.steps,
        epochs=epoch,
        val_nme=math.nan if final is None else final,
        stopped_at_plateau=run.stopped_at_plateau,
        seconds=time.perf_counter() - t0,
        checkpoint=path,
        snapshots=snapshots,
    )


def _cpu_state(model: torch.nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
