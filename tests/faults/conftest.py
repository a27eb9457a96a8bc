"""Fixtures of the fault-injection suite (helpers for the training cases: train_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_helpers import engine_fixtures


@pytest.fixture(autouse=True, scope="module")
def _restore_determinism():
    old = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(old)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """A tiny 300W layout (8 training, 4 validation faces of 64 px), shared by a module: tests
    that damage data copy it first (:func:`copy_tree`)."""
    return engine_fixtures.write_tiny_300w(tmp_path_factory.mktemp("data") / "300W")
