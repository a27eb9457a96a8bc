"""Every training command runs through the one engine (:func:`otmark.engine.fit`) and
reproduces the results recorded before the study's and ``otmark train``'s loops were merged
into it (``reference_runs.json``, written by ``record_reference.py``): the same losses,
validation NMEs and final weights, with one thread on this machine's CPU."""

from __future__ import annotations

import json
import math

import pytest
import torch
from record_reference import (
    ENGINE_RUNS,
    REFERENCE,
    STUDY_RUNS,
    run_engine,
    run_pretrain,
    run_study,
)

import otmark.engine.fitting as fit_module

EXPECTED = json.loads(REFERENCE.read_text(encoding="utf-8"))


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def fit_calls(monkeypatch) -> list:
    """The configs :func:`otmark.engine.fit` trained (a spy on the engine's entry)."""
    calls: list = []
    real = fit_module.fit

    def spy(cfg, *args, **kwargs):
        calls.append(cfg.name)
        return real(cfg, *args, **kwargs)

    monkeypatch.setattr(fit_module, "fit", spy)
    monkeypatch.setattr("otmark.engine.trainer.fit", spy)
    monkeypatch.setattr("otmark.study.training.fit", spy)
    return calls


def assert_same(got, want, where: str = "") -> None:
    """Equal structures; floats equal to 1e-9 relative (exact on one machine in practice)."""
    if isinstance(want, dict):
        assert set(got) == set(want), where
        for k in want:
            assert_same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, float):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), (where, got, want)
    else:
        assert got == want, where


@pytest.mark.parametrize("name", sorted(ENGINE_RUNS))
def test_otmark_train_reproduces_its_reference(name, tiny_300w, tmp_path, one_thread, fit_calls):
    from otmark.engine import train

    got = run_engine(name, tiny_300w, tmp_path / name, train)
    assert fit_calls == ["tiny"]
    assert_same(got, EXPECTED[name], name)


def test_the_pretraining_recipe_reproduces_its_reference(
    tiny_300w, tmp_path, one_thread, fit_calls
):
    from otmark.engine import train

    got = run_pretrain(tiny_300w, tmp_path / "pretrain", train)
    assert len(fit_calls) == 1
    assert_same(got, EXPECTED["pretrain_tiny"], "pretrain_tiny")


@pytest.mark.parametrize("name", sorted(STUDY_RUNS))
def test_the_study_training_reproduces_its_reference(name, tmp_path, one_thread, fit_calls):
    from otmark.study.training import train_model

    got = run_study(name, tmp_path / "w300", train_model)
    assert fit_calls == ["t"]
    assert_same(got, EXPECTED[name], name)
