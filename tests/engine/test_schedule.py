import json
import math

import pytest
import torch

from otmark.engine.schedule import (
    BudgetedSchedule,
    ConstantThenDecay,
    ScheduledLR,
    WarmupCosine,
    constant_then_decay,
    decay_factor,
    make_schedule,
    warmup_cosine,
)

C45 = 0.5 * (1 + math.cos(math.pi / 4))  # 0.853553...: cosine decay at progress 1/4


# -- step-based schedules against hand-computed values -----------------------------------------


def test_warmup_cosine_hand_computed():
    # 11 steps, 2 warm-up: 0.5, 1, then a cosine over steps 2..10 (8 intervals)
    s = WarmupCosine(total_steps=11, warmup_steps=2)
    assert s(0) == 0.5
    assert s(1) == 1.0
    assert s(2) == 1.0
    assert s(4) == pytest.approx(C45)
    assert s(6) == pytest.approx(0.5)
    assert s(8) == pytest.approx(1 - C45)
    assert s(10) == 0.0
    assert s(15) == 0.0  # past the end: stays at the final factor


def test_warmup_cosine_final_factor_and_degenerate_lengths():
    s = WarmupCosine(total_steps=11, warmup_steps=2, final=0.1)
    assert s(6) == pytest.approx(0.1 + 0.9 * 0.5)
    assert s(10) == 0.1
    # one step after the warm-up: it is the last, at the final factor
    assert [warmup_cosine(i, 3, 2) for i in range(3)] == [0.5, 1.0, 0.0]
    # no warm-up: the first step is at the peak
    assert warmup_cosine(0, 5, 0) == 1.0
    assert warmup_cosine(4, 5, 0) == 0.0


def test_constant_then_decay_hand_computed():
    lin = ConstantThenDecay(total_steps=10, decay_steps=4, warmup_steps=2, shape="linear")
    assert [lin(i) for i in range(10)] == pytest.approx([0.5, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25, 0])
    assert lin(9) == 0.0
    cos = ConstantThenDecay(total_steps=10, decay_steps=4, warmup_steps=2, shape="cosine")
    assert [cos(i) for i in range(6, 10)] == pytest.approx([C45, 0.5, 1 - C45, 0.0])
    assert constant_then_decay(9, 10, 2, 4, "linear", final=0.2) == 0.2
    assert constant_then_decay(7, 10, 2, 4, "linear", final=0.2) == pytest.approx(0.6)


def test_decay_factor_shapes():
    assert decay_factor(0.0, "linear") == 1.0
    assert decay_factor(1.0, "cosine") == 0.0
    assert decay_factor(0.5, "cosine", 0.5) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="decay shape"):
        decay_factor(0.5, "exp")


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: WarmupCosine(total_steps=3, warmup_steps=3), "no room"),
        (lambda: ConstantThenDecay(total_steps=5, decay_steps=4, warmup_steps=2), "no room"),
        (lambda: ConstantThenDecay(total_steps=5, decay_steps=0), "decay_steps"),
        (lambda: WarmupCosine(total_steps=5, final=1.5), "final factor"),
        (lambda: ConstantThenDecay(total_steps=5, decay_steps=2, shape="step"), "decay shape"),
        (lambda: BudgetedSchedule(0.0), "budget_s"),
        (lambda: BudgetedSchedule(10.0, kind="cosine"), "kind"),
        (lambda: BudgetedSchedule(10.0, kind="constant_then_decay"), "decay_steps"),
        (lambda: BudgetedSchedule(10.0, warmup_steps=5, max_steps=8), "max_steps"),
    ],
)
def test_bad_arguments_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_lambda_lr_and_scheduled_lr_give_the_same_rates():
    sched = WarmupCosine(total_steps=11, warmup_steps=2)

    def rates(make_scheduler):
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=0.1)
        s = make_scheduler(opt)
        out = []
        for _ in range(11):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            s.step()
        return out

    a = rates(lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, sched))
    b = rates(lambda opt: ScheduledLR(opt, sched))
    assert a == pytest.approx(b)
    assert a == pytest.approx([0.1 * sched(i) for i in range(11)])
    assert a[-1] == 0.0


# -- budgeted schedule ---------------------------------------------------------------------------


def run_budgeted(sched, step_time, val_every=0, val_seconds=0.0, start=0, stop_at=None):
    """Drive ``sched`` with fake times; returns (factors, seconds per step incl. validation)."""
    factors, spent = [], []
    i = start
    while not sched.should_stop():
        if stop_at is not None and i == stop_at:
            break
        factors.append(sched.factor(i))
        t = step_time(i)
        # a validation after step i - 1 is paid in the interval recorded with step i
        prev_v = val_seconds if val_every and i > 0 and i % val_every == 0 else 0.0
        sched.record_step(t + prev_v, prev_v)
        spent.append(t + prev_v)
        i += 1
        assert i < 100_000
    return factors, spent


