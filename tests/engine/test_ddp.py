"""torchrun with 2 CPU processes (gloo) against 1 process, same global batch."""

import json
import os
import subprocess
import sys

import pytest
import torch
from engine_data import tiny_config, write_config

from otmark.engine import (
    EpochSampler,
    build_dataset,
    build_loader,
    build_samples,
    config_from_dict,
    evaluate,
    train,
)
from otmark.models import load_model_from_checkpoint

SEED = 3


def _raw(data_root, out):
    return tiny_config(
        data_root,
        out,
        optim={"epochs": 2, "milestones": [2], "batch_size": 4, "lr": 1e-3},
        codec={"decoder": "get_bc"},
        train={"seed": SEED},
    )


def test_two_processes_match_one(tiny_300w, tmp_path):
    config = write_config(tmp_path / "ddp.yaml", _raw(tiny_300w, tmp_path / "ddp"))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "otmark",
        "train",
        "--config",
        str(config),
    ]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert res.stdout.count("epoch 1/2") == 1  # only rank 0 logs
    assert res.stdout.count("done:") == 1

    train(config_from_dict(_raw(tiny_300w, tmp_path / "one")), log=lambda _: None)
    rows = {}
    for name in ("ddp", "one"):
        lines = (tmp_path / name / "log.jsonl").read_text().splitlines()
        rows[name] = [json.loads(line) for line in lines]
    assert len(rows["ddp"]) == len(rows["one"]) == 2
    for d, o in zip(rows["ddp"], rows["one"]):
        # the same samples in every global step; only BatchNorm sees half batches per process
        assert d["train_loss"] == pytest.approx(o["train_loss"], rel=0.02)
        # nearly the same model, scored on the same images
        assert d["val_NME"] == pytest.approx(o["val_NME"], rel=0.05)

    # the logged DDP score is the score of all validation images: re-score the DDP checkpoint
    # in this process and compare
    cfg = config_from_dict(_raw(tiny_300w, tmp_path / "ddp"))
    ds = build_dataset(cfg, build_samples(cfg, "challenge"), train=False)
    model, _ = load_model_from_checkpoint(tmp_path / "ddp" / "last.pt")
    loader = build_loader(ds, EpochSampler(len(ds), shuffle=False), 4)
    # the run's codec (heatmap-L2 outputs: GET_BC without a softmax), as the run validated
    metrics = evaluate(model, loader, torch.device("cpu"), codec=cfg.codec)
    assert metrics["NME"] == pytest.approx(rows["ddp"][-1]["val_NME"], rel=1e-6)
    state = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)["model"]
    assert not any(k.startswith("module.") for k in state)
