"""``otmark pretrain --package / --info``: the packaging steps by hand (what ``python -m
otmark.pretrained`` did before ``otmark pretrain`` became the only entry)."""

from __future__ import annotations

import json

import pytest

from otmark.cli.main import main


def test_package_then_info_round_trips_the_run_s_package(tiny_run, tmp_path, capsys):
    folder = tmp_path / "packaged"
    assert (
        main(
            ["pretrain", "--package", str(tiny_run / "train" / "best.pt"), "--weights", str(folder)]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"wrote {folder / 'manifest.json'}" in out
    mine = json.loads((folder / "manifest.json").read_text())
    run = json.loads((tiny_run / "weights" / "manifest.json").read_text())
    # the same weights as the pretraining's own packaging step (that one adds recipe and data)
    assert mine["sha256"] == run["sha256"] and mine["weights"] == run["weights"]
    assert main(["pretrain", "--info", "--weights", str(folder)]) == 0
    info = capsys.readouterr().out
    assert "scheme 300w" in info and mine["sha256"] in info


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--package", "best.pt"], "--package needs --weights DIR"),
        (["--adapt", "p.json"], "--adapt needs --data-root"),
        (["--package", "missing.pt", "--weights", "w"], "missing.pt"),
    ],
)
def test_a_tool_without_what_it_needs_is_one_error_line(
    argv, message, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert main(["pretrain", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("otmark pretrain: error: ") and message in err[-1]
    assert not (tmp_path / "runs").exists()  # no pretraining started
