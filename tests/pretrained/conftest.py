"""A tiny packaged model, built once: ``otmark pretrain --tiny`` (12 generated 64-px faces, a
tiny HRNet trained 2 steps, packaged into ``RUN/weights``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def build_tiny_run(out: Path) -> Path:
    from otmark.cli.main import main

    assert main(["pretrain", "--out", str(out), "--tiny"]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The run folder: ``data/300W``, ``train/best.pt``, ``weights/``."""
    return build_tiny_run(tmp_path_factory.mktemp("pretrain") / "run")


@pytest.fixture
def weights(tiny_run, tmp_path, monkeypatch) -> Path:
    """A private copy of the packaged model, installed through ``OTMARK_WEIGHTS_DIR``."""
    folder = tmp_path / "weights"
    shutil.copytree(tiny_run / "weights", folder)
    monkeypatch.setenv("OTMARK_WEIGHTS_DIR", str(folder))
    return folder
