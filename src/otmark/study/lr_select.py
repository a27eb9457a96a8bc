"""Choose a learning rate per loss on a validation split.

:func:`select_lr` trains once per candidate rate through a caller's
``train_and_validate(lr) -> validation NME`` and keeps the rate with the lowest validation NME.
The NME must come from a validation split (held-out training faces), never from a test
protocol: the choice is then part of training, and the test protocols stay untouched.

Rules: at least ``min_candidates`` (3) distinct positive rates; a run that diverges (returns
NaN or inf, or raises ``FloatingPointError`` as ``otmark.engine.train_one_epoch`` does on a
non-finite loss) scores inf; ties (within ``tie_tolerance``, relative) go to the smaller rate;
when every run diverged, :class:`LrSelectionError` carries the table.

:func:`select_lr_in_grid` adds the grid rule of the converged re-run: at least
``min_candidates`` rates spanning at least ``min_decades`` decades; when the best rate is the
smallest or the largest one tried, one more rate is trained one log step beyond that edge
(the ratio of the two outermost rates on that side), and again, until the best rate has a
tried rate on each side or ``max_extensions`` extensions were trained
(:attr:`LrSelection.inside` says which). A diverged run at the largest rate is a tried rate
above the best: a best rate just below a diverging one is inside the grid.
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
        extensions: the rates added beyond the first grid, in the order they were trained.
    """

    lr: float
    table: tuple[tuple[float, float], ...]
    extensions: tuple[float, ...] = ()

    @property
    def inside(self) -> bool:
        """The chosen rate has a tried rate below and above it (not at an edge)."""
        rates = self.candidates
        return rates[0] < self.lr < rates[-1]

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

    def curve(self) -> dict[str, float | None]:
        """``{rate: validation NME}`` (rates as ``%g`` strings, diverged runs as null): the
        ``lr_curve`` of the study's ``summary.json``."""
        return {f"{lr:g}": (v if math.isfinite(v) else None) for lr, v in self.table}


def check_candidates(
    candidates: Iterable[float], min_candidates: int = 3, min_decades: float = 0.0
) -> list[float]:
    """The candidates as sorted floats; raises :class:`LrSelectionError` for fewer than
    ``min_candidates``, duplicates, rates that are not finite and positive, or a span
    (``log10(largest / smallest)``) under ``min_decades``."""
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
    rates = sorted(rates)
    span = math.log10(rates[-1] / rates[0])
    if span < min_decades - 1e-9:
        raise LrSelectionError(
            f"the candidate learning rates {rates} span {span:.2f} decades, fewer than "
            f"{min_decades:g}"
        )
    return rates


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


def _score(train_and_validate: Callable[[float], float], lr: float) -> float:
    """Validation NME of one run; inf when it diverged."""
    try:
        value = float(train_and_validate(lr))
    except FloatingPointError:
        value = math.inf
    return value if math.isfinite(value) else math.inf


def _best(table: list[tuple[float, float]], tie_tolerance: float) -> float:
    """The chosen rate of ``table`` (sorted by rate): the smallest within tolerance of the
    lowest NME; raises :class:`LrSelectionError` when every run diverged."""
    best = min(v for _, v in table)
    if not math.isfinite(best):
        rates = [lr for lr, _ in table]
        raise LrSelectionError(f"every candidate learning rate diverged: {rates}", table)
    return next(lr for lr, v in table if v <= best * (1.0 + tie_tolerance))


def select_lr_in_grid(
    train_and_validate: Callable[[float], float],
    candidates: Iterable[float],
    max_extensions: int = 3,
    min_candidates: int = 5,
    min_decades: float = 1.5,
    tie_tolerance: float = 0.0,
) -> LrSelection:
    """:func:`select_lr` on a grid that is extended until the best rate is inside it.

    Trains every candidate (increasing), then while the best rate is the smallest (largest)
    rate tried and fewer than ``max_extensions`` extensions were made, trains the rate one
    log step below (above): ``smallest**2 / second smallest`` (``largest**2 / second
    largest``). A diverged largest rate stops the upward extension (the best is below it).

    Args:
        train_and_validate: ``lr -> validation NME`` (inf/NaN or ``FloatingPointError``:
            diverged).
        candidates: at least ``min_candidates`` distinct positive rates spanning at least
            ``min_decades`` decades.
        max_extensions: most rates added beyond ``candidates`` (0: plain :func:`select_lr`).
        tie_tolerance: see :func:`select_lr`.

    Returns:
        :class:`LrSelection` over every rate tried (``extensions`` lists the added ones;
        ``inside`` is False only when ``max_extensions`` ran out with the best at an edge).
    """
    if not 0.0 <= tie_tolerance < 1.0:
        raise ValueError(f"tie_tolerance must be in [0, 1), got {tie_tolerance}")
    if max_extensions < 0:
        raise ValueError(f"max_extensions must be >= 0, got {max_extensions}")
    rates = check_candidates(candidates, min_candidates, min_decades)
    table = [(lr, _score(train_and_validate, lr)) for lr in rates]
    added: list[float] = []
    while True:
        chosen = _best(table, tie_tolerance)
        if len(added) >= max_extensions:
            break
        if chosen == table[0][0]:
            lr = table[0][0] ** 2 / table[1][0]
        elif chosen == table[-1][0]:
            lr = table[-1][0] ** 2 / table[-2][0]
        else:
            break
        lr = float(f"{lr:.6g}")  # a readable rate (5e-3 * 3.333 -> 0.0166667)
        added.append(lr)
        table = sorted([*table, (lr, _score(train_and_validate, lr))])
    return LrSelection(chosen, tuple(table), tuple(added))
