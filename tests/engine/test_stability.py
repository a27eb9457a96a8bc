"""Stable training: the spike guard on hand-built loss sequences, gradient clipping against
``torch.nn.utils.clip_grad_norm_``, a guarded step leaving the weights alone, and the config's
validation of ``optim.grad_clip_norm`` and ``optim.spike_guard``."""

from __future__ import annotations

import copy

import pytest
import torch

from otmark.engine.config import ConfigError, config_from_dict, validate_schedule
from otmark.engine.loop import StepSettings, clip_gradients, optimizer_step, train_one_epoch
from otmark.engine.spikes import SpikeGuard


def test_guard_skips_a_loss_above_k_times_the_running_median():
    g = SpikeGuard(factor=3.0, window=5, min_history=3)
    # hand check: the median of the window before each loss, x3
    #   1.0 1.2 0.8: under min_history, never skipped
    #   5.0: median(1.0, 1.2, 0.8) = 1.0 -> 5.0 > 3.0 -> skip
    #   2.9: median(1.0, 1.2, 0.8, 5.0) = 1.1 -> 2.9 < 3.3 -> kept
    #   3.4: median(1.0, 1.2, 0.8, 5.0, 2.9) = 1.2 -> 3.4 < 3.6 -> kept
    #   4.0: window (1.2, 0.8, 5.0, 2.9, 3.4): median 2.9 -> 4.0 < 8.7 -> kept
    losses = [1.0, 1.2, 0.8, 5.0, 2.9, 3.4, 4.0]
    assert [g.check(v) for v in losses] == [False, False, False, True, False, False, False]
    assert g.skipped == 1 and g.seen == 7
    assert list(g.recent) == [0.8, 5.0, 2.9, 3.4, 4.0]  # skipped losses enter the window


def test_guard_waits_for_min_history_and_accepts_a_lasting_rise():
    g = SpikeGuard(factor=2.0, window=4, min_history=4)
    assert not any(g.check(v) for v in [1.0, 1.0, 100.0, 1.0])  # too early to judge
    # a lasting rise to 10: skipped while the median is still 1, accepted once it moved
    #   window (1, 100, 1, 10)... hand check of the medians before each 10:
    #   (1,1,100,1) -> 1: skip; (1,100,1,10) -> 5.5: 10 < 11 kept; then kept
    assert [g.check(10.0) for _ in range(4)] == [True, False, False, False]
    assert g.skipped == 1


def test_guard_state_round_trip_and_bad_arguments():
    g = SpikeGuard(3.0, 4, 2)
    for v in [1.0, 2.0, 9.0]:
        g.check(v)
    h = SpikeGuard(3.0, 4, 2)
    h.load_state_dict(g.state_dict())
    assert (list(h.recent), h.seen, h.skipped) == ([1.0, 2.0, 9.0], 3, 1)
    with pytest.raises(ValueError, match="factor"):
        SpikeGuard(factor=1.0)
    with pytest.raises(ValueError, match="window"):
        SpikeGuard(window=0)


def _model_and_grads(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    x = torch.randn(5, 4)
    loss = (model(x) ** 2).sum() * 10.0
    return model, loss


def test_clipping_matches_torch_clip_grad_norm():
    model, loss = _model_and_grads()
    loss.backward()
    ref = copy.deepcopy(model)
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        q.grad = p.grad.clone()  # deepcopy leaves the gradients out
    total = torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.5)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    norm = clip_gradients(opt, 0.5)
    assert norm == pytest.approx(float(total))
    assert norm > 0.5  # the case clips
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad)
    clipped = torch.sqrt(sum((p.grad**2).sum() for p in model.parameters()))
    assert float(clipped) == pytest.approx(0.5, rel=1e-5)


def test_optimizer_step_clips_before_the_update():
    # plain SGD at rate 1: the update equals the (clipped) gradient
    model, loss = _model_and_grads()
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    optimizer_step(loss, opt, grad_clip_norm=0.25)
    step = torch.sqrt(
        sum(((b - p.detach()) ** 2).sum() for b, p in zip(before, model.parameters(), strict=True))
    )
    assert float(step) == pytest.approx(0.25, rel=1e-5)
    # without clipping the same step is the full gradient (much longer)
    model, loss = _model_and_grads()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer_step(loss, torch.optim.SGD(model.parameters(), lr=1.0))
    step = torch.sqrt(
        sum(((b - p.detach()) ** 2).sum() for b, p in zip(before, model.parameters(), strict=True))
    )
    assert float(step) > 1.0


