import json

import pytest

from otmark.cli.main import main
from otmark.study.summary import read_summary

CONFIG = """
name: one
results: {results}
data: {data}
benchmark: {{w300_train: 8, wflw_train: 3, vw_videos: 1, vw_frames: 3, image_size: 64}}
val_faces: 2
score_every: 1
train:
  codec: {{input_size: 64, heatmap_size: 16}}
  model: {{kwargs: {{width: 4, stem_width: 8, num_blocks: 1, num_modules: [1, 1, 1],
                    layer1_blocks: 1}}}}
  optim:
    batch_size: 4
    lr_candidates: [1.0e-3, 2.0e-3, 4.0e-3]
    schedule: constant_then_decay
    warmup_steps: 1
    max_steps: 6
    plateau: {{enabled: true, val_every: 1, patience_steps: 1, min_improvement: 0.99,
              decay_steps: 1}}
  train: {{amp: none, channels_last: false}}
lr_select:
  settings: [{lr_settings}]
  train: {{optim: {{schedule: warmup_cosine, steps: 2, warmup_steps: 1, max_steps: null,
                  plateau: {{enabled: false}}}}}}
seeds: [0]
settings: [{settings}]
experiments:
  losses: {{model: hrnet_w18, train_on: 300w, settings: [{settings}],
           protocols: [300w-test, occlusion-large]}}
"""


def _config(tmp_path, name="one.yaml", results="res", settings="w_s3_bc", lr_settings=None):
    cfg = tmp_path / name
    cfg.write_text(
        CONFIG.format(
            results=tmp_path / results,
            data=tmp_path / "data",
            settings=settings,
            lr_settings=lr_settings or settings,
        )
    )
    return cfg


def test_one_cell_study_chooses_the_lr_trains_to_the_plateau_and_reports(tmp_path, capsys):
    cfg = _config(tmp_path)
    args = ["study", "--config", str(cfg), "--device", "cpu"]
    assert main(args + ["--max-cells", "0"]) == 0  # nothing run, empty table
    assert "ran 0 cells, 1 remaining" in capsys.readouterr().out

    assert main(args + ["--lr-only"]) == 0  # the learning-rate stage alone
    printed = capsys.readouterr().out
    assert "learning rates: {'wasserstein': " in printed and "ran 0 cells, 1 remaining" in printed
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "ran 1 cells, 0 remaining" in printed and "  lr 0.001" not in printed  # stored
    out = tmp_path / "res" / "cpu"
    # the learning-rate stage: 3 candidates scored on the held-out faces, the best one kept
    lr = json.loads((out / "lr" / "wasserstein.json").read_text())
    assert lr["lr_candidates"] == [1e-3, 2e-3, 4e-3] and len(lr["val_nme"]) == 3
    best = min(v for v in lr["val_nme"] if v is not None)
    assert lr["lr"] == lr["lr_candidates"][lr["val_nme"].index(best)]
    assert "held out" in lr["split"]
    cell = json.loads((out / "losses__w_s3_bc__300w__seed0.json").read_text())
    assert cell["label"] == "W σ3 GET_BC" and cell["seed"] == 0 and cell["lr"] == lr["lr"]
    # to the plateau: validations at 1, 2 (plateau), one decay step
    assert cell["stopped_at_plateau"] is True and cell["steps"] == 3
    assert [r["step"] for r in cell["history"]] == [1, 2, 3]
    assert set(cell["results"]) == {"300w-test", "occlusion-large"}
    assert set(cell["clean"]) == {"occlusion-large:clean"}
    occ, clean = cell["results"]["occlusion-large"], cell["clean"]["occlusion-large:clean"]
    assert occ["ids"] == clean["ids"] and len(occ["nme_per_image"]) == occ["num_images"]
    mean = sum(occ["nme_per_image"]) / len(occ["nme_per_image"])
    assert mean == pytest.approx(occ["summary"]["NME"], abs=1e-4)
    # scored at the kept weights (every step) and at the end, for the matched clean NME
    assert [c["step"] for c in cell["checkpoints"]] == [1, 2, 3]
    assert (
        cell["checkpoints"][-1]["nme"]["300w-test"]
        == cell["results"]["300w-test"]["summary"]["NME"]
    )
    ced = cell["results"]["300w-test"]["ced_image"]
    assert len(ced) == len(cell["ced_thetas"]) and ced == sorted(ced)  # a CDF
    mean_shape = json.loads((out / "mean_shape__losses__300w.json").read_text())
    table = (out / "study.md").read_text()
    nme = cell["results"]["300w-test"]["summary"]["NME"]
    assert f"| hrnet_w18 W σ3 GET_BC | {nme:.2f} ± - (1) |" in table
    assert f"| mean shape | {mean_shape['results']['300w-test']['summary']['NME']:.2f} |" in table
    assert (out / "ced_losses_300w-test.png").is_file()
    summary = read_summary(out / "summary.json")  # validated against the schema
    assert (
        summary["mean_shape"]["300w-test"] == mean_shape["results"]["300w-test"]["summary"]["NME"]
    )
    (entry,) = summary["cells"]
    assert entry["setting"] == "w_s3_bc" and entry["lr"] == lr["lr"] and entry["steps"] == 3
    assert entry["nme"]["300w-test"] == nme and entry["stopped_at_plateau"] is True

    # resumable: the stored cell and the stored learning rate are not run again
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "ran 0 cells, 0 remaining" in printed and "lr 0.001" not in printed
    assert main(args + ["--list"]) == 0
    assert "done  losses__w_s3_bc__300w__seed0" in capsys.readouterr().out


