"""Progress lines of the quickstart and the study."""

from __future__ import annotations


def say(message: str) -> None:
    """Print one line and flush (progress stays visible when stdout is a file or a pipe)."""
    print(message, flush=True)
