"""Per-step schedules wired into ``otmark.engine.train``: warm-up + cosine by steps and by a
wall-clock budget (a machine that slows down, simulated with a fake clock), the plateau rule
stopping a run, and an exact resume of a plateau run interrupted between validations."""

import math
import signal
import time
from contextlib import contextmanager

import pytest
import torch
from engine_data import record_adam_lrs, tiny_config

import otmark.engine.fitting as fit
from otmark.engine import ConfigError, TrainingInterrupted, config_from_dict, train, validate
from otmark.engine.schedule import WarmupCosine


@pytest.fixture
def used_lrs(monkeypatch):
    """The learning rate of every optimizer step, in order."""
    return record_adam_lrs(monkeypatch)


def _cfg(tiny_300w, out, **optim):
    raw = tiny_config(tiny_300w, out, optim={"batch_size": 4, **optim})
    cfg = config_from_dict(raw)
    validate(cfg, "<test>", check_paths=False)
    return cfg


def test_warmup_cosine_by_steps(tiny_300w, tmp_path, used_lrs):
    cfg = _cfg(tiny_300w, tmp_path / "run", schedule="warmup_cosine", steps=6, warmup_steps=2)
    out = train(cfg, log=lambda _: None)
    # 8 faces, batch 4: 2 steps an epoch, 3 epochs; every step at lr * factor(i)
    assert out["steps"] == 6 and out["epochs"] == 3 and out["stopped_at_plateau"] is None
    want = [2e-3 * WarmupCosine(6, 2)(i) for i in range(6)]
    assert used_lrs == pytest.approx(want)
    assert used_lrs[:2] == pytest.approx([1e-3, 2e-3]) and used_lrs[-1] == 0.0
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert ckpt["scheduler"]["steps"] == 6 and ckpt["epoch"] == 3
    assert [r["steps"] for r in ckpt["history"]] == [2, 4, 6]


def test_budget_replans_when_the_machine_slows_down(tiny_300w, tmp_path, used_lrs, monkeypatch):
    fake = {"now": 1000.0}
    monkeypatch.setattr(time, "perf_counter", lambda: fake["now"])
    step = torch.optim.Adam.step  # the recording one

    def timed(self, *args, **kwargs):  # 0.5 s a step, 1 s from the 21st step on
        fake["now"] += 0.5 if len(used_lrs) < 20 else 1.0
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", timed)
    cfg = _cfg(
        tiny_300w,
        tmp_path / "run",
        schedule="warmup_cosine",
        budget_minutes=0.5,
        warmup_steps=3,
        min_decay_steps=3,
        step_time_window=4,
    )
    t0 = fake["now"]
    out = train(cfg, log=lambda _: None)
    used = fake["now"] - t0
    # 30 s: 20 steps at 0.5 s, then about 20 at 1 s (not the 60 of the first pace)
    assert 29.0 <= used <= 31.0 and 35 <= out["steps"] <= 42
    assert used_lrs[:3] == pytest.approx([2e-3 / 3, 4e-3 / 3, 2e-3])  # full warm-up
    assert used_lrs[-1] == 0.0 and used_lrs[-2] > 0.0  # annealed to 0 on the last step
    assert len(used_lrs) == out["steps"]


def _plateau_cfg(tiny_300w, out, **more):
    return _cfg(
        tiny_300w,
        out,
        schedule="constant_then_decay",
        max_steps=40,
        plateau={
            "enabled": True,
            "val_every": 2,
            "patience_steps": 4,
            "min_improvement": 0.99,  # any improvement under 99 %: a plateau
            "decay_steps": 2,
            "keep_checkpoints": True,
        },
        **more,
    )


def test_plateau_rule_stops_a_run(tiny_300w, tmp_path, used_lrs):
    out = train(_plateau_cfg(tiny_300w, tmp_path / "run"), log=lambda _: None)
    # validations at 2, 4, 6: at 6 the best improved < 99 % over the best of step <= 2
    assert out["steps"] == 8 and out["stopped_at_plateau"] is True
    assert used_lrs == pytest.approx([2e-3] * 6 + [1e-3, 0.0])
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    rows = [r for r in ckpt["history"] if "step" in r]
    assert [r["step"] for r in rows] == [2, 4, 6, 8]
    assert all(math.isfinite(r["val_NME"]) and r["train_loss"] > 0 for r in rows)
    assert ckpt["scheduler"]["schedule"]["plateau_step"] == 6
    kept = sorted(p.name for p in (tmp_path / "run" / "steps").iterdir())
    assert kept == ["step000002.pt", "step000004.pt", "step000006.pt", "step000008.pt"]


