"""A fine-tune of a packaged model: weights from a checkpoint (``model.init``), a pretraining
mix with the turned-head domains (``otmark pretrain --mix``) and the fine-tune recipe."""

from __future__ import annotations

import pytest
import torch

from otmark import datasets
from otmark.cli.errors import CLIError
from otmark.cli.pretrain import _mix, default_config
from otmark.engine.builders import build_model
from otmark.engine.checkpoint import save_checkpoint
from otmark.engine.config import ExperimentConfig, augment_config, load_config
from otmark.models import tiny_kwargs
from otmark.pretrained.data import DEFAULT_MIX, parse_mix, split_counts, write_pretrain_data


def _tiny_cfg() -> ExperimentConfig:
    cfg = ExperimentConfig()
    cfg.model.name = "mobilenet_v2"
    cfg.model.kwargs = tiny_kwargs("mobilenet_v2")
    return cfg


def test_init_loads_the_checkpoint_weights(tmp_path):
    cfg = _tiny_cfg()
    torch.manual_seed(1)
    source = build_model(cfg, 68)
    path = save_checkpoint(
        tmp_path / "best.pt",
        model=source,
        model_name=cfg.model.name,
        model_kwargs={"num_landmarks": 68, **cfg.model.kwargs},
        scheme="300w",
        codec={},
    )
    torch.manual_seed(2)
    fresh = build_model(cfg, 68)
    cfg.model.init = str(path)
    torch.manual_seed(2)
    started = build_model(cfg, 68)
    want = source.state_dict()
    assert any(not torch.equal(v, want[k]) for k, v in fresh.state_dict().items())
    assert all(torch.equal(v, want[k]) for k, v in started.state_dict().items())


def test_init_errors_name_the_file(tmp_path):
    cfg = _tiny_cfg()
    cfg.model.init = str(tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        build_model(cfg, 68)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    cfg.model.init = str(empty)
    with pytest.raises(ValueError, match="empty.pt.*empty"):
        build_model(cfg, 68)
    # weights of another landmark count do not fit
    other = _tiny_cfg()
    path = save_checkpoint(
        tmp_path / "w98.pt",
        model=build_model(other, 98),
        model_name=other.model.name,
        model_kwargs={"num_landmarks": 98, **other.model.kwargs},
        scheme="wflw",
        codec={},
    )
    cfg.model.init = str(path)
    with pytest.raises(ValueError, match="w98.pt: weights do not fit"):
        build_model(cfg, 68)


def test_parse_mix():
    assert parse_mix("300w=0.3, aflw=0.2") == {"300w": 0.3, "aflw": 0.2}
    for bad, what in (
        ("300w", "DOMAIN=SHARE"),
        ("mars=1", "DOMAIN=SHARE"),
        ("aflw=x", "not a number"),
        ("aflw=0", "> 0"),
        ("aflw=1,aflw=2", "once"),
    ):
        with pytest.raises(ValueError, match=what):
            parse_mix(bad)
    with pytest.raises(CLIError, match="--mix: mix entry 'mars=1'"):
        _mix("mars=1")


def test_extra_domains_join_the_wflw_folders(tmp_path):
    mix = {"300w": 0.4, "wflw": 0.2, "300w-challenge": 0.2, "aflw": 0.2}
    written = write_pretrain_data(tmp_path, 10, 4, size=64, seed=3, mix=mix)
    counts = split_counts(10, mix)
    assert written["helen/trainset"] == counts["300w"]
    assert written["afw"] == counts["wflw"] + counts["300w-challenge"] + counts["aflw"]
    names = sorted(p.name for p in (tmp_path / "afw").glob("*.jpg"))
    for domain in ("wflw", "300w-challenge", "aflw"):
        assert sum(f"afw_{domain}_" in n for n in names) == counts[domain]
    train = datasets.load("300w", tmp_path, "train", on_error="raise")
    assert len(train) == 10
    # every face is its own draw: no two landmark files are the same
    pts = [p.read_bytes() for p in tmp_path.rglob("*.pts")]
    assert len(set(pts)) == len(pts) == 14


def test_packaged_mix_draws_its_faces_as_before(tmp_path):
    """The three packaged domains keep their folders' generator keys: adding a domain to the
    mix leaves the faces of the others' indices unchanged."""
    a, b = tmp_path / "a", tmp_path / "b"
    write_pretrain_data(a, 3, 3, size=64, seed=0, mix=DEFAULT_MIX)
    write_pretrain_data(b, 4, 4, size=64, seed=0, mix={**DEFAULT_MIX, "aflw": 0.1})
    for p in a.rglob("*.pts"):
        assert (b / p.relative_to(a)).read_bytes() == p.read_bytes()


def test_fine_tune_recipe_loads():
    path = default_config("fast").parent / "pretrained_fast2.yaml"
    cfg = load_config(path, check_paths=False)
    assert cfg.model.name == "mobilenet_v2" and cfg.model.init.endswith("best.pt")
    aug = augment_config(cfg)
    assert aug.shift_prob > 0 and aug.shift_sd == (0.07, 0.04)
    assert cfg.codec.input_size == 128 and cfg.optim.budget_minutes
