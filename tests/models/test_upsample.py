"""Bilinear resizing with a deterministic backward (``otmark.models.upsample``)."""

import warnings

import pytest
import torch
import torch.nn.functional as F

from otmark.models import upsample
from otmark.models.cpn import CPN
from otmark.models.hrnet import HRNet
from otmark.models.upsample import (
    bilinear_resize,
    bilinear_resize_matmul,
    interpolation_matrix,
    needs_deterministic_bilinear,
)


@pytest.fixture
def deterministic():
    """``torch.use_deterministic_algorithms(True)`` inside the test, restored after."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(before)


def test_interpolation_matrix_hand_worked():
    # 2 -> 4 (scale 0.5): output pixels sample the input at -0.25 (clamped to 0), 0.25, 0.75, 1.25
    expected = torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]])
    assert torch.equal(interpolation_matrix(2, 4), expected)
    # 4 -> 2 (scale 2): samples at 0.5 and 2.5
    expected = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]])
    assert torch.equal(interpolation_matrix(4, 2), expected)


@pytest.mark.parametrize(
    "shape_in, size",
    [((8, 8), (16, 16)), ((4, 4), (32, 32)), ((5, 7), (16, 13)), ((16, 16), (8, 8)),
     ((7, 5), (7, 5)), ((1, 1), (4, 4)), ((16, 16), (17, 33)), ((3, 3), (64, 64))],
)  # fmt: skip
def test_matmul_resize_equals_interpolate(shape_in, size):
    gen = torch.Generator().manual_seed(sum(shape_in) + sum(size))
    x = torch.randn(2, 3, *shape_in, generator=gen, requires_grad=True)
    ref = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    got = bilinear_resize_matmul(x, size)
    assert got.shape == ref.shape
    # float32 rounding: a few ulps of the largest value (the two ways round in another order)
    assert (got - ref).abs().max().item() <= 1e-6 * max(1.0, ref.abs().max().item())
    g = torch.randn(ref.shape, generator=gen)
    (g_ref,) = torch.autograd.grad(ref, x, g)
    (g_got,) = torch.autograd.grad(got, x, g)
    # gradients sum many products; the order differs between the two ways
    assert (g_got - g_ref).abs().max().item() <= 1e-5 * max(1.0, g_ref.abs().max().item())


def test_needs_deterministic_bilinear_only_on_cuda_when_deterministic(deterministic):
    assert needs_deterministic_bilinear(torch.device("cuda:0"))
    assert needs_deterministic_bilinear("cuda")
    assert not needs_deterministic_bilinear(torch.device("cpu"))
    torch.use_deterministic_algorithms(False)
    assert not needs_deterministic_bilinear(torch.device("cuda:0"))


def test_bilinear_resize_is_interpolate_by_default(monkeypatch):
    called = []
    monkeypatch.setattr(upsample, "bilinear_resize_matmul", lambda *a: called.append(a))
    x = torch.randn(1, 2, 4, 4)
    out = bilinear_resize(x, (8, 8))
    assert not called
    assert torch.equal(out, F.interpolate(x, size=(8, 8), mode="bilinear", align_corners=False))


@pytest.mark.parametrize(
    "make, size",
    [
        (lambda: HRNet(3, width=4, stem_width=8, num_blocks=1, layer1_blocks=1,
                       num_modules=(1, 1, 1)), 64),
        (lambda: CPN(3, depth=18, base_width=4, channels=8, blocks=(1, 1, 1, 1)), 64),
    ],
    ids=["hrnet", "cpn"],
)  # fmt: skip
def test_models_in_deterministic_cuda_mode_warn_and_match(make, size, monkeypatch, deterministic):
    """With the CUDA check mocked, the models take the matmul path on CPU: a warning, and the
    outputs and gradients of the F.interpolate path."""
    torch.manual_seed(0)
    model = make().train()
    x = torch.randn(2, 3, size, size)

    def run():
        model.zero_grad()
        out = model(x)
        outs = out if isinstance(out, list) else [out]
        sum((o**2).mean() for o in outs).backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        return [o.detach() for o in outs], grads

    state = {k: v.clone() for k, v in model.state_dict().items()}
    ref_out, ref_grads = run()
    model.load_state_dict(state)  # BatchNorm running stats back to where they were
    monkeypatch.setattr(upsample, "needs_deterministic_bilinear", lambda device: True)
    monkeypatch.setattr(upsample, "_warned", False)
    calls = []
    real = upsample.bilinear_resize_matmul
    monkeypatch.setattr(
        upsample, "bilinear_resize_matmul", lambda x, s: calls.append(s) or real(x, s)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got_out, got_grads = run()
    assert calls, "the matmul path was not taken"
    assert sum("bilinear upsampling runs as two matrix products" in str(w.message)
               for w in caught) == 1  # fmt: skip
    for a, b in zip(got_out, ref_out):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)
    assert len(got_grads) == len(ref_grads)
    for a, b in zip(got_grads, ref_grads):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-5 * max(1.0, b.abs().max().item()))
