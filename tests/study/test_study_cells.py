import pytest

from otmark.study.cells import (
    RECOMMENDED,
    Setting,
    TrainSize,
    experiment_config,
    scaled_sigma,
)


def test_labels_follow_the_paper():
    assert RECOMMENDED.label == "W σ3 GET_BC"
    assert Setting("l2", 1.0, "get_max").label == "L2 σ1 GET_MAX"
    assert Setting("wasserstein", 3, "get_bc", True).label == "W σ3 GET_BC + CoordConv"
    assert Setting("soft_argmax", 1, "get_bc").label == "Soft-ArgMax GET_BC"


def test_sigma_keeps_its_width_relative_to_the_face():
    assert scaled_sigma(RECOMMENDED, TrainSize(input_size=256, heatmap_size=64)) == 3.0
    assert scaled_sigma(RECOMMENDED, TrainSize(input_size=128, heatmap_size=32)) == 1.5
    no_scaling = TrainSize(input_size=128, heatmap_size=32, sigma_reference=32)
    assert scaled_sigma(RECOMMENDED, no_scaling) == 3.0


def test_experiment_config_carries_the_setting(tmp_path):
    size = TrainSize(steps=20, batch_size=4, lr=2e-3, amp="none", channels_last=False)
    cfg = experiment_config("c", "hrnet_w18", RECOMMENDED, size, 7, "300w", str(tmp_path))
    assert cfg.loss.name == "wasserstein" and cfg.codec.decoder == "get_bc"
    assert cfg.codec.softmax is True  # W outputs are logits
    assert (cfg.codec.input_size, cfg.codec.heatmap_size, cfg.codec.sigma) == (128, 32, 1.5)
    assert (cfg.optim.lr, cfg.optim.milestones, cfg.optim.batch_size) == (2e-3, [], 4)
    assert (cfg.train.amp, cfg.train.channels_last) == ("none", False)
    assert cfg.train.seed == 7
    l2 = experiment_config(
        "d", "hourglass2", Setting("l2", 1, "get_bc", True), size, 0, "wflw", str(tmp_path)
    )
    assert l2.codec.softmax is False and l2.model.coordconv is True


def test_bad_values_name_the_source():
    with pytest.raises(ValueError, match="s.yaml: settings.x"):
        Setting.from_dict({"loss": "l2", "sigma": 1}, "s.yaml: settings.x")
    with pytest.raises(ValueError, match="get_max or get_bc"):
        Setting.from_dict({"loss": "l2", "sigma": 1, "decoder": "argmax"}, "s")
    with pytest.raises(ValueError, match="4 x heatmap_size"):
        TrainSize.from_dict({"input_size": 128, "heatmap_size": 64}, "s")
    with pytest.raises(ValueError, match="unknown training keys"):
        TrainSize.from_dict({"epoch": 1}, "s")
    with pytest.raises(ValueError, match="s: give train.steps or train.minutes"):
        TrainSize.from_dict({"steps": None}, "s")
    with pytest.raises(ValueError, match="train.steps must be >= 1"):
        TrainSize.from_dict({"steps": 0}, "s")
    assert TrainSize.from_dict({"steps": None, "minutes": 2}, "s").minutes == 2
