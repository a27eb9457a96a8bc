"""The one device resolver (``otmark.device.resolve_device``) and its users."""

import pytest
import torch

from otmark.device import resolve_device

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_cpu_and_devices_pass_through():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("cpu", local_rank=3) == torch.device("cpu")


@no_cuda
def test_auto_is_the_cpu_and_cuda_is_refused_without_cuda():
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("auto", local_rank=1) == torch.device("cpu")
    for name in ("cuda", "cuda:1", torch.device("cuda:0")):
        with pytest.raises(ValueError, match="torch sees no CUDA device"):
            resolve_device(name)


@no_cuda
def test_train_device_error_names_the_config_key():
    from otmark.engine import ConfigError, init_distributed

    with pytest.raises(ConfigError, match="train.device: device 'cuda' requested"):
        init_distributed("cuda")


@cuda
def test_auto_and_cuda_follow_the_local_rank():
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("auto", local_rank=0) == torch.device("cuda:0")
    assert resolve_device("cuda", local_rank=0) == torch.device("cuda:0")
    assert resolve_device("cuda") == torch.device("cuda")


def test_every_user_resolves_through_it():
    """The engine, the study, the quickstart and the detector share the resolver (no copies)."""
    import otmark.engine.distributed as distributed
    import otmark.inference.detector as detector
    import otmark.study.training as training

    for module in (distributed, detector, training):
        assert module.resolve_device is resolve_device
    assert not hasattr(distributed, "pick_device")