class _Loader:
    """Three batches of a one-layer regression; the third one's targets are 100x larger."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.batches = []
        for scale in (1.0, 1.0, 100.0):
            self.batches.append(
                {"image": torch.randn(4, 3, generator=g), "y": scale * torch.ones(4, 1)}
            )
        self.dataset = None

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)


def test_a_guarded_spike_leaves_the_weights_unchanged(monkeypatch):
    import otmark.engine.loop as loop

    def fake_batch_loss(model, loss_fn, batch, *args):
        return loss_fn(model(batch["image"]), batch["y"], None)

    monkeypatch.setattr(loop, "batch_loss", fake_batch_loss)
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    seen = []

    def mse(out, y, _w):
        return ((out - y) ** 2).mean()

    def snapshot(_result):
        seen.append([p.detach().clone() for p in model.parameters()])

    guard = SpikeGuard(factor=3.0, window=10, min_history=2)
    res = train_one_epoch(
        model,
        _Loader(),
        mse,
        opt,
        torch.device("cpu"),
        steps=StepSettings(spike_guard=guard),
        hooks=loop.EpochHooks(on_step=snapshot),
    )
    assert res.steps == 3 and guard.skipped == 1
    assert all(torch.equal(a, b) for a, b in zip(seen[1], seen[2], strict=True))  # skipped
    assert not all(torch.equal(a, b) for a, b in zip(seen[0], seen[1], strict=True))


BASE = {"optim": {"schedule": "warmup_cosine", "steps": 10}}


@pytest.mark.parametrize(
    "optim, match",
    [
        ({"grad_clip_norm": 0.0}, "optim.grad_clip_norm must be a finite number > 0"),
        ({"grad_clip_norm": -1}, "optim.grad_clip_norm"),
        ({"spike_guard": {"factor": 1.0}}, "optim.spike_guard.factor must be"),
        ({"spike_guard": {"window": 0}}, "optim.spike_guard.window must be >= 1"),
        ({"spike_guard": {"min_history": 0}}, "optim.spike_guard.min_history"),
        ({"plateau": {"smooth_window": 0}}, "optim.plateau.smooth_window must be >= 1"),
    ],
)
def test_config_errors_name_the_key(optim, match):
    raw = {"optim": {**BASE["optim"], **optim}}
    cfg = config_from_dict(raw, "x.yaml")
    with pytest.raises(ConfigError, match=f"x.yaml: {match}"):
        validate_schedule(cfg, "x.yaml")


def test_unknown_guard_key_and_defaults_off():
    with pytest.raises(ConfigError, match="optim.spike_guard: unknown key 'k'"):
        config_from_dict({"optim": {"spike_guard": {"k": 3}}}, "x.yaml")
    cfg = config_from_dict({}, "x.yaml")
    assert cfg.optim.grad_clip_norm is None
    assert not cfg.optim.spike_guard.enabled
    assert cfg.optim.plateau.smooth_window == 1
    assert SpikeGuard.from_config(cfg.optim.spike_guard) is None


def test_adaptive_clip_bounds_by_a_multiple_of_the_recent_median():
    from otmark.engine.spikes import AdaptiveClip

    c = AdaptiveClip(factor=2.0, window=3, min_history=2)
    assert c.max_norm() == float("inf")
    c.record(1.0, c.max_norm())
    assert c.max_norm() == float("inf")  # 1 norm < min_history
    c.record(3.0, c.max_norm())
    assert c.max_norm() == 4.0  # 2 x median(1, 3)
    c.record(10.0, c.max_norm())  # clipped: 10 > 4
    assert c.clipped == 1 and c.max_norm() == 6.0  # 2 x median(1, 3, 10)
    c.record(2.0, c.max_norm())  # window (3, 10, 2)
    assert c.max_norm() == 6.0 and c.clipped == 1


def test_optimizer_step_with_adaptive_clip_matches_a_fixed_clip_at_its_bound():
    from otmark.engine.spikes import AdaptiveClip

    c = AdaptiveClip(factor=2.0, window=5, min_history=1)
    c.record(0.1, float("inf"))  # the bound of the next step: 2 x 0.1 = 0.2
    model, loss = _model_and_grads()
    ref, ref_loss = _model_and_grads()
    optimizer_step(loss, torch.optim.SGD(model.parameters(), lr=1.0), adaptive=c)
    optimizer_step(ref_loss, torch.optim.SGD(ref.parameters(), lr=1.0), grad_clip_norm=0.2)
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        assert torch.allclose(p, q)
    assert c.clipped == 1 and c.seen == 2 and c.recent[-1] > 0.2  # the pre-clip norm
    # both bounds: the smaller applies
    c2 = AdaptiveClip(factor=2.0, window=5, min_history=1)
    c2.record(10.0, float("inf"))
    model, loss = _model_and_grads()
    optimizer_step(loss, torch.optim.SGD(model.parameters(), lr=1.0), None, 0.2, c2)
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        assert torch.allclose(p, q)
    with pytest.raises(ConfigError, match="optim.grad_clip_adaptive.factor must be"):
        validate_schedule(
            config_from_dict({"optim": {**BASE["optim"], "grad_clip_adaptive": {"factor": 0.5}}}),
            "x.yaml",
        )
