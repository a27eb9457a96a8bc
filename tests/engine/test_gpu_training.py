"""On a CUDA device: training with AMP (bf16 or fp16 + GradScaler), deterministic mode with
bilinear models. Skipped without CUDA; ``benchmarks/gpu_check.sh`` runs them."""

import json

import numpy as np
import pytest
import torch
from engine_data import tiny_config

from otmark.engine import config_from_dict, train, validate
from otmark.engine.precision import amp_dtype_for
from otmark.models import create_model, tiny_kwargs

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _run(tiny_300w, tmp_path, amp, **train_opts):
    raw = tiny_config(tiny_300w, tmp_path / amp, train={"device": "cuda", "amp": amp, **train_opts})
    cfg = config_from_dict(raw)
    validate(cfg, "test")
    lines = []
    train(cfg, log=lines.append)
    rows = [json.loads(x) for x in (tmp_path / amp / "log.jsonl").read_text().splitlines()]
    return rows, lines, torch.load(tmp_path / amp / "last.pt", weights_only=True)


@pytest.mark.parametrize("amp", ["auto", "fp16", "none"])
def test_training_with_amp_on_cuda(tiny_300w, tmp_path, amp):
    rows, lines, last = _run(tiny_300w, tmp_path, amp)
    assert len(rows) == 2 and all(np.isfinite(r["train_loss"]) for r in rows)
    assert rows[1]["train_loss"] < rows[0]["train_loss"] * 1.5
    dtype = amp_dtype_for(amp, torch.device("cuda"))
    assert f"amp {dtype or 'off'}" in lines[0] and "cuda:0" in lines[0]
    # fp16 (asked for, or what auto picks on a GPU without native bf16) trains with a scaler
    assert ("scaler" in last) == (dtype == torch.float16)


def test_deterministic_training_repeats_exactly_on_cuda(tiny_300w, tmp_path):
    """HRNet (bilinear fusion) under train.deterministic=true: no error at the first backward,
    and two runs give the same weights bit for bit."""
    before = torch.are_deterministic_algorithms_enabled()
    try:
        weights = []
        for run in ("a", "b"):
            raw = tiny_config(
                tiny_300w,
                tmp_path / run,
                train={"device": "cuda", "amp": "none", "deterministic": True},
            )
            train(config_from_dict(raw), log=lambda _m: None)
            weights.append(torch.load(tmp_path / run / "last.pt", weights_only=True)["model"])
    finally:
        torch.use_deterministic_algorithms(before)
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_deterministic_bilinear_on_cuda_matches_cpu():
    torch.manual_seed(0)
    model = create_model("hrnet_tiny", 5, **tiny_kwargs("hrnet_tiny")).train()
    x = torch.randn(2, 3, 64, 64)
    ref = model(x)
    ref.square().mean().backward()
    ref_grads = [p.grad.clone() for p in model.parameters()]
    cuda = create_model("hrnet_tiny", 5, **tiny_kwargs("hrnet_tiny")).train()
    cuda.load_state_dict(model.state_dict())
    cuda = cuda.cuda()
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        out = cuda(x.cuda())
        out.square().mean().backward()
    finally:
        torch.use_deterministic_algorithms(before)
    assert torch.allclose(out.cpu(), ref, rtol=1e-3, atol=1e-5)
    for p, g in zip(cuda.parameters(), ref_grads):
        assert torch.allclose(p.grad.cpu(), g, rtol=1e-2, atol=1e-5 * max(1.0, g.abs().max()))
