"""Atomic checkpoints, RNG state round trips, and the shared checkpoint format."""

import os
import random

import numpy as np
import pytest
import torch

from otmark.engine import (
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_atomic,
    save_checkpoint,
)
from otmark.models import create_model, load_model_from_checkpoint


def _draws():
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]  # noqa: NPY002


def test_rng_state_round_trip():
    state = capture_rng_state()
    first = _draws()
    restore_rng_state(state)
    assert _draws() == first


def test_atomic_save_replaces_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "sub" / "x.pt"
    save_atomic({"a": 1}, path)
    save_atomic({"a": 2}, path)
    assert torch.load(path)["a"] == 2
    assert [p.name for p in path.parent.iterdir()] == ["x.pt"]
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # like open(), not mkstemp's 0600

    class Boom:
        def __reduce__(self):
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError):
        save_atomic({"a": Boom()}, path)
    assert torch.load(path)["a"] == 2  # the old file survives a failed write
    assert [p.name for p in path.parent.iterdir()] == ["x.pt"]


def test_checkpoint_restores_training_state_and_loads_for_inference(tmp_path):
    torch.manual_seed(0)
    model = create_model("hrnet_tiny", 5)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [1], 0.1)
    model(torch.randn(2, 3, 32, 32)).square().mean().backward()
    opt.step()
    sched.step()
    codec = {"input_size": 32, "heatmap_size": 8, "sigma": 1.0, "decoder": "get_bc"}
    path = save_checkpoint(
        tmp_path / "last.pt",
        model=model,
        model_name="hrnet_tiny",
        model_kwargs={"num_landmarks": 5, "coordconv": False},
        scheme="300w",
        codec=codec,
        optimizer=opt,
        scheduler=sched,
        epoch=3,
        step=2,
        config={"name": "t"},
    )
    torch.manual_seed(1)
    fresh = create_model("hrnet_tiny", 5)
    opt2 = torch.optim.Adam(fresh.parameters(), lr=1e-3)
    sched2 = torch.optim.lr_scheduler.MultiStepLR(opt2, [1], 0.1)
    ckpt = load_checkpoint(path, fresh, opt2, sched2)
    assert (ckpt["epoch"], ckpt["step"], ckpt["codec"]) == (3, 2, codec)
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    assert opt2.param_groups[0]["lr"] == pytest.approx(1e-4)
    assert sched2.last_epoch == 1
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert all(torch.equal(s1[k]["exp_avg"], s2[k]["exp_avg"]) for k in s1)
    # the models package rebuilds the model from the same file
    rebuilt, meta = load_model_from_checkpoint(path)
    assert meta["scheme"] == "300w" and meta["codec"] == codec and "optimizer" not in meta
    x = torch.randn(1, 3, 32, 32)
    model.eval()
    torch.testing.assert_close(rebuilt(x), model(x))


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt"):
        load_checkpoint(bad)
