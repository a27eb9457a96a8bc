import json
import textwrap

import pytest

from otmark.study.config import is_done, key_hash, load_study_config, resolve_study_config
from otmark.study.report import mean_std

CONFIG = """
name: t
results: {results}
data: {data}
benchmark: {{w300_train: 8, wflw_train: 3, vw_videos: 1, vw_frames: 3, image_size: 64}}
val_faces: 2
train:
  codec: {{input_size: 64, heatmap_size: 16}}
  optim: {{batch_size: 4, schedule: warmup_cosine, steps: 1,
          lr_candidates: [1.0e-3, 2.0e-3, 3.0e-3]}}
gpu:
  train: {{codec: {{input_size: 256, heatmap_size: 64}}}}
lr_select: {{settings: [l2_s1_max, w_s3_bc]}}
seeds: [0, 1]
settings: [l2_s1_max, w_s3_bc]
experiments:
  losses: {{model: hrnet_w18, train_on: 300w, settings: [l2_s1_max, w_s3_bc],
           protocols: [300w-test]}}
  density: {{model: hrnet_w18, train_on: wflw, schemes: [wflw, "17"], settings: [w_s3_bc],
            protocols: [wflw-17], seeds: [0]}}
"""


def _write(tmp_path, text=CONFIG):
    p = tmp_path / "s.yaml"
    p.write_text(text.format(results=tmp_path / "res", data=tmp_path / "data"))
    return p


def test_cells_are_seed_major_and_profiles_pick_sizes(tmp_path):
    study = load_study_config(_write(tmp_path), device="cpu")
    ids = [c.id for c in study.cells()]
    assert ids == [
        "losses__l2_s1_max__300w__seed0",
        "losses__w_s3_bc__300w__seed0",
        "density__w_s3_bc__wflw__seed0",
        "density__w_s3_bc__17__seed0",
        "losses__l2_s1_max__300w__seed1",  # density runs seed 0 only (its own seeds)
        "losses__w_s3_bc__300w__seed1",
    ]
    cfg = study.cell_config(study.cells()[0])
    assert study.profile == "cpu" and cfg.codec.input_size == 64
    assert (cfg.optim.schedule, cfg.optim.steps, cfg.train.progress) == ("warmup_cosine", 1, False)
    assert study.results_dir == tmp_path / "res" / "cpu"
    gpu = load_study_config(_write(tmp_path), device="cuda")
    assert gpu.profile == "gpu" and gpu.cell_config(gpu.cells()[0]).codec.input_size == 256


def test_a_stored_cell_counts_only_with_the_same_definition(tmp_path):
    study = load_study_config(_write(tmp_path), device="cpu")
    cell = study.cells()[0]
    path = study.results_dir / f"{cell.id}.json"
    assert not is_done(study, cell)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"key_hash": key_hash(study.cell_key(cell))}))
    assert is_done(study, cell)
    other = load_study_config(_write(tmp_path, CONFIG.replace("steps: 1", "steps: 2")), "cpu")
    assert not is_done(other, other.cells()[0])  # the recipe changed: recomputed
    # a learning rate chosen for the loss changes the definition too
    lr = study.lr_path("l2")
    lr.parent.mkdir(parents=True)
    lr.write_text(json.dumps({"lr": 2e-3, "key_hash": key_hash(study.lr_key("l2"))}))
    assert study.lr_of("l2")["lr"] == 2e-3 and study.cell_key(cell)["lr"] == 2e-3
    assert study.cell_key(cell)["config"]["optim"]["lr"] == 2e-3
    assert not is_done(study, cell)
    path.write_text("{truncated")
    assert not is_done(study, cell)


def test_config_errors_name_the_file_and_key(tmp_path):
    with pytest.raises(ValueError, match=r"s\.yaml: unknown keys \['seed'\]"):
        load_study_config(_write(tmp_path, CONFIG + "seed: 1\n"), "cpu")
    bad = CONFIG.replace("settings: [l2_s1_max, w_s3_bc],", "settings: [l2_s1_max, c],")
    with pytest.raises(ValueError, match=r"experiments\.losses\.settings: \['c'\]"):
        load_study_config(_write(tmp_path, bad), "cpu")
    bad = CONFIG.replace("schedule: warmup_cosine,", "schedule: cos,")
    with pytest.raises(ValueError, match=r"s\.yaml: experiments\.losses \(300w_l2_s1_max\): "):
        load_study_config(_write(tmp_path, bad), "cpu")
    bad = CONFIG.replace("[l2_s1_max, w_s3_bc]}}", "[w_s3_bc]}}")
    with pytest.raises(
        ValueError, match=r"lr_select\.settings: no setting for loss\(es\) \['l2'\]"
    ):
        load_study_config(_write(tmp_path, bad), "cpu")
    bad = CONFIG.replace("[1.0e-3, 2.0e-3, 3.0e-3]", "[1.0e-3, 2.0e-3]")
    with pytest.raises(ValueError, match="at least 3 candidates"):
        load_study_config(_write(tmp_path, bad), "cpu")
    p = tmp_path / "broken.yaml"
    p.write_text(textwrap.dedent("name: [x\n"))
    with pytest.raises(ValueError, match=r"broken\.yaml:\d+: invalid YAML"):
        load_study_config(p, "cpu")
    with pytest.raises(FileNotFoundError, match="packaged: .*paper"):
        resolve_study_config(tmp_path / "nope.yaml")


