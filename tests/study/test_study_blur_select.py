"""The blur protocol's video selection rule and the records restricted to the kept videos, on
hand-worked numbers."""

import numpy as np
import pytest

from otmark.study.blur_select import (
    BlurSelect,
    TooFewVideosError,
    parse_blur_select,
    per_video_nme,
    select_competent_videos,
    video_of,
)
from otmark.study.restrict import image_columns, restrict_doc, restrict_record

# reference (300W-test) NMEs: limits at 2x are 5.0 for L2 and 6.0 for W
REF = {"l2": 2.5, "w": 3.0}


def test_a_video_at_exactly_twice_the_reference_qualifies_and_just_above_does_not():
    clean = {
        "l2": {"v1": 5.0, "v2": 5.0000001, "v3": 1.0},
        "w": {"v1": 6.0, "v2": 1.0, "v3": 6.0},
    }
    sel = select_competent_videos(clean, REF, factor=2.0, needed=2)
    assert sel.videos == ("v1", "v3")
    assert sel.failed_by == {"v2": ["l2"]}
    assert sel.limits == {"l2": 5.0, "w": 6.0}
    assert sel.candidates == 3


def test_each_model_is_judged_against_its_own_reference_not_the_average():
    # v1: l2 4.0 <= 5.0, w 6.5 > 6.0; the average (5.25) is below the average limit (5.5)
    # but W fails, so v1 is out; v2 fails for both
    clean = {"l2": {"v1": 4.0, "v2": 9.0, "v3": 2.0}, "w": {"v1": 6.5, "v2": 7.0, "v3": 2.0}}
    sel = select_competent_videos(clean, REF, needed=1)
    assert sel.videos == ("v3",)
    assert sel.failed_by == {"v1": ["w"], "v2": ["l2", "w"]}
    # a larger factor admits v1 (limits 7.5 and 9.0), not v2 (l2 9.0 > 7.5)
    assert select_competent_videos(clean, REF, factor=3.0).videos == ("v1", "v3")


def test_too_few_videos_is_an_error_naming_the_counts():
    clean = {"l2": {"v1": 1.0, "v2": 50.0, "v3": 60.0}, "w": {"v1": 1.0, "v2": 1.0, "v3": 1.0}}
    with pytest.raises(TooFewVideosError, match=r"1 of 3 candidate videos qualify.*2 needed"):
        select_competent_videos(clean, REF, needed=2)
    assert issubclass(TooFewVideosError, ValueError)


def test_models_must_score_the_same_videos_and_have_a_reference():
    with pytest.raises(ValueError, match="different videos"):
        select_competent_videos({"l2": {"v1": 1.0}, "w": {"v2": 1.0}}, REF)
    with pytest.raises(ValueError, match=r"no reference NME.*'js'"):
        select_competent_videos({"js": {"v1": 1.0}}, REF)
    with pytest.raises(ValueError, match="at least one model"):
        select_competent_videos({}, REF)


def test_per_video_nme_is_the_mean_of_its_frames():
    ids = ["516/000001", "516/000002", "559/000001", "a/b/000003"]
    assert per_video_nme(ids, [2.0, 4.0, 3.0, 7.0]) == {"516": 3.0, "559": 3.0, "a/b": 7.0}
    assert video_of("a/b/000003") == "a/b"
    with pytest.raises(ValueError, match="not '<video>/<frame>'"):
        video_of("000003")
    with pytest.raises(ValueError, match="2 ids but 1"):
        per_video_nme(["a/1", "a/2"], [1.0])


def test_config_section_and_its_errors():
    assert BlurSelect.from_dict({}) == BlurSelect()
    cfg = BlurSelect.from_dict({"needed": 3, "factor": 1.5, "settings": ["l2_s1_max"]})
    assert (cfg.needed, cfg.factor, cfg.settings) == (3, 1.5, ("l2_s1_max",))
    with pytest.raises(ValueError, match=r"s\.yaml: blur_select: unknown keys \['pool'\]"):
        BlurSelect.from_dict({"pool": 3}, "s.yaml: blur_select")
    with pytest.raises(ValueError, match=r"blur_select\.needed"):
        BlurSelect.from_dict({"needed": 0})
    with pytest.raises(ValueError, match=r"blur_select\.factor"):
        BlurSelect.from_dict({"factor": True})
    exps = {"losses": ("l2_s1_max", "w_s3_bc")}
    assert parse_blur_select(None, exps, 0, "x") is None
    with pytest.raises(ValueError, match=r"x\.settings: \['js_s1_bc'\]"):
        parse_blur_select({"settings": ["js_s1_bc"]}, exps, 0, "x")
    with pytest.raises(ValueError, match=r"x\.needed: 5 videos needed but .*blur_pool generates 4"):
        parse_blur_select({}, exps, 4, "x")
    with pytest.raises(ValueError, match=r"x\.experiment: no experiment 'models'"):
        parse_blur_select({"experiment": "models"}, exps, 8, "x")


