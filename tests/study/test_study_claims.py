"""The claims' verdicts on hand-worked cell documents."""

import numpy as np
import pytest

from otmark.study.claims import (
    CLAIMS,
    NOT_TESTABLE,
    Claim,
    Evidence,
    Term,
    claim_entries,
    combine,
    evidence,
    judge,
    pair,
    verdict_lines,
)
from otmark.study.stats import Interval, Wins


def rec(values, frl=None, ids=("a", "b", "c")):
    r = {
        "ids": list(ids),
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
    assert clean_ev.outcome == "holds" and clean_ev.wins.wins == 2
    assert clean_ev.seed_signs == [-1, -1] and clean_ev.resampling == "seeds+images"
    assert clean_ev.degradation is None  # no clean counterpart of a clean protocol
    occ = evidence(docs, claim, "occlusion-large")
    # degradation: A (3, 3, 3) minus B (6, 6, 6) = -3
    assert occ.degradation.estimate == pytest.approx(-3.0)
    # matched clean NME: common target max(3, 3) = 3 (both runs end at clean 3: A 6, B 9)
    assert occ.matched == {"clean": 3.0, "a": 6.0, "b": 9.0}
    (verdict,) = judge(docs, (claim,))
    assert verdict.verdict == "holds"


def test_outcomes_by_hand():
    # seed 0: A - B = (-1, -1, -1); seed 1: (+2, +2, +2). Resampling seeds: both drawn
    # (probability 1/2) gives 0.5, seed 0 twice (1/4) -1, seed 1 twice (1/4) +2
    docs = [
        doc("a", 0, [1, 1, 1]),
        doc("a", 1, [5, 5, 5]),
        doc("b", 0, [2, 2, 2]),
        doc("b", 1, [3, 3, 3]),
    ]
    ev = evidence(docs, Claim("k", "", "losses", pair("a", "b"), ("300w-test",)), "300w-test")
    assert ev.diff.estimate == pytest.approx(0.5)
    assert (ev.diff.low, ev.diff.high) == pytest.approx((-1.0, 2.0))
    assert ev.outcome == "not shown" and ev.seed_signs == [-1, 1]
    assert (ev.wins.wins, ev.wins.losses) == (1, 1)


def ev_of(low, high, signs):
    diffs = tuple(float(s) for s in signs)
    wins = Wins(signs.count(-1), signs.count(1), signs.count(0), diffs)
    iv = Interval((low + high) / 2, low, high, 0.95, 100, "seeds+images")
    return Evidence("300w-test", list(range(len(signs))), iv, wins)


@pytest.mark.parametrize(
    "low, high, signs, outcome",
    [
        (-2.0, -1.0, [-1, -1, -1], "holds"),
        (-2.0, -1.0, [-1, -1, 1], "not shown"),  # the interval alone is not enough
        (-2.0, -1.0, [-1, 0], "not shown"),
        (-2.0, 0.5, [-1, -1, -1], "not shown"),  # every seed alone is not enough
        (1.0, 2.0, [1, 1], "contradicted"),
        (1.0, 2.0, [1, -1], "not shown"),
    ],
)
def test_verdict_rule_needs_the_interval_and_every_seed(low, high, signs, outcome):
    assert ev_of(low, high, signs).outcome == outcome


def test_a_seed_of_the_other_sign_blocks_holds_even_with_an_interval_below_0():
    # five seeds: A - B = -1 on every image of seeds 0-3, +0.1 in seed 4; drawing seed 4 five
    # times has probability 5^-5, so the interval lies below 0, yet seed 4 disagrees
    docs = [doc("a", s, [1, 1, 1]) for s in range(5)]
    docs += [doc("b", s, [2, 2, 2]) for s in range(4)] + [doc("b", 4, [0.9, 0.9, 0.9])]
    ev = evidence(docs, Claim("k", "", "losses", pair("a", "b"), ("300w-test",)), "300w-test")
    assert ev.diff.high < 0
    assert ev.seed_signs == [-1, -1, -1, -1, 1] and ev.outcome == "not shown"


def test_video_protocols_resample_whole_videos_and_entries_name_them():
    ids = ("v1/000001", "v1/000002", "v2/000001")
    docs = []
    for seed in (0, 1):
        for setting, values in (("a", [1, 1, 1]), ("b", [2, 4, 2])):
            d = doc(setting, seed, [1, 1, 1])
            d["results"]["300w-300vw"] = rec(values, ids=ids)
            docs.append(d)
    claim = Claim("k", "A beats B", "losses", pair("a", "b"), ("300w-test", "300w-300vw"))
    (verdict,) = judge(docs, (claim,))
    test_ev, video_ev = verdict.evidence
    assert (test_ev.resampling, video_ev.resampling) == ("seeds+images", "seeds+videos")
    # A - B per frame: v1 (-1, -3), v2 (-1); drawing v2 twice gives -1, v1 twice -2, both
    # -5/3 (frames weighted); the estimate is -5/3
    assert video_ev.diff.estimate == pytest.approx(-5 / 3)
    assert (video_ev.diff.low, video_ev.diff.high) == pytest.approx((-2.0, -1.0))
    entries = claim_entries([verdict])
    assert entries[1] == {
        "claim": "k",
        "protocol": "300w-300vw",
        "difference": pytest.approx(-5 / 3),
        "ci": pytest.approx([-2.0, -1.0]),
        "resampling": "seeds+videos",
        "seeds": [0, 1],
        "seed_signs": [-1, -1],
        "verdict": "holds",
    }
    assert entries[0]["verdict"] == "not shown"  # A - B = 0 on 300w-test
    lines = "\n".join(verdict_lines([verdict]))
    assert "| 300w-300vw | seeds+videos |" in lines and "− − (seeds 0, 1)" in lines


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
    assert ev.diff.estimate == pytest.approx(-2.0) and ev.outcome == "holds"


def test_precision_claim_uses_per_image_failures_or_falls_back_to_seeds():
    frl_docs = [
        doc("w_s1_bc", 0, [1, 1, 1], frl=[0, 10, 20]),
        doc("w_s3_bc", 0, [1, 1, 1], frl=[10, 20, 30]),
    ]
    claim = Claim("k", "", "losses", pair("w_s1_bc", "w_s3_bc"), ("300w-test",), "FR^L_0.05")
    ev = evidence(frl_docs, claim, "300w-test")
    assert ev.diff.estimate == pytest.approx(-10.0) and ev.outcome == "holds"
    # cells scored before the per-image failures were stored: no interval, so nothing is
    # shown, though the per-seed sign is known
    old = [doc("w_s1_bc", 0, [1, 1, 1], frl=[0, 10, 20]), doc("w_s3_bc", 0, [1, 1, 1])]
    old[1]["results"]["300w-test"]["summary"]["FR^L_0.05"] = 20.0
    ev = evidence(old, claim, "300w-test")
    assert ev.diff is None and ev.wins.wins == 1 and ev.outcome == "not shown"
    assert claim_entries(judge(old, (claim,))) == []


@pytest.mark.parametrize(
    "outcomes,verdict",
    [
        ([], "not run"),
        (["holds", "holds"], "holds"),
        (["holds", "not shown"], "holds on 1 of 2"),
        (["not shown"], "not shown"),
        (["contradicted", "contradicted"], "contradicted"),
        (["contradicted", "not shown", "not shown"], "contradicted on 1 of 3"),
        (["contradicted", "holds"], "mixed"),
    ],
)
def test_combine(outcomes, verdict):
    assert combine(outcomes) == verdict


def test_combine_refuses_unknown_outcomes():
    with pytest.raises(ValueError, match="unknown outcome"):
        combine(["supports"])


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