def test_packaged_paper_config_matches_the_issue():
    from otmark.synth.writers import proportional

    study = load_study_config("configs/study/paper.yaml", device="cpu")
    assert resolve_study_config("paper") == resolve_study_config("configs/study/paper.yaml")
    cells = study.cells()
    losses = [c for c in cells if c.experiment.name == "losses"]
    labels = {c.setting.label for c in losses}
    assert labels == {
        "L2 σ1 GET_MAX",
        "L2 σ1 GET_BC",
        "L2 σ3 GET_MAX",
        "W σ1 GET_BC",
        "W σ3 GET_BC",
        "W σ3 GET_BC + CoordConv",
        "JS σ1 GET_MAX",
        "JS σ1 GET_BC",
        "JS σ3 GET_BC",
        "Soft-ArgMax GET_BC",
    }
    seeds: dict = {}
    for c in cells:
        seeds.setdefault((c.experiment.name, c.setting.name), set()).add(c.seed)
    core = {"l2_s1_max", "w_s3_bc"}
    for (exp, name), s in seeds.items():
        assert len(s) >= (3 if exp == "losses" and name in core else 2), (exp, name)
    exps = {e.name: e for e in study.experiments}
    assert set(exps["losses"].protocols) == {
        "300w-test",
        "occlusion-medium",
        "occlusion-large",
        "blur-medium",
        "blur-large",
        "300w-wflw",
        "300w-300vw",
    }
    assert exps["models"].model != "hrnet_w18"
    assert set(exps["density"].schemes) == {"wflw", "300w", "17"}
    # sigma 1 is at least one heatmap pixel; plateau training, validation on >= 100 faces
    for c in cells:
        cfg = study.cell_config(c)
        assert cfg.codec.sigma >= 1.0 and cfg.codec.input_size == 4 * cfg.codec.heatmap_size
        assert cfg.optim.plateau.enabled and len(cfg.optim.lr_candidates) >= 3
    assert study.val_faces >= 100
    assert study.cell_config(cells[0]).codec.heatmap_size == 32
    gpu = load_study_config("paper", device="cuda")
    assert gpu.cell_config(gpu.cells()[0]).codec.heatmap_size == 64
    # blur on >= 5 category-3 videos of the generated 300VW
    counts = proportional(study.benchmark.vw_videos, {"test3": 14}, 50)
    assert counts["test3"] >= 5
    # decoder-only variants share their training: 38 cells, 34 trainings
    assert len(cells) == 38 and len({c.training_id for c in cells}) == 34
    assert set(study.lr_select.settings) == {c.setting.loss for c in cells}


def test_training_cost_from_shard_cost_with_sigma_specific_losses(tmp_path):
    text = CONFIG + (
        "shard_cost: {{model: {{hrnet_w18: 0.5}},\n"
        "             loss: {{wasserstein_s3: 0.7, wasserstein: 0.2}}}}\n"
    )
    study = load_study_config(_write(tmp_path, text), "cpu")
    cost = {c.id: study.training_cost(c) for c in study.cells()}
    assert cost["losses__l2_s1_max__300w__seed0"] == 0.5  # no entry for l2: no extra
    assert cost["losses__w_s3_bc__300w__seed0"] == pytest.approx(1.2)  # the sigma-3 entry
    plain = load_study_config(_write(tmp_path), "cpu")  # no shard_cost: every training 1
    assert {plain.training_cost(c) for c in plain.cells()} == {1.0}
    # the gpu profile's own entry replaces the cpu one
    gpu_text = text.replace("gpu:\n", "gpu:\n  shard_cost: {{model: {{hrnet_w18: 2.0}}}}\n")
    gpu = load_study_config(_write(tmp_path, gpu_text), "cuda")
    assert {gpu.training_cost(c) for c in gpu.cells()} == {2.0}


