"""Choose a learning rate per loss on a validation split.

:func:`select_lr` trains once per candidate rate through a caller's
``train_and_validate(lr) -> validation NME`` and keeps the rate with the lowest validation NME.
The NME must come from a validation split (held-out training faces), never from a test
protocol: the choice is then part of training, and the test protocols stay untouched.

Rules: at least ``min_candidates`` (3) distinct positive rates; a run that diverges (returns
NaN or inf, or raises ``FloatingPointError`` as ``otmark.engine.train_one_epoch`` does on a
non-finite loss) scores inf; ties (within ``tie_tolerance``, relative) go to the smaller rate;
when every run diverged, :class:`LrSelectionError` carries the table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


class LrSelectionError(ValueError):
    """No candidate rate trained (or the candidates are unusable); ``table`` holds the runs."""

    def __init__(self, message: str, table: list[tuple[float, float]] | None = None) -> None:
        super().__init__(message)
        self.table = table or []


@dataclass(frozen=True)
class LrSelection:
    """Outcome of :func:`select_lr`.

    Attributes:
        lr: the chosen rate.
        table: ``(lr, validation NME in %)`` per candidate, by increasing rate (inf = diverged).
    """

    lr: float
    table: tuple[tuple[float, float], ...]

    @property
    def candidates(self) -> list[float]:
        return [lr for lr, _ in self.table]

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the results: ``{"lr", "lr_candidates", "val_nme"}`` (diverged runs as
        null, JSON having no inf)."""
        return {
            "lr": self.lr,
            "lr_candidates": self.candidates,
            "val_nme": [v if math.isfinite(v) else None for _, v in self.table],
        }


def check_candidates(candidates: Iterable[float], min_candidates: int = 3) -> list[float]:
    """The candidates as sorted floats; raises :class:`LrSelectionError` for fewer than
    ``min_candidates``, duplicates, or rates that are not finite and positive."""
    rates = [float(c) for c in candidates]
    bad = [c for c in rates if not (math.isfinite(c) and c > 0)]
    if bad:
        raise LrSelectionError(f"learning rates must be finite and > 0, got {bad}")
    if len(set(rates)) != len(rates):
        raise LrSelectionError(f"duplicate learning rates in {rates}")
    if len(rates) < min_candidates:
        raise LrSelectionError(
            f"need at least {min_candidates} candidate learning rates, got {len(rates)}: {rates}"
        )
    return sorted(rates)


def select_lr(
    train_and_validate: Callable[[float], float],
    candidates: Iterable[float],
    min_candidates: int = 3,
    tie_tolerance: float = 0.0,
) -> LrSelection:
    """Train with each candidate rate (in increasing order) and pick the best validation NME.

    Args:
        train_and_validate: ``lr -> validation NME`` (one training run at peak rate ``lr``).
        candidates: at least ``min_candidates`` distinct positive rates.
        tie_tolerance: NMEs within this relative tolerance of the best count as ties (0 =
            exact ties only); the smallest tied rate wins.

    Returns:
        :class:`LrSelection` with the chosen rate and the ``(lr, NME)`` table.
    """
    if not 0.0 <= tie_tolerance < 1.0:
        raise ValueError(f"tie_tolerance must be in [0, 1), got {tie_tolerance}")
    rates = check_candidates(candidates, min_candidates)
    table = []
    for lr in rates:
        try:
            value = float(train_and_validate(lr))
        except FloatingPointError:
            value = math.inf
        table.append((lr, value if math.isfinite(value) else math.inf))
    best = min(v for _, v in table)
    if not math.isfinite(best):
        raise LrSelectionError(f"every candidate learning rate diverged: {rates}", table)
    chosen = next(lr for lr, v in table if v <= best * (1.0 + tie_tolerance))
    return LrSelection(chosen, tuple(table))