def slow_down(i):
    return 1.0 if i < 100 else 3.0


def test_budget_replans_under_a_slow_down_and_anneals_to_zero():
    budget = 600.0
    sched = BudgetedSchedule(budget, warmup_steps=20, min_decay_steps=10, window=20)
    plans = []
    factors = []
    i = 0
    while not sched.should_stop():
        factors.append(sched.factor(i))
        sched.record_step(slow_down(i))
        plans.append(sched.total)
        i += 1
        assert i < 10_000, "the schedule never stops"
    steps = len(factors)
    elapsed = sum(slow_down(j) for j in range(steps))
    # 100 steps at 1 s, then (600 - 100) / 3 = 166 steps at 3 s
    assert abs(elapsed - budget) <= 3.0
    assert steps == pytest.approx(100 + 500 / 3, abs=1)
    assert sched.taken == steps == sched.total
    # first plans assumed 1 s a step (600 steps); the slow-down brought the plan down
    assert plans[50] == 600
    assert plans[-1] < plans[99]
    # the warm-up ran in full, the lr never rose after it, and the last step is at exactly 0
    assert factors[:20] == pytest.approx([(j + 1) / 20 for j in range(20)])
    after = factors[19:]
    assert all(b <= a + 1e-12 for a, b in zip(after, after[1:]))
    assert factors[-1] == 0.0
    assert factors[-2] > 0.0


def test_budget_with_a_speed_up_trains_more_steps():
    def speed_up(i):
        return 3.0 if i < 50 else 1.0

    sched = BudgetedSchedule(600.0, warmup_steps=10, min_decay_steps=10)
    factors, spent = run_budgeted(sched, speed_up)
    assert abs(sum(spent) - 600.0) <= 1.0
    assert len(factors) == pytest.approx(50 + 450, abs=1)
    assert factors[-1] == 0.0


def test_budget_counts_validation_time():
    # 1 s steps, 20 s of validation every 50 steps: 1.4 s per step amortised
    sched = BudgetedSchedule(700.0, warmup_steps=10, min_decay_steps=10)
    factors, spent = run_budgeted(sched, lambda i: 1.0, val_every=50, val_seconds=20.0)
    assert abs(sum(spent) - 700.0) <= 21.0  # within one step plus one validation
    assert len(factors) == pytest.approx(700 / 1.4, abs=15)
    assert sched.step_seconds() == 1.0  # validation does not count as step time
    assert factors[-1] == 0.0


def test_budget_constant_then_decay_ends_with_its_full_decay():
    sched = BudgetedSchedule(
        300.0, warmup_steps=5, kind="constant_then_decay", decay_steps=40, shape="linear"
    )
    factors, spent = run_budgeted(sched, slow_down)
    n = len(factors)
    assert abs(sum(spent) - 300.0) <= 3.0
    assert factors[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert factors[5 : n - 40] == [1.0] * (n - 45)
    assert factors[n - 40 :] == pytest.approx([1 - (j + 1) / 40 for j in range(40)])


def test_tiny_budget_still_warms_up_and_decays():
    # 5 s of budget at 1 s a step: the warm-up (8) and the shortest decay (4) run anyway
    sched = BudgetedSchedule(5.0, warmup_steps=8, min_decay_steps=4)
    factors, _ = run_budgeted(sched, lambda i: 1.0)
    assert len(factors) == 12
    assert factors[:8] == pytest.approx([(j + 1) / 8 for j in range(8)])
    assert factors[-1] == 0.0


def test_slow_down_inside_the_committed_decay_overruns_by_at_most_the_decay():
    # 1 s a step until the decay is committed, then 10 s a step
    sched = BudgetedSchedule(100.0, warmup_steps=5, min_decay_steps=6, window=5)
    factors, spent = run_budgeted(sched, lambda i: 1.0 if i < 95 else 10.0)
    assert factors[-1] == 0.0
    assert len(factors) == 100  # the plan was committed at step 94 and kept
    assert sum(spent) <= 100.0 + 5 * 10.0


def test_max_steps_caps_the_plan():
    sched = BudgetedSchedule(1000.0, warmup_steps=5, min_decay_steps=5, max_steps=50)
    factors, spent = run_budgeted(sched, lambda i: 1.0)
    assert len(factors) == 50
    assert factors[-1] == 0.0


def test_resume_from_state_dict_gives_the_same_sequence():
    kwargs = dict(budget_s=600.0, warmup_steps=20, min_decay_steps=10, window=20)
    full, _ = run_budgeted(BudgetedSchedule(**kwargs), slow_down)

    first = BudgetedSchedule(**kwargs)
    head, _ = run_budgeted(first, slow_down, stop_at=110)  # mid slow-down
    state = json.loads(json.dumps(first.state_dict()))  # as stored in a JSON/ckpt
    second = BudgetedSchedule(**kwargs)
    second.load_state_dict(state)
    tail, _ = run_budgeted(second, slow_down, start=110)
    assert head + tail == full


def test_load_state_dict_refuses_another_kind():
    a = BudgetedSchedule(10.0)
    b = BudgetedSchedule(10.0, kind="constant_then_decay", decay_steps=2)
    with pytest.raises(ValueError, match="warmup_cosine"):
        b.load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="lacks"):
        a.load_state_dict({"kind": "warmup_cosine"})


