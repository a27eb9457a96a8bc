"""Fitting the label adaptation from a predictions file and storing it with the weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from otmark.cli.main import main
from otmark.pretrained import verified_weights
from otmark.pretrained.adapt import fit_label_adaptation, store_label_adaptation
from otmark.protocols import Predictions, build_protocol, write_predictions
from otmark.protocols.scoring import ground_truth


@pytest.fixture
def shifted_predictions(tiny_run, tmp_path):
    """Predictions = labels moved by a known per-point offset proportional to the face size
    (the 3 validation faces of the tiny run, protocol 300w-full)."""
    proto = build_protocol("300w-full", tiny_run / "data" / "300W")
    labels = ground_truth(proto.samples)
    d = np.random.default_rng(0).normal(size=labels.shape[1:])
    size = np.sqrt(((labels - labels.mean(1, keepdims=True)) ** 2).sum(-1).mean(-1))
    preds = labels - 0.1 * size[:, None, None] * d
    path = tmp_path / "predictions.json"
    write_predictions(path, Predictions("300w", dict(zip(proto.ids, preds))))
    return path


def test_leave_one_out_removes_most_of_a_known_offset(tiny_run, shifted_predictions):
    adapt, report = fit_label_adaptation(
        shifted_predictions, tiny_run / "data" / "300W", "300w-full", ridge=0.0
    )
    assert report["faces"] == 3 and report["protocol"] == "300w-full"
    assert report["nme_before"] > 1.0
    assert report["nme_leave_one_out"] < 0.5 * report["nme_before"]
    assert adapt.faces == 3


def test_stored_with_the_weights_and_sha_updated(tiny_run, shifted_predictions, weights, capsys):
    code = main(
        [
            "pretrain",
            "--adapt",
            str(shifted_predictions),
            "--data-root",
            str(tiny_run / "data" / "300W"),
            "--protocol",
            "300w-full",
            "--weights",
            str(weights),
        ]
    )
    assert code == 0
    assert "leave-one-out" in capsys.readouterr().out
    manifest = json.loads((weights / "manifest.json").read_text())
    assert manifest["label_adaptation"]["fit"]["faces"] == 3
    verified_weights(weights)  # the new sha256 matches the rewritten file
    from otmark.models import load_model_from_checkpoint

    _, meta = load_model_from_checkpoint("pretrained")
    assert meta["label_adaptation"]["offsets"] == manifest["label_adaptation"]["offsets"]


def test_scheme_mismatch_named(tiny_run, tmp_path):
    proto = build_protocol("300w-full", tiny_run / "data" / "300W")
    path = tmp_path / "p.json"
    from otmark.schemes import get_scheme

    k = get_scheme("cofw").num_points
    write_predictions(path, Predictions("cofw", {i: np.zeros((k, 2)) + 5 for i in proto.ids}))
    with pytest.raises(ValueError, match=r"p\.json: predictions in scheme cofw"):
        fit_label_adaptation(path, tiny_run / "data" / "300W", "300w-full")


def test_store_refuses_corrupt_weights(weights):
    from otmark.inference.label_adapt import PointOffsets
    from otmark.pretrained import CorruptWeights

    p = np.random.default_rng(0).normal(size=(3, 5, 2))
    path = weights / "otmark_pretrained.pt"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CorruptWeights):
        store_label_adaptation(weights, PointOffsets.fit(p, p + 1))