def test_plateau_run_resumes_exactly(tiny_300w, tmp_path, monkeypatch):
    torch.use_deterministic_algorithms(True)
    try:
        ref = train(_plateau_cfg(tiny_300w, tmp_path / "ref"), log=lambda _: None)
        box: list[int] = []

        @contextmanager
        def fake_signals():
            yield box

        original = fit.Trainer.checkpoint_at_validation

        def stop_after_step_4(self, row):
            original(self, row)
            if row["step"] == 4:
                box.append(signal.SIGTERM)  # as if SIGTERM arrived now

        monkeypatch.setattr(fit, "stop_on_signals", fake_signals)
        monkeypatch.setattr(fit.Trainer, "checkpoint_at_validation", stop_after_step_4)
        cut = _plateau_cfg(tiny_300w, tmp_path / "cut")
        with pytest.raises(TrainingInterrupted):
            train(cut, log=lambda _: None)
        monkeypatch.undo()
        assert (
            torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["scheduler"]["steps"] == 4
        )
        out = train(cut, resume=True, log=lambda _: None)
    finally:
        torch.use_deterministic_algorithms(False)
    assert out["steps"] == ref["steps"] == 8
    a = torch.load(tmp_path / "ref" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    for k, v in a["model"].items():
        assert torch.equal(b["model"][k], v), k
    assert b["scheduler"]["schedule"] == a["scheduler"]["schedule"]
    rows = lambda c: [(r["step"], r["val_NME"]) for r in c["history"] if "step" in r]  # noqa: E731
    assert rows(b) == rows(a)


@pytest.mark.parametrize(
    ("optim", "message"),
    [
        ({"schedule": "cosine"}, "optim.schedule"),
        ({"steps": 10}, "optim.steps needs a per-step schedule"),
        ({"schedule": "warmup_cosine"}, "exactly one of optim.steps and optim.budget_minutes"),
        ({"schedule": "warmup_cosine", "steps": 5, "budget_minutes": 1}, "exactly one"),
        ({"schedule": "warmup_cosine", "steps": 5, "warmup_steps": 5}, "must be > optim.warm"),
        ({"schedule": "warmup_cosine", "budget_minutes": -1}, "budget_minutes must be a finite"),
        ({"schedule": "constant_then_decay", "steps": 5}, "decay_steps must be >= 1"),
        ({"schedule": "warmup_cosine", "steps": 5, "decay_shape": "exp"}, "optim.decay_shape"),
        ({"schedule": "warmup_cosine", "steps": 5, "final_factor": 1.5}, "final_factor"),
        ({"lr_candidates": [1e-3, 0]}, "lr_candidates must be finite numbers > 0"),
        ({"schedule": "warmup_cosine", "plateau": {"enabled": True}}, "constant_then_decay"),
        ({"schedule": "constant_then_decay", "plateau": {"enabled": True}}, "max_steps"),
        (
            {"schedule": "constant_then_decay", "max_steps": 9, "plateau": {"enabled": True}},
            "must cover",
        ),
    ],
)
def test_schedule_options_are_validated(tiny_300w, tmp_path, optim, message):
    raw = tiny_config(tiny_300w, tmp_path, optim=optim)
    with pytest.raises(ConfigError, match=message):
        validate(config_from_dict(raw, "x.yaml"), "x.yaml", check_paths=False)


def test_yaml_style_values_are_read():
    cfg = config_from_dict({"optim": {"budget_minutes": 2, "lr_candidates": ["1e-3", 3e-3]}})
    assert cfg.optim.budget_minutes == 2.0 and isinstance(cfg.optim.budget_minutes, float)
    assert cfg.optim.lr_candidates == [1e-3, 3e-3]
    with pytest.raises(ConfigError, match="optim.budget_minutes: expected a number"):
        config_from_dict({"optim": {"budget_minutes": "soon"}})
