"""The Wasserstein loss on a CUDA device equals the CPU one (skipped without CUDA;
``benchmarks/gpu_check.sh`` runs it)."""

import pytest
import torch

from otmark.heatmaps import render_gaussian
from otmark.losses import create_loss

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _inputs(b=4, k=6, m=32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    pred = torch.randn(b, k, m, m, generator=gen) * 3
    coords = torch.rand(b, k, 2, generator=gen) * (m - 1)
    target = render_gaussian(coords, (m, m), 1.5)
    return pred, target


def _value_and_grad(loss, pred, target):
    pred = pred.clone().requires_grad_(True)
    value = loss(pred, target)
    (grad,) = torch.autograd.grad(value, pred)
    return value.detach().double().cpu(), grad.double().cpu()


def test_cuda_equals_cpu():
    loss = create_loss("wasserstein")
    pred, target = _inputs()
    v_cpu, g_cpu = _value_and_grad(loss, pred, target)
    v_gpu, g_gpu = _value_and_grad(loss.cuda(), pred.cuda(), target.cuda())
    assert torch.allclose(v_gpu, v_cpu, rtol=1e-4)
    assert torch.allclose(g_gpu, g_cpu, rtol=1e-3, atol=1e-4 * g_cpu.abs().max())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_cuda_autocast_keeps_the_float32_value(dtype):
    loss = create_loss("wasserstein").cuda()
    pred, target = (t.cuda() for t in _inputs(seed=1))
    ref = loss(pred, target)
    with torch.autocast("cuda", dtype=dtype):
        got = loss(pred, target)
    assert got.dtype == torch.float32
    assert torch.allclose(got, ref, rtol=1e-5)
