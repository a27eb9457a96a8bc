"""Exact resume: a run killed with SIGKILL (or stopped by SIGTERM inside an epoch) and resumed
ends with the same weights as an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from engine_data import tiny_config, write_config, write_tiny_300w

from otmark.engine import TrainingInterrupted, config_from_dict, train

EPOCHS = 3  # 8 images, batch 2: 4 steps per epoch


@pytest.fixture(autouse=True, scope="module")
def _restore_determinism():
    old = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(old)


def _raw(data_root, out):
    return tiny_config(
        data_root,
        out,
        optim={"epochs": EPOCHS, "milestones": [2], "batch_size": 2},
        train={"deterministic": True, "seed": 5},
    )


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return write_tiny_300w(tmp_path_factory.mktemp("data") / "300W")


@pytest.fixture(scope="module")
def reference(data_root, tmp_path_factory):
    """One uninterrupted run (in this process), shared by the tests of this module."""
    out = tmp_path_factory.mktemp("ref") / "run"
    train(config_from_dict(_raw(data_root, out)), log=lambda _: None)
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["epoch"] == EPOCHS
    return ckpt


def _same_final_state(final, reference):
    assert final["epoch"] == EPOCHS and final["step"] == 0
    assert final["model"].keys() == reference["model"].keys()
    for k, v in reference["model"].items():
        assert torch.equal(final["model"][k], v), k
    for a, b in zip(final["optimizer"]["state"].values(), reference["optimizer"]["state"].values()):
        assert torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])
    assert [r["epoch"] for r in final["history"]] == list(range(1, EPOCHS + 1))
    assert final["history"][-1]["train_loss"] == reference["history"][-1]["train_loss"]
    assert final["history"][-1]["val_NME"] == reference["history"][-1]["val_NME"]


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(key, None)
    return env


def _epoch_of(path):
    try:
        return torch.load(path, weights_only=True)["epoch"]
    except (FileNotFoundError, RuntimeError, EOFError):
        return -1


def test_sigkill_after_epoch_1_then_resume_matches(reference, data_root, tmp_path):
    config = write_config(tmp_path / "cut.yaml", _raw(data_root, tmp_path / "cut"))
    last = tmp_path / "cut" / "last.pt"
    cmd = [sys.executable, "-m", "otmark", "train", "--config", str(config)]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while _epoch_of(last) < 1:
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "no checkpoint after epoch 1"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert 1 <= _epoch_of(last) < EPOCHS, "the run ended before the kill: nothing to resume"
    res = subprocess.run(
        cmd + ["--resume"], env=_env(), capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "resuming" in res.stdout
    _same_final_state(torch.load(last, weights_only=True), reference)


def test_sigterm_inside_an_epoch_saves_the_step_and_resumes_exactly(
    reference, data_root, tmp_path, monkeypatch
):
    import otmark.engine.loop as loop

    calls = []
    real = loop.batch_loss

    def counting(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:  # step 2 of epoch 2: SIGTERM arrives while a batch is processed
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "batch_loss", counting)
    cfg = config_from_dict(_raw(data_root, tmp_path / "run"))
    with pytest.raises(TrainingInterrupted) as err:
        train(cfg, log=lambda _: None)
    assert err.value.signum == signal.SIGTERM
    cut = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert (cut["epoch"], cut["step"]) == (1, 2)  # epoch 2 (0-based 1) with 2 batches done
    monkeypatch.setattr(loop, "batch_loss", real)
    train(cfg, resume=True, log=lambda _: None)
    _same_final_state(torch.load(tmp_path / "run" / "last.pt", weights_only=True), reference)


def test_resume_without_checkpoint_is_an_error(data_root, tmp_path, capsys):
    from otmark.cli.main import main

    config = write_config(tmp_path / "none.yaml", _raw(data_root, tmp_path / "none"))
    assert main(["train", "--config", str(config), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "nothing to resume" in err and "last.pt" in err
