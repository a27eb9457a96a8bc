"""One training run on given samples, with the engine's recipe.

``otmark.engine.train`` runs a whole config from files; the quickstart and the study train on
sample lists instead: training faces converted to another landmark scheme (the density study
trains on 98, 68 or 17 points of the same WFLW faces) and a validation split held out of the
training faces (:func:`split_validation`). :func:`train_model` runs them through the engine
(:func:`otmark.engine.fit`, the one that ``otmark train`` uses) with a per-step schedule,
without a run folder, and returns a :class:`TrainedModel`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from otmark.datasets.records import Sample
from otmark.engine.fitting import FitOptions, fit
from otmark.heatmaps.codec import HeatmapCodec
from otmark.schemes import canonical_name, convert
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
    ``train_samples``, validating on ``val_samples``: :func:`otmark.engine.fit` without a
    run folder.

    Adam at peak rate ``cfg.optim.lr`` on the schedule of ``cfg.optim`` (by steps, by
    ``budget_minutes`` re-planned after every step, or to the validation plateau); a plateau
    run validates every ``optim.plateau.val_every`` steps, the others once at the end.
    Validation runs in float32; training uses ``cfg.train.amp`` and
    ``cfg.train.channels_last``. The final weights are kept (the schedule ends at its final
    factor). Raises ``FloatingPointError`` when the loss becomes non-finite.

    Args:
        cfg: the run's config (model, codec, loss, optim, augment, data.on_error,
            train.seed/deterministic/threads/device/amp).
        train_samples, val_samples: annotated faces, all in one scheme.
        checkpoint: write the final model there (an ``otmark detect``-loadable checkpoint).
        keep_every: also keep the weights every this many steps (0: only the final ones)
            in :attr:`TrainedModel.snapshots`.
    """
    if not cfg.optim.per_step:
        raise ValueError(
            f"{cfg.name}: train_model needs a per-step schedule (optim.schedule "
            f"warmup_cosine or constant_then_decay), got {cfg.optim.schedule!r}"
        )
    options = FitOptions(
        log=functools.partial(_indented, log),
        run_folder=False,
        checkpoint=checkpoint,
        keep_every=keep_every,
        epoch_validation=False,
        validation_amp=False,
    )
    result = fit(cfg, train_samples, val_samples, options)
    return TrainedModel(
        result.model,
        result.scheme,
        result.codec,
        history=result.validations,
        steps=result.steps,
        epochs=result.epochs,
        val_nme=result.val_nme,
        stopped_at_plateau=result.stopped_at_plateau,
        seconds=result.seconds,
        checkpoint=result.checkpoint,
        snapshots=result.snapshots if keep_every > 0 else [],
    )


def _indented(log: Callable[[str], None], message: str) -> None:
    """The engine's lines indented under the study's own (``log`` receives them)."""
    log(f"  {message}")
