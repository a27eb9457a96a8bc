"""A protocol scores models of its own scheme: another scheme is an error naming the protocol.

Reproduction: ``otmark evaluate --protocol wflw`` with a 300W (68-point) model was scored
exactly as the cross-dataset protocol ``300w-wflw`` but labelled ``"protocol": "wflw"``. Now a
model, a baseline or a predictions file of another scheme is refused before anything is scored
(before any prediction for a model), naming the cross-dataset protocol; the results always
name the protocol scored.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from otmark import datasets
from otmark.cli.main import main
from otmark.datasets import ImageRef, Sample
from otmark.protocols import (
    Protocol,
    build_protocol,
    evaluate_predictions,
    from_arrays,
    get_protocol_spec,
    write_predictions,
)
from otmark.protocols.registry import check_model_scheme, protocols_for, same_points
from otmark.schemes import convert, get_scheme


@pytest.fixture(scope="module")
def wflw_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("protocol") / "WFLW"
    args = ["synth", "--dataset", "wflw", "--out", str(root), "--num", "6", "--size", "64"]
    assert main(args) == 0
    return root


def _evaluate(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["evaluate", "--no-progress", *argv])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return rc, cap.out, cap.err


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("otmark evaluate: error: "), err
    return lines[0][len("otmark evaluate: error: ") :]


WRONG = (
    "protocol wflw scores wflw predictions (98 points); {what} is in scheme 300w (68 points); "
    "use --protocol 300w-wflw (a 300w model on wflw test)"
)


def test_68_point_predictions_on_wflw_name_the_cross_dataset_protocol(wflw_root, tmp_path, capsys):
    test = list(datasets.load("wflw", wflw_root, "test"))
    gt68 = convert(np.stack([s.landmarks for s in test]), "wflw", "300w")  # a perfect 300W model
    preds = write_predictions(
        tmp_path / "p68.json", from_arrays([s.id for s in test], gt68, "300w")
    )
    out = tmp_path / "wflw"
    rc, _, err = _evaluate(
        capsys,
        "--data-root",
        str(wflw_root),
        "--protocol",
        "wflw",
        "--predictions",
        str(preds),
        "--out",
        str(out),
    )
    assert rc == 2
    assert _error_line(err) == WRONG.format(what=preds)
    assert not (out / "results.json").exists()
    # the protocol it names scores the same predictions, and says so
    out = tmp_path / "cross"
    rc, text, err = _evaluate(
        capsys,
        "--data-root",
        str(wflw_root),
        "--protocol",
        "300w-wflw",
        "--predictions",
        str(preds),
        "--out",
        str(out),
    )
    assert rc == 0, err
    doc = json.loads((out / "results.json").read_text())
    assert doc["protocol"] == "300w-wflw" and doc["model_scheme"] == "300w"
    assert doc["summary"]["NME"] == pytest.approx(0.0, abs=1e-9)
    assert text.startswith(f"300w-wflw: {len(test)} images, 68 points (300w)")


def test_68_point_checkpoint_on_wflw_is_refused_before_any_prediction(
    wflw_root, tmp_path, capsys, monkeypatch
):
    from otmark.models import create_model

    ckpt = tmp_path / "tiny68.pt"
    torch.save(
        {
            "model_name": "hrnet_tiny",
            "model_kwargs": {"num_landmarks": 68},
            "model": create_model("hrnet_tiny", 68).state_dict(),
            "scheme": "300w",
            "codec": {"input_size": 64, "heatmap_size": 16},
        },
        ckpt,
    )

    def no_prediction(self, i):
        raise AssertionError("an image was read for a prediction")

    monkeypatch.setattr(Protocol, "input_image", no_prediction)
    rc, _, err = _evaluate(
        capsys,
        "--data-root",
        str(wflw_root),
        "--protocol",
        "wflw",
        "--checkpoint",
        str(ckpt),
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "out"),
    )
    assert rc == 2
    assert _error_line(err) == WRONG.format(what="the model")


def test_mean_shape_of_another_scheme_is_refused(wflw_root, tmp_path, capsys):
    train = tmp_path / "300W"
    synth = ["synth", "--dataset", "300w", "--out", str(train), "--num", "2", "--size", "64"]
    assert main(synth) == 0
    capsys.readouterr()
    rc, _, err = _evaluate(
        capsys,
        "--data-root",
        str(wflw_root),
        "--protocol",
        "wflw",
        "--baseline",
        "mean-shape",
        "--train-dataset",
        "300w",
        "--train-root",
        str(train),
        "--out",
        str(tmp_path / "out"),
    )
    assert rc == 2
    assert _error_line(err) == WRONG.format(what="the model")
    written = [p.name for p in (tmp_path / "out").glob("*")]
    assert "mean_shape.json" not in written and "results.json" not in written  # before fitting


# --- the rule, in Python ----------------------------------------------------------------------


def _faces(scheme: str, n: int = 2) -> list[Sample]:
    rng = np.random.default_rng(0)
    k = get_scheme(scheme).num_points
    return [
        Sample(ImageRef(Path(f"f{i}.png")), rng.uniform(10, 60, (k, 2)), scheme, id=f"f{i}")
        for i in range(n)
    ]


def test_protocol_score_refuses_another_scheme_and_accepts_the_same_points():
    wflw = Protocol(get_protocol_spec("wflw"), _faces("wflw"))
    pred68 = convert(np.stack([s.landmarks for s in wflw.samples]), "wflw", "300w")
    with pytest.raises(ValueError, match="use --protocol 300w-wflw"):
        wflw.score(pred68, "300w")
    with pytest.raises(ValueError, match=r"; p\.json is in scheme 300w \(68 points\); use "):
        evaluate_predictions(wflw, from_arrays(wflw.ids, pred68, "300w", source="p.json"))
    # 300W and 300VW are the same 68 points: a 300W model is scored on 300VW's own protocols
    samples = _faces("300vw")
    gt = np.stack([s.landmarks for s in samples])
    own = Protocol(get_protocol_spec("300vw-s1"), samples).score(gt + [3.0, 4.0], "300w")
    cross = Protocol(get_protocol_spec("300w-300vw-s1"), samples).score(gt + [3.0, 4.0], "300w")
    i, j = get_scheme("300vw").normaliser_indices
    iod = np.linalg.norm(gt[:, i] - gt[:, j], axis=-1)
    np.testing.assert_allclose(own[0], np.repeat((5.0 / iod)[:, None], 68, axis=1))
    np.testing.assert_allclose(cross[0], own[0])


def test_which_protocol_scores_which_model():
    assert same_points("300w", "300vw") and not same_points("300w", "wflw")
    assert protocols_for(get_protocol_spec("wflw"), "300w") == ["300w-wflw"]
    assert protocols_for(get_protocol_spec("300w-wflw"), "wflw") == ["wflw"]
    assert protocols_for(get_protocol_spec("aflw-full"), "cofw") == ["cofw-aflw"]
    assert protocols_for(get_protocol_spec("300vw-s3"), "wflw") == ["wflw-300vw-s3"]
    with pytest.raises(ValueError) as err:  # no cross-dataset protocol for an attribute subset
        check_model_scheme(get_protocol_spec("wflw-pose"), "300w")
    assert "no protocol scores a 300w model on wflw test_pose" in str(err.value)
    assert "300w-wflw" in str(err.value)  # listed among the protocols for 300w models
    check_model_scheme(get_protocol_spec("blur-medium"), "300w")  # a 300W model on 300VW blur


def test_build_protocol_results_name_the_protocol_scored(wflw_root):
    proto = build_protocol("300w-wflw", wflw_root)
    gt68 = convert(np.stack([s.landmarks for s in proto.samples]), "wflw", "300w")
    result = evaluate_predictions(proto, from_arrays(proto.ids, gt68, "300w"))
    assert result.to_dict()["protocol"] == "300w-wflw"
