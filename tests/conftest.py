"""Fixtures of the whole suite."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One torch thread: the models under test are tiny, the CI machine's cores are shared, and
    results are repeatable."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
