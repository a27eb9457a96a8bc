"""Learning-rate schedules as pure objects: a factor of the peak rate per optimizer step.

Convention (the one of ``torch.optim.lr_scheduler.LambdaLR``): ``factor(i)`` is the factor for
the optimizer step with 0-based index ``i``, i.e. the rate used by the ``(i + 1)``-th update.
A run of ``total`` steps uses ``factor(0) ... factor(total - 1)``; every schedule here gives its
final factor (0 by default) exactly at ``factor(total - 1)``, the last update the run makes.

* :class:`WarmupCosine` - linear warm-up, then a cosine from 1 to the final factor.
* :class:`ConstantThenDecay` - linear warm-up, constant 1, then a final linear or cosine decay
  over ``decay_steps`` steps.
* :class:`BudgetedSchedule` - either shape, with the number of steps planned from a wall-clock
  budget: told after every step how long it took, it re-plans the total from a robust estimate
  of the step time (the median of the last ``window`` steps), so a machine that slows down mid
  run trains fewer steps but still warms up and still anneals to the final factor on the last
  step it takes. :meth:`BudgetedSchedule.should_stop` says when that step has been taken.
* :class:`ScheduledLR` - a LambdaLR-like driver (``step()``, ``state_dict()``) that sets the
  optimizer's rates from any of these and, for a budgeted schedule, times the steps itself.

Step-based schedules are frozen dataclasses (callable: ``LambdaLR(opt, WarmupCosine(...))``
works); the budgeted one keeps a small JSON-friendly state (:meth:`~BudgetedSchedule.
state_dict`) so a resumed run continues the same plan.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

#: shapes of the final decay
DECAY_SHAPES = ("linear", "cosine")
#: schedule kinds of :class:`BudgetedSchedule`
BUDGET_KINDS = ("warmup_cosine", "constant_then_decay")


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear warm-up: ``(step + 1) / warmup_steps`` for ``step < warmup_steps``, else 1.

    The first step uses ``1 / warmup_steps`` (never 0) and step ``warmup_steps - 1`` uses 1.
    """
    if warmup_steps <= 0 or step >= warmup_steps:
        return 1.0
    return (step + 1) / warmup_steps


def decay_factor(progress: float, shape: str = "cosine", final: float = 0.0) -> float:
    """Factor at ``progress`` in [0, 1] of a decay from 1 (progress 0) to ``final`` (progress 1).

    ``linear``: ``1 - (1 - final) * p``; ``cosine``: ``final + (1 - final) * (1 + cos(pi p)) / 2``.
    ``progress`` is clipped to [0, 1].
    """
    p = min(max(progress, 0.0), 1.0)
    if shape in DECAY_SHAPES and p == 1.0:  # exact, whatever the arithmetic rounds to
        return final
    if shape == "linear":
        return 1.0 - (1.0 - final) * p
    if shape == "cosine":
        return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * p))
    raise ValueError(f"decay shape must be one of {DECAY_SHAPES}, got {shape!r}")


def warmup_cosine(step: int, total: int, warmup_steps: int, final: float = 0.0) -> float:
    """Warm-up over ``warmup_steps`` steps, then a cosine from 1 at step ``warmup_steps`` to
    ``final`` at step ``total - 1`` (and ``final`` after it).

    With ``total == warmup_steps + 1`` the one step after the warm-up is at ``final``.
    """
    _check_steps(total, warmup_steps, 1)
    if step < warmup_steps:
        return warmup_factor(step, warmup_steps)
    span = total - 1 - warmup_steps
    progress = 1.0 if span <= 0 else (step - warmup_steps) / span
    return decay_factor(progress, "cosine", final)


def constant_then_decay(
    step: int,
    total: int,
    warmup_steps: int,
    decay_steps: int,
    shape: str = "linear",
    final: float = 0.0,
) -> float:
    """Warm-up, constant 1, then a decay over the last ``decay_steps`` steps of ``total``.

    The decay steps are ``total - decay_steps ... total - 1``; step ``total - decay_steps + j``
    (``j`` = 0 ... ``decay_steps - 1``) is at progress ``(j + 1) / decay_steps``, so the first
    decay step is already below 1 and the last one is at ``final``.
    """
    _check_steps(total, warmup_steps, decay_steps)
    if step < warmup_steps:
        return warmup_factor(step, warmup_steps)
    start = total - decay_steps
    if step < start:
        return 1.0
    return decay_factor((step - start + 1) / decay_steps, shape, final)