# per-image NMEs (%) of 5 frames of two videos; frame ids "<video>/<frame>"
RECORD = {
    "num_images": 5,
    "num_points": 68,
    "summary": {"NME": 0.0, "FR^L_0.1": 1.0},
    "ced_image": [],
    "ids": ["v1/1", "v1/2", "v2/1", "v2/2", "v2/3"],
    "nme_per_image": [2.0, 12.0, 40.0, 4.0, 10.0],
    "frl05_per_image": [0.0, 50.0, 100.0, 10.0, 20.0],
}


def test_image_columns_by_hand():
    cols = image_columns(RECORD)
    assert cols["NME"] == pytest.approx(68 / 5)
    # failures: NME > 10 %: 12 and 40 (10 is not above 10): 2 of 5
    assert cols["FR^I_0.1"] == pytest.approx(40.0)
    assert cols["FR^I_0.08"] == pytest.approx(60.0)  # 12, 40, 10
    # AUC_0.1 = mean(max(0, 0.1 - v)) / 0.1 = (0.08 + 0 + 0 + 0.06 + 0) / 5 / 0.1 = 0.28
    assert cols["AUC^I_0.1"] == pytest.approx(28.0)


def test_a_record_restricted_to_one_video_recomputes_its_columns():
    thetas = [0.0, 0.05, 0.1, 0.3]
    rec = restrict_record(RECORD, {"v2"}, thetas)
    assert rec["ids"] == ["v2/1", "v2/2", "v2/3"] and rec["num_images"] == 3
    assert rec["nme_per_image"] == [40.0, 4.0, 10.0]
    s = rec["summary"]
    assert s["NME"] == pytest.approx(18.0)
    assert s["FR^I_0.1"] == pytest.approx(100 / 3)
    assert s["AUC^I_0.1"] == pytest.approx(100 * (0.06 / 3) / 0.1)
    assert s["FR^L_0.05"] == pytest.approx(130 / 3)
    assert "FR^L_0.1" not in s  # needs per-landmark errors, not stored
    assert rec["ced_image"] == pytest.approx([0.0, 1 / 3, 2 / 3, 2 / 3], abs=1e-5)  # 5 places
    assert RECORD["nme_per_image"][0] == 2.0  # the input is not changed
    with pytest.raises(ValueError, match="no image of videos"):
        restrict_record(RECORD, {"v9"}, thetas)


def test_a_restricted_document_keeps_only_the_final_checkpoint_nme():
    doc = {
        "results": {"blur-large": RECORD, "300w-test": {"summary": {"NME": 2.0}}},
        "clean": {"blur-large:clean": RECORD},
        "checkpoints": [
            {"step": 500, "nme": {"blur-large": 30.0, "300w-test": 3.0}},
            {"step": 900, "nme": {"blur-large": 13.6, "blur-large:clean": 13.6, "300w-test": 2.0}},
        ],
    }
    out = restrict_doc(doc, {"blur-large", "blur-large:clean"}, {"v1"}, np.linspace(0, 0.3, 4))
    assert out["results"]["blur-large"]["summary"]["NME"] == pytest.approx(7.0)
    assert out["results"]["300w-test"] is doc["results"]["300w-test"]
    assert out["clean"]["blur-large:clean"]["ids"] == ["v1/1", "v1/2"]
    assert out["checkpoints"][0]["nme"] == {"300w-test": 3.0}
    assert out["checkpoints"][1]["nme"]["blur-large"] == pytest.approx(7.0)
    assert doc["checkpoints"][0]["nme"]["blur-large"] == 30.0


def test_restricting_to_every_video_reproduces_the_evaluation_columns():
    """Round trip: the columns recomputed from a stored record's per-image values equal those
    of :func:`otmark.metrics.summary` on the full per-landmark errors."""
    from types import SimpleNamespace

    from otmark.metrics import summary
    from otmark.study.config import CED_THETAS
    from otmark.study.scoring import evaluation_record

    scale = np.linspace(0.5, 3.0, 12)[:, None]  # image NMEs from about 3 % to 18 %
    errors = np.random.default_rng(0).gamma(2.0, 0.03, size=(12, 68)) * scale
    ids = [f"v{i % 3}/{i:06d}" for i in range(12)]
    ev = SimpleNamespace(errors=errors, summary=summary(errors), ids=ids)
    record = evaluation_record(ev, CED_THETAS)
    again = restrict_record(record, {"v0", "v1", "v2"}, CED_THETAS)
    for key in ("NME", "FR^I_0.08", "FR^I_0.1", "AUC^I_0.1", "FR^L_0.05"):
        assert again["summary"][key] == pytest.approx(record["summary"][key], abs=1e-4), key
    assert again["ced_image"] == record["ced_image"]
    assert 0 < record["summary"]["FR^I_0.1"] < record["summary"]["FR^I_0.08"] < 100
