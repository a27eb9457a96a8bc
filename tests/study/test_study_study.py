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
train: {{input_size: 64, heatmap_size: 16, steps: 1, batch_size: 4}}
gpu:
  train: {{input_size: 256, heatmap_size: 64}}
seeds: [0, 1]
settings:
  a: {{loss: l2, sigma: 1, decoder: get_max}}
  b: {{loss: wasserstein, sigma: 3, decoder: get_bc}}
experiments:
  losses: {{model: hrnet_w18, train_on: 300w, settings: [a, b], protocols: [300w-test]}}
  density: {{model: hrnet_w18, train_on: wflw, schemes: [wflw, "17"], settings: [b],
            protocols: [wflw-17]}}
"""


def _write(tmp_path, text=CONFIG):
    p = tmp_path / "s.yaml"
    p.write_text(text.format(results=tmp_path / "res", data=tmp_path / "data"))
    return p


def test_cells_are_seed_major_and_profiles_pick_sizes(tmp_path):
    study = load_study_config(_write(tmp_path), device="cpu")
    ids = [c.id for c in study.cells()]
    assert len(ids) == 2 * (2 + 2)
    assert ids[:4] == [
        "losses__a__300w__seed0",
        "losses__b__300w__seed0",
        "density__b__wflw__seed0",
        "density__b__17__seed0",
    ]
    assert study.profile == "cpu" and study.train.input_size == 64
    assert study.results_dir == tmp_path / "res" / "cpu"
    gpu = load_study_config(_write(tmp_path), device="cuda")
    assert gpu.profile == "gpu" and gpu.train.input_size == 256


def test_a_stored_cell_counts_only_with_the_same_definition(tmp_path):
    study = load_study_config(_write(tmp_path), device="cpu")
    cell = study.cells()[0]
    path = study.results_dir / f"{cell.id}.json"
    assert not is_done(study, cell)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"key_hash": key_hash(study.cell_key(cell))}))
    assert is_done(study, cell)
    other = load_study_config(_write(tmp_path, CONFIG.replace("steps: 1", "steps: 2")), "cpu")
    assert not is_done(other, other.cells()[0])  # sizes changed: recomputed
    path.write_text("{truncated")
    assert not is_done(study, cell)


def test_config_errors_name_the_file_and_key(tmp_path):
    with pytest.raises(ValueError, match=r"s\.yaml: unknown keys \['seed'\]"):
        load_study_config(_write(tmp_path, CONFIG + "seed: 1\n"), "cpu")
    bad = CONFIG.replace("settings: [a, b]", "settings: [a, c]")
    with pytest.raises(ValueError, match=r"experiments\.losses\.settings: \['c'\]"):
        load_study_config(_write(tmp_path, bad), "cpu")
    p = tmp_path / "broken.yaml"
    p.write_text(textwrap.dedent("name: [x\n"))
    with pytest.raises(ValueError, match=r"broken\.yaml:\d+: invalid YAML"):
        load_study_config(p, "cpu")
    with pytest.raises(FileNotFoundError, match="packaged: .*paper"):
        resolve_study_config(tmp_path / "nope.yaml")


def test_packaged_paper_config_matches_the_issue():
    study = load_study_config("configs/study/paper.yaml", device="cpu")
    assert resolve_study_config("paper") == resolve_study_config("configs/study/paper.yaml")
    assert len(study.seeds) >= 3
    labels = {s.label for s in study.settings.values()}
    assert labels == {
        "L2 σ1 GET_MAX",
        "L2 σ1 GET_BC",
        "L2 σ3 GET_MAX",
        "W σ1 GET_BC",
        "W σ3 GET_BC",
        "W σ3 GET_BC + CoordConv",
        "JS σ1 GET_MAX",
        "JS σ1 GET_BC",
        "Soft-ArgMax GET_BC",
    }
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
    assert study.train.input_size == 128
    assert load_study_config("paper", device="cuda").train.input_size == 256
    # cells that differ only in the decoder share their training (15 trainings, 17 cells/seed)
    from otmark.study.runner import training_key

    seed0 = [c for c in study.cells() if c.seed == study.seeds[0]]
    assert len(seed0) == 17 and len({training_key(c) for c in seed0}) == 15


def test_mean_std_uses_the_sample_deviation():
    assert mean_std([1.0, 2.0, 3.0]) == "2.00 ± 1.00 (3)"
    assert mean_std([4.0]) == "4.00 ± - (1)"
    assert mean_std([]) == "–"


def test_a_diverged_cell_is_logged_and_the_study_goes_on(tmp_path, monkeypatch):
    import otmark.study.runner as st

    study = load_study_config(_write(tmp_path), device="cpu")
    ran = []

    def fake_run_cell(study, cell, roots, cache, log, trained_models):
        if cell.setting_name == "b":
            raise FloatingPointError("non-finite loss nan at step 3")
        ran.append(cell.id)
        doc = {"key_hash": key_hash(study.cell_key(cell)), "results": {}, "seconds": {"total": 0}}
        path = st.cell_path(study, cell)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc))
        return doc

    monkeypatch.setattr(st, "run_cell", fake_run_cell)
    monkeypatch.setattr(st, "write_report", lambda study: tmp_path / "study.md")
    said = []
    out = st.run_study(study, only=("losses",), log=said.append)
    assert out["ran"] == ran == ["losses__a__300w__seed0", "losses__a__300w__seed1"]
    assert out["failed"] == ["losses__b__300w__seed0", "losses__b__300w__seed1"]
    assert out["remaining"] == out["failed"]  # not stored: a later run retries them
    assert any("diverged (non-finite loss nan at step 3)" in m for m in said)
