"""``base:`` with a list of parents, setting fragments, and how the packaged names are composed
from a dataset base and a setting (the resolved values themselves: test_config_resolution.py)."""

import yaml

from otmark.engine import list_configs, load_config
from otmark.engine.config import PACKAGED_DATASETS, load_raw, packaged_config_dir, resolve_config
from otmark.engine.config_files import config_source
from otmark.settings import PACKAGED


def _write(path, data: dict):
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_parents_merge_in_order_and_the_file_wins(tmp_path):
    _write(tmp_path / "a.yaml", {"optim": {"lr": 0.1, "epochs": 3}, "codec": {"sigma": 2.0}})
    _write(tmp_path / "b.yaml", {"optim": {"lr": 0.2}, "loss": {"name": "js"}})
    both = _write(tmp_path / "c.yaml", {"base": ["a.yaml", "b.yaml"], "codec": {"sigma": 5.0}})
    raw = load_raw(both)
    assert raw == {
        "optim": {"lr": 0.2, "epochs": 3},  # b after a; a's epochs kept
        "codec": {"sigma": 5.0},  # the file over both
        "loss": {"name": "js"},
    }
    flipped = _write(tmp_path / "d.yaml", {"base": ["b.yaml", "a.yaml"]})
    assert load_raw(flipped)["optim"] == {"lr": 0.1, "epochs": 3}


def test_a_user_config_on_a_packaged_name_a_list_and_a_file_path(tmp_path):
    one = _write(tmp_path / "one.yaml", {"base": "300w_w_s3_bc", "optim": {"epochs": 2}})
    cfg = load_config(one, check_paths=False)
    assert (cfg.loss.name, cfg.codec.sigma, cfg.codec.decoder) == ("wasserstein", 3.0, "get_bc")
    assert cfg.data.dataset == "300w" and cfg.optim.epochs == 2 and cfg.name == "one"
    # a dataset base with a setting fragment is the packaged config
    pair = _write(tmp_path / "pair.yaml", {"base": ["_wflw", "_w_s3_bc_cc"]})
    packaged = load_config("wflw_w_s3_bc_cc", check_paths=False).to_dict()
    got = load_config(pair, check_paths=False).to_dict()
    assert got["description"] == "Wasserstein loss, sigma 3, GET_BC, CoordConv"  # the fragment's
    for d in (got, packaged):
        d.pop("name"), d.pop("description")
    assert got == packaged
    # my own dataset file (absolute path) with a packaged setting
    (tmp_path / "sub").mkdir()
    mine = _write(tmp_path / "sub" / "data.yaml", {"data": {"dataset": "cofw", "root": "x"}})
    mixed = _write(tmp_path / "mixed.yaml", {"base": [str(mine), "_js_s1_bc"]})
    cfg = load_config(mixed, check_paths=False)
    assert (cfg.data.dataset, cfg.data.root, cfg.loss.name) == ("cofw", "x", "js")


def test_each_packaged_name_is_a_dataset_base_with_a_setting():
    names = list_configs()
    assert names == sorted(f"{d}_{s}" for d in PACKAGED_DATASETS for s in PACKAGED)
    for dataset in PACKAGED_DATASETS:  # the bases are files that name their dataset
        base = load_raw(packaged_config_dir() / f"_{dataset}.yaml")
        assert base["data"]["dataset"] == dataset
    path = resolve_config("aflw_l2_s3_max")
    assert path == packaged_config_dir() / "aflw_l2_s3_max.yaml" and not path.is_file()
    assert config_source(path) == "aflw_l2_s3_max.yaml (packaged: _aflw.yaml + setting l2_s3_max)"
    assert config_source(resolve_config("_w_s1_bc")) == "_w_s1_bc.yaml (packaged: setting w_s1_bc)"
    raw = load_raw(path)
    assert raw["description"] == "AFLW, ablation: heatmap L2, sigma 3, GET_MAX"
    assert raw["optim"] == {"lr": 2.0e-4}  # from _aflw.yaml
    assert raw["codec"] == {"sigma": 3.0, "decoder": "get_max"}


def test_the_packaged_folder_holds_the_bases_and_the_recipes_only():
    top = sorted(p.name for p in packaged_config_dir().glob("*.yaml"))
    assert top == sorted(["_hrnet_face.yaml"] + [f"_{d}.yaml" for d in PACKAGED_DATASETS])
    assert len(list(packaged_config_dir().rglob("*.yaml"))) <= 15
