"""What may change when a run is resumed: the checkpoint's config against the current one.

Three kinds of keys (dotted paths of :meth:`ExperimentConfig.to_dict`):

- :data:`FIXED` prefixes (architecture, loss, codec, dataset, crop source) and the landmark
  scheme: a change is refused, the weights or targets would not mean the same thing;
- :data:`FREE` keys (paths, workers, logging, checkpoint cadence): changed silently;
- every other key (optimiser, schedule, batch size, epochs, augmentation, seed, splits...):
  allowed only with ``--resume-override``, and logged; except a change of the kind of
  schedule (multi-step vs per-step, fixed length vs time budget, plateau rule on or off),
  whose saved state cannot drive the new one: refused like the fixed keys.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from otmark.engine.checkpoint import read_training_checkpoint, restore_checkpoint
from otmark.engine.config import ConfigError, ExperimentConfig
from otmark.engine.schedule import ScheduledLR

FIXED = ("model.", "loss.", "codec.", "data.dataset", "data.crop_from")
FREE = frozenset(
    {
        "name",
        "description",
        "data.root",
        "data.num_workers",
        "data.on_error",
        "data.max_bad_fraction",
        "train.output_dir",
        "train.device",
        "train.progress",
        "train.tensorboard",
        "train.threads",
        "train.checkpoint_every",
        "optim.lr_candidates",
        "optim.plateau.keep_checkpoints",
    }
)
_MISSING = "<absent>"


class ResumeRefused(ConfigError):
    """The current config differs from the checkpoint's in a way a resume cannot honour."""


@dataclass(frozen=True)
class Change:
    """One differing key: its dotted path, the checkpoint's value and the current one."""

    key: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.key} {self.old!r} -> {self.new!r}"


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (``kwargs`` mappings are flattened too; an empty
    mapping leaves no key, so ``kwargs: {}`` and ``kwargs: {x: 1}`` differ in ``kwargs.x``)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def config_changes(old: dict, new: dict) -> tuple[list[Change], list[Change]]:
    """``(fixed, overridable)`` changes between two config dicts (free keys left out). A key
    that the old config lacks (written before the option existed) and that the new one sets to
    its default is no change."""
    a, b = flatten(old), flatten(new)
    defaults = flatten(ExperimentConfig().to_dict())
    fixed, other = [], []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, _MISSING), b.get(key, _MISSING)
        if va == vb or key in FREE or (va is _MISSING and defaults.get(key, _MISSING) == vb):
            continue
        change = Change(key, va, vb)
        (fixed if key.startswith(FIXED) else other).append(change)
    return fixed, other


def schedule_kind(config: dict) -> str:
    """What a checkpoint's schedule state is for: ``multistep``, or a per-step schedule by
    ``steps``, by ``budget`` or to the ``plateau`` (see :class:`otmark.engine.config.OptimConfig`).
    """
    o = config.get("optim", {})
    if o.get("schedule", "multistep") == "multistep":
        return "multistep"
    if o.get("plateau", {}).get("enabled", False):
        return "per-step to the plateau"
    if o.get("budget_minutes") is not None:
        return "per-step by a time budget"
    return "per-step by steps"


def check_resume(
    path, old_config: dict, cfg: ExperimentConfig, allow_override: bool
) -> list[Change]:
    """Refuse a resume whose config changes what the checkpoint means; return the changes that
    ``allow_override`` (``--resume-override``) accepts.

    Raises :class:`ResumeRefused` (one line listing the differences, naming ``path``).
    """
    new_config = cfg.to_dict()
    fixed, other = config_changes(old_config, new_config)
    old_kind, new_kind = schedule_kind(old_config), schedule_kind(new_config)
    if old_kind != new_kind:
        raise ResumeRefused(
            f"{path}: cannot resume, the checkpoint's schedule is {old_kind} and the config's "
            f"is {new_kind}: "
            + "; ".join(str(c) for c in other if c.key.startswith("optim."))
            + " (start a new run in another train.output_dir)"
        )
    if fixed:
        raise ResumeRefused(
            f"{path}: cannot resume, the config changed what the checkpoint holds: "
            + "; ".join(map(str, fixed))
            + " (start a new run in another train.output_dir)"
        )
    if other and not allow_override:
        raise ResumeRefused(
            f"{path}: the config differs from the checkpoint's: "
            + "; ".join(map(str, other))
            + " (add --resume-override to continue with the new values)"
        )
    return other


