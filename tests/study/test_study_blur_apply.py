"""The study's blur-video selection wired into the report, on tiny hand-made cells."""

import json

import numpy as np
import pytest

from otmark.study import report as report_module
from otmark.study.blur_apply import apply_blur_selection, blur_protocols
from otmark.study.blur_select import SELECTION_FILE, TooFewVideosError
from otmark.study.config import CED_THETAS, load_study_config
from otmark.study.robust_table import robustness_rows

CONFIG = """
name: t
results: {results}
data: {data}
benchmark: {{w300_train: 8, wflw_train: 3, vw_videos: 1, vw_frames: 3, image_size: 64,
            blur_pool: 3}}
val_faces: 2
train:
  codec: {{input_size: 64, heatmap_size: 16}}
  optim: {{batch_size: 4, schedule: warmup_cosine, steps: 1,
          lr_candidates: [1.0e-3, 2.0e-3, 3.0e-3]}}
lr_select: {{settings: [l2_s1_max, w_s3_bc]}}
seeds: [0]
settings: [l2_s1_max, w_s3_bc]
blur_select: {{needed: {needed}, factor: 2.0}}
experiments:
  losses: {{model: hrnet_w18, train_on: 300w, settings: [l2_s1_max, w_s3_bc],
           protocols: [300w-test, blur-large]}}
"""

VIDEOS = ["pool000", "pool001", "pool002"]


def study_of(tmp_path, needed=2):
    p = tmp_path / "s.yaml"
    p.write_text(CONFIG.format(results=tmp_path / "res", data=tmp_path / "data", needed=needed))
    return load_study_config(p, device="cpu")


def rec(per_video):
    """A record of two frames per video: ``per_video`` = [(nme frame 1, nme frame 2), ...]."""
    ids = [f"{v}/{f:06d}" for v in VIDEOS for f in (1, 2)]
    nme = [float(x) for pair in per_video for x in pair]
    values = np.array(nme).reshape(-1, 1) / 100
    return {
        "ids": ids,
        "nme_per_image": nme,
        "frl05_per_image": [0.0] * len(nme),
        "summary": {"NME": float(np.mean(nme)), "FR^L_0.05": 0.0},
        "ced_image": [float(np.mean(values[:, 0] <= t)) for t in CED_THETAS],
    }


def cell(setting, test_nme, clean, blur):
    test = {"ids": ["a", "b"], "nme_per_image": [test_nme] * 2, "frl05_per_image": [0.0] * 2,
            "summary": {"NME": test_nme, "FR^L_0.05": 0.0}, "ced_image": [1.0] * len(CED_THETAS)}
    return {
        "cell": f"losses__{setting}__300w__seed0",
        "experiment": "losses",
        "key": {"experiment": {"schemes": ["300w"]}},
        "model": "hrnet_w18",
        "scheme": "300w",
        "setting": setting,
        "seed": 0,
        "lr": 1e-3,
        "lr_candidates": [1e-3, 2e-3, 3e-3],
        "lr_val_nme": [5.0, 4.0, 6.0],
        "steps": 10,
        "stopped_at_plateau": True,
        "seconds": {"total": 1.0},
        "hardware": "cpu",
        "history": [{"step": 10, "train_loss": 0.5, "val_nme": 4.0}],
        "results": {"300w-test": test, "blur-large": rec(blur)},
        "clean": {"blur-large:clean": rec(clean)},
        "checkpoints": [
            {"step": 5, "nme": {"300w-test": 9.0, "blur-large": 60.0, "blur-large:clean": 9.0}},
            {"step": 10, "nme": {"300w-test": test_nme, "blur-large": 0.0,
                                 "blur-large:clean": 0.0}},
        ],
    }


# L2: 300W-test 2.0 (limit 4.0): clean per video 3, 9, 4 -> pool001 fails, pool002 at the limit
L2 = cell("l2_s1_max", 2.0, [(3, 3), (9, 9), (4, 4)], [(20, 5), (50, 50), (8, 12)])
# W: 300W-test 3.0 (limit 6.0): clean 5, 2, 6 -> all pass
W = cell("w_s3_bc", 3.0, [(5, 5), (2, 2), (6, 6)], [(4, 4), (40, 40), (6, 6)])


