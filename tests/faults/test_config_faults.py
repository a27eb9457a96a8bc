"""Broken config files: ``otmark train`` stops with one line naming the file, the line and the
problem, before any work.

Reproductions: a ``base:`` naming a config that does not exist (a typo of a packaged name, a
path that moved), and a key written twice in one mapping (``optim:`` pasted twice: plain YAML
keeps the last one silently and the first is lost).
"""

import pytest
from train_helpers import one_error_line, run_cli

from otmark.engine import ConfigError, load_config
from otmark.engine.config import load_raw
from otmark.study.config import load_study_config


def _write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_a_missing_base_names_the_config_that_cites_it_and_its_line(tmp_path, capsys):
    config = _write(tmp_path / "mine.yaml", "# my run\nbase: 300w_w_s3_bx\noptim: {lr: 0.01}\n")
    with pytest.raises(ConfigError) as err:
        load_config(config, check_paths=False)
    msg = str(err.value)
    assert msg.startswith(f"{config}:2: base 300w_w_s3_bx: no such config file or packaged")
    assert "did you mean '300w_w_s3_bc'" in msg
    code, out, errs = run_cli(capsys, "train", "--config", str(config), "--print-config")
    assert code == 2 and out == ""
    assert f"{config}:2: base 300w_w_s3_bx" in one_error_line(errs)


def test_a_missing_base_deep_in_a_chain_or_a_list_names_its_own_file(tmp_path):
    _write(tmp_path / "mid.yaml", "base:\n  - _300w\n  - parts/gone.yaml\n")
    top = _write(tmp_path / "top.yaml", "base: mid.yaml\n")
    with pytest.raises(ConfigError, match=r"mid\.yaml:3: base parts/gone\.yaml: no such config"):
        load_config(top, check_paths=False)


def test_a_base_that_is_no_name_is_refused(tmp_path):
    config = _write(tmp_path / "c.yaml", "base: {name: _300w}\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: base must be a config name or path"):
        load_config(config, check_paths=False)


def test_a_base_chain_that_loops_is_refused(tmp_path):
    _write(tmp_path / "a.yaml", "base: [_300w, b.yaml]\n")
    b = _write(tmp_path / "b.yaml", "base: a.yaml\n")
    with pytest.raises(ConfigError, match=r"b\.yaml: 'base' chain loops back to itself"):
        load_config(b, check_paths=False)


PASTED_TWICE = """\
base: 300w_w_s3_bc
optim:
  lr: 0.001
  epochs: 5
codec:
  sigma: 2.0
optim:
  batch_size: 8
"""


def test_a_section_written_twice_is_an_error_with_both_lines(tmp_path, capsys):
    config = _write(tmp_path / "c.yaml", PASTED_TWICE)
    with pytest.raises(ConfigError) as err:
        load_config(config, check_paths=False)
    msg = str(err.value)
    assert msg.startswith(f"{config}:7: duplicate key 'optim' (first at line 2)")
    code, _, errs = run_cli(capsys, "train", "--config", str(config), "--print-config")
    assert code == 2 and "c.yaml:7: duplicate key 'optim'" in one_error_line(errs)
    # without the second section, the same file loads: the check is what refuses it
    fixed = _write(tmp_path / "fixed.yaml", PASTED_TWICE.rsplit("optim:", 1)[0])
    assert load_config(fixed, check_paths=False).optim.lr == 0.001


def test_duplicates_inside_a_section_and_in_a_flow_mapping_are_all_listed(tmp_path):
    text = "optim:\n  lr: 0.1\n  lr: 0.2\ncodec: {sigma: 1.0, sigma: 3.0}\n"
    config = _write(tmp_path / "c.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_raw(config)
    msg = str(err.value)
    assert msg.startswith(f"{config}:3: duplicate key 'lr' (first at line 2)")
    assert "'sigma' again at line 4 (first at 4)" in msg


def test_the_same_key_in_different_mappings_and_yaml_merge_keys_are_fine(tmp_path):
    text = (
        "optim: &o {lr: 0.1, epochs: 3}\n"
        "augment: {enabled: false}\n"
        "train: {seed: 1}\n"
        "model: {kwargs: {seed: 2}}\n"
    )
    assert load_raw(_write(tmp_path / "ok.yaml", text))["optim"] == {"lr": 0.1, "epochs": 3}
    merged = "a: &a {lr: 0.1, epochs: 3}\noptim:\n  <<: *a\n  lr: 0.2\n"
    assert load_raw(_write(tmp_path / "m.yaml", merged))["optim"] == {"lr": 0.2, "epochs": 3}


def test_a_study_config_with_a_key_twice_is_refused(tmp_path):
    study = _write(tmp_path / "s.yaml", "name: s\nseeds: [0]\nseeds: [1]\n")
    with pytest.raises(ValueError, match=r"s\.yaml:3: duplicate key 'seeds' \(first at line 2\)"):
        load_study_config(study, "cpu")


def test_a_misspelt_packaged_parent_gets_a_close_name(tmp_path):
    config = _write(tmp_path / "c.yaml", "base: [_300vv, _w_s3_bx]\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:1: base _300vv: .*did you mean '_300vw'"):
        load_config(config, check_paths=False)
    _write(config, "base: [_300vw, _w_s3_bx]\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:1: base _w_s3_bx: .*did you mean '_w_s3_bc'"):
        load_config(config, check_paths=False)
