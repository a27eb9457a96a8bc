"""Stable steps: skip an optimizer step whose loss jumps far above the recent losses.

:class:`SpikeGuard` is a pure object. :func:`otmark.engine.loop.train_one_epoch` asks it
about every step's loss before the backward pass (:meth:`SpikeGuard.check`): a loss above
``factor`` x the median of the last ``window`` losses skips the step (no gradient, no update;
the schedule still advances, so a run's length does not change) and counts it
(:attr:`SpikeGuard.skipped`, reported in the per-step history as ``skipped_steps``).

Every loss seen enters the window, the skipped ones included: one spike barely moves a
median, and a loss that rises for good (e.g. after a change of the data) is accepted again
after about ``window / 2`` skips instead of freezing the run. No step is skipped before
``min_history`` losses were seen (the first losses fall fast).

Configured by ``optim.spike_guard`` (:class:`otmark.engine.config.SpikeGuardConfig`, off by
default); ``optim.grad_clip_norm`` is the other half of the stable-training rule (clipping in
:func:`otmark.engine.loop.optimizer_step`).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from typing import Any


class _MedianBound:
    """``factor`` x the median of the last ``window`` values recorded, once ``min_history``
    values were seen (inf before): the rule shared by :class:`SpikeGuard` and
    :class:`AdaptiveClip`."""

    what = "rule"

    def __init__(self, factor: float, window: int, min_history: int) -> None:
        if not (math.isfinite(factor) and factor > 1.0):
            raise ValueError(f"{self.what} factor must be a finite number > 1, got {factor}")
        if window < 1 or min_history < 1:
            raise ValueError(
                f"{self.what} window and min_history must be >= 1, got {window}, {min_history}"
            )
        self.factor = float(factor)
        self.window = int(window)
        self.min_history = int(min_history)
        self.recent: deque[float] = deque(maxlen=self.window)
        self.seen = 0

    @classmethod
    def from_config(cls, cfg):
        """The rule of a config section (``enabled``, ``factor``, ``window``,
        ``min_history``); None when off."""
        if not cfg.enabled:
            return None
        return cls(cfg.factor, cfg.window, cfg.min_history)

    @property
    def median(self) -> float:
        """Median of the recent values (nan before any)."""
        return statistics.median(self.recent) if self.recent else math.nan

    def bound(self) -> float:
        """``factor`` x the median (inf while fewer than ``min_history`` values were seen)."""
        if self.seen < self.min_history or not self.recent:
            return math.inf
        return self.factor * self.median

    def _record(self, value: float) -> None:
        self.recent.append(float(value))
        self.seen += 1


class SpikeGuard(_MedianBound):
    """Decide, step by step, whether a loss is a spike (see the module docstring).

    Args:
        factor: a loss above ``factor`` x the running median is a spike (> 1).
        window: how many recent losses the median covers (>= 1).
        min_history: losses to see before any step is skipped (>= 1).
    """

    what = "spike guard"

    def __init__(self, factor: float = 3.0, window: int = 50, min_history: int = 20) -> None:
        super().__init__(factor, window, min_history)
        self.skipped = 0

    def check(self, loss: float) -> bool:
        """Record ``loss`` (a finite step loss) and return whether its step is to be skipped."""
        spike = float(loss) > self.bound()
        self._record(loss)
        if spike:
            self.skipped += 1
        return spike

    def state_dict(self) -> dict[str, Any]:
        return {"recent": list(self.recent), "seen": self.seen, "skipped": self.skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.recent = deque((float(v) for v in state["recent"]), maxlen=self.window)
        self.seen = int(state["seen"])
        self.skipped = int(state["skipped"])


class AdaptiveClip(_MedianBound):
    """Clip a step's gradient norm to ``factor`` x the median of the recent steps' norms.

    The relative counterpart of ``optim.grad_clip_norm``: gradient norms differ by orders of
    magnitude between losses (heatmap L2's are about 1e-3 of a unit-mass loss's), so one fixed
    norm cannot serve every setting; a multiple of each run's own running median can. Every
    pre-clip norm enters the window (``window`` steps); no step is clipped before
    ``min_history`` norms were seen. :attr:`clipped` counts the clipped steps.

    Args:
        factor: the bound, in running medians (> 1).
        window, min_history: as :class:`SpikeGuard`'s.
    """

    what = "adaptive clip"

    def __init__(self, factor: float = 2.0, window: int = 50, min_history: int = 20) -> None:
        super().__init__(factor, window, min_history)
        self.clipped = 0

    def max_norm(self) -> float:
        """The bound of the next step (inf while fewer than ``min_history`` norms were seen)."""
        return self.bound()

    def record(self, norm: float, bound: float) -> None:
        """Record a step's pre-clip ``norm`` and the ``bound`` it was clipped to."""
        self._record(norm)
        if norm > bound:
            self.clipped += 1
