"""Every packaged config trains and decodes the same thing: its codec follows its loss.

The config names spell the setting (``<dataset>_<loss>_s<sigma>_<decoder>[_cc]``); this test reads
the expected loss, sigma and decoder from the name, independently of the YAML.
"""

import contextlib
import dataclasses
import io
import re

import numpy as np
import pytest
import torch
import yaml

from otmark.cli.main import main
from otmark.engine import ConfigError, list_configs, load_config
from otmark.engine.config import (
    ExperimentConfig,
    config_from_dict,
    load_raw,
    packaged_config_dir,
    resolve_config,
)
from otmark.losses import create_loss

LOSS_OF_TOKEN = {"l2": "l2", "w": "wasserstein", "js": "js", "softargmax": "soft_argmax"}
NAME = re.compile(r"^(?P<ds>[0-9a-z]+)_(?P<loss>[a-z0-9]+)_s(?P<sigma>\d+)_(?P<dec>max|bc)(_cc)?$")


def _cli_config_names() -> list[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", "--list-configs"]) == 0
    return out.getvalue().split()


CONFIGS = _cli_config_names()


def test_the_cli_lists_the_packaged_configs():
    assert CONFIGS == list_configs() and len(CONFIGS) >= 40


@pytest.mark.parametrize("name", CONFIGS)
def test_training_targets_and_decoding_agree(name):
    m = NAME.match(name)
    assert m, name
    cfg = load_config(name, check_paths=False)
    loss = LOSS_OF_TOKEN[m["loss"]]
    assert cfg.loss.name == loss
    assert cfg.codec.sigma == float(m["sigma"])
    assert cfg.codec.decoder == {"max": "get_max", "bc": "get_bc"}[m["dec"]]
    assert cfg.codec.softmax is create_loss(loss, **cfg.loss.kwargs).output_is_logits
    assert cfg.model.coordconv is name.endswith("_cc")
    # the YAML no longer says it: softmax is never set by hand
    assert "softmax" not in (load_raw(resolve_config(name)).get("codec") or {})
    # what the loss is minimised towards decodes back to the encoded landmarks: the target
    # itself for heatmap L2, logits whose softmax is the normalised target for the others
    codec = cfg.codec
    rng = np.random.default_rng(0)
    margin = 4 * cfg.codec.sigma * codec.stride
    crop = rng.uniform(margin, codec.input_size - 1 - margin, size=(1, 4, 2))
    target = codec.encode(crop)
    optimum = torch.log(target.clamp_min(1e-30)) if codec.softmax else target
    tol = 0.01 * codec.stride if codec.decoder == "get_bc" else 0.36 * codec.stride
    assert np.abs(codec.decode(optimum).numpy() - crop).max() < tol


def test_decoding_with_the_other_softmax_would_be_wrong():
    """Control: the agreement above is not automatic. A logit model's optimum read without
    the softmax (or an L2 model's read with it) decodes far from the landmarks under GET_BC."""
    cfg = load_config("300w_w_s1_bc", check_paths=False)
    crop = np.array([[[60.0, 70.0], [180.0, 150.0]]])
    logits = torch.log(cfg.codec.encode(crop).clamp_min(1e-30))
    wrong = dataclasses.replace(cfg.codec, softmax=False)
    assert np.abs(wrong.decode(logits).numpy() - crop).max() > 20


def _raw(name: str, **codec) -> dict:
    raw = load_raw(resolve_config(name))
    raw["codec"] = {**raw.get("codec", {}), **codec}
    return raw


def test_a_config_setting_softmax_against_its_loss_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="codec.softmax: False disagrees with loss 'wasserstein'"):
        config_from_dict(_raw("300w_w_s3_bc", softmax=False), "mine.yaml")
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"base": "300w_l2_s1_max", "codec": {"softmax": True}}))
    with pytest.raises(ConfigError, match=r"mine\.yaml: codec\.softmax: True disagrees"):
        load_config(path, check_paths=False)
    with pytest.raises(ConfigError, match="disagrees with loss 'js'"):
        load_config("300w_js_s1_bc", ["codec.softmax=false"], check_paths=False)


def test_a_config_whose_softmax_agrees_is_accepted_and_a_saved_config_reloads(tmp_path):
    cfg = config_from_dict(_raw("300w_w_s3_bc", softmax=True), "mine.yaml")
    assert cfg.codec.softmax is True
    # config.yaml as a run saves it (softmax written out) loads back to the same config
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(load_config("300w_l2_s3_max", check_paths=False).to_dict()))
    again = load_config(path, check_paths=False)
    assert again.codec == load_config("300w_l2_s3_max", check_paths=False).codec


def test_changing_the_loss_changes_softmax():
    assert load_config("300w_l2_s1_max", ["loss.name=js"], check_paths=False).codec.softmax
    assert not config_from_dict({}).codec.softmax  # the default loss is heatmap L2
    assert ExperimentConfig().codec.softmax is False


def test_the_hrnet_face_recipe_is_the_schema_default():
    """HRNet-Facial-Landmark-Detection's face_alignment_300w_hrnet_w18.yaml, written out."""
    assert load_raw(packaged_config_dir() / "_hrnet_face.yaml") == {}
    cfg = ExperimentConfig()
    assert cfg.model.name == "hrnet_w18" and cfg.loss.name == "l2"
    c = cfg.codec
    assert (c.input_size, c.heatmap_size, c.sigma, c.decoder) == (256, 64, 1.0, "get_max")
    o = cfg.optim
    assert (o.lr, o.epochs, o.milestones, o.gamma, o.batch_size) == (1e-4, 60, [30, 50], 0.1, 16)
    a = cfg.augment
    assert (a.scale_range, a.rotation, a.rotation_prob, a.flip_prob) == ([0.75, 1.25], 30, 0.6, 0.5)
    from otmark.engine.config import augment_config
    from otmark.transforms import AugmentConfig

    assert augment_config(cfg) == AugmentConfig()
