import numpy as np

from otmark.cli.main import main
from otmark.datasets import ImageRef, Sample, write_300w


def _write(root, n=3):
    rng = np.random.default_rng(0)
    samples = [
        Sample(ImageRef(root / "x.png"), rng.uniform(0, 9, (68, 2)), "300w", id=f"f{i}")
        for i in range(n)
    ]
    write_300w(root, "ibug", samples, [np.zeros((10, 10, 3), np.uint8)] * n)


def test_check_data_clean_split(tmp_path, capsys):
    _write(tmp_path)
    rc = main(
        [
            "check-data",
            "--dataset",
            "300w",
            "--root",
            str(tmp_path),
            "--split",
            "challenge",
            "--decode",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "300w challenge: 3 samples, 0 skipped, 0 excluded, 0 problems" in out


def test_check_data_reports_bad_files(tmp_path, capsys):
    _write(tmp_path)
    (tmp_path / "ibug" / "f1.pts").write_text("version: 1\n")
    (tmp_path / "ibug" / "f2.png").write_bytes(b"broken")
    rc = main(
        [
            "check-data",
            "--dataset",
            "300w",
            "--root",
            str(tmp_path),
            "--split",
            "challenge",
            "--split",
            "train",
            "--decode",
            "5",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 1
    assert "300w challenge: 2 samples, 1 skipped, 0 excluded, 2 problems" in out
    assert "f1.pts:2: truncated" in out and "f2.png: not a readable image" in out
    assert "300w train: error:" in out and "lfpw/trainset" in out


def test_check_data_unknown_split(tmp_path, capsys):
    assert main(["check-data", "--dataset", "wflw", "--root", str(tmp_path), "--split", "x"]) == 2
    assert "unknown split 'x'" in capsys.readouterr().err
