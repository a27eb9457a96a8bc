"""The report's paired comparison on hand-worked cell documents."""

import math

import numpy as np
import pytest

from otmark.study.report import compare, summary_data


def doc(setting, seed, test, occ, clean, checkpoints):
    ids = ["a", "b", "c"]

    def rec(values):
        return {"ids": ids, "nme_per_image": values, "summary": {"NME": float(np.mean(values))}}

    return {
        "cell": f"losses__{setting}__300w__seed{seed}",
        "experiment": "losses",
        "model": "hrnet_w18",
        "scheme": "300w",
        "setting": setting,
        "seed": seed,
        "lr": 1e-3,
        "lr_candidates": [1e-3, 2e-3, 3e-3],
        "lr_val_nme": [5.0, 4.0, 6.0],  # the learning-rate stage's validation NME per rate
        "steps": 10,
        "stopped_at_plateau": True,
        "history": [{"step": 10, "train_loss": 0.5, "val_nme": 4.0, "lr": 0.0}],
        "results": {"300w-test": rec(test), "occlusion-large": rec(occ)},
        "clean": {"occlusion-large:clean": rec(clean)},
        "checkpoints": [
            {"step": s, "nme": {"occlusion-large:clean": c, "occlusion-large": p}}
            for s, (c, p) in enumerate(checkpoints)
        ],
    }


DOCS = [
    # A beats B on every image in seed 0, loses on image c in seed 1
    doc("w_s3_bc", 0, [2, 3, 4], [5, 6, 7], [2, 3, 4], [(6.0, 9.0), (3.0, 6.0)]),
    doc("w_s3_bc", 1, [2, 3, 9], [5, 6, 7], [2, 3, 4], [(6.0, 9.0), (3.0, 6.0)]),
    doc("l2_s1_max", 0, [3, 4, 5], [9, 9, 9], [3, 3, 3], [(8.0, 12.0), (4.0, 10.0)]),
    doc("l2_s1_max", 1, [3, 4, 5], [9, 9, 9], [3, 3, 3], [(8.0, 12.0), (4.0, 10.0)]),
]


def test_paired_comparison_by_hand():
    res = compare(DOCS, "w_s3_bc", "l2_s1_max", "300w", "300w-test")
    assert res["seeds"] == [0, 1]
    # A - B per image: seed 0 (-1, -1, -1), seed 1 (-1, -1, 4): sum -1 over six values
    assert res["diff"].estimate == pytest.approx(-1 / 6)
    assert (res["wins"].wins, res["wins"].losses) == (1, 1)  # seed 1: mean +2/3
    assert "degradation" not in res  # a clean protocol has no clean counterpart

    occ = compare(DOCS, "w_s3_bc", "l2_s1_max", "300w", "occlusion-large")
    assert occ["diff"].estimate == pytest.approx(-3.0) and str(occ["wins"]) == "2/2"
    assert occ["diff"].high < 0  # every paired difference is negative
    # degradation: A (5-2, 6-3, 7-4) = 3 each, B (9-3) = 6 each: A - B = -3
    assert occ["degradation"].estimate == pytest.approx(-3.0)
    # matched clean NME: common target max(3, 4) = 4; A at clean 4 on (6, 9)-(3, 6): 7; B: 10
    assert occ["matched"]["clean"] == 4.0
    assert occ["matched"]["w_s3_bc"] == pytest.approx(7.0)
    assert occ["matched"]["l2_s1_max"] == pytest.approx(10.0)
    assert compare(DOCS, "w_s3_bc", "js_s3_bc", "300w", "300w-test") is None


#: the mean shape of the losses experiment, by (experiment, scheme)
MEAN_SHAPES = {
    ("losses", "300w"): {
        "train_on": "300w",
        "results": {
            "300w-test": {"summary": {"NME": 16.0}},
            "occlusion-large": {"summary": {"NME": 20.0}},
        },
    }
}


def test_summary_data_takes_the_mean_shape_of_the_training_scheme():
    mean = MEAN_SHAPES
    data = summary_data(DOCS, mean)
    assert data["mean_shape"] == {"300w-test": 16.0, "occlusion-large": 20.0}
    assert len(data["cells"]) == 4
    cell = next(c for c in data["cells"] if c["setting"] == "w_s3_bc" and c["seed"] == 1)
    assert cell["nme"]["300w-test"] == pytest.approx(14 / 3)
    assert cell["history"] == [{"step": 10, "train_loss": 0.5, "val_nme": 4.0}]
    assert not math.isnan(cell["nme"]["occlusion-large"])


def test_summary_data_carries_the_claims_verdicts():
    from otmark.study.summary import validate_summary

    mean = MEAN_SHAPES
    data = validate_summary(summary_data(DOCS, mean))
    by_key = {(c["claim"], c["protocol"]): c for c in data["claims"]}
    assert set(by_key) == {
        ("w-vs-vanilla-clean", "300w-test"),
        ("w-vs-vanilla-occlusion", "occlusion-large"),
    }
    # occlusion-large: A - B = (-4, -3, -2) in both seeds; the mean of three drawn images is
    # -4 (or -2) with probability 1/27 > 2.5 %, so the interval is [-4, -2]
    occ = by_key[("w-vs-vanilla-occlusion", "occlusion-large")]
    assert occ["difference"] == pytest.approx(-3.0) and occ["ci"] == pytest.approx([-4, -2])
    assert (occ["seeds"], occ["seed_signs"], occ["verdict"]) == ([0, 1], [-1, -1], "holds")
    assert occ["resampling"] == "seeds+images"
    # 300w-test: seed 1's mean difference is +2/3, so the claim is not shown
    clean = by_key[("w-vs-vanilla-clean", "300w-test")]
    assert clean["seed_signs"] == [-1, 1] and clean["verdict"] == "not shown"
