import json

from otmark.cli.main import main

CONFIG = """
name: one
results: {results}
data: {data}
benchmark: {{w300_train: 8, wflw_train: 3, vw_videos: 1, vw_frames: 3, image_size: 64}}
train: {{input_size: 64, heatmap_size: 16, steps: 2, warmup: 1, batch_size: 4, val_limit: 2,
        model_kwargs: {{width: 4, stem_width: 8, num_blocks: 1, num_modules: [1, 1, 1],
                        layer1_blocks: 1}}}}
seeds: [0]
settings:
  w_s3_bc: {{loss: wasserstein, sigma: 3, decoder: get_bc}}
experiments:
  losses: {{model: hrnet_w18, train_on: 300w, settings: [w_s3_bc],
           protocols: [300w-test, occlusion-large]}}
"""


def test_one_cell_study_runs_resumes_and_reports(tmp_path, capsys):
    cfg = tmp_path / "one.yaml"
    cfg.write_text(CONFIG.format(results=tmp_path / "res", data=tmp_path / "data"))
    args = ["study", "--config", str(cfg), "--device", "cpu"]
    assert main(args + ["--max-cells", "0"]) == 0  # nothing run, empty table
    assert "ran 0 cells, 1 remaining" in capsys.readouterr().out

    assert main(args) == 0
    assert "ran 1 cells, 0 remaining" in capsys.readouterr().out
    cell = json.loads((tmp_path / "res" / "cpu" / "losses__w_s3_bc__300w__seed0.json").read_text())
    assert cell["label"] == "W σ3 GET_BC" and cell["key"]["seed"] == 0
    assert set(cell["results"]) == {"300w-test", "occlusion-large"}
    nme = cell["results"]["300w-test"]["summary"]["NME"]
    ced = cell["results"]["300w-test"]["ced_image"]
    assert len(ced) == len(cell["ced_thetas"]) and ced == sorted(ced)  # a CDF
    table = (tmp_path / "res" / "cpu" / "study.md").read_text()
    assert f"| hrnet_w18 W σ3 GET_BC | {nme:.2f} ± - (1) |" in table
    assert (tmp_path / "res" / "cpu" / "ced_losses_300w-test.png").is_file()

    # resumable: the stored cell is not run again
    assert main(args) == 0
    assert "ran 0 cells, 0 remaining" in capsys.readouterr().out
    assert main(args + ["--list"]) == 0
    assert "done  losses__w_s3_bc__300w__seed0" in capsys.readouterr().out


def test_study_errors_are_one_line(tmp_path, capsys):
    assert main(["study", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: no such study config" in capsys.readouterr().err
    assert main(["study", "--only", "nope", "--list"]) == 2
    assert "--only nope" in capsys.readouterr().err
    assert main(["study", "--threads", "-2", "--list"]) == 2
    assert "--threads" in capsys.readouterr().err
