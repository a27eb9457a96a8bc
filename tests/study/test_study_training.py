import numpy as np
import pytest
import torch

from otmark.datasets import load
from otmark.models import tiny_kwargs
from otmark.study.cells import experiment_config
from otmark.study.training import convert_samples, split_validation, train_model
from otmark.synth.writers import synthesize


@pytest.fixture(scope="module")
def w300(tmp_path_factory):
    root = tmp_path_factory.mktemp("w300")
    synthesize("300w", root, 8, seed=1, size=64)
    return root


@pytest.fixture(scope="module")
def wflw(tmp_path_factory):
    root = tmp_path_factory.mktemp("wflw")
    synthesize("wflw", root, 3, seed=2, size=64)
    return root


def test_convert_samples_uses_the_public_wflw_to_68_selection(wflw):
    samples = list(load("wflw", wflw, "train"))
    converted = convert_samples(samples, "300w")
    for s, c in zip(samples, converted):
        assert c.scheme == "300w" and c.landmarks.shape == (68, 2) and c.id == s.id
        # docs/conventions.md §5 (WFLW_2_iBUG68): jaw 68[j] = 98[2j], mouth 68[48..] = 98[76..]
        np.testing.assert_allclose(c.landmarks[:17], s.landmarks[0:33:2])
        np.testing.assert_allclose(c.landmarks[48:68], s.landmarks[76:96])
        np.testing.assert_allclose(c.landmarks[27:36], s.landmarks[51:60])
    assert convert_samples(samples, "wflw")[0] is samples[0]  # same scheme: untouched


def test_split_validation_holds_out_faces_whatever_the_order(w300):
    faces = list(load("300w", w300, "train"))
    train, val = split_validation(faces, 3)
    assert len(val) == 3 and len(train) == len(faces) - 3
    assert not {s.id for s in train} & {s.id for s in val}
    assert [s.id for s in train] == [s.id for s in faces if s in train]  # input order kept
    again_train, again_val = split_validation(faces[::-1], 3)
    assert {s.id for s in again_val} == {s.id for s in val}  # by id, not by position
    assert {s.id for s in split_validation(faces, 3, seed=1)[1]} != {s.id for s in val}
    with pytest.raises(ValueError, match="cannot hold out 8 validation faces from 8"):
        split_validation(faces, 8)


def _cfg(root, **optim):
    overrides = {
        "codec": {"input_size": 64, "heatmap_size": 16},
        "model": {"kwargs": tiny_kwargs("hrnet_w18")},
        "augment": {"enabled": False},
        "optim": {"batch_size": 4, "lr": 2e-3, **optim},
        "train": {"amp": "none", "channels_last": False, "progress": False},
        "data": {"num_workers": 0},
    }
    return experiment_config(
        "t", "hrnet_w18", "l2_s1_bc", overrides, 0, "300w", str(root), device="cpu"
    )


def test_fixed_steps_anneal_to_zero_and_the_checkpoint_round_trips(w300, tmp_path):
    from otmark.inference import Detector

    train = list(load("300w", w300, "train"))[:4]
    val = list(load("300w", w300, "common"))[:2]
    cfg = _cfg(w300, schedule="warmup_cosine", steps=2, warmup_steps=1)
    out = train_model(
        cfg, train, val, checkpoint=tmp_path / "m.pt", log=lambda m: None, keep_every=1
    )
    # 4 faces, batch 4: one step an epoch; validated once, at the end
    assert (out.steps, out.epochs, out.stopped_at_plateau) == (2, 2, None)
    assert [r["step"] for r in out.history] == [2] and out.history[-1]["lr"] == 0.0
    assert out.val_nme == out.history[-1]["val_nme"] and np.isfinite(out.val_nme)
    assert [s for s, _ in out.snapshots] == [1, 2]
    for k, v in out.model.state_dict().items():  # the last snapshot is the final model
        assert torch.equal(out.snapshots[-1][1][k], v.cpu())
    image = val[0].load_image()
    box = np.array([[8.0, 8.0, 56.0, 56.0]])
    # the same detector settings on both sides (no upright re-crop: the weights are compared)
    ref = Detector.from_model(out.model, out.scheme, out.codec, device="cpu", max_roll=None)
    disk = Detector.from_checkpoint(out.checkpoint, device="cpu", max_roll=None)
    ref, disk = ref.predict(image, box), disk.predict(image, box)
    np.testing.assert_allclose(disk, ref, atol=1e-5)
    assert torch.load(out.checkpoint, weights_only=False)["config"]["optim"]["steps"] == 2


def test_a_plateau_run_validates_every_n_steps_and_stops(w300):
    train = list(load("300w", w300, "train"))[:4]
    val = list(load("300w", w300, "common"))[:2]
    cfg = _cfg(
        w300,
        schedule="constant_then_decay",
        max_steps=20,
        plateau={
            "enabled": True,
            "val_every": 1,
            "patience_steps": 1,
            "min_improvement": 0.99,  # any improvement below 99 %: a plateau
            "decay_steps": 1,
        },
    )
    out = train_model(cfg, train, val, log=lambda m: None)
    # validations at 1, 2: at step 2 the best improved by < 99 % over step 1; one decay step
    assert out.steps == 3 and out.stopped_at_plateau is True
    assert [r["step"] for r in out.history] == [1, 2, 3]
    assert [r["lr"] for r in out.history] == [2e-3, 0.0, 0.0]
    assert all(r["train_loss"] > 0 and np.isfinite(r["val_nme"]) for r in out.history)


def test_the_epoch_recipe_is_refused(w300):
    train = list(load("300w", w300, "train"))[:4]
    with pytest.raises(ValueError, match="needs a per-step schedule"):
        train_model(_cfg(w300), train, train, log=lambda m: None)
