from otmark.cli.main import main
from otmark.datasets import load


def test_synth_writes_a_dataset_the_reader_loads(tmp_path, capsys):
    out = tmp_path / "w"
    rc = main(["synth", "--dataset", "wflw", "--out", str(out), "--num", "3", "--size", "64"])
    assert rc == 0
    assert "wflw" in capsys.readouterr().out
    assert len(load("wflw", out, "train")) == 3
    assert len(load("wflw", out, "test")) == 1


def test_synth_300vw_frames_option(tmp_path):
    out = tmp_path / "v"
    args = ["synth", "--dataset", "300vw", "--out", str(out), "--num", "1", "--size", "64"]
    assert main(args + ["--frames", "3"]) == 0
    assert len(load("300vw", out, "test3")) == 3


def test_synth_rejects_bad_numbers(tmp_path, capsys):
    out = str(tmp_path / "x")
    assert main(["synth", "--dataset", "300w", "--out", out, "--num", "0"]) == 2
    assert "--num" in capsys.readouterr().err
    assert main(["synth", "--dataset", "300w", "--out", out, "--size", "16"]) == 2
    assert "--size" in capsys.readouterr().err
