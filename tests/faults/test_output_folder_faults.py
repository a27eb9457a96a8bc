"""Output folders: a run never writes into another run's folder.

Reproductions: a second ``otmark train`` into a finished run's folder, two trainings started
into one folder at once, ``otmark synth`` twice into one folder with other settings (and at
once), a lock left by a killed process, ``--overwrite``."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from train_helpers import (
    otmark_cmd,
    run_cli,
    snapshot,
    subprocess_env,
    tiny_raw,
    write_yaml,
)

from otmark.rundir import LOCK_NAME, LockInfo, process_start
from otmark.synth.writers import read_provenance

SYNTH = ["synth", "--dataset", "300w", "--size", "64"]


def _train_config(tiny_data: Path, tmp_path: Path, out: Path, seed: int, name: str) -> Path:
    raw = tiny_raw(tiny_data, out, optim={"epochs": 1, "milestones": []}, train={"seed": seed})
    return write_yaml(tmp_path / name, raw)


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _assert_one_run(out: Path, seed: int) -> None:
    """``out`` holds one finished run of seed ``seed``: its config.yaml, checkpoints and log
    all belong to it, and no lock is left."""
    assert sorted(p.name for p in out.iterdir()) == [
        "best.pt",
        "config.yaml",
        "last.pt",
        "log.csv",
        "log.jsonl",
    ]
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["train"]["seed"] == seed
    for name in ("last.pt", "best.pt"):
        ckpt = torch.load(out / name, weights_only=False)
        assert ckpt["config"]["train"]["seed"] == seed, name
    last = torch.load(out / "last.pt", weights_only=False)
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    epochs = [r["epoch"] for r in rows if "event" not in r]
    assert epochs == [r["epoch"] for r in last["history"] if "event" not in r] == [1]


def test_a_second_training_into_a_finished_run_is_refused_and_overwrite_replaces_it(
    tiny_data, tmp_path, capsys
):
    out = tmp_path / "runs" / "x"
    first = _train_config(tiny_data, tmp_path, out, seed=5, name="a.yaml")
    code, _, err = run_cli(capsys, "train", "--config", str(first))
    assert code == 0, err
    before = snapshot(out)
    second = _train_config(tiny_data, tmp_path, out, seed=6, name="b.yaml")
    code, _, err = run_cli(capsys, "train", "--config", str(second))
    assert code == 2
    line = err.strip().splitlines()[-1]
    assert line == (
        f"otmark train: error: {out}: already holds another run's outputs or other files "
        "(best.pt, config.yaml, last.pt, log.csv and 1 more); --resume continues that run, "
        "--overwrite deletes them first, or choose another folder"
    )
    assert snapshot(out) == before  # the first run is untouched
    _assert_one_run(out, seed=5)
    code, _, err = run_cli(capsys, "train", "--config", str(second), "--resume", "--overwrite")
    assert code == 2 and "--resume and --overwrite exclude each other" in err
    code, _, err = run_cli(capsys, "train", "--config", str(second), "--overwrite")
    assert code == 0, err
    _assert_one_run(out, seed=6)


def test_two_trainings_started_into_one_folder_at_once(tiny_data, tmp_path):
    out = tmp_path / "run"
    configs = [_train_config(tiny_data, tmp_path, out, seed, f"{seed}.yaml") for seed in (5, 6)]
    procs = [
        subprocess.Popen(
            otmark_cmd("train", "--config", str(c)),
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for c in configs
    ]
    ended: dict[int, float] = {}
    deadline = time.monotonic() + 240
    while len(ended) < 2 and time.monotonic() < deadline:
        for i, p in enumerate(procs):
            if i not in ended and p.poll() is not None:
                ended[i] = time.monotonic()
        time.sleep(0.02)
    results = []
    for p in procs:
        if p.poll() is None:
            p.kill()
        stdout, stderr = p.communicate()
        results.append((p.returncode, stdout, stderr))
    codes = sorted(r[0] for r in results)
    assert codes == [0, 2], results
    winner = next(i for i, r in enumerate(results) if r[0] == 0)
    loser = 1 - winner
    assert ended[loser] < ended[winner]  # refused at once, while the other one was training
    line = results[loser][2].strip().splitlines()[-1]
    assert line.startswith(f"otmark train: error: {out}: in use by 'otmark train' (pid ")
    assert f"pid {procs[winner].pid} on " in line
    _assert_one_run(out, seed=(5, 6)[winner])


def test_synth_into_a_folder_of_another_generation_is_refused(tmp_path, capsys):
    """The reported case: 16 faces, then 8 with seed 5 left 16, 8 of them stale."""
    out = tmp_path / "faces"
    code, _, err = run_cli(capsys, *SYNTH, "--out", str(out), "--num", "16")
    assert code == 0, err
    before = _digest(out)
    code, _, err = run_cli(capsys, *SYNTH, "--out", str(out), "--num", "8", "--seed", "5")
    assert code == 2
    assert err.strip() == (
        f"otmark synth: error: {out}: already holds a generated 300w dataset with other "
        "settings (num 16 (asked: 8), seed 0 (asked: 5)); --overwrite deletes them first, or "
        "choose another folder"
    )
    assert _digest(out) == before
    code, _, err = run_cli(
        capsys, *SYNTH, "--out", str(out), "--num", "8", "--seed", "5", "--overwrite"
    )
    assert code == 0, err
    fresh = tmp_path / "fresh"
    assert run_cli(capsys, *SYNTH, "--out", str(fresh), "--num", "8", "--seed", "5")[0] == 0
    assert _digest(out) == _digest(fresh)  # nothing of the first generation is left
    info = read_provenance(out)
    assert (info["num"], info["seed"], info["complete"]) == (8, 5, True)
    # the same settings again: the same files (nothing to refuse)
    assert run_cli(capsys, *SYNTH, "--out", str(fresh), "--num", "8", "--seed", "5")[0] == 0
    assert _digest(fresh) == _digest(out)


def test_synth_into_a_folder_with_other_files_is_refused(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    code, _, err = run_cli(capsys, *SYNTH, "--out", str(out), "--num", "2")
    assert code == 2
    assert f"{out}: already holds files not written by otmark synth (notes.txt)" in err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_an_interrupted_synth_goes_on_to_the_same_files(tmp_path, capsys, monkeypatch):
    import otmark.synth.writers as writers

    out, fresh = tmp_path / "out", tmp_path / "fresh"
    real, calls = writers.synth_face, []

    def dies_on_the_fifth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(writers, "synth_face", dies_on_the_fifth)
    code, _, err = run_cli(capsys, *SYNTH, "--out", str(out), "--num", "8")
    assert code == 130 and "interrupted" in err
    assert read_provenance(out)["complete"] is False
    assert not (out / LOCK_NAME).exists()
    monkeypatch.setattr(writers, "synth_face", real)
    assert run_cli(capsys, *SYNTH, "--out", str(out), "--num", "8")[0] == 0
    assert run_cli(capsys, *SYNTH, "--out", str(fresh), "--num", "8")[0] == 0
    assert _digest(out) == _digest(fresh)
    assert read_provenance(out)["complete"] is True


def test_synth_into_a_folder_in_use_is_refused_at_once(tmp_path, capsys):
    """A generation running in another process holds the folder: a second one is refused
    at once, and the folder ends as the first one's."""
    out = tmp_path / "faces"
    proc = subprocess.Popen(
        otmark_cmd(*SYNTH, "--out", str(out), "--num", "60"),
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (out / LOCK_NAME).exists() and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()
        t0 = time.perf_counter()
        code, _, err = run_cli(capsys, *SYNTH, "--out", str(out), "--num", "4", "--seed", "3")
        assert time.perf_counter() - t0 < 2.0
        still_running = proc.poll() is None
        assert code == 2
        assert err.strip().startswith(
            f"otmark synth: error: {out}: in use by 'otmark synth' (pid {proc.pid} on "
        )
        assert proc.wait(timeout=120) == 0, proc.communicate()
    finally:
        proc.kill()
        proc.communicate()
    assert still_running
    info = read_provenance(out)
    assert (info["num"], info["seed"], info["complete"]) == (60, 0, True)
    assert len(list((out / "helen" / "trainset").glob("*.jpg"))) == 38  # 60 * 2000 / 3148
    assert not (out / LOCK_NAME).exists()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path, capsys):
    out = tmp_path / "faces"
    out.mkdir()
    info = LockInfo.mine("otmark synth")
    dead = {**info.__dict__, "pid": _dead_pid()}
    (out / LOCK_NAME).write_text(json.dumps(dead))
    code, _, err = run_cli(capsys, *SYNTH, "--out", str(out), "--num", "2")
    assert code == 0, err
    assert f"took over the stale lock of 'otmark synth' (pid {dead['pid']}" in err
    assert not (out / LOCK_NAME).exists()
    # a live owner's lock is respected: nothing is written
    parent = {"pid": os.getppid(), "process_start": process_start(os.getppid())}
    (out / LOCK_NAME).write_text(json.dumps({**info.__dict__, **parent}))
    before = _digest(out)
    code, _, err = run_cli(capsys, *SYNTH, "--out", str(out), "--num", "2", "--overwrite")
    assert code == 2 and f"in use by 'otmark synth' (pid {os.getppid()}" in err
    assert _digest(out) == before


