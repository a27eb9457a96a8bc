"""Bad targets and predictions: clear errors naming the loss, the argument and the map."""

import warnings

import pytest
import torch

from otmark.heatmaps import render_gaussian
from otmark.losses import LOSSES, create_loss, wasserstein_loss
from otmark.ot.counting import DispatchCounter


def _batch(seed=0, b=2, k=3, n=16):
    g = torch.Generator().manual_seed(seed)
    target = render_gaussian(torch.rand(b, k, 2, generator=g) * (n - 8) + 4, n, 1.5)
    return torch.randn(b, k, n, n, generator=g), target


@pytest.mark.parametrize("backend", ["bucketed", "fixed"])
def test_w_loss_without_usable_target_is_zero_and_connected(backend):
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    loss = create_loss("wasserstein", backend=backend)(x, torch.zeros(2, 3, 16, 16))
    loss.backward()
    assert loss.item() == 0.0
    assert x.grad is not None and torch.equal(x.grad, torch.zeros_like(x))


def test_w_loss_empty_maps_count_as_zero_in_the_mean():
    pred, target = _batch(1)
    full = wasserstein_loss(pred, target)
    per_map = [
        wasserstein_loss(pred[i : i + 1, j : j + 1], target[i : i + 1, j : j + 1])
        for i, j in ((0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2))
    ]
    target[1, 2] = 0.0
    emptied = wasserstein_loss(pred, target)
    expected = (sum(v.item() for v in per_map[:5])) / 6
    assert emptied.item() == pytest.approx(expected, rel=2e-3)
    assert emptied.item() < full.item()


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_w_loss_nonfinite_target_names_loss_argument_and_map(bad):
    pred, target = _batch(2)
    target[1, 2, 5, 5] = bad
    with pytest.raises(
        ValueError, match=r"wasserstein loss: target contains NaN or inf .*\(1, 2\)"
    ):
        wasserstein_loss(pred, target)


def test_w_loss_can_skip_nonfinite_targets_with_a_warning():
    pred, target = _batch(3)
    clean = target.clone()
    clean[0, 1] = 0.0
    target[0, 1, 4, 4] = float("nan")
    loss = create_loss("wasserstein", nonfinite_target="skip")
    x = pred.clone().requires_grad_(True)
    with pytest.warns(
        RuntimeWarning, match=r"target contains NaN or inf .*\(0, 1\)\); those maps are skipped"
    ):
        val = loss(x, target)
    val.backward()
    assert val.item() == pytest.approx(loss(pred, clean).item(), rel=1e-6)
    assert torch.equal(x.grad[0, 1], torch.zeros_like(x.grad[0, 1]))
    with pytest.raises(ValueError, match="nonfinite_target"):
        create_loss("wasserstein", nonfinite_target="ignore")


def test_w_loss_negative_target_raises():
    pred, target = _batch(4)
    target[0, 0, 3, 3] = -0.1
    with pytest.raises(
        ValueError, match=r"wasserstein loss: target has negative values .*\(0, 0\)"
    ):
        wasserstein_loss(pred, target)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize(
    ("bad", "seed", "at"), [("pred", 5, (1, 0, 2, 2)), ("target", 6, (0, 2, 7, 7))]
)
def test_every_loss_names_the_input_and_the_map_with_nan(name, bad, seed, at):
    pred, target = _batch(seed)
    {"pred": pred, "target": target}[bad][at] = float("nan")
    msg = rf"{name} loss: {bad} contains NaN or inf .*\({at[0]}, {at[1]}\)"
    with pytest.raises(ValueError, match=msg):
        create_loss(name)(pred, target)


@pytest.mark.parametrize("name", ["wasserstein", "js", "soft_argmax"])
def test_distribution_losses_reject_negative_targets(name):
    pred, target = _batch(7)
    target[1, 1, 0, 0] = -1.0
    with pytest.raises(ValueError, match=rf"{name} loss: target has negative values .*\(1, 1\)"):
        create_loss(name)(pred, target)


def test_l2_accepts_any_real_target():
    pred, target = _batch(8)
    target = target - 0.5
    assert torch.isclose(create_loss("l2")(pred, target), ((pred - target) ** 2).mean())


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_input_checks_cost_one_sync_and_can_be_switched_off(name):
    pred, target = _batch(9)
    kwargs = {"backend": "fixed", "radius": 6.0} if name == "wasserstein" else {}
    counts = []
    for check in (True, False):
        loss = create_loss(name, check_inputs=check, **kwargs)
        x = pred.clone().requires_grad_(True)
        with DispatchCounter() as c:
            loss(x, target).backward()
        counts.append(c.syncs)
    checked, unchecked = counts
    assert checked - unchecked == 1
    if name != "wasserstein":
        assert unchecked == 0
    else:
        assert unchecked == 1  # the convergence read of the solver (radius given: no read)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        create_loss(name, check_inputs=False)(pred, target)
