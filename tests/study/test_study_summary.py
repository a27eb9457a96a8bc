import copy
import json

import pytest

from otmark.engine.config import list_configs
from otmark.losses.registry import LOSSES
from otmark.study.summary import (
    SummaryError,
    parse_setting_name,
    read_summary,
    validate_summary,
    write_summary,
)

# the example of the schema, filled in
EXAMPLE = {
    "mean_shape": {"300w-test": 16.3, "occlusion-large": 18.0},
    "cells": [
        {
            "setting": "l2_s1_max",
            "seed": 0,
            "lr": 0.001,
            "lr_candidates": [0.0005, 0.001, 0.003],
            "steps": 1800,
            "stopped_at_plateau": True,
            "nme": {"300w-test": 4.1, "occlusion-large": 7.5},
        },
        {
            "setting": "w_s3_bc_cc",
            "seed": 1,
            "lr": 0.003,
            "lr_candidates": [0.0005, 0.001, 0.003],
            "steps": 2400,
            "stopped_at_plateau": False,
            "nme": {"300w-test": 3.9},
            "experiment": "losses",
            "history": [
                {"step": 100, "train_loss": 0.5, "val_nme": 9.0},
                {"step": 200, "train_loss": 0.3, "val_nme": None},
            ],
        },
    ],
}


def test_round_trip_through_the_file(tmp_path):
    path = write_summary(tmp_path / "study" / "summary.json", EXAMPLE)
    assert read_summary(path) == EXAMPLE
    assert json.loads(path.read_text()) == EXAMPLE
    assert [p.name for p in path.parent.iterdir()] == ["summary.json"]  # no temporary left


def test_setting_names_of_the_packaged_configs_parse():
    names = {c.split("_", 1)[1] for c in list_configs()}  # "300w_w_s3_bc" -> "w_s3_bc"
    assert {"l2_s1_max", "w_s3_bc", "js_s1_bc", "softargmax_s1_bc", "w_s3_bc_cc"} <= names
    for name in names:
        parsed = parse_setting_name(name)
        assert parsed["loss"] in LOSSES
    assert parse_setting_name("w_s3_bc_cc") == {
        "loss": "wasserstein",
        "sigma": 3.0,
        "decoder": "get_bc",
        "coordconv": True,
    }
    assert parse_setting_name("js_s3_bc")["sigma"] == 3.0
    assert parse_setting_name("l2_s1.5_max")["sigma"] == 1.5


@pytest.mark.parametrize(
    "name", ["softargmax_bc", "W_s3_bc", "w_s3_getbc", "w_3_bc", "w_s3_bc_cc_x", "huber_s1_max"]
)
def test_bad_setting_names(name):
    with pytest.raises(ValueError, match="<loss>_s<sigma>_<decoder>"):
        parse_setting_name(name)


def broken(path, value):
    """EXAMPLE with the field at ``path`` (a tuple of keys) set to ``value`` (_DELETE: removed)."""
    data = copy.deepcopy(EXAMPLE)
    node = data
    for k in path[:-1]:
        node = node[k]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    "path, value, match",
    [
        (("mean_shape",), _DELETE, r"summary\.json: missing mean_shape"),
        (("extra",), 1, r"unknown field\(s\) extra"),
        (("mean_shape", "300w-test"), float("nan"), r"mean_shape\['300w-test'\]: must be a fin"),
        (("cells",), {}, "cells must be a list"),
        (("cells", 0, "setting"), "softargmax_bc", r"cells\[0\]\.setting: .*<loss>_s<sigma>"),
        (("cells", 0, "seed"), True, r"cells\[0\]\.seed: must be an integer"),
        (("cells", 0, "seed"), -1, r"cells\[0\]\.seed"),
        (("cells", 0, "lr"), 0.002, r"cells\[0\]\.lr: 0\.002 is not one of lr_candidates"),
        (("cells", 0, "lr_candidates"), [], r"cells\[0\]\.lr_candidates: must be a non-empty"),
        (("cells", 0, "lr_candidates", 1), "0.001", r"lr_candidates\[1\]: must be a number"),
        (("cells", 0, "steps"), 0, r"cells\[0\]\.steps: must be an integer >= 1"),
        (("cells", 0, "steps"), 10.5, r"cells\[0\]\.steps"),
        (("cells", 0, "stopped_at_plateau"), 1, r"stopped_at_plateau: must be true or false"),
        (("cells", 0, "nme"), {}, r"cells\[0\]\.nme: must be a non-empty mapping"),
        (("cells", 0, "nme", "300w-test"), -1.0, r"nme\['300w-test'\]: must be a finite number"),
        (("cells", 0, "nme", "blur-large"), 5.0, "blur-large missing from mean_shape"),
        (("cells", 0, "lr"), _DELETE, r"cells\[0\]: missing lr"),
        (("cells", 0, "label"), "x", r"cells\[0\]: unknown field\(s\) label"),
        (("cells", 1, "experiment"), "", r"cells\[1\]\.experiment: must be a non-empty string"),
        (("cells", 1, "history", 1, "step"), 100, r"history\[1\]\.step: must be an integer > 100"),
        (("cells", 1, "history", 0, "val_nme"), "9", r"history\[0\]\.val_nme: must be a finite"),
        (("cells", 1, "history", 0, "epoch"), 1, r"history\[0\]: must have exactly step"),
    ],
)
def test_schema_errors_name_the_field(path, value, match):
    with pytest.raises(SummaryError, match=match):
        validate_summary(broken(path, value))