def _check_steps(total: int, warmup_steps: int, decay_steps: int) -> None:
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if decay_steps < 1:
        raise ValueError(f"decay_steps must be >= 1, got {decay_steps}")
    if total < warmup_steps + decay_steps:
        raise ValueError(
            f"total steps {total} leave no room for {warmup_steps} warm-up and "
            f"{decay_steps} decay steps"
        )


def _check_final(final: float) -> None:
    if not 0.0 <= final <= 1.0:
        raise ValueError(f"final factor must be in [0, 1], got {final}")


class LRSchedule(Protocol):
    """What :class:`ScheduledLR` needs: the factor of the step with 0-based index ``step``."""

    def factor(self, step: int) -> float: ...


@dataclass(frozen=True)
class WarmupCosine:
    """:func:`warmup_cosine` with fixed steps (``factor(i)`` / ``self(i)``)."""

    total_steps: int
    warmup_steps: int = 0
    final: float = 0.0

    def __post_init__(self) -> None:
        _check_steps(self.total_steps, self.warmup_steps, 1)
        _check_final(self.final)

    def factor(self, step: int) -> float:
        return warmup_cosine(step, self.total_steps, self.warmup_steps, self.final)

    __call__ = factor


@dataclass(frozen=True)
class ConstantThenDecay:
    """:func:`constant_then_decay` with fixed steps (``factor(i)`` / ``self(i)``)."""

    total_steps: int
    decay_steps: int
    warmup_steps: int = 0
    shape: str = "linear"
    final: float = 0.0

    def __post_init__(self) -> None:
        _check_steps(self.total_steps, self.warmup_steps, self.decay_steps)
        _check_final(self.final)
        if self.shape not in DECAY_SHAPES:
            raise ValueError(f"decay shape must be one of {DECAY_SHAPES}, got {self.shape!r}")

    def factor(self, step: int) -> float:
        return constant_then_decay(
            step, self.total_steps, self.warmup_steps, self.decay_steps, self.shape, self.final
        )

    __call__ = factor


