"""Device resolution under torchrun (``LOCAL_RANK``), with CUDA mocked: ``init_distributed``
and the one resolver ``otmark.device.resolve_device``."""

import warnings

import pytest
import torch

from otmark.device import resolve_device
from otmark.engine.config import ConfigError
from otmark.engine.distributed import init_distributed


def pick_device(name):
    return init_distributed(name).device


@pytest.fixture
def four_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)


@pytest.fixture
def no_torchrun(monkeypatch):
    for var in ("LOCAL_RANK", "RANK", "WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)


def _quiet(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args)


def test_single_process_keeps_the_given_index(four_gpus, no_torchrun):
    assert _quiet(pick_device, "cuda:3") == torch.device("cuda:3")
    assert _quiet(pick_device, "cuda") == torch.device("cuda")
    assert _quiet(resolve_device, "cuda", 0) == torch.device("cuda:0")
    assert _quiet(pick_device, "auto") == torch.device("cuda")
    assert _quiet(pick_device, "cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["auto", "cuda", "cuda:2"])
def test_torchrun_uses_local_rank(four_gpus, monkeypatch, name):
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert _quiet(pick_device, name) == torch.device("cuda:2")


def test_explicit_index_other_than_local_rank_warns_and_is_replaced(four_gpus, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.warns(UserWarning, match=r"using cuda:1 \(LOCAL_RANK\)"):
        assert pick_device("cuda:0") == torch.device("cuda:1")


def test_init_distributed_in_one_torchrun_process(four_gpus, monkeypatch):
    # torchrun --nproc_per_node 1 on a node where LOCAL_RANK is 3: no process group to join
    monkeypatch.setenv("LOCAL_RANK", "3")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "1")
    with pytest.warns(UserWarning, match="LOCAL_RANK"):
        info = init_distributed("cuda:0")
    assert info.device == torch.device("cuda:3")
    assert info.local_rank == 3


def test_local_rank_beyond_the_visible_gpus_is_an_error(four_gpus, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "5")
    with pytest.raises(ConfigError, match=r"cuda:5 \(LOCAL_RANK\) but 4 GPU\(s\) visible"):
        pick_device("cuda")


def test_cuda_without_cuda(monkeypatch, no_torchrun):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="sees no CUDA device"):
        pick_device("cuda:1")
