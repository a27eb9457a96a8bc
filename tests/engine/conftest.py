"""Fixtures of the engine tests: a tiny generated 300W-layout dataset and config files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # engine_data, the helpers' own module

from engine_data import write_tiny_300w  # noqa: E402


@pytest.fixture
def tiny_300w(tmp_path) -> Path:
    return write_tiny_300w(tmp_path / "300W")