def test_study_errors_are_one_line(tmp_path, capsys):
    assert main(["study", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: no such study config" in capsys.readouterr().err
    assert main(["study", "--only", "nope", "--list"]) == 2
    assert "--only nope" in capsys.readouterr().err
    assert main(["study", "--threads", "-2", "--list"]) == 2
    assert "--threads" in capsys.readouterr().err
    assert main(["study", "--shard", "0/2", "--list"]) == 2
    assert "shard index 0 is outside 1..2" in capsys.readouterr().err
    assert main(["study", "--merge", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: result folder not found" in capsys.readouterr().err


def test_shards_share_the_work_and_merge_into_one_report(tmp_path, capsys):
    from otmark.synth.writers import synthesize

    # a "real" 300W in its official layout (written by the dataset writers): nothing generated
    real = tmp_path / "my300W"
    synthesize("300w", real, 8, seed=5, size=64)
    settings = "l2_s1_max, l2_s1_bc, w_s3_bc"
    shard_cfg = {
        i: _config(tmp_path, f"s{i}.yaml", f"res{i}", settings, "l2_s1_max, w_s3_bc")
        for i in (1, 2)
    }
    root = ["--device", "cpu", "--data-root", f"300w={real}"]
    listed = {}
    for i in (1, 2):
        assert (
            main(["study", "--config", str(shard_cfg[i]), "--shard", f"{i}/2", "--list"] + root)
            == 0
        )
        out = capsys.readouterr().out.splitlines()
        listed[i] = [line.split()[1] for line in out[:-2]]
        assert out[-1].startswith(f"estimated training cost of shard {i}/2: ")
    # the decoder-only variants share a training, so they stay on one shard
    assert sorted(listed[1] + listed[2]) == sorted(
        f"losses__{s}__300w__seed0" for s in ("l2_s1_max", "l2_s1_bc", "w_s3_bc")
    )
    assert {"losses__l2_s1_max__300w__seed0", "losses__l2_s1_bc__300w__seed0"} <= set(
        listed[1]
    ) or {"losses__l2_s1_max__300w__seed0", "losses__l2_s1_bc__300w__seed0"} <= set(listed[2])
    for i in (1, 2):
        assert main(["study", "--config", str(shard_cfg[i]), "--shard", f"{i}/2"] + root) == 0
        assert f"ran {len(listed[i])} cells" in capsys.readouterr().out
    assert not (tmp_path / "data").exists()  # the given folder was used, nothing generated
    folders = [tmp_path / f"res{i}" / "cpu-real" for i in (1, 2)]
    l2 = "l2_s1_max" if "losses__l2_s1_max__300w__seed0" in listed[1] else None
    f_l2 = folders[0] if l2 else folders[1]
    mx = json.loads((f_l2 / "losses__l2_s1_max__300w__seed0.json").read_text())
    bc = json.loads((f_l2 / "losses__l2_s1_bc__300w__seed0.json").read_text())
    assert mx["key"]["data_roots"] == {"300w": str(real)}
    # GET_BC reused GET_MAX's training: same history, its own (different) decoding
    assert bc["trained_by"] == mx["trained_by"] == "losses__l2_s1_max__300w__seed0"
    assert bc["history"] == mx["history"]
    assert bc["results"]["300w-test"]["summary"] != mx["results"]["300w-test"]["summary"]

    merged = ["study", "--config", str(shard_cfg[1]), "--merge"] + [str(f) for f in folders]
    assert main(merged + root) == 0
    assert "merged 3 cells from 2 folders" in capsys.readouterr().out
    summary = read_summary(folders[0] / "summary.json")
    assert sorted(c["setting"] for c in summary["cells"]) == ["l2_s1_bc", "l2_s1_max", "w_s3_bc"]
    report = (folders[0] / "study.md").read_text()
    assert "| l2 | l2_s1_max |" in report and "| wasserstein | w_s3_bc |" in report
    # the paired comparison of the two settings: interval, wins, degradation, matched clean
    assert "| w_s3_bc − l2_s1_max | occlusion-large |" in report

    # the same cell with two different definitions is refused, naming both files
    other = json.loads((f_l2 / "losses__l2_s1_max__300w__seed0.json").read_text())
    other["key_hash"] = "0" * 16
    third = tmp_path / "res3"
    third.mkdir()
    (third / "losses__l2_s1_max__300w__seed0.json").write_text(json.dumps(other))
    assert main(merged + [str(third)] + root) == 2
    assert "run with two different configs" in capsys.readouterr().err

    assert main(["study", "--config", str(shard_cfg[1]), "--data-root", "nope"]) == 2
    assert "expected DATASET=DIR" in capsys.readouterr().err
    assert main(["study", "--config", str(shard_cfg[1]), "--data-root", "300w=/no/dir"]) == 2
    assert "300w=/no/dir: no such folder" in capsys.readouterr().err


def test_cell_runs_only_the_named_cells_in_the_order_given(tmp_path, capsys):
    cfg = _config(tmp_path, settings="l2_s1_max, w_s3_bc")
    args = ["study", "--config", str(cfg), "--device", "cpu"]
    assert main(args + ["--cell", "losses__nope__300w__seed0"]) == 2
    assert "--cell losses__nope__300w__seed0: no such cell" in capsys.readouterr().err
    named = ["--cell", "losses__w_s3_bc__300w__seed0", "--cell", "losses__l2_s1_max__300w__seed0"]
    assert main(args + named + ["--max-cells", "1"]) == 0
    assert "ran 1 cells, 1 remaining" in capsys.readouterr().out
    out = tmp_path / "res" / "cpu"
    assert (out / "losses__w_s3_bc__300w__seed0.json").is_file()  # the first one named
    assert not (out / "losses__l2_s1_max__300w__seed0.json").exists()
