"""Per-step run control: when a run with a per-step schedule validates and stops.

:class:`StepRun` is what ``train_one_epoch``'s ``should_stop`` hook calls after every
optimizer step (after the :class:`~otmark.engine.schedule.ScheduledLR` was stepped). It

* stops a fixed-length schedule after its last step, a budgeted one when the budget's plan is
  done (:meth:`~otmark.engine.schedule.ScheduledLR.should_stop`), a plateau run when its
  :class:`~otmark.engine.plateau.PlateauRule` says ``stop``;
* for a plateau run, validates every ``val_every`` steps through the caller's ``validate()``
  (which returns the validation NME in %), reports the time spent to the driver
  (:meth:`~otmark.engine.schedule.ScheduledLR.add_validation_seconds`), tells the rule and
  sets the next step's rate again (:meth:`~otmark.engine.schedule.ScheduledLR.refresh`);
* keeps the history rows ``{"step", "train_loss", "val_nme", "lr"}`` (``train_loss``: the
  mean loss of the steps since the previous row, recorded by :meth:`wrap_loss`), and, with a
  :class:`~otmark.engine.spikes.SpikeGuard`, ``skipped_steps``: the steps it skipped so far.

Used by :class:`otmark.engine.fitting.Trainer`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from otmark.engine.plateau import PlateauRule
from otmark.engine.schedule import BudgetedSchedule, ScheduledLR
from otmark.engine.spikes import AdaptiveClip, SpikeGuard


class StepRun:
    """Validation and stopping of a run driven by ``driver`` (see the module docstring).

    Args:
        driver: the run's :class:`ScheduledLR` (its ``steps`` count the optimizer steps).
        steps: the length of a fixed-length schedule (None for a budgeted or plateau run).
        validate: ``() -> validation NME in %`` (puts the model back in training mode).
        on_validation: called with each new history row, after the rule was told.
        clock: seconds (monkeypatched in tests).
        guard: the run's spike guard (its skip count goes into the rows; None: no guard).
        clipper: the run's adaptive gradient clip (its count of clipped steps goes into the
            rows as ``clipped_steps``; None: none).
    """

    def __init__(
        self,
        driver: ScheduledLR,
        steps: int | None = None,
        validate: Callable[[], float] | None = None,
        on_validation: Callable[[dict], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        guard: SpikeGuard | None = None,
        clipper: AdaptiveClip | None = None,
    ) -> None:
        self.driver = driver
        self.guard = guard
        self.clipper = clipper
        self.total = steps
        self.validate = validate
        self.on_validation = on_validation
        self.clock = clock
        self.rows: list[dict] = []
        self._losses: list[float] = []
        if self.rule is not None and validate is None:
            raise ValueError("a plateau run needs a validate() function")
        if self.rule is None and steps is None and not _is_budgeted(driver):
            raise ValueError("a fixed-length schedule needs its number of steps")

    @property
    def rule(self) -> PlateauRule | None:
        schedule = self.driver.schedule
        return schedule if isinstance(schedule, PlateauRule) else None

    @property
    def steps(self) -> int:
        """Optimizer steps taken so far."""
        return self.driver.steps

    def wrap_loss(self, loss_fn: Callable) -> Callable:
        """``loss_fn`` that also records each value (for the history's ``train_loss``)."""

        def recorded(*args, **kwargs):
            value = loss_fn(*args, **kwargs)
            self._losses.append(float(value.detach()))
            return value

        return recorded

    @property
    def done(self) -> bool:
        """The run has taken its last step."""
        rule = self.rule
        if rule is not None:
            return rule.phase(self.steps) == "stop"
        if self.total is not None:
            return self.steps >= self.total
        return self.driver.should_stop()

    def after_step(self) -> bool:
        """Call after every optimizer step; validates when due; returns :attr:`done`."""
        rule = self.rule
        if rule is not None and rule.should_validate(self.steps):
            t0 = self.clock()
            nme = float(self.validate())
            self.driver.add_validation_seconds(self.clock() - t0)
            rule.observe(self.steps, nme)
            self.driver.refresh()
            self.record(nme)
        return self.done

    def record(self, val_nme: float | None, notify: bool = True) -> dict:
        """Append a history row at the current step (``val_nme`` None: not measured); passes
        it to ``on_validation`` when ``notify``."""
        losses, self._losses = self._losses, []
        row = {
            "step": self.steps,
            "train_loss": math.fsum(losses) / len(losses) if losses else None,
            "val_nme": val_nme if val_nme is not None and math.isfinite(val_nme) else None,
            "lr": self.driver.get_last_lr()[0],
        }
        if self.guard is not None:
            row["skipped_steps"] = self.guard.skipped
        if self.clipper is not None:
            row["clipped_steps"] = self.clipper.clipped
        self.rows.append(row)
        if notify and self.on_validation is not None:
            self.on_validation(row)
        return row

    @property
    def stopped_at_plateau(self) -> bool | None:
        """For a plateau run: stopped by the plateau (False: by the cap); None otherwise."""
        return None if self.rule is None else self.rule.stopped_at_plateau

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = [dict(r) for r in state.get("rows", [])]


def _is_budgeted(driver: ScheduledLR) -> bool:
    return isinstance(driver.schedule, BudgetedSchedule)
