"""The validation step of a training run and its epoch rows.

:func:`validate` scores the run's model on its validation loader; :func:`epoch_row` sums an
epoch's losses over the processes and validates when the epoch is due; :func:`format_row` is
the line ``otmark train`` prints for a row.
"""

from __future__ import annotations

from dataclasses import dataclass

from otmark.engine.checkpoint import unwrap
from otmark.engine.distributed import all_reduce_sum
from otmark.engine.loop import EpochResult, evaluate


@dataclass
class EpochEnd:
    """What :func:`epoch_row` needs to know about an epoch that ended: its index ``epoch``
    (0-based), whether it is the run's ``last``, whether the run validates on its own cadence
    (``plateau_run``: every ``optim.plateau.val_every`` steps, never at an epoch's end),
    whether epochs validate every ``train.val_every`` (``every_epoch``; otherwise only after the
    last one), its :class:`EpochResult` and the ``seconds`` of a resumed epoch's earlier part."""

    epoch: int
    last: bool
    plateau_run: bool
    every_epoch: bool
    result: EpochResult
    seconds_before: float = 0.0


def validate(parts, amp: bool = True) -> dict | None:
    """Evaluate the unwrapped model of ``parts`` (:class:`otmark.engine.setup.RunParts`) on
    its validation loader with the run's codec settings, under ``train.amp`` when ``amp``
    (else in float32); the metrics dict on rank 0, None on the other ranks."""
    cfg = parts.cfg
    return evaluate(
        unwrap(parts.net if parts.net is not None else parts.model),
        parts.val_loader,
        parts.device,
        codec=cfg.codec,
        amp_dtype=parts.amp_dtype if amp else None,
        channels_last=cfg.train.channels_last,
        info=parts.info,
    )


def epoch_row(parts, end: EpochEnd, amp: bool = True) -> tuple[dict, dict | None]:
    """The epoch's log row (losses summed over processes) and its validation metrics (every
    ``train.val_every`` epochs when ``end.every_epoch``, and after the last one; never for a
    plateau run, which validates every ``optim.plateau.val_every`` steps instead)."""
    info, res = parts.info, end.result
    loss_sum, images, seconds = all_reduce_sum(
        [res.loss_sum, float(res.images), end.seconds_before + res.seconds], info
    )
    row = {
        "epoch": end.epoch + 1,
        "lr": parts.optimizer.param_groups[0]["lr"],
        "train_loss": loss_sum / max(images, 1),
        "images_per_s": images / max(seconds / info.world, 1e-9),
        "seconds": seconds / info.world,
    }
    metrics = None
    if validates_after(parts, end):
        metrics = validate(parts, amp)
        if metrics is not None:
            row.update({f"val_{k}": v for k, v in metrics.items()})
    return row, metrics


def validates_after(parts, end: EpochEnd) -> bool:
    """Whether the run validates after the epoch ``end`` (the same answer on every process)."""
    if parts.val_loader is None or end.plateau_run:
        return False
    ve = parts.cfg.train.val_every
    return end.last or (end.every_epoch and ve > 0 and (end.epoch + 1) % ve == 0)


def format_row(row: dict, epochs: int | str) -> str:
    """``epoch E/N (step S)  loss L  lr R  X img/s  val NME V%``."""
    parts = [
        f"epoch {row['epoch']}/{epochs}" + (f" (step {row['steps']})" if "steps" in row else ""),
        f"loss {row['train_loss']:.5g}",
        f"lr {row['lr']:.3g}",
        f"{row['images_per_s']:.1f} img/s",
    ]
    if "val_NME" in row:
        parts.append(f"val NME {row['val_NME']:.3f}%")
    return "  ".join(parts)
