"""Learning-rate families, the converged2 study config, the learning-rate stage per family
(with a fake training), ``lr_curve`` in ``summary.json`` and the study's plan."""

from __future__ import annotations

import copy
import json
import math
from types import SimpleNamespace

import pytest

from otmark.study.config import (
    key_hash,
    load_study_config,
    lr_select_config,
    training_family,
)
from otmark.study.plan import plan_study
from otmark.study.report import _summary_cells
from otmark.study.summary import SummaryError, read_summary, validate_summary, write_summary

HR = "hrnet_w18__300w__"


@pytest.fixture(scope="module")
def converged2():
    return load_study_config("converged2", device="cpu")


def test_families_of_the_converged2_grid(converged2):
    study = converged2
    fams = study.families()
    assert list(fams) == [
        HR + "l2_s1",
        HR + "wasserstein_s3",
        HR + "l2_s3",
        HR + "js_s3",
        HR + "wasserstein_s1",
        HR + "js_s1",
        HR + "soft_argmax_s1",
        "simple_baseline_r18__300w__l2_s1",
        "simple_baseline_r18__300w__wasserstein_s3",
        "hrnet_w18__wflw__l2_s1",
        "hrnet_w18__wflw__wasserstein_s3",
    ]
    by_id = {c.id: study.family_of(c) for c in study.cells()}
    # the decoder, CoordConv and the landmark scheme do not change the family
    assert by_id["losses__l2_s1_bc__300w__seed0"] == HR + "l2_s1"
    assert by_id["losses__w_s3_bc_cc__300w__seed0"] == HR + "wasserstein_s3"
    assert by_id["density__w_s3_bc__17__seed1"] == "hrnet_w18__wflw__wasserstein_s3"
    # another model, another dataset: another family
    assert by_id["models__w_s3_bc__300w__seed0"] == "simple_baseline_r18__300w__wasserstein_s3"
    assert by_id["density__l2_s1_max__wflw__seed0"] == "hrnet_w18__wflw__l2_s1"
    # a family trains its first setting on its own model, dataset and scheme
    sb = fams["simple_baseline_r18__300w__wasserstein_s3"]
    assert (sb.model, sb.train_on, sb.scheme, sb.setting) == (
        "simple_baseline_r18",
        "300w",
        "300w",
        "w_s3_bc",
    )
    wflw = fams["hrnet_w18__wflw__l2_s1"]
    assert (wflw.train_on, wflw.scheme) == ("wflw", "wflw")
    cfg = lr_select_config(study, "simple_baseline_r18__300w__wasserstein_s3", "<r>", 1e-3)
    assert (cfg.model.name, cfg.loss.name, cfg.codec.sigma, cfg.optim.lr) == (
        "simple_baseline_r18",
        "wasserstein",
        3.0,
        1e-3,
    )


def test_training_family_and_the_paper_config_keep_one_rate_per_loss(converged2):
    setting = converged2.cells()[0].setting
    assert training_family("m", "wflw", setting) == "m__wflw__l2_s1"
    paper = load_study_config("paper", device="cpu")
    assert {paper.family_of(c) for c in paper.cells()} == {
        "l2",
        "wasserstein",
        "js",
        "soft_argmax",
    }
    assert paper.lr_select.per == "loss" and paper.lr_select.max_extensions == 0
    assert paper.lr_path("l2").name == "l2.json"  # the stored choices keep their names


def test_converged2_config_matches_the_issue(converged2):
    study = converged2
    cells = study.cells()
    assert study.results_dir.as_posix().endswith("results/study/converged2/cpu")
    seeds = {}
    for c in cells:
        if c.experiment.name == "losses":
            seeds.setdefault(c.setting.name, set()).add(c.seed)
    assert seeds["l2_s1_max"] == seeds["w_s3_bc"] == {0, 1, 2}  # the core pair
    assert seeds["l2_s3_max"] == seeds["js_s3_bc"] == {0, 1}  # the equal-sigma pair
    assert len(cells) == 39 and len({c.training_id for c in cells}) == 34
    for cell in cells:
        o = study.cell_config(cell).optim
        assert o.max_steps == 4000 and o.plateau.enabled and o.plateau.smooth_window == 3
        assert o.spike_guard.enabled  # the stable-training rule, the same for every cell
        assert study.cell_config(cell).train.bn_recalibrate == 8
        assert o.grad_clip_norm is None and not o.grad_clip_adaptive.enabled  # measured: no
    sel = study.lr_select
    assert (sel.per, sel.min_candidates, sel.min_decades) == ("family", 5, 1.5)
    assert sel.max_extensions >= 1
    for fam in study.families():
        o = lr_select_config(study, fam, "<r>", None).optim
        rates = sorted(o.lr_candidates)
        assert len(rates) >= 5 and math.log10(rates[-1] / rates[0]) >= 1.5
        # the cells' own schedule and plateau rule, to a lower cap (>= 1000 steps)
        assert o.schedule == "constant_then_decay" and o.plateau.enabled
        assert o.plateau.smooth_window == 3 and 1000 <= o.max_steps <= 4000


