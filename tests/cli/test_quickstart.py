import json

from otmark.cli.main import main
from otmark.study.quickstart import PROTOCOLS


def test_tiny_quickstart_writes_the_report_and_reuses_its_data(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "--tiny", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "results.json").read_text())
    for key in ("report", "results", "checkpoint"):
        assert (
            str(
                out
                / {"report": "report.md", "results": "results.json", "checkpoint": "model.pt"}[key]
            )
            in printed
        )
    for name in PROTOCOLS:
        assert (out / f"ced_{name}.png").stat().st_size > 1000
        assert result["nme"][name]["model"] > 0 and result["nme"][name]["mean_shape"] > 0
    assert (out / "overlay_300w-test.png").is_file()
    head = result["nme"]["300w-test"]
    assert result["ratio"] == head["mean_shape"] / head["model"]
    report = (out / "report.md").read_text()
    assert f"model {head['model']:.2f} %" in report and "| mean shape |" in report
    # the engine's per-step recipe: 12 faces, 2 held out for validation, 2 steps of 4 faces
    assert (result["epochs_run"], result["steps_run"]) == (1, 2)
    assert result["train"]["optim"]["schedule"] == "warmup_cosine"
    assert result["history"][-1]["lr"] == 0.0 and result["history"][-1]["step"] == 2

    # the checkpoint is what `otmark detect` loads
    from otmark.inference import Detector

    det = Detector.from_checkpoint(out / "model.pt", device="cpu")
    assert det.num_landmarks == 68 and det.codec.decoder == "get_bc" and det.codec.softmax


def test_quickstart_rejects_bad_options(tmp_path, capsys):
    assert main(["quickstart", "--out", str(tmp_path), "--minutes", "0"]) == 2
    assert "--minutes" in capsys.readouterr().err
    assert main(["quickstart", "--out", str(tmp_path), "--threads", "-1"]) == 2
    assert "--threads" in capsys.readouterr().err
