import pytest

from otmark.engine import ConfigError
from otmark.study.cells import RECOMMENDED, experiment_config, setting_of, setting_raw


def test_settings_are_the_packaged_configs():
    w = setting_of("300w", RECOMMENDED)
    assert (w.loss, w.sigma, w.decoder, w.coordconv) == ("wasserstein", 3.0, "get_bc", False)
    assert w.label == "W σ3 GET_BC"
    assert setting_of("300w", "l2_s1_max").label == "L2 σ1 GET_MAX"
    assert setting_of("wflw", "w_s3_bc_cc").label == "W σ3 GET_BC + CoordConv"
    assert setting_of("300w", "softargmax_s1_bc").label == "Soft-ArgMax GET_BC"
    assert setting_of("300w", "js_s3_bc").label == "JS σ3 GET_BC"


def test_a_decoder_only_variant_trains_the_packaged_model():
    bc = setting_of("300w", "l2_s1_bc")  # no packaged file: 300w_l2_s1_max with GET_BC
    mx = setting_of("300w", "l2_s1_max")
    assert bc.decoder == "get_bc" and mx.decoder == "get_max"
    assert bc.training == mx.training and bc.label == "L2 σ1 GET_BC"
    assert setting_of("300w", "js_s1_max").training == setting_of("300w", "js_s1_bc").training


def test_experiment_config_merges_the_study_fragment(tmp_path):
    over = {"codec": {"input_size": 128, "heatmap_size": 32}, "optim": {"batch_size": 4}}
    cfg = experiment_config("c", "hrnet_w18", "w_s3_bc", over, 7, "300w", str(tmp_path), lr=3e-3)
    assert cfg.loss.name == "wasserstein" and cfg.codec.decoder == "get_bc"
    assert cfg.codec.softmax is True  # W outputs are logits
    # sigma in pixels of the run's heatmap, not rescaled: sigma 3 = 3 pixels of the 32x32 map
    assert (cfg.codec.input_size, cfg.codec.heatmap_size, cfg.codec.sigma) == (128, 32, 3.0)
    assert (cfg.optim.lr, cfg.optim.batch_size, cfg.train.seed) == (3e-3, 4, 7)
    assert cfg.data.root == str(tmp_path) and cfg.data.dataset == "300w"
    l2 = experiment_config("d", "hourglass2", "l2_s1_bc", {}, 0, "wflw", str(tmp_path))
    assert l2.codec.softmax is False and l2.codec.decoder == "get_bc"


def test_bad_settings_and_values_name_the_source(tmp_path):
    with pytest.raises(ValueError, match=r"s\.yaml: setting 'huber_s1_max' is not a packaged"):
        setting_of("300w", "huber_s1_max", "s.yaml")
    with pytest.raises(ValueError, match="no packaged config 300w_w_s2_bc.*packaged settings"):
        setting_of("300w", "w_s2_bc")
    # the engine's validation and messages
    with pytest.raises(ConfigError, match=r"s\.yaml \(300w_w_s3_bc\): optim\.schedule"):
        experiment_config(
            "c",
            "hrnet_w18",
            "w_s3_bc",
            {"optim": {"schedule": "cos"}},
            0,
            "300w",
            "x",
            where="s.yaml",
        )
    with pytest.raises(ConfigError, match=r"unknown key 'stpes'.*did you mean 'steps'"):
        experiment_config("c", "hrnet_w18", "w_s3_bc", {"optim": {"stpes": 3}}, 0, "300w", "x")


def test_any_decoder_variant_of_a_packaged_setting_and_the_message_without_one():
    s = setting_of("cofw", "w_s3_max")  # the packaged cofw_w_s3_bc read with GET_MAX
    assert (s.loss, s.sigma, s.decoder, s.label) == ("wasserstein", 3.0, "get_max", "W σ3 GET_MAX")
    assert setting_raw("cofw", "w_s3_max")["codec"]["decoder"] == "get_max"
    assert setting_raw("cofw", "w_s3_bc")["codec"]["decoder"] == "get_bc"
    with pytest.raises(ValueError, match=r"no packaged config 300w_l2_s1_max_cc \(nor "):
        setting_of("300w", "l2_s1_max_cc")
    with pytest.raises(ValueError, match="packaged settings for mydata: none"):
        setting_of("mydata", "w_s3_bc")


def test_a_report_row_is_the_model_and_the_tables_label():
    from otmark.study.report import row_label

    doc = {"model": "hrnet_w18", "setting": "js_s1_max", "key": {"experiment": {"schemes": ["a"]}}}
    assert row_label(doc) == "hrnet_w18 JS σ1 GET_MAX"  # no label stored with the cell: the table's
