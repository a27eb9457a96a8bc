"""SIGINT/SIGTERM during training: caught, answered with a checkpoint and
:class:`TrainingInterrupted`."""

from __future__ import annotations

import signal
from contextlib import contextmanager
from pathlib import Path


class TrainingInterrupted(Exception):
    """Raised after the interrupt checkpoint was written; ``signum`` is the signal received."""

    def __init__(self, signum: int, checkpoint: Path) -> None:
        super().__init__(f"interrupted by signal {signum}; state saved to {checkpoint}")
        self.signum = signum
        self.checkpoint = checkpoint


@contextmanager
def stop_on_signals(signals=(signal.SIGINT, signal.SIGTERM)):
    """Catch SIGINT/SIGTERM while inside: yields a list that receives the signal numbers."""
    received: list[int] = []

    def handler(signum, frame):
        received.append(signum)

    old = {}
    try:
        for s in signals:
            old[s] = signal.signal(s, handler)
    except ValueError:  # not in the main thread: leave signals alone
        pass
    try:
        yield received
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextmanager
def no_signal_handling():
    """Stand-in for :func:`stop_on_signals` where nothing is saved on a signal: yields a list
    that stays empty (a signal acts as it does outside training)."""
    yield []