def test_bad_step_times_are_refused():
    s = BudgetedSchedule(10.0)
    with pytest.raises(ValueError, match="finite"):
        s.record_step(float("nan"))
    with pytest.raises(ValueError, match="val_seconds"):
        s.record_step(1.0, 2.0)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_scheduled_lr_times_steps_and_sets_rates_before_each_step():
    clock = FakeClock()
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.2)
    sched = BudgetedSchedule(60.0, warmup_steps=4, min_decay_steps=4)
    driver = ScheduledLR(opt, sched, clock=clock)
    used = []
    i = 0
    while not driver.should_stop():
        used.append(opt.param_groups[0]["lr"])
        clock.now += 1.0 if i < 20 else 2.0
        opt.step()
        if i == 9:  # a 5 s validation after step 9, paid before step 10 is timed
            clock.now += 5.0
            driver.add_validation_seconds(5.0)
        driver.step()
        i += 1
    assert sched.val_s == 5.0
    assert abs(clock.now - 60.0) <= 2.0
    assert used[:4] == pytest.approx([0.05, 0.1, 0.15, 0.2])
    assert used[-1] == 0.0
    assert driver.get_last_lr() == [0.0]


def test_scheduled_lr_state_round_trip_continues_the_plan():
    def run(resume_at=None):
        clock = FakeClock()
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=1.0)
        driver = ScheduledLR(opt, BudgetedSchedule(80.0, warmup_steps=4), clock=clock)
        used, i = [], 0
        while not driver.should_stop():
            if i == resume_at:
                state = json.loads(json.dumps(driver.state_dict()))
                opt = torch.optim.SGD([p], lr=1.0)
                driver = ScheduledLR(opt, BudgetedSchedule(80.0, warmup_steps=4), clock=clock)
                driver.load_state_dict(state)
                resume_at = None
            used.append(opt.param_groups[0]["lr"])
            clock.now += 1.0 if i < 30 else 1.5
            opt.step()
            driver.step()
            i += 1
        return used

    assert run(resume_at=35) == run()


def test_a_single_slow_step_costs_only_its_own_time():
    # 1 s steps, one 60 s step (a checkpoint) at index 100: the median ignores it, so the plan
    # loses exactly the 59 extra seconds (600 -> 541 steps) instead of collapsing for a window
    def outlier(i):
        return 60.0 if i == 100 else 1.0

    sched = BudgetedSchedule(600.0, warmup_steps=10, min_decay_steps=10, window=20)
    plans = []
    i = 0
    while not sched.should_stop():
        sched.factor(i)
        sched.record_step(outlier(i))
        plans.append(sched.total)
        i += 1
        assert i < 10_000, "the schedule never stops"
    assert plans[99] == 600
    assert set(plans[100:]) == {541}
    assert sched.taken == 541


def test_make_schedule_from_flat_options():
    assert make_schedule("warmup_cosine", steps=11, warmup_steps=2) == WarmupCosine(11, 2)
    assert make_schedule(
        "constant_then_decay", steps=10, warmup_steps=2, decay_steps=4
    ) == ConstantThenDecay(10, 4, 2)
    b = make_schedule("constant_then_decay", budget_s=60.0, decay_steps=5, max_steps=100)
    assert isinstance(b, BudgetedSchedule)
    assert (b.kind, b.decay_steps, b.max_steps, b.budget_s) == ("constant_then_decay", 5, 100, 60)
    with pytest.raises(ValueError, match="exactly one"):
        make_schedule("warmup_cosine")
    with pytest.raises(ValueError, match="exactly one"):
        make_schedule("warmup_cosine", steps=10, budget_s=5.0)
    with pytest.raises(ValueError, match="schedule must be"):
        make_schedule("multistep", steps=10)
