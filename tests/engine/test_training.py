"""The engine's pieces on a tiny generated dataset: a whole run, prediction geometry, metrics."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from engine_data import tiny_config

from otmark.engine import (
    build_dataset,
    build_loader,
    build_samples,
    config_from_dict,
    landmark_metrics,
    predict,
    train,
    validate,
)
from otmark.engine.loop import batch_loss
from otmark.engine.sampler import EpochSampler
from otmark.models import load_model_from_checkpoint
from otmark.schemes import get_scheme
from otmark.transforms import centre_scale_from_landmarks


def _cfg(tiny_300w, tmp_path, **sections):
    cfg = config_from_dict(tiny_config(tiny_300w, tmp_path / "run", **sections))
    validate(cfg, "test")
    return cfg


def test_a_short_run_writes_checkpoints_logs_and_metrics(tiny_300w, tmp_path):
    cfg = _cfg(tiny_300w, tmp_path)
    lines = []
    result = train(cfg, log=lines.append)
    out = tmp_path / "run"
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    # lr x0.1 after the milestone epoch 1
    assert rows[0]["lr"] == pytest.approx(2e-3) and rows[1]["lr"] == pytest.approx(2e-4)
    assert all(np.isfinite(r["train_loss"]) and r["val_NME"] > 0 for r in rows)
    csv_lines = (out / "log.csv").read_text().splitlines()
    assert len(csv_lines) == 3 and csv_lines[0].startswith("epoch,lr,train_loss")
    assert result["best_nme"] == pytest.approx(min(r["val_NME"] for r in rows))
    assert len(lines) == 3 and "8 training / 4 validation faces" in lines[0]
    assert "val NME" in lines[1]
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["epoch"] == 2 and last["step"] == 0 and last["scheme"] == "300w"
    assert last["codec"]["heatmap_size"] == 16 and last["config"]["name"] == "tiny"
    assert len(last["history"]) == 2
    model, meta = load_model_from_checkpoint(out / "best.pt")
    assert meta["model_kwargs"]["num_landmarks"] == get_scheme("300w").num_points
    assert (out / "config.yaml").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left


class Constant(torch.nn.Module):
    """Outputs all-zero heatmap logits: GET_BC (softmax) decodes the heatmap centre."""

    def __init__(self, k, m):
        super().__init__()
        self.k, self.m = k, m

    def forward(self, x):
        return torch.zeros(x.shape[0], self.k, self.m, self.m)


def test_predictions_map_back_through_the_crop(tiny_300w, tmp_path):
    cfg = _cfg(tiny_300w, tmp_path)
    samples = build_samples(cfg, "challenge")
    ds = build_dataset(cfg, samples, train=False)
    loader = build_loader(ds, EpochSampler(len(ds), shuffle=False), batch_size=3)
    k = get_scheme("300w").num_points
    codec = dataclasses.replace(cfg.codec, decoder="get_bc")
    idx, pred = predict(Constant(k, 16), loader, torch.device("cpu"), codec=codec)
    assert idx.tolist() == list(range(len(samples)))
    for i, s in enumerate(samples):
        centre, _ = centre_scale_from_landmarks(s.landmarks)
        np.testing.assert_allclose(pred[i], np.broadcast_to(centre, (k, 2)), atol=1e-4)
    # NME by hand: mean distance to the box centre over the outer-eye-corner distance
    a, b = get_scheme("300w").normaliser_indices
    gt = np.stack([s.landmarks for s in samples])
    expected = (
        np.linalg.norm(pred - gt, axis=-1).mean(1) / np.linalg.norm(gt[:, a] - gt[:, b], axis=-1)
    ).mean()
    assert landmark_metrics(pred, samples, "300w")["NME"] == pytest.approx(100 * expected)


def test_intermediate_supervision_sums_the_stack_losses(tiny_300w, tmp_path):
    cfg = _cfg(tiny_300w, tmp_path)
    ds = build_dataset(cfg, build_samples(cfg, "challenge"), train=False)
    batch = next(iter(build_loader(ds, EpochSampler(len(ds), shuffle=False), 2)))
    k = get_scheme("300w").num_points

    class Stacked(torch.nn.Module):
        def forward(self, x):
            z = torch.ones(x.shape[0], k, 16, 16)
            return [z * 0.5, z]

    def mse(pred, target, weight):
        return ((pred - target) ** 2).mean()

    total = batch_loss(Stacked(), mse, batch, "cpu")
    z = torch.ones_like(batch["target"])
    assert float(total) == pytest.approx(
        float(mse(z * 0.5, batch["target"], None) + mse(z, batch["target"], None))
    )


def test_heatmap_size_mismatch_is_refused_before_any_work(tiny_300w, tmp_path):
    from otmark.engine import ConfigError

    raw = tiny_config(tiny_300w, tmp_path / "run", codec={"heatmap_size": 32})
    with pytest.raises(ConfigError, match="codec.heatmap_size = 32 does not fit"):
        validate(config_from_dict(raw), "test")
    with pytest.raises(ConfigError, match="set codec.heatmap_size = 16"):
        train(config_from_dict(raw), log=lambda _: None)  # train() checks too (library use)
    assert not (tmp_path / "run").exists()  # nothing was written


def test_stacked_model_with_bf16_autocast_channels_last_and_coordconv(tiny_300w, tmp_path):
    from otmark.models import tiny_kwargs

    cfg = _cfg(
        tiny_300w,
        tmp_path,
        model={"name": "hourglass2", "coordconv": True, "kwargs": tiny_kwargs("hourglass2")},
        optim={"epochs": 1},
        data={"limit": 4},
        train={"amp": "bf16", "channels_last": True},
    )
    result = train(cfg, log=lambda _: None)
    assert np.isfinite(result["last_metrics"]["NME"])
    model, meta = load_model_from_checkpoint(tmp_path / "run" / "last.pt")
    assert meta["model_kwargs"]["coordconv"] is True


def test_cpu_cannot_use_fp16(tiny_300w, tmp_path):
    from otmark.engine import ConfigError

    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        train(_cfg(tiny_300w, tmp_path, train={"amp": "fp16"}))
