"""Bad settings and resumes with changed settings: one line naming the setting, exit 2, nothing
written or changed on disk; accepted overrides really take effect."""

import json

import pytest
from train_helpers import (
    load_ckpt,
    one_error_line,
    run_cli,
    snapshot,
    tiny_raw,
    write_yaml,
)

from otmark.engine import config_from_dict, train


@pytest.mark.parametrize(
    "setting,fragment",
    [
        ("optim.lr=inf", "optim.lr = inf: must be a finite number > 0"),
        ("optim.lr=nan", "optim.lr = nan"),
        ("optim.lr=0", "optim.lr = 0.0"),
        ("optim.epochs=-1", "optim.epochs = -1: must be >= 1"),
        ("optim.batch_size=0", "optim.batch_size = 0"),
        ("optim.gamma=inf", "optim.gamma = inf"),
        ("codec.sigma=-1", "codec.sigma = -1.0"),
        ("codec.heatmap_size=32", "codec.heatmap_size = 32 does not fit codec.input_size = 64"),
        ("train.checkpoint_every=-5", "train.checkpoint_every = -5"),
        ("data.max_bad_fraction=2", "data.max_bad_fraction = 2.0"),
        ("data.on_error=ignore", "data.on_error: unknown mode 'ignore'"),
    ],
)
def test_bad_setting_is_one_line_before_any_work(tiny_data, tmp_path, capsys, setting, fragment):
    config = write_yaml(tmp_path / "c.yaml", tiny_raw(tiny_data, tmp_path / "run"))
    code, out, err = run_cli(capsys, "train", "--config", str(config), "--set", setting)
    assert code == 2
    line = one_error_line(err)
    assert fragment in line and "c.yaml" in line
    assert not (tmp_path / "run").exists()


@pytest.fixture
def one_epoch(tiny_data, tmp_path):
    """A finished 1-epoch run and its config file."""
    raw = tiny_raw(tiny_data, tmp_path / "run", optim={"epochs": 1})
    config = write_yaml(tmp_path / "c.yaml", raw)
    train(config_from_dict(raw), log=lambda _: None)
    return config, tmp_path / "run"


@pytest.mark.parametrize(
    "sets,fragments",
    [
        (["model.name=hourglass2"], ["model.name 'hrnet_tiny' -> 'hourglass2'"]),
        (
            ["loss.name=wasserstein", "codec.sigma=2.0"],
            ["loss.name 'l2' -> 'wasserstein'", "codec.sigma 1.0 -> 2.0"],
        ),
        (["data.crop_from=box"], ["data.crop_from 'landmarks' -> 'box'"]),
    ],
)
def test_resume_refuses_a_changed_architecture_loss_or_codec(one_epoch, capsys, sets, fragments):
    config, run = one_epoch
    before = snapshot(run)
    argv = ["train", "--config", str(config), "--resume", "--resume-override"]
    for s in sets:
        argv += ["--set", s]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    line = one_error_line(err)
    assert "last.pt" in line and "cannot resume" in line
    assert all(f in line for f in fragments), line
    assert snapshot(run) == before


def test_resume_refuses_a_changed_scheme(one_epoch, tmp_path, capsys):
    from otmark.engine.checkpoint import save_atomic

    config, run = one_epoch
    ckpt = load_ckpt(run / "last.pt")
    ckpt["scheme"] = "wflw"  # as if trained on another dataset with the same config
    save_atomic(ckpt, run / "last.pt")
    before = snapshot(run)
    code, out, err = run_cli(capsys, "train", "--config", str(config), "--resume")
    assert code == 2 and "scheme is 'wflw' but the data's is '300w'" in one_error_line(err)
    assert snapshot(run) == before


def test_resume_with_a_changed_lr_needs_override(one_epoch, capsys):
    config, run = one_epoch
    before = snapshot(run)
    argv = ["train", "--config", str(config), "--resume", "--set", "optim.lr=1e-3"]
    code, out, err = run_cli(capsys, *argv, "--set", "optim.epochs=2")
    assert code == 2
    line = one_error_line(err)
    assert "optim.lr 0.002 -> 0.001" in line and "optim.epochs 1 -> 2" in line
    assert "--resume-override" in line
    assert snapshot(run) == before


def test_resume_override_is_logged_and_takes_effect(one_epoch, capsys):
    config, run = one_epoch
    argv = ["train", "--config", str(config), "--resume", "--resume-override"]
    code, out, err = run_cli(capsys, *argv, "--set", "optim.lr=1e-3", "--set", "optim.epochs=2")
    assert code == 0, err
    assert "resume override: optim.lr 0.002 -> 0.001" in out
    assert "resume override: optim.epochs 1 -> 2" in out
    rows = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    events = [r for r in rows if r.get("event") == "resume_override"]
    assert events and events[0]["changes"]["optim.lr"] == {"old": 0.002, "new": 0.001}
    epochs = [r for r in rows if "event" not in r]
    assert [r["epoch"] for r in epochs] == [1, 2]
    # milestone [1]: epoch 2 trains at new lr x gamma = 1e-4 (the old lr would give 2e-4)
    assert epochs[1]["lr"] == pytest.approx(1e-4, rel=1e-12)
    assert "event" not in (run / "log.csv").read_text()
    last = load_ckpt(run / "last.pt")
    assert last["epoch"] == 2 and last["scheduler"]["base_lrs"] == [1e-3]
    assert last["config"]["optim"]["lr"] == 1e-3


def test_resume_override_of_the_batch_size_inside_an_epoch(tiny_data, tmp_path, monkeypatch):
    """Cut after 1 step of batch 2 (2 faces); resumed with batch 4: the other 6 faces of the
    epoch are seen exactly once, then full epochs of 8."""
    import otmark.engine.loop as loop

    raw = tiny_raw(tiny_data, tmp_path / "run")
    real, seen = loop.batch_loss, []

    def fail_second(*args, **kwargs):
        seen.append(1)
        if len(seen) == 2:
            raise OSError("disk hiccup")
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "batch_loss", fail_second)
    with pytest.raises(OSError):
        train(config_from_dict(raw), log=lambda _: None)
    assert load_ckpt(tmp_path / "run" / "last.pt")["partial"]["position"] == 2

    indices = []

    def recording(model, loss_fn, batch, *args, **kwargs):
        indices.append(batch["index"].tolist())
        return real(model, loss_fn, batch, *args, **kwargs)

    monkeypatch.setattr(loop, "batch_loss", recording)
    raw["optim"]["batch_size"] = 4
    with pytest.raises(ValueError, match="optim.batch_size 2 -> 4"):
        train(config_from_dict(raw), resume=True, log=lambda _: None)
    lines = []
    train(config_from_dict(raw), resume=True, resume_override=True, log=lines.append)
    assert any("optim.batch_size 2 -> 4" in line for line in lines)
    assert [len(b) for b in indices] == [4, 2, 4, 4]
    from otmark.engine.sampler import epoch_order

    done_before_cut = epoch_order(8, raw["train"]["seed"], 0)[:2]
    first_epoch = sum(indices[:2], [])  # no face repeated or lost in the cut epoch
    assert sorted(first_epoch) == sorted(set(range(8)) - set(done_before_cut))