def test_overwrite_never_clears_the_working_folder(tiny_data, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("keep")
    config = _train_config(tiny_data, tmp_path, Path("."), seed=5, name="c.yaml")
    code, _, err = run_cli(capsys, "train", "--config", str(config), "--overwrite")
    assert code == 2
    assert err.strip().endswith(
        ".: --overwrite refuses to clear it (it is the working folder or a parent of it)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "keep.txt"]


@pytest.fixture(scope="module")
def detect_ckpt(tmp_path_factory) -> Path:
    """An untrained hrnet_tiny checkpoint (AFLW's 19 points, 64 px crops)."""
    from otmark.models import create_model

    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.manual_seed(0)
    codec = {"input_size": 64, "heatmap_size": 16, "sigma": 1.5, "decoder": "get_max"}
    torch.save(
        {
            "model_name": "hrnet_tiny",
            "model_kwargs": {"num_landmarks": 19},
            "model": create_model("hrnet_tiny", 19).state_dict(),
            "scheme": "aflw",
            "codec": codec,
        },
        path,
    )
    return path


def test_detect_refuses_a_folder_of_other_files_and_overwrite_spares_its_input(
    tmp_path, capsys, detect_ckpt
):
    import numpy as np

    from otmark.atomic import write_image_atomic

    out = tmp_path / "out"
    image = write_image_atomic(out / "photos" / "face.png", np.full((64, 64, 3), 90, np.uint8))
    (out / "paper.tex").write_text("keep")
    detect = ["detect", str(image), "--checkpoint", str(detect_ckpt), "--whole-image"]
    code, _, err = run_cli(capsys, *detect, "--out", str(out), "--no-overlay")
    assert code == 2
    assert err.strip() == (
        f"otmark detect: error: {out}: already holds another run's outputs or other files "
        "(paper.tex, photos/); --overwrite deletes them first, or choose another folder"
    )
    code, _, err = run_cli(capsys, *detect, "--out", str(out), "--overwrite")
    assert code == 2
    assert err.strip() == (
        f"otmark detect: error: {out}: --overwrite refuses to clear it (it holds the input {image})"
    )
    assert sorted(p.name for p in out.iterdir()) == ["paper.tex", "photos"]
    # the results of an earlier detection are replaced as a whole
    other = tmp_path / "det"
    assert run_cli(capsys, *detect, "--out", str(other))[0] == 0
    assert (other / "overlays").is_dir()
    assert run_cli(capsys, *detect, "--out", str(other), "--no-overlay", "--overwrite")[0] == 0
    assert sorted(p.name for p in other.iterdir()) == ["landmarks.csv", "landmarks.json"]


def test_synthesize_never_mixes_two_generations(tmp_path):
    from otmark.rundir import FolderNotEmpty
    from otmark.synth.writers import synthesize

    out, fresh = tmp_path / "out", tmp_path / "fresh"
    synthesize("wflw", out, 3, seed=1, size=64)
    before = _digest(out)
    with pytest.raises(FolderNotEmpty, match=r"num 3 \(asked: 2\)"):
        synthesize("wflw", out, 2, seed=1, size=64)
    assert _digest(out) == before
    synthesize("wflw", out, 2, seed=1, size=64, overwrite=True)
    synthesize("wflw", fresh, 2, seed=1, size=64)
    assert _digest(out) == _digest(fresh)


def test_quickstart_and_study_go_on_in_their_own_folders_only(tmp_path, capsys):
    from otmark.cli.quickstart import is_quickstart_folder
    from otmark.cli.study import is_study_folder

    qs = tmp_path / "qs"
    (qs / "data" / "300W").mkdir(parents=True)
    for name in ("model.pt", "report.md", "results.json", "ced_300w-test.png"):
        (qs / name).write_text("x")
    assert is_quickstart_folder(qs) and is_quickstart_folder(tmp_path / "missing")
    (qs / "thesis.tex").write_text("keep")
    assert not is_quickstart_folder(qs)
    code, _, err = run_cli(capsys, "quickstart", "--tiny", "--out", str(qs))
    assert code == 2
    assert f"{qs}: already holds another run's outputs or other files" in err
    assert "report.md and 2 more); --overwrite deletes them first" in err
    assert "--resume" not in err

    results = tmp_path / "results" / "cpu"
    (results / "lr").mkdir(parents=True)
    (results / "losses__w_s3_bc__300w__seed0.json").write_text("{}")
    (results / "notes.txt").write_text("mine")
    assert is_study_folder(results)  # a study's folder, with a note of its user
    other = tmp_path / "other"
    other.mkdir()
    (other / "cells.json").write_text("{}")
    assert is_study_folder(other)
    (other / "thesis.tex").write_text("keep")
    assert not is_study_folder(other)
