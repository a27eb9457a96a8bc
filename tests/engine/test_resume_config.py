"""otmark.engine.resume: which config changes a resume refuses, and overrides of the optimiser
settings matching a schedule built with the new values from the start."""

import pytest
import torch

from otmark.engine import config_from_dict
from otmark.engine.builders import build_optimizer, build_scheduler
from otmark.engine.resume import (
    ResumeRefused,
    apply_optim_settings,
    check_resume,
    config_changes,
    flatten,
)


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": {}}) == {"a.b": 1, "a.c.d": 2}


def test_changes_are_sorted_into_fixed_free_and_overridable():
    old = config_from_dict({}).to_dict()
    new = config_from_dict(
        {
            "model": {"name": "hourglass2", "kwargs": {"channels": 8}},
            "optim": {"lr": 5e-4},
            "data": {"root": "elsewhere", "limit": 10},
            "train": {"checkpoint_every": 7, "seed": 3},
        }
    ).to_dict()
    fixed, other = config_changes(old, new)
    assert [c.key for c in fixed] == ["model.kwargs.channels", "model.name"]
    assert fixed[0].old == "<absent>" and fixed[0].new == 8
    assert [c.key for c in other] == ["data.limit", "optim.lr", "train.seed"]


def test_check_resume_messages():
    old = config_from_dict({}).to_dict()
    cfg = config_from_dict({"loss": {"name": "wasserstein"}, "optim": {"epochs": 80}})
    with pytest.raises(ResumeRefused, match=r"^ck.pt: cannot resume.*loss.name 'l2' -> 'wass"):
        check_resume("ck.pt", old, cfg, allow_override=True)
    cfg = config_from_dict({"optim": {"epochs": 80}})
    with pytest.raises(ResumeRefused, match="optim.epochs 60 -> 80 .add --resume-override"):
        check_resume("ck.pt", old, cfg, allow_override=False)
    assert [str(c) for c in check_resume("ck.pt", old, cfg, True)] == ["optim.epochs 60 -> 80"]


@pytest.mark.parametrize("done_epochs", [0, 1, 2, 4])
def test_apply_optim_settings_equals_a_fresh_schedule(done_epochs):
    """Restored at ``done_epochs`` with lr 1e-2, milestones [1, 3], gamma 0.5, then overridden
    to lr 4e-3, milestones [2], gamma 0.1: every later lr equals that of a schedule built with
    the new values from the start."""
    model = torch.nn.Linear(2, 2)
    old = config_from_dict({"optim": {"lr": 1e-2, "milestones": [1, 3], "gamma": 0.5}})
    new = config_from_dict(
        {"optim": {"lr": 4e-3, "milestones": [2], "gamma": 0.1, "weight_decay": 1e-4}}
    )
    opt = build_optimizer(old, model)
    sched = build_scheduler(old, opt)
    ref_opt = build_optimizer(new, torch.nn.Linear(2, 2))
    ref = build_scheduler(new, ref_opt)
    for _ in range(done_epochs):
        opt.step(), sched.step(), ref_opt.step(), ref.step()
    state = (opt.state_dict(), sched.state_dict())
    opt = build_optimizer(new, model)
    sched = build_scheduler(new, opt)
    opt.load_state_dict(state[0])
    sched.load_state_dict(state[1])
    apply_optim_settings(new, opt, sched)
    assert opt.param_groups[0]["weight_decay"] == 1e-4
    for _ in range(5):
        assert opt.param_groups[0]["lr"] == pytest.approx(ref_opt.param_groups[0]["lr"], rel=1e-12)
        opt.step(), sched.step(), ref_opt.step(), ref.step()
