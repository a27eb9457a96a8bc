"""The claims' verdicts on hand-worked cell documents."""

import numpy as np
import pytest

from otmark.study.claims import (
    CLAIMS,
    NOT_TESTABLE,
    Claim,
    Term,
    combine,
    evidence,
    judge,
    pair,
    verdict_lines,
)


def rec(values, frl=None):
    r = {
        "ids": ["a", "b", "c"],
        "nme_per_image": list(values),
        "summary": {"NME": float(np.mean(values))},
    }
    if frl is not None:
        r["frl05_per_image"] = list(frl)
        r["summary"]["FR^L_0.05"] = float(np.mean(frl))
    return r


def doc(setting, seed, test, occ=None, clean=None, frl=None, scheme="300w", exp="losses"):
    results = {"300w-test": rec(test, frl)}
    d = {"experiment": exp, "setting": setting, "seed": seed, "scheme": scheme, "clean": {}}
    if occ is not None:
        results["occlusion-large"] = rec(occ)
        d["clean"] = {"occlusion-large:clean": rec(clean)}
        d["checkpoints"] = [
            {"step": 1, "nme": {"occlusion-large:clean": 8.0, "occlusion-large": 12.0}},
            {
                "step": 2,
                "nme": {
                    "occlusion-large:clean": float(np.mean(clean)),
                    "occlusion-large": float(np.mean(occ)),
                },
            },
        ]
    d["results"] = results
    return d


def test_pair_supports_when_every_image_is_better():
    docs = [
        doc("w_s3_bc", 0, [2, 3, 4], [5, 6, 7], [2, 3, 4]),
        doc("w_s3_bc", 1, [2, 3, 4], [5, 6, 7], [2, 3, 4]),
        doc("l2_s1_max", 0, [3, 4, 5], [9, 9, 9], [3, 3, 3]),
        doc("l2_s1_max", 1, [3, 4, 5], [9, 9, 9], [3, 3, 3]),
    ]
    claim = Claim(
        "k", "W beats L2", "losses", pair("w_s3_bc", "l2_s1_max"), ("300w-test", "occlusion-large")
    )
    clean_ev = evidence(docs, claim, "300w-test")
    # A - B = -1 on every image of both seeds: the interval is the point -1
    assert clean_ev.diff.estimate == pytest.approx(-1.0)
    assert clean_ev.diff.low == pytest.approx(-1.0) and clean_ev.diff.high == pytest.approx(-1.0)
    assert clean_ev.outcome == "supports" and clean_ev.wins.wins == 2
    assert clean_ev.degradation is None  # no clean counterpart of a clean protocol
    occ = evidence(docs, claim, "occlusion-large")
    # degradation: A (3, 3, 3) minus B (6, 6, 6) = -3
    assert occ.degradation.estimate == pytest.approx(-3.0)
    # matched clean NME: common target max(3, 3) = 3 (both runs end at clean 3: A 6, B 9)
    assert occ.matched == {"clean": 3.0, "a": 6.0, "b": 9.0}
    (verdict,) = judge(docs, (claim,))
    assert verdict.verdict == "holds"


def test_outcomes_by_hand():
    # seed 0: A - B = (-1, -1, -1); seed 1: (+2, +2, +2): image means (0.5, 0.5, 0.5)
    docs = [
        doc("a", 0, [1, 1, 1]),
        doc("a", 1, [5, 5, 5]),
        doc("b", 0, [2, 2, 2]),
        doc("b", 1, [3, 3, 3]),
    ]
    ev = evidence(docs, Claim("k", "", "losses", pair("a", "b"), ("300w-test",)), "300w-test")
    assert ev.diff.estimate == pytest.approx(0.5)
    assert ev.diff.low == pytest.approx(0.5)  # every image has the same mean over seeds
    assert ev.outcome == "contradicts"
    assert (ev.wins.wins, ev.wins.losses) == (1, 1)


def test_interaction_contrast_of_four_cells():
    # (W - L2)[98] - (W - L2)[17], negated: the claim "W gains less at 98 points"
    docs = [
        doc("w_s3_bc", 0, [4, 4, 4], scheme="wflw", exp="density"),
        doc("l2_s1_max", 0, [5, 5, 5], scheme="wflw", exp="density"),
        doc("w_s3_bc", 0, [4, 4, 4], scheme="17", exp="density"),
        doc("l2_s1_max", 0, [7, 7, 7], scheme="17", exp="density"),
    ]
    claim = Claim(
        "k",
        "",
        "density",
        (
            Term(-1.0, "w_s3_bc", "wflw"),
            Term(1.0, "l2_s1_max", "wflw"),
            Term(1.0, "w_s3_bc", "17"),
            Term(-1.0, "l2_s1_max", "17"),
        ),
        ("300w-test",),
    )
    ev = evidence(docs, claim, "300w-test")
    # gain at 98: 5 - 4 = 1; at 17: 7 - 4 = 3; contrast -(-1) ... = -4 + 5 + 4 - 7 = -2
    assert ev.diff.estimate == pytest.approx(-2.0) and ev.outcome == "supports"


def test_precision_claim_uses_per_image_failures_or_falls_back_to_seeds():
    frl_docs = [
        doc("w_s1_bc", 0, [1, 1, 1], frl=[0, 10, 20]),
        doc("w_s3_bc", 0, [1, 1, 1], frl=[10, 20, 30]),
    ]
    claim = Claim("k", "", "losses", pair("w_s1_bc", "w_s3_bc"), ("300w-test",), "FR^L_0.05")
    ev = evidence(frl_docs, claim, "300w-test")
    assert ev.diff.estimate == pytest.approx(-10.0) and ev.outcome == "supports"
    # cells scored before the per-image failures were stored: the per-seed signs decide
    old = [doc("w_s1_bc", 0, [1, 1, 1], frl=[0, 10, 20]), doc("w_s3_bc", 0, [1, 1, 1])]
    old[1]["results"]["300w-test"]["summary"]["FR^L_0.05"] = 20.0
    ev = evidence(old, claim, "300w-test")
    assert ev.diff is None and ev.wins.wins == 1 and ev.outcome == "supports"


@pytest.mark.parametrize(
    "outcomes,verdict",
    [
        ([], "not run"),
        (["supports", "supports"], "holds"),
        (["supports", "no difference"], "holds on 1 of 2"),
        (["no difference"], "not shown"),
        (["contradicts", "contradicts"], "contradicted"),
        (["contradicts", "no difference", "no difference"], "contradicted on 1 of 3"),
        (["contradicts", "supports"], "mixed"),
    ],
)
def test_combine(outcomes, verdict):
    assert combine(outcomes) == verdict


def test_every_claim_names_packaged_settings_and_renders():
    from otmark.study.config import load_study_config

    study = load_study_config("paper")
    for claim in CLAIMS:
        (exp,) = [e for e in study.experiments if e.name == claim.experiment]
        assert {t.setting for t in claim.contrast} <= set(exp.settings), claim.key
        assert set(claim.protocols) <= set(exp.protocols), claim.key
        assert all(t.scheme is None or t.scheme in exp.schemes for t in claim.contrast)
    lines = verdict_lines(judge([]))
    assert sum("not run" in line for line in lines) == len(CLAIMS)
    assert all(text in "\n".join(lines) for text, _ in NOT_TESTABLE)
