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

    # the study and the quickstart train through the engine (otmark.engine.fit), whose
    # init_distributed picks the device
    for module in (distributed, detector):
        assert module.resolve_device is resolve_device
    assert not hasattr(distributed, "pick_device")


def _times(*pairs):
    """A fake /proc/stat reader returning the given (busy, total) jiffies in turn."""
    it = iter(pairs)
    return lambda: next(it)


def test_free_cpus_subtracts_the_cpus_other_processes_keep_busy():
    from otmark.device import free_cpus

    nap = lambda _s: None  # noqa: E731
    # 2 CPUs, 100 jiffies elapsed in all, 50 of them busy: one CPU is busy, one is free
    assert free_cpus(read_times=_times((0, 0), (50, 100)), cpus=2, sleep=nap) == 1
    assert free_cpus(read_times=_times((10, 10), (10, 110)), cpus=2, sleep=nap) == 2  # idle
    # every CPU busy: still one thread
    assert free_cpus(read_times=_times((0, 0), (100, 100)), cpus=2, sleep=nap) == 1
    # 8 CPUs, 3 of them busy (37.5 % of the time)
    assert free_cpus(read_times=_times((0, 0), (300, 800)), cpus=8, sleep=nap) == 5


def test_free_cpus_is_none_where_proc_stat_cannot_be_read():
    from otmark.device import free_cpus

    def unreadable():
        raise OSError("no /proc/stat")

    assert free_cpus(read_times=unreadable, cpus=2, sleep=lambda _s: None) is None


def test_free_cpus_reads_this_machines_proc_stat():
    import os

    from otmark.device import free_cpus

    if not os.path.exists("/proc/stat"):
        pytest.skip("no /proc/stat")
    assert 1 <= free_cpus(seconds=0.05) <= (os.cpu_count() or 1)


def test_threads_auto_uses_the_free_cpus(monkeypatch):
    import argparse
    import os

    import otmark.device
    from otmark.cli.options import add_threads_argument, use_threads

    parser = argparse.ArgumentParser()
    add_threads_argument(parser)
    assert parser.parse_args([]).threads == "auto"
    with pytest.raises(SystemExit):
        parser.parse_args(["--threads", "many"])
    old = torch.get_num_threads()
    try:
        monkeypatch.setattr(os, "cpu_count", lambda: 4)
        monkeypatch.setattr(otmark.device, "free_cpus", lambda: 3)
        args = parser.parse_args([])
        use_threads(args)
        assert args.threads == 3 and torch.get_num_threads() == 3
        monkeypatch.setattr(otmark.device, "free_cpus", lambda: 4)  # all free: torch's choice
        args = parser.parse_args([])
        use_threads(args)
        assert args.threads == 0
    finally:
        torch.set_num_threads(old)
