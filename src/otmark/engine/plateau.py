"""Train to a plateau: when to stop improving and anneal, from the validation NME history.

:class:`PlateauRule` is a pure object. The training loop validates every ``val_every`` steps
(:meth:`PlateauRule.should_validate`) and reports ``(steps done, validation NME)`` to
:meth:`PlateauRule.observe`; the rule answers the phase of the run:

* ``train`` - keep training at the peak rate;
* ``decay`` - a plateau was found (or the cap is near): anneal over ``decay_steps`` steps;
* ``stop`` - the decay is over.

Plateau: at a validation after ``s`` steps, let ``best_now`` be the lowest NME so far and
``best_then`` the lowest NME among validations made at most ``s - patience_steps`` steps in;
the run is on a plateau when ``best_now > (1 - min_improvement) * best_then``, i.e. the best
NME improved by less than ``min_improvement`` (relative, 0.02 = 2 %) over the last
``patience_steps`` steps. Non-finite NMEs count as no improvement. The decay then covers step
indices ``s ... s + decay_steps - 1`` and the run stops after ``s + decay_steps`` steps.

Smoothing: with ``smooth_window = w > 1`` the test reads the *smoothed* curve, each
validation replaced by the median of it and the ``w - 1`` validations before it (fewer at the
start), instead of the raw NMEs. With ``w = 3`` one isolated spike is invisible to the rule,
upwards (a validation that a transient blow-up ruins: it can then neither look like a stall)
or downwards (one lucky low value: it can then not hold the run open for another
``patience_steps``). ``w = 1`` is the raw rule.

Cap: a run that has not plateaued by ``max_steps - decay_steps`` steps starts its decay there
and stops at ``max_steps`` (``stopped_at_plateau`` is then False). :meth:`PlateauRule.factor`
gives the matching learning-rate factor (warm-up, 1, then the decay reaching ``final`` on the
last step), for a :class:`otmark.engine.schedule.ScheduledLR`; call its ``refresh()`` after
:meth:`PlateauRule.observe` so that the step right after the validation already uses the new
decision.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from otmark.engine.schedule import DECAY_SHAPES, decay_factor, warmup_factor

PHASES = ("train", "decay", "stop")


class PlateauRule:
    """Stopping rule of a run trained to its validation plateau.

    Args:
        val_every: validate every N steps.
        patience_steps: the window of the improvement test (e.g. 400 steps).
        min_improvement: relative improvement of the best NME over the window below which the
            run is on a plateau (0.02 = 2 %).
        decay_steps: length of the final decay.
        max_steps: hard cap on the run's steps (the decay included).
        min_steps: no plateau is declared before this many steps (never before the end of
            the warm-up).
        warmup_steps, shape, final: of the learning-rate factor (:meth:`factor`).
        smooth_window: judge the running median of this many validations (1: raw values).
    """

    def __init__(
        self,
        val_every: int,
        patience_steps: int,
        decay_steps: int,
        max_steps: int,
        min_improvement: float = 0.02,
        min_steps: int = 0,
        warmup_steps: int = 0,
        shape: str = "linear",
        final: float = 0.0,
        smooth_window: int = 1,
    ) -> None:
        if val_every < 1:
            raise ValueError(f"val_every must be >= 1, got {val_every}")
        if patience_steps < val_every:
            raise ValueError(
                f"patience_steps ({patience_steps}) must be >= val_every ({val_every})"
            )
        if decay_steps < 1:
            raise ValueError(f"decay_steps must be >= 1, got {decay_steps}")
        if smooth_window < 1:
            raise ValueError(f"smooth_window must be >= 1, got {smooth_window}")
        if not 0.0 <= min_improvement < 1.0:
            raise ValueError(f"min_improvement must be in [0, 1), got {min_improvement}")
        if shape not in DECAY_SHAPES:
            raise ValueError(f"decay shape must be one of {DECAY_SHAPES}, got {shape!r}")
        if max_steps < warmup_steps + decay_steps:
            raise ValueError(
                f"max_steps {max_steps} leaves no room for {warmup_steps} warm-up and "
                f"{decay_steps} decay steps"
            )
        self.val_every = int(val_every)
        self.patience_steps = int(patience_steps)
        self.decay_steps = int(decay_steps)
        self.max_steps = int(max_steps)
        self.min_improvement = float(min_improvement)
        self.min_steps = max(int(min_steps), int(warmup_steps))
        self.warmup_steps = int(warmup_steps)
        self.shape = shape
        self.final = float(final)
        self.smooth_window = int(smooth_window)
        # state
        self.history: list[tuple[int, float]] = []
        self.plateau_step: int | None = None

    # -- derived -------------------------------------------------------------------------------

    @property
    def decay_start(self) -> int:
        """Steps done when the decay starts (the plateau, or the cap minus the decay)."""
        cap_start = self.max_steps - self.decay_steps
        return cap_start if self.plateau_step is None else min(self.plateau_step, cap_start)

    @property
    def stop_step(self) -> int:
        """Steps done when the run stops."""
        return self.decay_start + self.decay_steps

    @property
    def stopped_at_plateau(self) -> bool:
        """Whether the decay was started by a plateau (False: by the cap, or not yet)."""
        return self.plateau_step is not None and self.plateau_step <= (
            self.max_steps - self.decay_steps
        )

    @property
    def best(self) -> float:
        """Lowest validation NME so far (inf before any finite one)."""
        return min((v for _, v in self.history), default=math.inf)

    def smoothed(self) -> list[tuple[int, float]]:
        """``(step, median of that validation and the smooth_window - 1 before it)`` for every
        validation so far (the raw history when ``smooth_window`` is 1)."""
        w, values = self.smooth_window, [v for _, v in self.history]
        if w == 1:
            return list(self.history)
        return [
            (s, statistics.median(values[max(0, i - w + 1) : i + 1]))
            for i, (s, _) in enumerate(self.history)
        ]

    def phase(self, steps_done: int) -> str:
        """``train``, ``decay`` or ``stop`` after ``steps_done`` optimizer steps."""
        if steps_done >= self.stop_step:
            return "stop"
        if steps_done >= self.decay_start:
            return "decay"
        return "train"

    def should_validate(self, steps_done: int) -> bool:
        """Validate after ``steps_done`` steps: every ``val_every`` steps and at the stop."""
        return steps_done > 0 and (steps_done % self.val_every == 0 or steps_done == self.stop_step)

    # -- updates -------------------------------------------------------------------------------

    def observe(self, steps_done: int, val_nme: float) -> str:
        """Record the validation NME after ``steps_done`` steps; return the phase.

        Steps must increase from call to call. During the decay the NME is recorded but the
        decision is not revisited.
        """
        if self.history and steps_done <= self.history[-1][0]:
            raise ValueError(
                f"validation steps must increase: {steps_done} after {self.history[-1][0]}"
            )
        value = float(val_nme) if math.isfinite(val_nme) else math.inf
        before = self.phase(steps_done)
        self.history.append((int(steps_done), value))
        if before == "train" and steps_done >= self.min_steps and self._on_plateau(steps_done):
            self.plateau_step = int(steps_done)
        return self.phase(steps_done)

    def _on_plateau(self, steps_done: int) -> bool:
        horizon = steps_done - self.patience_steps
        curve = self.smoothed()
        then = [v for s, v in curve if s <= horizon]
        if not then:
            return False
        best_then, best_now = min(then), min(v for _, v in curve)
        if not math.isfinite(best_then):
            return not math.isfinite(best_now)
        return best_now > (1.0 - self.min_improvement) * best_then

    # -- learning rate -------------------------------------------------------------------------

    def factor(self, step: int) -> float:
        """Learning-rate factor for step index ``step`` (0-based) under the current decision:
        warm-up, 1, then a ``shape`` decay over ``decay_steps`` reaching ``final`` on the last
        step (index ``stop_step - 1``)."""
        if step < self.warmup_steps:
            return warmup_factor(step, self.warmup_steps)
        start = self.decay_start
        if step < start:
            return 1.0
        return decay_factor((step - start + 1) / self.decay_steps, self.shape, self.final)

    __call__ = factor

    # -- state ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON state: the validation history and the plateau step."""
        return {
            "history": [[s, (v if math.isfinite(v) else None)] for s, v in self.history],
            "plateau_step": self.plateau_step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not {"history", "plateau_step"} <= set(state):
            raise ValueError(f"plateau state needs history and plateau_step, got {sorted(state)}")
        self.history = [(int(s), math.inf if v is None else float(v)) for s, v in state["history"]]
        p = state["plateau_step"]
        self.plateau_step = None if p is None else int(p)
