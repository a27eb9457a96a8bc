"""Training that loses nothing, with a per-step schedule (``optim.schedule: warmup_cosine``):
the mid-epoch ``last.pt`` written on an exception or every ``train.checkpoint_every`` steps
carries the :class:`~otmark.engine.schedule.ScheduledLR` state, so a resume uses the same rate
at every step and ends bit-identical to an uninterrupted run; ``--resume-override`` of the
peak rate rescales the rest of the schedule; a change of the kind of schedule is refused."""

import shutil

import pytest
from train_helpers import engine_fixtures, load_ckpt, same_weights, tiny_raw

import otmark.engine.fitting as fit
import otmark.engine.loop as loop
from otmark.engine import config_from_dict, train
from otmark.engine.resume import ResumeRefused
from otmark.engine.schedule import WarmupCosine

STEPS = 7  # 8 training faces, batch 2: 4 steps an epoch, the run ends inside its 2nd epoch
LR = 2e-3


def _raw(tiny_data, out, train_section=None, **optim):
    optim = {"schedule": "warmup_cosine", "steps": STEPS, "warmup_steps": 2, **optim}
    return tiny_raw(tiny_data, out, optim=optim, train=train_section or {})


@pytest.fixture
def used_lrs(monkeypatch):
    """The learning rate of every optimizer step, in order."""
    return engine_fixtures.record_adam_lrs(monkeypatch)


@pytest.fixture(scope="module")
def reference(tiny_data, tmp_path_factory):
    """One uninterrupted per-step run and the rate of each of its steps."""
    out = tmp_path_factory.mktemp("ref") / "run"
    with pytest.MonkeyPatch.context() as mp:
        lrs = engine_fixtures.record_adam_lrs(mp)
        summary = train(config_from_dict(_raw(tiny_data, out)), log=lambda _: None)
    assert summary["steps"] == STEPS and summary["epochs"] == 2
    assert lrs == pytest.approx([LR * WarmupCosine(STEPS, 2)(i) for i in range(STEPS)])
    return load_ckpt(out / "last.pt"), lrs


def test_exception_mid_epoch_keeps_the_schedule_and_resumes_exactly(
    reference, tiny_data, tmp_path, monkeypatch, used_lrs
):
    ref, ref_lrs = reference
    real, calls = loop.batch_loss, []

    def failing(*args, **kwargs):  # the 6th batch: epoch 2, after its first step
        calls.append(1)
        if len(calls) == 6:
            raise RuntimeError("injected data error")
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "batch_loss", failing)
    cfg = config_from_dict(_raw(tiny_data, tmp_path / "run"))
    with pytest.raises(RuntimeError, match="injected") as caught:
        train(cfg, log=lambda _: None)
    assert caught.value.otmark_checkpoint == tmp_path / "run" / "last.pt"
    cut = load_ckpt(tmp_path / "run" / "last.pt")
    assert (cut["epoch"], cut["step"], cut["mid_epoch"], cut["reason"]) == (1, 1, True, "exception")
    assert cut["scheduler"]["steps"] == 5  # 4 steps of epoch 1 + 1 of epoch 2
    monkeypatch.setattr(loop, "batch_loss", real)
    used_lrs.clear()
    summary = train(cfg, resume=True, log=lambda _: None)
    assert summary["steps"] == STEPS
    assert used_lrs == ref_lrs[5:]  # the schedule continues at step 5, exactly
    final = load_ckpt(tmp_path / "run" / "last.pt")
    assert final["scheduler"] == ref["scheduler"]
    same_weights(final, ref)


def test_periodic_checkpoint_holds_the_schedule(reference, tiny_data, tmp_path, monkeypatch):
    ref, ref_lrs = reference
    run, cut = tmp_path / "run", tmp_path / "cut"
    cut.mkdir()
    real = fit.write_checkpoint
    periodic = []

    def keep_periodic(path, record, position):  # keep a copy of the first periodic last.pt
        written = real(path, record, position)
        if position.reason == "periodic":
            periodic.append((position.epoch, position.step, record.scheduler.steps))
            if len(periodic) == 1:
                shutil.copy(written, cut / "last.pt")
        return written

    monkeypatch.setattr(fit, "write_checkpoint", keep_periodic)
    train(config_from_dict(_raw(tiny_data, run, {"checkpoint_every": 3})), log=lambda _: None)
    monkeypatch.undo()
    # every 3 steps of an epoch: epoch 1 step 3 (schedule step 3), epoch 2 step 3 (step 7)
    assert periodic == [(0, 3, 3), (1, 3, 7)]
    saved = load_ckpt(cut / "last.pt")
    assert saved["mid_epoch"] and saved["reason"] == "periodic"
    assert saved["scheduler"]["steps"] == 3
    # as if killed after the periodic checkpoint: the resume repeats nothing and ends equal
    summary = train(config_from_dict(_raw(tiny_data, cut)), resume=True, log=lambda _: None)
    assert summary["steps"] == STEPS
    final = load_ckpt(cut / "last.pt")
    assert final["scheduler"] == ref["scheduler"]
    same_weights(final, ref)


def test_resume_override_of_the_peak_rate_rescales_the_rest(
    reference, tiny_data, tmp_path, monkeypatch, used_lrs
):
    real, calls = loop.batch_loss, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("injected")
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "batch_loss", failing)
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        train(config_from_dict(_raw(tiny_data, out)), log=lambda _: None)
    monkeypatch.setattr(loop, "batch_loss", real)
    changed = config_from_dict(_raw(tiny_data, out, lr=1e-3))
    with pytest.raises(ResumeRefused, match="optim.lr 0.002 -> 0.001.*--resume-override"):
        train(changed, resume=True, log=lambda _: None)
    used_lrs.clear()
    lines: list[str] = []
    summary = train(changed, resume=True, resume_override=True, log=lines.append)
    assert summary["steps"] == STEPS
    assert any("resume override: optim.lr 0.002 -> 0.001" in m for m in lines)
    # steps 3..6 of the same warm-up + cosine, at the new peak rate
    assert used_lrs == pytest.approx([1e-3 * WarmupCosine(STEPS, 2)(i) for i in range(3, STEPS)])


def test_a_changed_kind_of_schedule_is_refused(tiny_data, tmp_path):
    out = tmp_path / "run"
    raw = tiny_raw(tiny_data, out, optim={"epochs": 1})
    train(config_from_dict(raw), log=lambda _: None)
    per_step = config_from_dict(_raw(tiny_data, out))
    with pytest.raises(ResumeRefused, match="multistep.*per-step by steps.*optim.schedule"):
        train(per_step, resume=True, resume_override=True, log=lambda _: None)
