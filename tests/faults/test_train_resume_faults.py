"""Training that loses nothing: an exception, kill -9 or SIGTERM inside an epoch leaves a
``last.pt`` (marked mid-epoch) from which ``--resume`` ends bit-identical to an uninterrupted
run (deterministic CPU runs, as tests/engine/test_resume.py shows for epoch boundaries)."""

import signal
import subprocess
import sys
import time

import pytest
from train_helpers import (
    load_ckpt,
    one_error_line,
    otmark_cmd,
    run_cli,
    same_weights,
    subprocess_env,
    tiny_raw,
    write_yaml,
)

from otmark.engine import config_from_dict, train

STEPS = 4  # 8 training faces, batch 2


@pytest.fixture(scope="module")
def reference(tiny_data, tmp_path_factory):
    """One uninterrupted run, in this process."""
    out = tmp_path_factory.mktemp("ref") / "run"
    train(config_from_dict(tiny_raw(tiny_data, out)), log=lambda _: None)
    ckpt = load_ckpt(out / "last.pt")
    assert ckpt["epoch"] == 2 and not ckpt["mid_epoch"]
    return ckpt


def _fail_at(monkeypatch, call: int, exc: BaseException):
    """Make the ``call``-th training batch (1-based, over the whole run) raise ``exc``."""
    import otmark.engine.loop as loop

    real, calls = loop.batch_loss, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "batch_loss", failing)
    return lambda: monkeypatch.setattr(loop, "batch_loss", real)


def test_exception_mid_epoch_writes_last_pt_and_resume_is_bit_identical(
    reference, tiny_data, tmp_path, monkeypatch, capsys
):
    config = write_yaml(tmp_path / "c.yaml", tiny_raw(tiny_data, tmp_path / "run"))
    restore = _fail_at(monkeypatch, STEPS + 2, RuntimeError("injected data error"))
    code, out, err = run_cli(capsys, "train", "--config", str(config))
    assert code == 2
    line = one_error_line(err)
    assert "injected data error" in line and "last.pt" in line and "--resume" in line
    cut = load_ckpt(tmp_path / "run" / "last.pt")
    assert (cut["epoch"], cut["step"], cut["mid_epoch"], cut["reason"]) == (1, 1, True, "exception")
    assert cut["partial"]["position"] == 2 and cut["partial"]["images"] == 2
    restore()
    code, out, _ = run_cli(capsys, "train", "--config", str(config), "--resume")
    assert code == 0 and "resuming" in out and "step 1" in out
    final = load_ckpt(tmp_path / "run" / "last.pt")
    assert (final["epoch"], final["step"], final["mid_epoch"]) == (2, 0, False)
    same_weights(final, reference)


def test_exception_in_validation_keeps_the_trained_epoch(
    reference, tiny_data, tmp_path, monkeypatch
):
    import otmark.engine.validation as validation

    real = validation.evaluate

    def broken(*args, **kwargs):
        raise ZeroDivisionError("validation broke")

    cfg = config_from_dict(tiny_raw(tiny_data, tmp_path / "run"))
    monkeypatch.setattr(validation, "evaluate", broken)
    with pytest.raises(ZeroDivisionError) as err:
        train(cfg, log=lambda _: None)
    assert err.value.otmark_checkpoint == tmp_path / "run" / "last.pt"
    cut = load_ckpt(tmp_path / "run" / "last.pt")
    assert (cut["epoch"], cut["step"], cut["mid_epoch"]) == (0, STEPS, True)  # all 4 steps kept
    monkeypatch.setattr(validation, "evaluate", real)
    train(cfg, resume=True, log=lambda _: None)
    same_weights(load_ckpt(tmp_path / "run" / "last.pt"), reference)


class _Killed(BaseException):
    """Ends the run like SIGKILL does: no handler runs, nothing more is written."""


@pytest.mark.parametrize("every", [1, 3])
def test_a_killed_run_repeats_at_most_checkpoint_every_steps(
    reference, tiny_data, tmp_path, monkeypatch, every
):
    raw = tiny_raw(tiny_data, tmp_path / "run", train={"checkpoint_every": every})
    cfg = config_from_dict(raw)
    dies_at = STEPS + 3  # the 3rd batch of epoch 2: 2 steps of epoch 2 done
    restore = _fail_at(monkeypatch, dies_at, _Killed())
    with pytest.raises(_Killed):
        train(cfg, log=lambda _: None)
    cut = load_ckpt(tmp_path / "run" / "last.pt")
    done = STEPS + 2
    saved = cut["epoch"] * STEPS + cut["step"]
    assert cut["mid_epoch"] == (cut["step"] > 0)
    assert 0 <= done - saved < every  # at most checkpoint_every steps to repeat
    restore()
    train(cfg, resume=True, log=lambda _: None)
    same_weights(load_ckpt(tmp_path / "run" / "last.pt"), reference)


#: run in the subprocess before ``otmark train``: after the 2nd step of epoch 2 (its periodic
#: ``last.pt`` written) the run writes the file MARK and waits there for a signal, so that the
#: signal lands at a known step, whatever the machine's speed
_PAUSE_MID_EPOCH = """
import sys, time
from pathlib import Path
import otmark.engine.fitting as fit
from otmark.cli.main import main

real = fit.Trainer.on_step

def on_step(self, result):
    real(self, result)
    if self.current.epoch == 1 and result.steps == 2:
        Path(sys.argv[1]).write_text("paused")
        deadline = time.monotonic() + 120
        while not self.received and time.monotonic() < deadline:
            time.sleep(0.005)

fit.Trainer.on_step = on_step
sys.exit(main(sys.argv[2:]))
"""


def _wait_for_file(proc, path, timeout=300) -> None:
    """Wait until the run writes ``path`` (it fails the test if the run ends first)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended ({proc.returncode}): {proc.stdout.read()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the run did not write {path}")
        time.sleep(0.005)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_signal_mid_epoch_through_the_cli_then_resume(reference, tiny_data, tmp_path, sig):
    raw = tiny_raw(tiny_data, tmp_path / "run", train={"checkpoint_every": 1})
    config = write_yaml(tmp_path / "c.yaml", raw)
    last, mark = tmp_path / "run" / "last.pt", tmp_path / "paused"
    argv = ["train", "--config", str(config)]
    cmd = [sys.executable, "-c", _PAUSE_MID_EPOCH, str(mark), *argv]
    proc = subprocess.Popen(cmd, env=subprocess_env(), stdout=subprocess.PIPE, text=True)
    try:
        _wait_for_file(proc, mark)  # paused after epoch 2's 2nd step
        proc.send_signal(sig)
        code = proc.wait(timeout=120)
        out = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    cut = load_ckpt(last)
    # the periodic last.pt of step 2 (SIGKILL) or the one written on the signal, at step 2
    assert (cut["epoch"], cut["step"], cut["mid_epoch"]) == (1, 2, True)
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL and cut["reason"] == "periodic"
    else:
        assert code == 128 + signal.SIGTERM and "continue with --resume" in out, (code, out)
        assert cut["reason"] == "signal"
    res = subprocess.run(
        otmark_cmd(*argv, "--resume"),
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    same_weights(load_ckpt(last), reference)
