"""The schedules drive the engine's own ``train_one_epoch`` (its ``scheduler`` and
``should_stop`` hooks), with a fake clock standing in for a machine that slows down."""

import pytest
import torch

from otmark.engine.loop import EpochHooks, StepSettings, train_one_epoch
from otmark.engine.plateau import PlateauRule
from otmark.engine.schedule import BudgetedSchedule, ScheduledLR


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Batches(list):
    """A list of ready batches with the ``dataset`` attribute a DataLoader has."""

    dataset = None


def tiny_batches(n, k=2, size=8):
    g = torch.Generator().manual_seed(0)
    return Batches(
        {
            "image": torch.rand(2, 1, size, size, generator=g),
            "weight": torch.ones(2, k),
            "target": torch.rand(2, k, size, size, generator=g),
        }
        for _ in range(n)
    )


def weighted_mse(out, target, weight):
    return (((out - target) ** 2).mean(dim=(2, 3)) * weight).mean()


def test_budgeted_schedule_in_train_one_epoch():
    torch.manual_seed(0)
    model = torch.nn.Conv2d(1, 2, 3, padding=1)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    clock = FakeClock()
    driver = ScheduledLR(opt, BudgetedSchedule(40.0, warmup_steps=3, min_decay_steps=3), clock)
    used = []

    def loss_fn(out, target, weight):  # called once per step, before optimizer.step()
        used.append(opt.param_groups[0]["lr"])
        clock.now += 0.5 if len(used) <= 20 else 1.0  # slows down after 20 steps
        return weighted_mse(out, target, weight)

    loader = tiny_batches(7)
    epochs = 0
    while True:
        res = train_one_epoch(
            model,
            loader,
            loss_fn,
            opt,
            torch.device("cpu"),
            steps=StepSettings(scheduler=driver),
            hooks=EpochHooks(should_stop=driver.should_stop),
        )
        epochs += 1
        clock.now += 2.0  # a validation between epochs
        driver.add_validation_seconds(2.0)
        if res.interrupted:
            break
    # 40 s: 20 steps at 0.5 s, then about (40 - 10 - validations) s at 1 s a step
    assert abs(clock.now - 40.0) <= 3.0
    assert driver.schedule.taken == len(used) > 20
    assert used[:3] == pytest.approx([0.01 / 3, 0.02 / 3, 0.01])
    assert used[-1] == 0.0
    assert epochs == -(-len(used) // 7)


def test_plateau_rule_in_train_one_epoch():
    torch.manual_seed(0)
    model = torch.nn.Conv2d(1, 2, 3, padding=1)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    rule = PlateauRule(val_every=5, patience_steps=10, decay_steps=5, max_steps=200)
    driver = ScheduledLR(opt, rule)
    used = []
    steps = 0

    def loss_fn(out, target, weight):
        used.append(opt.param_groups[0]["lr"])
        return weighted_mse(out, target, weight)

    def should_stop():
        # validation every val_every steps (a constant NME: a plateau as soon as the window
        # allows, at step 15), decided before the next step's rate is used
        nonlocal steps
        steps += 1
        if rule.should_validate(steps):
            rule.observe(steps, 3.0)
            driver.refresh()
        return rule.phase(steps) == "stop"

    loader = tiny_batches(4)
    while not train_one_epoch(
        model,
        loader,
        loss_fn,
        opt,
        torch.device("cpu"),
        steps=StepSettings(scheduler=driver),
        hooks=EpochHooks(should_stop=should_stop),
    ).interrupted:
        pass
    assert rule.plateau_step == 15 and rule.stopped_at_plateau
    assert len(used) == 20
    assert used[:15] == [0.01] * 15
    assert used[15:] == pytest.approx([0.01 * f for f in (0.8, 0.6, 0.4, 0.2, 0.0)])
