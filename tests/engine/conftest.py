"""Fixtures of the engine tests: a tiny generated 300W-layout dataset and config files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # engine_data, the helpers' own module

from engine_data import write_tiny_300w  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: the test machines are small and shared (and results repeatable)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def tiny_300w(tmp_path) -> Path:
    return write_tiny_300w(tmp_path / "300W")
