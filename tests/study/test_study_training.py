import math

import numpy as np
import pytest
import torch

from otmark.datasets import load
from otmark.models import tiny_kwargs
from otmark.study.cells import Setting, TrainSize, experiment_config
from otmark.study.training import (
    PROBE_SKIP,
    PROBE_STEPS,
    StepPlan,
    convert_samples,
    planned_steps,
    train_model,
)
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


def _cfg(root, loss="l2"):
    size = TrainSize(
        input_size=64,
        heatmap_size=16,
        batch_size=4,
        model_kwargs=tiny_kwargs("hrnet_w18"),
        augment=False,
    )
    return experiment_config(
        "t", "hrnet_w18", Setting(loss, 1, "get_bc"), size, 0, "300w", str(root), device="cpu"
    )


def test_step_plan_warms_up_then_decays_to_zero():
    # hand-worked: warm-up 2 steps, 4 steps in all
    plan = StepPlan(4, warmup=2)
    got = [plan.factor(s) for s in range(5)]
    want = [0.5, (1 + math.cos(math.pi / 4)) / 2, 0.5, (1 + math.cos(0.75 * math.pi)) / 2, 0.0]
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert StepPlan(None, warmup=4).factor(1) == 0.5  # total unknown yet: warm-up only
    assert StepPlan(10, warmup=0).factor(0) == 1.0


def test_planned_steps_counts_validation_and_margin():
    # 0.95 * 100 s / (0.5 s * 1.25) = 152 more steps after the 13 done
    assert planned_steps(13, 0.5, 100.0, 0.25) == 165
    assert planned_steps(13, 0.5, -5.0, 0.25) == 14  # over budget already: one more step


def test_keep_last_and_checkpoint_round_trip(w300, tmp_path):
    from otmark.inference import Detector

    train = list(load("300w", w300, "train"))[:4]
    val = list(load("300w", w300, "common"))[:2]
    out = train_model(
        _cfg(w300), train, val, steps=2, checkpoint=tmp_path / "m.pt", log=lambda m: None
    )
    # 4 faces, batch 4: one step per epoch, validated after each
    assert [(r["epoch"], r["steps"]) for r in out.history] == [(1, 1), (2, 2)]
    assert out.best_epoch == 2 and out.scheme == "300w"
    assert out.history[-1]["lr"] == 0.0  # the cosine reached 0 at the last step
    assert all(np.isfinite(r["val_NME"]) and r["train_loss"] > 0 for r in out.history)
    # the file on disk predicts exactly what the returned model predicts
    image = val[0].load_image()
    box = np.array([[8.0, 8.0, 56.0, 56.0]])
    ref = Detector.from_model(out.model, out.scheme, out.codec, device="cpu").predict(image, box)
    disk = Detector.from_checkpoint(out.checkpoint, device="cpu").predict(image, box)
    np.testing.assert_allclose(disk, ref, atol=1e-5)
    assert torch.load(out.checkpoint, weights_only=False)["config"]["optim"]["epochs"] == 2


def test_keep_best_and_time_budget(w300):
    train = list(load("300w", w300, "train"))[:4]
    val = list(load("300w", w300, "common"))[:2]
    out = train_model(_cfg(w300), train, val, steps=3, log=lambda m: None, keep="best")
    nmes = [r["val_NME"] for r in out.history]
    assert out.best_epoch == int(np.argmin(nmes)) + 1
    # a budget of 0 minutes is used up by the first step: training stops after it
    short = train_model(_cfg(w300), train, val, minutes=0.0, log=lambda m: None)
    assert len(short.history) == 1 and short.history[0]["steps"] == 1
    with pytest.raises(ValueError, match="keep"):
        train_model(_cfg(w300), train, val, steps=1, keep="first")
    with pytest.raises(ValueError, match="steps or minutes"):
        train_model(_cfg(w300), train, val)


def test_a_budgeted_run_plans_its_steps_after_a_probe(w300):
    train = list(load("300w", w300, "train"))[:4]
    val = list(load("300w", w300, "common"))[:2]
    said = []
    out = train_model(_cfg(w300), train, val, minutes=0.08, log=said.append, warmup=2)
    plans = [m for m in said if "planned" in m]
    assert len(plans) == 1
    total = int(plans[0].split("planned ")[1].split()[0])
    assert PROBE_SKIP + PROBE_STEPS < total and out.history[-1]["steps"] <= total