class BudgetedSchedule:
    """A warm-up + cosine or constant + decay schedule whose length follows a time budget.

    Protocol, per optimizer step ``i`` (0-based): use ``factor(i)``, take the step, then call
    ``record_step(seconds, val_seconds)`` with the wall time since the previous call (all of it:
    data loading, the step, logging, checkpoints, validation) and the part of it spent in
    validation; stop when :meth:`should_stop` is True.

    Planning (after every recorded step): ``per_step`` = median training time of the last
    ``window`` steps (validation excluded: one slow step, a first step that compiles kernels or
    a validation pause does not move it; a lasting slow-down moves it once it fills half the
    window); validation is amortised as (validation seconds so far) / (steps so far). The plan
    is ``taken + floor((budget - elapsed) / (per_step + val_per_step))`` steps, then

    * at least ``warmup_steps + min_decay_steps`` (the warm-up always runs in full),
    * at least ``taken + min_decay_steps`` (never fewer than the steps already taken plus the
      shortest decay; for ``constant_then_decay`` the decay is ``decay_steps`` long),
    * at most ``max_steps`` when given.

    Once the run is inside the last ``min_decay_steps`` (or ``decay_steps``) steps of its plan
    the plan is committed and no longer changes, so the decay that has started ends exactly at
    the final factor on the last step taken. The run can therefore overrun the budget by the
    committed decay when the machine slows down inside it (at most ``min_decay_steps`` steps
    at the slower speed); elsewhere it ends within about one step of the budget.

    Args:
        budget_s: wall-clock seconds for the whole run (validation included).
        warmup_steps: linear warm-up steps (0 = none).
        kind: ``warmup_cosine`` or ``constant_then_decay``.
        decay_steps: length of the final decay of ``constant_then_decay``.
        shape: ``linear`` or ``cosine`` decay of ``constant_then_decay``.
        final: factor of the last step (0 = anneal to 0).
        min_decay_steps: shortest decay the plan keeps ahead of the current step (and the
            committed end of the run).
        window: steps in the median estimate of the step time.
        max_steps: optional cap on the planned steps.
    """

    def __init__(
        self,
        budget_s: float,
        warmup_steps: int = 0,
        kind: str = "warmup_cosine",
        decay_steps: int = 0,
        shape: str = "linear",
        final: float = 0.0,
        min_decay_steps: int = 10,
        window: int = 20,
        max_steps: int | None = None,
    ) -> None:
        if not (math.isfinite(budget_s) and budget_s > 0):
            raise ValueError(f"budget_s must be a positive number of seconds, got {budget_s}")
        if kind not in BUDGET_KINDS:
            raise ValueError(f"kind must be one of {BUDGET_KINDS}, got {kind!r}")
        if shape not in DECAY_SHAPES:
            raise ValueError(f"decay shape must be one of {DECAY_SHAPES}, got {shape!r}")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        if min_decay_steps < 1:
            raise ValueError(f"min_decay_steps must be >= 1, got {min_decay_steps}")
        if kind == "constant_then_decay" and decay_steps < 1:
            raise ValueError("constant_then_decay needs decay_steps >= 1")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        _check_final(final)
        self.budget_s = float(budget_s)
        self.warmup_steps = int(warmup_steps)
        self.kind = kind
        self.decay_steps = int(decay_steps)
        self.shape = shape
        self.final = float(final)
        self.min_decay_steps = int(min_decay_steps)
        self.window = int(window)
        self.max_steps = max_steps
        if max_steps is not None and max_steps < self.min_total:
            raise ValueError(
                f"max_steps {max_steps} is below warm-up + decay ({self.min_total} steps)"
            )
        # state
        self.taken = 0
        self.elapsed_s = 0.0
        self.val_s = 0.0
        self.recent: list[float] = []
        self.total: int | None = None
        self.committed = False

    # -- planning ------------------------------------------------------------------------------

    @property
    def tail_steps(self) -> int:
        """Steps at the end of the plan that are committed once entered."""
        if self.kind == "constant_then_decay":
            return max(self.min_decay_steps, self.decay_steps)
        return self.min_decay_steps

    @property
    def min_total(self) -> int:
        """The shortest run: the full warm-up plus the committed tail."""
        return self.warmup_steps + self.tail_steps

    def step_seconds(self) -> float | None:
        """Current estimate of one training step's seconds (None before the first step)."""
        return statistics.median(self.recent) if self.recent else None

    def record_step(self, seconds: float, val_seconds: float = 0.0) -> None:
        """Record one optimizer step: ``seconds`` since the previous call (or the start),
        ``val_seconds`` of them spent in validation; then re-plan."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"step seconds must be a finite number >= 0, got {seconds}")
        if not (math.isfinite(val_seconds) and 0 <= val_seconds <= seconds):
            raise ValueError(f"val_seconds must be in [0, {seconds}], got {val_seconds}")
        self.taken += 1
        self.elapsed_s += seconds
        self.val_s += val_seconds
        self.recent.append(seconds - val_seconds)
        del self.recent[: -self.window]
        self._replan()

    def _replan(self) -> None:
        if self.committed:
            return
        per_step = self.step_seconds() + self.val_s / self.taken
        left = self.budget_s - self.elapsed_s
        if per_step > 0:
            affordable = max(math.floor(left / per_step), 0)
        else:  # a clock that did not move: no information yet, keep going
            affordable = self.tail_steps + 1
        total = max(self.taken + affordable, self.min_total, self.taken + self.tail_steps)
        if self.max_steps is not None:
            total = min(total, max(self.max_steps, self.taken + self.tail_steps))
        self.total = total
        if self.taken >= total - self.tail_steps:
            self.committed = True

    def should_stop(self) -> bool:
        """Whether the last planned step has been taken."""
        return self.total is not None and self.taken >= self.total

    # -- factors -------------------------------------------------------------------------------

    def factor(self, step: int) -> float:
        """Factor for the step with 0-based index ``step`` under the current plan (before the
        first record the warm-up, then 1)."""
        if step < self.warmup_steps:
            return warmup_factor(step, self.warmup_steps)
        if self.total is None:
            return 1.0
        if self.kind == "warmup_cosine":
            return warmup_cosine(step, self.total, self.warmup_steps, self.final)
        return constant_then_decay(
            step, self.total, self.warmup_steps, self.decay_steps, self.shape, self.final
        )

    __call__ = factor

    # -- state ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The mutable state (plain JSON types)."""
        return {
            "kind": self.kind,
            "taken": self.taken,
            "elapsed_s": self.elapsed_s,
            "val_s": self.val_s,
            "recent": list(self.recent),
            "total": self.total,
            "committed": self.committed,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (the constructor's arguments must be the same)."""
        missing = {"kind", "taken", "elapsed_s", "val_s", "recent", "total", "committed"} - set(
            state
        )
        if missing:
            raise ValueError(f"budgeted schedule state lacks {sorted(missing)}")
        if state["kind"] != self.kind:
            raise ValueError(f"schedule state is for {state['kind']!r}, this is {self.kind!r}")
        self.taken = int(state["taken"])
        self.elapsed_s = float(state["elapsed_s"])
        self.val_s = float(state["val_s"])
        self.recent = [float(v) for v in state["recent"]][-self.window :]
        self.total = None if state["total"] is None else int(state["total"])
        self.committed = bool(state["committed"])


def make_schedule(
    kind: str,
    *,
    steps: int | None = None,
    budget_s: float | None = None,
    warmup_steps: int = 0,
    decay_steps: int = 0,
    shape: str = "linear",
    final: float = 0.0,
    min_decay_steps: int = 10,
    window: int = 20,
    max_steps: int | None = None,
) -> WarmupCosine | ConstantThenDecay | BudgetedSchedule:
    """One schedule from flat options (what a config section holds).

    ``kind`` is ``warmup_cosine`` or ``constant_then_decay``; exactly one of ``steps`` (a
    fixed length) and ``budget_s`` (wall-clock seconds: a :class:`BudgetedSchedule`, capped
    at ``max_steps``) is given. Raises ``ValueError`` naming the option at fault.
    """
    if kind not in BUDGET_KINDS:
        raise ValueError(f"schedule must be one of {BUDGET_KINDS}, got {kind!r}")
    if (steps is None) == (budget_s is None):
        raise ValueError("give exactly one of steps (fixed length) and a time budget")
    if budget_s is not None:
        return BudgetedSchedule(
            budget_s,
            warmup_steps=warmup_steps,
            kind=kind,
            decay_steps=decay_steps,
            shape=shape,
            final=final,
            min_decay_steps=min_decay_steps,
            window=window,
            max_steps=max_steps,
        )
    if kind == "warmup_cosine":
        return WarmupCosine(steps, warmup_steps, final)
    return ConstantThenDecay(steps, decay_steps, warmup_steps, shape, final)


class ScheduledLR:
    """Sets ``optimizer``'s rates to ``base_lr * schedule.factor(i)`` before step ``i``.

    Drop-in for a per-step ``LambdaLR``: call :meth:`step` after every ``optimizer.step()``;
    ``state_dict`` / ``load_state_dict`` for checkpoints. With a :class:`BudgetedSchedule` it
    also times the steps with ``clock`` (the seconds between two :meth:`step` calls; the first
    interval starts at construction or at :meth:`load_state_dict`) and records them *before*
    choosing the next rate, so a re-plan applies to the very next step. Report validation
    time with :meth:`add_validation_seconds`; :meth:`should_stop` is the schedule's.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: LRSchedule,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.optimizer = optimizer
        self.schedule = schedule
        self.clock = clock
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.steps = 0
        self._pending_val = 0.0
        self._last = clock()
        self._apply()

    def _apply(self) -> None:
        f = self.schedule.factor(self.steps)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * f

    def refresh(self) -> None:
        """Set the next step's rate again, after the schedule's decision changed between two
        steps (e.g. a :class:`otmark.engine.plateau.PlateauRule` that found its plateau at a
        validation)."""
        self._apply()

    def add_validation_seconds(self, seconds: float) -> None:
        """Count ``seconds`` of the current interval as validation (budgeted schedules)."""
        self._pending_val += seconds

    def step(self) -> None:
        """One optimizer step was taken: record it (budgeted) and set the next step's rate."""
        self.steps += 1
        if isinstance(self.schedule, BudgetedSchedule):
            now = self.clock()
            seconds = max(now - self._last, 0.0)
            self.schedule.record_step(seconds, min(self._pending_val, seconds))
            self._last, self._pending_val = now, 0.0
        self._apply()

    def should_stop(self) -> bool:
        """A budgeted schedule's :meth:`BudgetedSchedule.should_stop` (False otherwise)."""
        return isinstance(self.schedule, BudgetedSchedule) and self.schedule.should_stop()

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"steps": self.steps, "base_lrs": list(self.base_lrs)}
        if hasattr(self.schedule, "state_dict"):  # budgeted schedule, plateau rule
            state["schedule"] = self.schedule.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state["steps"])
        self.base_lrs = [float(v) for v in state["base_lrs"]]
        if hasattr(self.schedule, "load_state_dict"):
            if "schedule" not in state:
                raise ValueError(
                    f"the saved schedule state has no {type(self.schedule).__name__} state"
                )
            self.schedule.load_state_dict(state["schedule"])
        self._last, self._pending_val = self.clock(), 0.0
        self._apply()
