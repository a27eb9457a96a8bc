"""BatchNorm recalibration: the running statistics become the average of the batches' own
statistics (hand-computed), momenta and mode are kept, and a lagging model reads as it is."""

from __future__ import annotations

import pytest
import torch

from otmark.engine.batchnorm import recalibrate_batchnorm
from otmark.engine.config import ConfigError, config_from_dict, validate


def _batches():
    # batches of 2 images, 3 channels of the same values
    a = torch.tensor([1.0, 3.0]).view(2, 1, 1, 1).expand(2, 3, 2, 2).clone()  # mean 2, var 4/3
    b = torch.tensor([5.0, 5.0]).view(2, 1, 1, 1).expand(2, 3, 2, 2).clone()  # mean 5, var 0
    c = torch.full((2, 3, 2, 2), 100.0)  # never read: num_batches 2
    return [{"image": a}, {"image": b}, {"image": c}]


def test_running_statistics_become_the_batches_average():
    model = torch.nn.Sequential(torch.nn.BatchNorm2d(3))
    bn = model[0]
    bn.running_mean.fill_(50.0)  # a lagging estimate
    bn.running_var.fill_(9.0)
    model.eval()
    used = recalibrate_batchnorm(model, _batches(), torch.device("cpu"), 2)
    assert used == 2
    # hand check: batch means 2 and 5 -> 3.5; unbiased variances: batch a has 8 values, four
    # 1s and four 3s: sum of squares about the mean 8 x 1 = 8, / 7 = 8/7; batch b 0 -> 4/7
    assert torch.allclose(bn.running_mean, torch.full((3,), 3.5))
    assert torch.allclose(bn.running_var, torch.full((3,), 4.0 / 7.0))
    assert bn.momentum == 0.1 and not model.training  # left as they were


def test_no_batchnorm_or_zero_batches_changes_nothing():
    assert recalibrate_batchnorm(torch.nn.Linear(2, 2), _batches(), torch.device("cpu"), 5) == 0
    model = torch.nn.Sequential(torch.nn.BatchNorm2d(3))
    model[0].running_mean.fill_(7.0)
    assert recalibrate_batchnorm(model, _batches(), torch.device("cpu"), 0) == 0
    assert torch.equal(model[0].running_mean, torch.full((3,), 7.0))


def test_the_option_is_validated():
    cfg = config_from_dict({"train": {"bn_recalibrate": -1}}, "x.yaml")
    with pytest.raises(ConfigError, match="train.bn_recalibrate = -1: must be >= 0"):
        validate(cfg, "x.yaml", check_paths=False)
    assert config_from_dict({}, "x.yaml").train.bn_recalibrate == 0


def test_a_plateau_run_recalibrates_before_each_validation(tmp_path, monkeypatch):
    import otmark.engine.fitting as fitting
    from otmark.datasets import load
    from otmark.models import tiny_kwargs
    from otmark.study.cells import experiment_config
    from otmark.study.training import train_model
    from otmark.synth.writers import synthesize

    synthesize("300w", tmp_path, 8, seed=1, size=64)
    train = list(load("300w", tmp_path, "train"))[:4]
    val = list(load("300w", tmp_path, "common"))[:2]
    overrides = {
        "codec": {"input_size": 64, "heatmap_size": 16},
        "model": {"kwargs": tiny_kwargs("hrnet_w18")},
        "augment": {"enabled": False},
        "optim": {
            "batch_size": 2,
            "lr": 2e-3,
            "schedule": "constant_then_decay",
            "max_steps": 3,
            "plateau": {"enabled": True, "val_every": 1, "patience_steps": 1, "decay_steps": 1},
        },
        "train": {"amp": "none", "progress": False, "bn_recalibrate": 2},
        "data": {"num_workers": 0},
    }
    cfg = experiment_config("t", "hrnet_w18", "l2_s1_max", overrides, 0, "300w", str(tmp_path))
    calls = []
    real = fitting.recalibrate_batchnorm

    def spy(model, loader, device, n, *args):
        calls.append(n)
        return real(model, loader, device, n, *args)

    monkeypatch.setattr(fitting, "recalibrate_batchnorm", spy)
    out = train_model(cfg, train, val, log=lambda m: None)
    assert calls == [2] * len(out.history) and len(out.history) >= 2
    assert all(r["val_nme"] is not None for r in out.history)