CONFIG = """
name: t
results: {results}
data: {data}
benchmark: {{w300_train: 8, wflw_train: 3, vw_videos: 1, vw_frames: 3, image_size: 64}}
val_faces: 2
train:
  codec: {{input_size: 64, heatmap_size: 16}}
  optim: {{batch_size: 4, schedule: warmup_cosine, steps: 1,
          lr_candidates: [1.0e-4, 3.0e-4, 1.0e-3, 3.0e-3, 1.0e-2]}}
lr_select: {{per: family, min_candidates: 5, min_decades: 1.5, max_extensions: 2}}
shard_cost: {{model: {{hrnet_w18: 0.5}}, loss: {{wasserstein_s3: 1.0}}}}
seeds: [0]
settings: [l2_s1_max, l2_s1_bc, w_s3_bc]
experiments:
  losses: {{model: hrnet_w18, train_on: 300w, settings: [l2_s1_max, l2_s1_bc, w_s3_bc],
           protocols: [300w-test, occlusion-large]}}
"""


def _study(tmp_path, text=CONFIG):
    p = tmp_path / "s.yaml"
    p.write_text(text.format(results=tmp_path / "res", data=tmp_path / "data"))
    return load_study_config(p, device="cpu")


def test_family_config_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"lr_select\.per: must be 'loss' or 'family'"):
        _study(tmp_path, CONFIG.replace("per: family", "per: model"))
    with pytest.raises(ValueError, match=r"lr_select\.max_extensions: must be an integer >= 0"):
        _study(tmp_path, CONFIG.replace("max_extensions: 2", "max_extensions: -1"))
    with pytest.raises(ValueError, match=r"span 1\.00 decades, fewer than 1\.5"):
        _study(tmp_path, CONFIG.replace("1.0e-4, 3.0e-4, 1.0e-3,", "1.0e-3, 2.0e-3, 4.0e-3,"))


def test_the_lr_stage_extends_the_grid_and_stores_every_curve(tmp_path, monkeypatch):
    import otmark.study.runner as st

    study = _study(tmp_path)
    # validation NME by (setting, rate): L2's best is at the top edge (1e-2) until the
    # extension 3.33333e-2 diverges; W's best is inside (1e-3)
    nme = {
        "l2_s1_max": {1e-4: 9.0, 3e-4: 8.0, 1e-3: 7.0, 3e-3: 6.0, 1e-2: 5.0, 3.33333e-2: None},
        "w_s3_bc": {1e-4: 6.0, 3e-4: 5.0, 1e-3: 4.0, 3e-3: 4.5, 1e-2: 7.0},
    }
    trained = []

    def fake_train_model(cfg, train, val, log=None, keep_every=0):
        setting = "l2_s1_max" if cfg.loss.name == "l2" else "w_s3_bc"
        value = nme[setting][cfg.optim.lr]
        trained.append((setting, cfg.optim.lr))
        if value is None:
            raise FloatingPointError("non-finite loss")
        history = [{"step": 1, "train_loss": 0.1, "val_nme": value, "lr": cfg.optim.lr}]
        return SimpleNamespace(val_nme=value, steps=1, history=history)

    monkeypatch.setattr(st, "train_model", fake_train_model)
    monkeypatch.setattr(st, "training_data", lambda *a, **k: ([], []))
    roots = {"300w": tmp_path / "data" / "300W"}
    fams = {study.family_of(c) for c in study.cells()}
    assert fams == {HR + "l2_s1", HR + "wasserstein_s3"}
    out = st.run_lr_stage(study, fams, roots, log=lambda m: None)
    l2 = out[HR + "l2_s1"]
    assert l2["lr"] == 1e-2 and l2["inside"] and l2["extensions"] == [3.33333e-2]
    assert l2["val_nme"] == [9.0, 8.0, 7.0, 6.0, 5.0, None]
    assert set(l2["curves"]) == {"0.0001", "0.0003", "0.001", "0.003", "0.01", "0.0333333"}
    assert l2["curves"]["0.01"][0]["val_nme"] == 5.0 and l2["curves"]["0.0333333"] == []
    w = out[HR + "wasserstein_s3"]
    assert w["lr"] == 1e-3 and w["extensions"] == [] and w["family"] == HR + "wasserstein_s3"
    # stored under the family; the cells of the family read it (decoder variant included)
    assert study.lr_of(HR + "l2_s1") == json.loads(study.lr_path(HR + "l2_s1").read_text())
    for cell in study.cells():
        want = 1e-2 if cell.setting.loss == "l2" else 1e-3
        assert study.cell_key(cell)["lr"] == want
    # a second stage reads the stored candidates back and trains nothing
    n = len(trained)
    path = study.lr_path(HR + "l2_s1")
    path.unlink()
    again = st.run_lr_stage(study, fams, roots, log=lambda m: None)
    assert len(trained) == n and again[HR + "l2_s1"]["lr"] == 1e-2
    assert st.lr_curve(again[HR + "l2_s1"])["0.0333333"] is None


