"""Generated datasets for the fault tests that damage official layouts."""

from __future__ import annotations

from pathlib import Path

from otmark.cli.main import main


def synth_root(root: Path, dataset: str, *extra: str) -> Path:
    """``otmark synth`` of 2 tiny (64 px) faces of ``dataset`` into ``root`` (``extra``: more
    arguments, e.g. ``--frames 3``); returns ``root``."""
    args = ["synth", "--dataset", dataset, "--out", str(root), "--num", "2", "--size", "64"]
    assert main(args + list(extra)) == 0
    return root