def apply_optim_settings(cfg: ExperimentConfig, optimizer, scheduler) -> None:
    """Make a restored Adam and its schedule follow the config's ``optim`` section.

    Multi-step: the schedule's base lr, milestones and gamma come from the config; the current
    lr is the new base lr decayed for the epochs already done (``scheduler.last_epoch``).
    Per-step (:class:`~otmark.engine.schedule.ScheduledLR`, built from the current config, so
    its shape and length are already the new ones): the peak rate ``optim.lr`` replaces the
    saved one and the next step's rate is the new peak times the schedule's factor at the
    step reached (the steps taken, a budget's timing and a plateau's state are kept).
    """
    o = cfg.optim
    if isinstance(scheduler, ScheduledLR):
        for group in optimizer.param_groups:
            group["initial_lr"] = o.lr
            group["weight_decay"] = o.weight_decay
        scheduler.base_lrs = [o.lr for _ in optimizer.param_groups]
        scheduler.refresh()
        return
    milestones = sorted(o.milestones)
    scheduler.milestones = Counter(milestones)
    scheduler.gamma = o.gamma
    scheduler.base_lrs = [o.lr for _ in optimizer.param_groups]
    lr = o.lr * o.gamma ** bisect.bisect_right(milestones, scheduler.last_epoch)
    for group in optimizer.param_groups:
        group["initial_lr"] = o.lr
        group["lr"] = lr
        group["weight_decay"] = o.weight_decay
    scheduler._last_lr = [lr for _ in optimizer.param_groups]


# ---------------------------------------------------------------------------------------------
# the resume step of a run


@dataclass
class ResumePoint:
    """Where a run starts: ``epoch`` (completed epochs), ``partial`` (inside that epoch: see
    :func:`partial_of`; None at an epoch's start), the log ``history`` kept, the ``best``
    validation NME so far (inf: none) and whether ``best.pt`` exists (``best_written``)."""

    epoch: int = 0
    partial: dict | None = None
    history: list = field(default_factory=list)
    best: float = math.inf
    best_written: bool = False
    overrides: list = field(default_factory=list)


def read_resume(cfg: ExperimentConfig, allow_override: bool) -> tuple[dict, list[Change]]:
    """Read ``last.pt`` of ``cfg``'s run folder and check the config against it
    (:func:`check_resume`): ``(checkpoint, accepted changes)``.

    Raises ``FileNotFoundError`` when there is nothing to resume, :class:`ResumeRefused`,
    ``ValueError`` for an unreadable checkpoint (all naming the file)."""
    out = cfg.output_path
    last = out / "last.pt"
    if not last.is_file():
        raise FileNotFoundError(f"{last}: nothing to resume (no checkpoint in {out})")
    ckpt = read_training_checkpoint(last)
    return ckpt, check_resume(last, ckpt.get("config", {}), cfg, allow_override)


def restore_resume(ckpt: dict, overrides: list[Change], parts, log) -> ResumePoint:
    """Restore the run's objects (``parts``: :class:`otmark.engine.setup.RunParts`) and the RNG
    states from the checkpoint read by :func:`read_resume`; returns where the run continues.

    Raises :class:`ResumeRefused` when the data's landmark scheme is not the checkpoint's."""
    cfg, info = parts.cfg, parts.info
    last = cfg.output_path / "last.pt"
    if ckpt.get("scheme") not in (None, parts.scheme):
        raise ResumeRefused(
            f"{last}: cannot resume, the checkpoint's landmark scheme is "
            f"{ckpt['scheme']!r} but the data's is {parts.scheme!r}"
        )
    objects = (parts.model, parts.optimizer, parts.scheduler, parts.scaler)
    restore_checkpoint(ckpt, last, *objects, restore_rng=True)
    if any(c.key.startswith("optim.") for c in overrides):
        apply_optim_settings(cfg, parts.optimizer, parts.scheduler)
    epoch = int(ckpt["epoch"])
    local_bs = cfg.optim.batch_size // info.world
    partial = partial_of(ckpt, local_bs, info.world)
    best = ckpt.get("best_nme")
    point = ResumePoint(
        epoch=epoch,
        partial=partial,
        history=resumed_history(ckpt.get("history", []), epoch, parts.scheduler),
        best=math.inf if best is None else best,
        best_written=(cfg.output_path / "best.pt").is_file(),
        overrides=list(overrides),
    )
    step = int(ckpt.get("step", 0)) if partial else 0
    log(f"resuming {last} at epoch {epoch + 1}, step {step}")
    for change in overrides:
        log(f"resume override: {change} (--resume-override)")
    return point


def resumed_history(rows: list[dict], start_epoch: int, scheduler) -> list[dict]:
    """The log rows of a checkpoint that precede the resumed position: epoch rows up to
    ``start_epoch``, validation rows (with ``step``) up to the schedule's restored step."""
    steps = getattr(scheduler, "steps", None)
    out = []
    for r in rows:
        if "step" in r and steps is not None:
            if r["step"] <= steps:
                out.append(r)
        elif r.get("epoch", 0) <= start_epoch:
            out.append(r)
    return out


def partial_of(ckpt: dict, local_bs: int, world: int) -> dict | None:
    """Where a mid-epoch checkpoint stopped: ``position`` (local samples consumed), ``step``,
    ``loss_sum``, ``images``, ``seconds``; None for an end-of-epoch checkpoint."""
    step = int(ckpt.get("step", 0))
    part = ckpt.get("partial")
    if part is None and step == 0:
        return None
    if part is None:  # written before ``partial`` existed: position from the old batch size
        old_bs = int(ckpt.get("config", {}).get("optim", {}).get("batch_size", local_bs * world))
        return {"position": step * (old_bs // world), "step": step}
    return {
        "position": int(part["position"]),
        "step": step,
        "loss_sum": float(part["loss_sum"]),
        "images": int(part["images"]),
        "seconds": float(part["seconds"]),
    }