@pytest.mark.parametrize(
    "entry, match",
    [
        ("shard_cost: [1]", r"s\.yaml: shard_cost: expected a mapping"),
        ("shard_cost: {{losses: {{}}}}", r"s\.yaml: shard_cost: expected a mapping"),
        ("shard_cost: {{model: [1]}}", r"shard_cost\.model: expected a mapping"),
        ("shard_cost: {{model: {{hrnet_w18: 0}}}}", r"shard_cost\.model\.hrnet_w18: .*> 0"),
        ("shard_cost: {{loss: {{l2: -1}}}}", r"shard_cost\.loss\.l2: .*>= 0"),
        ("shard_cost: {{loss: {{l2: fast}}}}", r"shard_cost\.loss\.l2: must be a number"),
    ],
)
def test_shard_cost_errors_name_the_file_and_key(tmp_path, entry, match):
    with pytest.raises(ValueError, match=match):
        load_study_config(_write(tmp_path, CONFIG + entry + "\n"), "cpu")


def test_packaged_shard_costs_balance_the_paper_grid():
    from otmark.study.runner import shard_items
    from otmark.study.shard import assign_shards, shard_costs

    study = load_study_config("paper", device="cpu")
    cells = study.cells()
    by_id = {c.id: c for c in cells}
    cost = {c.id: study.training_cost(c) for c in cells}
    assert cost["losses__w_s3_bc__300w__seed0"] > 2 * cost["losses__l2_s1_max__300w__seed0"]
    assert cost["models__l2_s1_max__300w__seed0"] < cost["losses__l2_s1_max__300w__seed0"]
    items = shard_items(study, cells)
    loads = shard_costs(items, 2)
    assert abs(loads[1] - loads[2]) <= max(cost.values())
    shards = assign_shards(items, 2)
    w = [
        sum(1 for k, v in shards.items() if v == i and by_id[k].setting.name == "w_s3_bc")
        for i in (1, 2)
    ]
    assert abs(w[0] - w[1]) <= 2  # the slow W sigma-3 trainings are spread


def test_mean_std_uses_the_sample_deviation():
    assert mean_std([1.0, 2.0, 3.0]) == "2.00 ± 1.00 (3)"
    assert mean_std([4.0]) == "4.00 ± - (1)"
    assert mean_std([]) == "–"


def test_a_diverged_cell_is_logged_and_the_study_goes_on(tmp_path, monkeypatch):
    import otmark.study.runner as st

    study = load_study_config(_write(tmp_path), device="cpu")
    ran = []

    def fake_run_cell(study, cell, roots, cache, log, trained_models):
        if cell.setting_name == "w_s3_bc":
            raise FloatingPointError("non-finite loss nan at step 3")
        ran.append(cell.id)
        doc = {"key_hash": key_hash(study.cell_key(cell)), "results": {}, "seconds": {"total": 0}}
        path = st.cell_path(study, cell)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc))
        return doc

    monkeypatch.setattr(st, "run_cell", fake_run_cell)
    monkeypatch.setattr(st, "run_lr_stage", lambda *a, **k: {})
    monkeypatch.setattr(st, "mean_shape_results", lambda *a, **k: [])
    monkeypatch.setattr(st, "write_report", lambda study: tmp_path / "study.md")
    said = []
    out = st.run_study(study, only=("losses",), log=said.append)
    assert out["ran"] == ran == ["losses__l2_s1_max__300w__seed0", "losses__l2_s1_max__300w__seed1"]
    assert out["failed"] == ["losses__w_s3_bc__300w__seed0", "losses__w_s3_bc__300w__seed1"]
    assert out["remaining"] == out["failed"]  # not stored: a later run retries them
    assert any("diverged (non-finite loss nan at step 3)" in m for m in said)


def test_named_cells_run_in_order_and_a_cell_stored_meanwhile_is_skipped(tmp_path, monkeypatch):
    import otmark.study.runner as st

    study = load_study_config(_write(tmp_path), device="cpu")
    by_id = {c.id: c for c in study.cells()}
    ran = []

    def store(cell):
        path = st.cell_path(study, cell)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"key_hash": key_hash(study.cell_key(cell)), "results": {}, "seconds": {"total": 0}}
        path.write_text(json.dumps(doc))
        return doc

    def fake_run_cell(study, cell, roots, cache, log, trained_models):
        ran.append(cell.id)
        if len(ran) == 1:  # meanwhile another process on the same folder stores this one
            store(by_id["losses__l2_s1_max__300w__seed0"])
        return store(cell)

    monkeypatch.setattr(st, "run_cell", fake_run_cell)
    monkeypatch.setattr(st, "run_lr_stage", lambda *a, **k: {})
    monkeypatch.setattr(st, "mean_shape_results", lambda *a, **k: [])
    monkeypatch.setattr(st, "write_report", lambda study: tmp_path / "study.md")
    said = []
    named = (
        "losses__w_s3_bc__300w__seed1",
        "losses__l2_s1_max__300w__seed0",
        "losses__w_s3_bc__300w__seed0",
    )
    out = st.run_study(study, cell_ids=named, log=said.append)
    assert ran == out["ran"] == [named[0], named[2]]
    assert any(f"{named[1]}: stored meanwhile, skipped" in m for m in said)
    assert out["remaining"] == []  # only the named cells count
