"""load_model_from_checkpoint: round trips through torch.save files, errors naming the file."""

import pytest
import torch

from otmark.models import create_model, load_model_from_checkpoint, tiny_kwargs


def make_checkpoint(path, name="hrnet_tiny", k=4, coordconv=False, prefix="", **extra):
    torch.manual_seed(0)
    kwargs = dict(num_landmarks=k, coordconv=coordconv, **tiny_kwargs(name))
    model = create_model(name, **kwargs)
    # move the BatchNorm statistics away from their defaults so a lost buffer would show
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, 32, 32))
    model.eval()
    ckpt = {
        "model_name": name,
        "model_kwargs": kwargs,
        "model": {prefix + key: v for key, v in model.state_dict().items()},
        "scheme": "300w",
        "codec": {"input_size": 64, "heatmap_size": 16, "sigma": 1.5, "decoder": "get_max"},
        "epoch": 3,
        "optimizer": {"state": {}, "param_groups": []},
        **extra,
    }
    torch.save(ckpt, path)
    return model


@pytest.mark.parametrize(
    ("name", "coordconv", "prefix"),
    [("hrnet_tiny", False, ""), ("hourglass2", True, "module."), ("cpn", False, "_orig_mod.")],
)
def test_round_trip_gives_the_same_outputs(tmp_path, name, coordconv, prefix):
    path = tmp_path / "ckpt.pt"
    ref = make_checkpoint(path, name, coordconv=coordconv, prefix=prefix)
    model, meta = load_model_from_checkpoint(path)
    assert not model.training
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), rtol=0, atol=0)
    assert meta["scheme"] == "300w" and meta["codec"]["decoder"] == "get_max"
    assert meta["epoch"] == 3 and meta["model_name"] == name
    assert "model" not in meta and "optimizer" not in meta


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_model_from_checkpoint(tmp_path / "nope.pt")


def test_not_a_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="bad.pt"):
        load_model_from_checkpoint(bad)
    lst = tmp_path / "list.pt"
    torch.save([1, 2], lst)
    with pytest.raises(ValueError, match="list.pt.*dict"):
        load_model_from_checkpoint(lst)


def test_missing_keys_are_named(tmp_path):
    path = tmp_path / "c.pt"
    torch.save({"model_name": "hrnet_tiny", "model": {}}, path)
    with pytest.raises(ValueError, match="c.pt.*'model_kwargs'"):
        load_model_from_checkpoint(path)


def test_unknown_model_name(tmp_path):
    path = tmp_path / "c.pt"
    torch.save({"model_name": "vgg", "model_kwargs": {"num_landmarks": 3}, "model": {}}, path)
    with pytest.raises(ValueError, match="c.pt.*vgg"):
        load_model_from_checkpoint(path)


def test_weights_of_another_shape_are_refused(tmp_path):
    path = tmp_path / "c.pt"
    make_checkpoint(path, k=4)
    ckpt = torch.load(path, weights_only=True)
    ckpt["model_kwargs"]["num_landmarks"] = 5
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match="c.pt.*do not fit"):
        load_model_from_checkpoint(path)
    ckpt["model_kwargs"]["num_landmarks"] = 4
    ckpt["model"]["extra.weight"] = torch.zeros(1)
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match="unexpected.*extra.weight"):
        load_model_from_checkpoint(path)
