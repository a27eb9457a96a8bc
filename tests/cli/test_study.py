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


SHARED = CONFIG.replace(
    "  w_s3_bc: {{loss: wasserstein, sigma: 3, decoder: get_bc}}",
    "  l2_max: {{loss: l2, sigma: 1, decoder: get_max}}\n"
    "  l2_bc: {{loss: l2, sigma: 1, decoder: get_bc}}",
).replace("settings: [w_s3_bc]", "settings: [l2_max, l2_bc]")


def test_real_data_roots_and_decoders_sharing_one_training(tmp_path, capsys):
    from otmark.synth.writers import synthesize

    # a "real" 300W in its official layout (written by the dataset writers): nothing generated
    real = tmp_path / "my300W"
    synthesize("300w", real, 8, seed=5, size=64)
    cfg = tmp_path / "shared.yaml"
    cfg.write_text(SHARED.format(results=tmp_path / "res", data=tmp_path / "data"))
    args = ["study", "--config", str(cfg), "--device", "cpu", "--data-root", f"300w={real}"]
    assert main(args) == 0
    assert "ran 2 cells, 0 remaining" in capsys.readouterr().out
    assert not (tmp_path / "data").exists()  # the given folder was used, nothing generated
    out = tmp_path / "res" / "cpu-real"
    mx = json.loads((out / "losses__l2_max__300w__seed0.json").read_text())
    bc = json.loads((out / "losses__l2_bc__300w__seed0.json").read_text())
    assert mx["key"]["data_roots"] == {"300w": str(real)}
    # GET_BC reused GET_MAX's training: same history, its own (different) decoding
    assert bc["trained_by"] == mx["trained_by"] == "losses__l2_max__300w__seed0"
    assert bc["history"] == mx["history"]
    assert bc["results"]["300w-test"]["summary"] != mx["results"]["300w-test"]["summary"]
    assert "Real datasets" in (out / "study.md").read_text()

    assert main(args[:-1] + ["nope"]) == 2
    assert "expected DATASET=DIR" in capsys.readouterr().err
    assert main(args[:-1] + ["300w=/no/such/dir"]) == 2
    assert "300w=/no/such/dir: no such folder" in capsys.readouterr().err
