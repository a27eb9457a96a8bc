"""Config schema, packaged configs, overrides and the errors users see."""

import pytest
import yaml

from otmark.engine import ConfigError, list_configs, load_config
from otmark.engine.config import apply_overrides, config_from_dict, parse_override

DATASETS = ("300w", "wflw", "cofw", "aflw", "300vw")


def _write(path, data):
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_every_paper_experiment_is_packaged_with_the_hrnet_recipe():
    names = set(list_configs())
    for ds in DATASETS:
        for variant in ("l2_s1_max", "w_s3_bc", "w_s3_bc_cc", "js_s1_bc", "softargmax_s1_bc"):
            assert f"{ds}_{variant}" in names
    for name in sorted(names):
        cfg = load_config(name, check_paths=False)  # names validated against the registries
        assert (cfg.codec.input_size, cfg.codec.heatmap_size) == (256, 64)
        assert (cfg.optim.epochs, cfg.optim.milestones, cfg.optim.batch_size) == (60, [30, 50], 16)
        assert cfg.optim.lr == (2e-4 if name.startswith("aflw") else 1e-4)
        assert cfg.name == name and cfg.data.dataset == name.split("_")[0]
    vanilla, ours = (
        load_config("wflw_l2_s1_max", check_paths=False),
        load_config("wflw_w_s3_bc_cc", check_paths=False),
    )
    assert (vanilla.loss.name, vanilla.codec.sigma, vanilla.codec.decoder) == ("l2", 1.0, "get_max")
    assert (ours.loss.name, ours.codec.sigma, ours.codec.decoder) == ("wasserstein", 3.0, "get_bc")
    assert ours.model.coordconv and not vanilla.model.coordconv


def test_overrides_parse_yaml_values(tmp_path):
    assert parse_override("optim.lr=2e-4") == (["optim", "lr"], 2e-4)
    assert parse_override("optim.milestones=[3, 4]") == (["optim", "milestones"], [3, 4])
    assert parse_override("data.limit=null") == (["data", "limit"], None)
    cfg = load_config(
        "300w_w_s3_bc",
        ["optim.lr=0.01", f"data.root={tmp_path}", "model.kwargs={width: 4}", "name=x"],
    )
    assert cfg.optim.lr == 0.01 and cfg.data.root == str(tmp_path)
    assert cfg.model.kwargs == {"width": 4} and cfg.output_path.name == "x"
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("optim.lr")
    with pytest.raises(ConfigError, match="not a section"):
        apply_overrides({"name": "a"}, ["name.x=1"])


def test_base_inheritance_from_a_user_file(tmp_path):
    base = _write(tmp_path / "mine.yaml", {"base": "300w_w_s3_bc", "optim": {"epochs": 5}})
    child = _write(tmp_path / "child.yaml", {"base": "mine.yaml", "codec": {"sigma": 2.0}})
    cfg = load_config(child, check_paths=False)
    assert cfg.optim.epochs == 5 and cfg.codec.sigma == 2.0 and cfg.loss.name == "wasserstein"
    assert cfg.optim.milestones == [30, 50] and cfg.name == "child"
    loop = _write(tmp_path / "loop.yaml", {"base": "loop.yaml"})
    with pytest.raises(ConfigError, match="loops"):
        load_config(loop, check_paths=False)
    assert base.exists()


def test_typo_lists_valid_keys_and_a_close_match(tmp_path):
    path = _write(tmp_path / "t.yaml", {"optim": {"lrr": 0.1}})
    with pytest.raises(ConfigError) as err:
        load_config(path, check_paths=False)
    msg = str(err.value)
    assert str(path) in msg and "'lrr'" in msg and "did you mean 'lr'" in msg
    assert "batch_size" in msg  # the valid keys are listed
    with pytest.raises(ConfigError, match="did you mean 'augment'"):
        config_from_dict({"augmnet": {}})
    assert config_from_dict({"optim": {"lr": "1e-4"}}).optim.lr == 1e-4  # YAML 1.1 string
    with pytest.raises(ConfigError, match="optim.epochs: expected an integer"):
        config_from_dict({"optim": {"epochs": "ten"}})


@pytest.mark.parametrize(
    "override,fragment",
    [
        ("model.name=hrnet_w81", "unknown model 'hrnet_w81'"),
        ("loss.name=wasserstien", "unknown loss 'wasserstien'"),
        ("data.dataset=wflv", "unknown dataset 'wflv'"),
        ("codec.decoder=argmax", "unknown decoder 'argmax'"),
        ("data.val_split=valid", "unknown split 'valid'"),
        ("optim.lr=-1", "optim.lr = -1.0: must be a finite number > 0"),
        ("optim.lr=inf", "optim.lr = inf: must be a finite number > 0"),
        ("optim.lr=nan", "optim.lr = nan: must be a finite number > 0"),
        ("optim.epochs=-3", "optim.epochs = -3: must be >= 1"),
        ("optim.weight_decay=-1e-4", "optim.weight_decay = -0.0001: must be a finite"),
        ("codec.sigma=.inf", "codec.sigma = inf"),
        ("codec.heatmap_size=32", "codec.heatmap_size = 32 does not fit codec.input_size = 256"),
        ("train.checkpoint_every=-1", "train.checkpoint_every = -1: must be >= 0"),
        ("data.max_bad_fraction=1.5", "data.max_bad_fraction = 1.5: must be in [0, 1]"),
        ("data.on_error=ignore", "unknown mode 'ignore'; valid: raise, skip"),
        ("augment.flip_prob=2", "flip_prob"),
        ("augment.blur_prob=1.5", "blur_prob"),
        ("augment.lowres_min=0", "lowres_min"),
    ],
)
def test_bad_names_and_values_list_the_valid_ones(override, fragment, tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config("300w_l2_s1_max", [override, f"data.root={tmp_path}"])
    assert fragment in str(err.value)
    assert "300w_l2_s1_max.yaml" in str(err.value)


def test_missing_root_and_unknown_config(tmp_path):
    with pytest.raises(ConfigError, match="data.root .*does not exist"):
        load_config("300w_l2_s1_max", [f"data.root={tmp_path / 'nope'}"])
    with pytest.raises(ConfigError, match="did you mean '300w_l2_s1_max'"):
        load_config("300w_l2_s1_mx")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: [1,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: invalid YAML"):
        load_config(bad)


def test_camera_effects_reach_the_augmentation(tmp_path):
    from otmark.engine.config import augment_config

    cfg = load_config(
        "300w_l2_s1_max",
        [
            "augment.grayscale_prob=0.1",
            "augment.lowres_prob=0.2",
            "augment.lowres_min=0.5",
            "augment.blur_prob=0.3",
            "augment.blur_max_sigma=1.5",
            f"data.root={tmp_path}",
        ],
    )
    a = augment_config(cfg)
    assert (a.grayscale_prob, a.lowres_prob, a.lowres_min, a.blur_prob, a.blur_max_sigma) == (
        0.1,
        0.2,
        0.5,
        0.3,
        1.5,
    )