def test_blur_videos_are_chosen_from_the_core_cells_and_stored_with_their_inputs(tmp_path):
    study = study_of(tmp_path)
    assert study.benchmark.blur_pool == 3 and study.blur_select.needed == 2
    assert "blur_pool" in study.cell_key(study.cells()[0])["benchmark"]
    assert blur_protocols(study) == ["blur-large"]
    docs, _, lines, withheld = apply_blur_selection(study, [L2, W], {}, tmp_path)
    assert withheld == set()
    stored = json.loads((tmp_path / SELECTION_FILE).read_text())
    assert stored["selected"] == ["pool000", "pool002"]
    assert stored["failed_by"] == {"pool001": ["losses__l2_s1_max__300w__seed0"]}
    assert stored["reference_nme"] == {
        "losses__l2_s1_max__300w__seed0": 2.0,
        "losses__w_s3_bc__300w__seed0": 3.0,
    }
    assert stored["clean_nme_by_video"]["losses__w_s3_bc__300w__seed0"]["pool002"] == 6.0
    assert "2 of 3 candidate videos kept" in "\n".join(lines)
    l2 = docs[0]["results"]["blur-large"]
    assert l2["ids"] == ["pool000/000001", "pool000/000002", "pool002/000001", "pool002/000002"]
    # 20, 5, 8, 12: NME 11.25, failures (> 10 %) 20 and 12, AUC (0 + .05 + .02 + 0) / 4 / .1
    assert l2["summary"]["NME"] == pytest.approx(11.25)
    assert l2["summary"]["FR^I_0.1"] == pytest.approx(50.0)
    assert l2["summary"]["AUC^I_0.1"] == pytest.approx(17.5)
    assert docs[0]["checkpoints"][0]["nme"] == {"300w-test": 9.0}
    assert docs[0]["results"]["300w-test"] is L2["results"]["300w-test"]


def test_blur_results_are_withheld_until_every_core_cell_is_done(tmp_path):
    study = study_of(tmp_path)
    docs, _, lines, withheld = apply_blur_selection(study, [L2], {}, tmp_path)
    assert withheld == {"blur-large", "blur-large:clean"}
    assert set(docs[0]["results"]) == {"300w-test"} and docs[0]["clean"] == {}
    assert "1 of 2 cells" in "\n".join(lines)
    assert not (tmp_path / SELECTION_FILE).exists()


def test_too_few_qualifying_videos_is_an_error_after_storing_the_inputs(tmp_path):
    study = study_of(tmp_path, needed=3)
    with pytest.raises(TooFewVideosError, match=r"2 of 3 candidate videos.*3 needed.*blur_sel"):
        apply_blur_selection(study, [L2, W], {}, tmp_path)
    stored = json.loads((tmp_path / SELECTION_FILE).read_text())
    assert stored["selected"] is None and "3 needed" in stored["error"]


def test_report_shows_fr_and_auc_beside_nme_on_the_kept_videos(tmp_path, monkeypatch):
    monkeypatch.setattr(report_module, "plot_ced", lambda *a, **k: None)
    study = study_of(tmp_path)
    path = report_module.write_report(study, docs=[L2, W], out=tmp_path / "out")
    text = path.read_text()
    assert "## Blur protocols" in text and "pool000, pool002" in text
    row = next(line for line in text.splitlines() if line.startswith("| blur-large | hrnet"))
    assert row.split("|")[3:6] == [" 11.25 ± - (1) ", " 50.00 ± - (1) ", " 17.50 ± - (1) "]
    assert (tmp_path / "out" / SELECTION_FILE).is_file()


def test_robustness_rows_by_hand():
    docs = [{"results": {"blur-large": rec([(2, 12), (40, 4), (10, 10)])}}]
    shape = {"results": {"blur-large": rec([(50, 50), (50, 50), (5, 5)])}}
    (ms, row) = robustness_rows(["blur-large"], {"W": docs}, shape)
    assert ms == ("blur-large", "mean shape", {"NME": "35.00", "FR^I_0.1": "66.67",
                                                "AUC^I_0.1": "16.67"})
    # 2, 12, 40, 4, 10, 10: NME 13.0, failures 12 and 40; AUC (.08 + .06) / 6 / .1
    assert row[2] == {"NME": "13.00 ± - (1)", "FR^I_0.1": "33.33 ± - (1)",
                      "AUC^I_0.1": "23.33 ± - (1)"}