def test_the_plan_adds_up_by_hand(tmp_path):
    study = _study(tmp_path)
    plan = plan_study(study, expected_share=0.5)
    lr = {r.name: r for r in plan.rows if r.kind == "lr"}
    train = [r for r in plan.rows if r.kind == "train"]
    # lr: 5 candidates (+2 extensions) x 1 step; L2 0.5 s/step, W 1.5 s/step (model + extra)
    assert lr[HR + "l2_s1"].worst_hours() == pytest.approx(7 * 1 * 0.5 / 3600)
    assert lr[HR + "wasserstein_s3"].expected_hours(0.5) == pytest.approx(5 * 0.5 * 1.5 / 3600)
    # trainings: l2_s1_max + l2_s1_bc share one; scoring: 2 protocols x 5 s x (0.5 / 0.42) per
    # pass, one pass (score_every 0: only the end), once per cell
    assert [r.name for r in train] == [
        "losses__l2_s1_max__300w__seed0 + losses__l2_s1_bc__300w__seed0",
        "losses__w_s3_bc__300w__seed0",
    ]
    score = 2 * 5.0 * 0.5 / 0.42
    assert train[0].score_s == pytest.approx(2 * score)
    assert train[1].worst_hours() == pytest.approx((1 * 1.5 + score) / 3600)
    assert plan.total() == pytest.approx(sum(r.worst_hours() for r in plan.rows))
    assert plan.lines()[-1].startswith("total: learning-rate stage")


EXAMPLE = {
    "mean_shape": {"300w-test": 16.3},
    "cells": [
        {
            "setting": "l2_s1_max",
            "seed": 0,
            "lr": 0.005,
            "lr_candidates": [0.000166667, 0.0005, 0.0015, 0.005, 0.015],
            "steps": 2600,
            "stopped_at_plateau": True,
            "nme": {"300w-test": 4.1},
            "lr_curve": {
                "0.000166667": 30.5,
                "0.0005": 12.0,
                "0.0015": 6.1,
                "0.005": 4.0,
                "0.015": None,
            },
        }
    ],
}


def test_lr_curve_round_trip_and_errors(tmp_path):
    path = write_summary(tmp_path / "summary.json", EXAMPLE)
    assert read_summary(path) == EXAMPLE
    bad = copy.deepcopy(EXAMPLE)
    del bad["cells"][0]["lr_curve"]["0.015"]
    with pytest.raises(SummaryError, match=r"cells\[0\]\.lr_curve: rates .* are not lr_cand"):
        validate_summary(bad)
    bad = copy.deepcopy(EXAMPLE)
    bad["cells"][0]["lr_curve"]["0.005"] = math.inf
    with pytest.raises(SummaryError, match=r"lr_curve\['0\.005'\]: must be a finite number"):
        validate_summary(bad)


def test_the_report_gives_each_cell_its_lr_curve():
    doc = {
        "cell": "losses__l2_s1_max__300w__seed0",
        "setting": "l2_s1_max",
        "seed": 0,
        "lr": 0.005,
        "lr_candidates": [0.0005, 0.0015, 0.005],
        "lr_val_nme": [57.31, 40.84, 24.61],  # the converged study's L2 row
        "steps": 1950,
        "stopped_at_plateau": True,
        "results": {"300w-test": {"summary": {"NME": 4.0}}},
        "history": [],
        "experiment": "losses",
        "model": "hrnet_w18",
        "scheme": "300w",
    }
    (cell,) = _summary_cells([doc])
    assert cell["lr_curve"] == {"0.0005": 57.31, "0.0015": 40.84, "0.005": 24.61}
    stored = {**doc, "lr_curve": {"0.0005": 1.0, "0.0015": 2.0, "0.005": 3.0}}
    assert _summary_cells([stored])[0]["lr_curve"] == stored["lr_curve"]
    validate_summary({"mean_shape": {"300w-test": 16.0}, "cells": [cell]})
    assert key_hash({"a": 1}) == key_hash({"a": 1})


def test_stable_training_options_enter_a_cells_definition_only_when_on(converged2):
    paper = load_study_config("paper", device="cpu")
    optim = paper.cell_key(paper.cells()[0])["config"]["optim"]
    # off (the defaults): the keys of the cells stored before the options existed
    assert "grad_clip_norm" not in optim and "spike_guard" not in optim
    assert "grad_clip_adaptive" not in optim
    assert "smooth_window" not in optim["plateau"]
    assert "bn_recalibrate" not in paper.cell_key(paper.cells()[0])["config"]["train"]
    optim = converged2.cell_key(converged2.cells()[0])["config"]["optim"]
    assert optim["spike_guard"]["enabled"]
    assert optim["plateau"]["smooth_window"] == 3
