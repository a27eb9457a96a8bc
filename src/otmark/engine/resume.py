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
from collections import Counter
from dataclasses import dataclass
from typing import Any

from otmark.engine.config import ConfigError, ExperimentConfig

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
    from otmark.engine.schedule import ScheduledLR

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
