"""``train.amp`` -> autocast dtype and GradScaler (``otmark.engine.precision``), CUDA mocked."""

import pytest
import torch

from otmark.engine import precision
from otmark.engine.config import ConfigError
from otmark.engine.loop import StepSettings, train_one_epoch
from otmark.engine.precision import (
    amp_dtype_for,
    check_grad_scaler,
    make_grad_scaler,
    needs_grad_scaler,
)

CUDA = torch.device("cuda:0")
CPU = torch.device("cpu")


@pytest.fixture
def gpu(monkeypatch):
    """A mocked GPU; ``gpu(native_bf16)`` sets what ``torch.cuda.is_bf16_supported`` says
    (with emulation it says True on any CUDA GPU, as recent PyTorch does)."""

    def set_native(native: bool):
        def is_bf16_supported(including_emulation: bool = True) -> bool:
            return True if including_emulation else native

        monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    return set_native


def test_auto_on_a_gpu_with_native_bf16_is_bf16(gpu):
    gpu(True)
    assert amp_dtype_for("auto", CUDA) is torch.bfloat16


def test_auto_on_a_gpu_without_native_bf16_is_fp16_with_a_scaler(gpu):
    gpu(False)  # e.g. a V100 or T4 (compute capability < 8.0)
    dtype = amp_dtype_for("auto", CUDA)
    assert dtype is torch.float16
    assert needs_grad_scaler(dtype, CUDA)


def test_explicit_bf16_on_a_gpu_without_it_warns(gpu):
    gpu(False)
    with pytest.warns(UserWarning, match="without native bf16"):
        assert amp_dtype_for("bf16", CUDA) is torch.bfloat16


@pytest.mark.parametrize("native, expected", [(True, torch.bfloat16), (False, None)])
def test_auto_on_cpu_follows_native_bf16(monkeypatch, native, expected):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    assert amp_dtype_for("auto", CPU) is expected


def test_explicit_settings():
    assert amp_dtype_for("none", CPU) is None
    assert amp_dtype_for("bf16", CPU) is torch.bfloat16
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        amp_dtype_for("fp16", CPU)
    with pytest.raises(ConfigError, match="train.amp must be one of"):
        amp_dtype_for("fp8", CPU)


def test_grad_scaler_only_for_fp16():
    assert not needs_grad_scaler(None)
    assert not needs_grad_scaler(torch.bfloat16)
    assert make_grad_scaler(torch.bfloat16, CPU) is None
    scaler = make_grad_scaler(torch.float16, CPU)
    assert isinstance(scaler, torch.amp.GradScaler)
    with pytest.raises(ValueError, match="needs a GradScaler"):
        check_grad_scaler(torch.float16, None)
    check_grad_scaler(torch.float16, scaler)
    check_grad_scaler(torch.bfloat16, None)


def test_the_training_loop_refuses_fp16_without_a_scaler():
    model = torch.nn.Conv2d(3, 2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = torch.utils.data.DataLoader([])
    with pytest.raises(ValueError, match="needs a GradScaler"):
        train_one_epoch(model, loader, None, opt, CPU, steps=StepSettings(torch.float16))


def test_fp16_training_step_on_cpu_scales_the_loss():
    """fp16 autocast + GradScaler through the loop on CPU: the scaler multiplies the loss
    (the gradient the optimiser sees is unscaled: one SGD step equals the float32 one)."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8)
    batch = {"image": x, "weight": torch.ones(2, 2), "target": torch.rand(2, 2, 8, 8)}

    class Loader(list):
        dataset = None

    def run(dtype, scaler):
        torch.manual_seed(1)
        model = torch.nn.Conv2d(3, 2, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        seen = []

        def loss_fn(pred, target, weight):
            loss = ((pred - target) ** 2).mean()
            loss.register_hook(lambda g: seen.append(float(g)))
            return loss

        train_one_epoch(
            model, Loader([batch]), loss_fn, opt, CPU, steps=StepSettings(dtype, scaler)
        )
        return model.weight.detach().clone(), seen

    w32, seen32 = run(None, None)
    scaler = make_grad_scaler(torch.float16, CPU)
    w16, seen16 = run(torch.float16, scaler)
    assert seen32 == [1.0]
    assert seen16 == [scaler.get_scale()] and seen16[0] > 1.0  # the loss was scaled
    assert torch.allclose(w16, w32, atol=2e-3)
