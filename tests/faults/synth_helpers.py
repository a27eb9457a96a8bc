"""Generated datasets for the fault tests that damage official layouts."""

from __future__ import annotations

from pathlib import Path

from otmark import datasets
from otmark.cli.main import main


def synth_root(root: Path, dataset: str, *extra: str) -> Path:
    """``otmark synth`` of 2 tiny (64 px) faces of ``dataset`` into ``root`` (``extra``: more
    arguments, e.g. ``--frames 3``); returns ``root``."""
    args = ["synth", "--dataset", dataset, "--out", str(root), "--num", "2", "--size", "64"]
    assert main(args + list(extra)) == 0
    return root


def csv_copy_of_300w(root_300w: Path, csv_root: Path) -> Path:
    """The generated 300W root ``root_300w`` written again as HRNet csv under ``csv_root``,
    through the writer, one image file per split and face (the default names, lfpw_00000.png
    ..., repeat across splits, and the writer refuses to replace another split's picture)."""
    for split in ("train", "common", "challenge", "full", "test"):
        res = datasets.load("300w", root_300w, split)
        names = [f"{split}_{Path(s.id).name}.png" for s in res.samples]
        datasets.write_300w_csv(csv_root, split, res.samples, names=names)
    return csv_root