def test_duplicate_cells_are_refused():
    data = copy.deepcopy(EXAMPLE)
    data["cells"].append(copy.deepcopy(data["cells"][0]))
    with pytest.raises(SummaryError, match=r"cells\[2\] repeats cells\[0\]"):
        validate_summary(data)
    # the same setting and seed in another block of the study is a different cell
    data["cells"][2]["experiment"] = "models"
    validate_summary(data)


def test_read_errors_name_the_file(tmp_path):
    path = tmp_path / "summary.json"
    with pytest.raises(SummaryError, match=r"summary\.json: file not found"):
        read_summary(path)
    path.write_text("{")
    with pytest.raises(SummaryError, match=r"summary\.json: not valid JSON"):
        read_summary(path)
    path.write_text(json.dumps(broken(("cells", 0, "seed"), "0")))
    with pytest.raises(SummaryError, match=rf"{tmp_path}.*cells\[0\]\.seed"):
        read_summary(path)


def test_invalid_data_is_not_written(tmp_path):
    path = tmp_path / "summary.json"
    write_summary(path, EXAMPLE)
    with pytest.raises(SummaryError):
        write_summary(path, broken(("cells", 0, "steps"), 0))
    assert read_summary(path) == EXAMPLE  # the old file is intact


# the claims list: one verdict per claim and protocol
CLAIM = {
    "claim": "w-vs-vanilla-occlusion",
    "protocol": "occlusion-large",
    "difference": -3.26,
    "ci": [-6.1, -0.9],
    "resampling": "seeds+images",
    "seeds": [0, 1, 2],
    "seed_signs": [-1, -1, -1],
    "verdict": "holds",
}


def with_claim(**changes):
    data = copy.deepcopy(EXAMPLE)
    data["claims"] = [{**CLAIM, **changes}]
    return data


def test_claims_round_trip(tmp_path):
    data = with_claim()
    data["claims"].append(
        {
            **CLAIM,
            "protocol": "300w-300vw",
            "ci": [-1.7, 0.3],
            "resampling": "seeds+videos",
            "seed_signs": [-1, 1, -1],
            "verdict": "not shown",
        }
    )
    path = write_summary(tmp_path / "summary.json", data)
    assert read_summary(path) == data


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(ci=[-0.9, -6.1]), r"claims\[0\]\.ci: must be \[lo, hi\]"),
        (dict(ci=[-1.0]), r"claims\[0\]\.ci"),
        (dict(resampling="images"), r"claims\[0\]\.resampling: must be one of seeds\+images"),
        (dict(seed_signs=[-1, -1]), r"seed_signs: must be -1, 0 or 1 for each of the 3 seeds"),
        (dict(seeds=[0, 0, 1]), r"claims\[0\]\.seeds: must be a non-empty list of distinct"),
        (dict(verdict="supports"), r"claims\[0\]\.verdict: must be one of holds"),
        (dict(difference=float("inf")), r"claims\[0\]\.difference: must be a finite number"),
        (dict(claim=""), r"claims\[0\]\.claim: must be a non-empty string"),
        # the interval lies below 0, but one seed disagrees: not shown, not holds
        (dict(seed_signs=[-1, 1, -1]), r"'holds' does not follow .* \(expected 'not shown'\)"),
        (dict(ci=[-1.0, 0.5]), r"'holds' does not follow"),
        (dict(ci=[0.5, 1.0], seed_signs=[1, 1, 1]), r"expected 'contradicted'"),
    ],
)
def test_claim_errors_name_the_field(changes, match):
    with pytest.raises(SummaryError, match=match):
        validate_summary(with_claim(**changes))


def test_claims_need_their_fields_and_are_unique():
    data = with_claim()
    del data["claims"][0]["seeds"]
    with pytest.raises(SummaryError, match=r"claims\[0\]: must have exactly ci, claim, diff"):
        validate_summary(data)
    data = with_claim()
    data["claims"].append(copy.deepcopy(data["claims"][0]))
    with pytest.raises(SummaryError, match=r"claims\[1\] repeats .*claims\[0\]"):
        validate_summary(data)
    with pytest.raises(SummaryError, match="claims: must be a list"):
        validate_summary({**EXAMPLE, "claims": {}})
