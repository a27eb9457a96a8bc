"""Tiny generated 300W data and configs for the engine tests (a module of its own, not
conftest.py, so that tests import it by a unique name whatever folders pytest collects)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import yaml


def write_tiny_300w(root: Path, n_train: int = 8, n_val: int = 4, size: int = 64, seed: int = 0):
    """A tiny 300W layout: ``size`` px images with a bright dot at every landmark.

    Train images go to the three training folders, validation images to ``ibug`` (split
    ``challenge``). The landmark count comes from the scheme.
    """
    from otmark.datasets import ImageRef, Sample
    from otmark.datasets.w300 import write_300w
    from otmark.schemes import get_scheme

    k = get_scheme("300w").num_points
    rng = np.random.default_rng(seed)
    template = rng.uniform(-1, 1, (k, 2))

    def make(i: int):
        centre = size / 2 + rng.uniform(-3, 3, 2)
        lm = centre + template * size * 0.28 * rng.uniform(0.9, 1.1)
        img = rng.integers(0, 40, (size, size, 3), dtype=np.uint8)
        for x, y in lm:
            cv2.circle(img, (round(x), round(y)), 1, (255, 220, 200), -1)
        return Sample(ImageRef(Path(f"x{i}.png")), lm, "300w", id=f"f{i}"), img

    folders = ["lfpw/trainset", "helen/trainset", "afw"]
    train = [make(i) for i in range(n_train)]
    for j, folder in enumerate(folders):
        part = train[j::3]
        write_300w(
            root,
            folder,
            [s for s, _ in part],
            [im for _, im in part],
            names=[f"img{j}_{i}.png" for i in range(len(part))],
        )
    val = [make(100 + i) for i in range(n_val)]
    write_300w(
        root,
        "ibug",
        [s for s, _ in val],
        [im for _, im in val],
        names=[f"val{i}.png" for i in range(n_val)],
    )
    return root


def tiny_config(data_root: Path, out_dir: Path, **sections) -> dict:
    """A config dict for a seconds-long CPU run on :func:`write_tiny_300w` data."""
    cfg = {
        "name": "tiny",
        "data": {
            "dataset": "300w",
            "root": str(data_root),
            "train_split": "train",
            "val_split": "challenge",
            "num_workers": 0,
        },
        "model": {"name": "hrnet_tiny"},
        "codec": {"input_size": 64, "heatmap_size": 16, "sigma": 1.0, "decoder": "get_max"},
        "loss": {"name": "l2"},
        "optim": {"lr": 2e-3, "epochs": 2, "milestones": [1], "batch_size": 4},
        "train": {
            "output_dir": str(out_dir),
            "device": "cpu",
            "progress": False,
            "tensorboard": False,
            "threads": 1,
            "amp": "none",
        },
    }
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def record_adam_lrs(mp) -> list[float]:
    """Patch ``torch.optim.Adam.step`` through ``mp`` (a pytest ``MonkeyPatch``) to record the
    learning rate of every optimizer step; the list it fills, in step order."""
    lrs: list[float] = []
    step = torch.optim.Adam.step

    def recording(self, *args, **kwargs):
        lrs.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    mp.setattr(torch.optim.Adam, "step", recording)
    return lrs
