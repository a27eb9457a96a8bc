"""End to end: `otmark evaluate` on tiny datasets written in the official formats."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from otmark import datasets
from otmark.cli.main import main
from otmark.datasets.records import ImageRef, Sample
from otmark.protocols import from_arrays, write_predictions
from otmark.schemes import convert, get_scheme

K68 = get_scheme("300w").num_points
SIZE = 96


def _shape(scheme: str, seed: int) -> np.ndarray:
    """A random shape spanning [0, 1]^2 (its tight box is the unit square)."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(0, 1, (get_scheme(scheme).num_points, 2))
    return (s - s.min(0)) / (s.max(0) - s.min(0))


def _samples(scheme, n, seed, shape=None):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x0, y0 = rng.integers(5, 25, 2)
        side = int(rng.integers(40, 60))
        base = shape if shape is not None else _shape(scheme, seed * 100 + i)
        lm = np.array([x0, y0]) + base * side
        out.append(Sample(ImageRef(Path("none")), lm, scheme, id=f"face{seed}_{i}"))
    return out


def _images(n, seed):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(n)]


def _write_300w(root: Path, shape=None) -> None:
    for j, folder in enumerate(
        ("lfpw/testset", "helen/testset", "ibug", "lfpw/trainset", "helen/trainset", "afw")
    ):
        samples = _samples("300w", 2, seed=j + 1, shape=shape)
        datasets.write_300w(
            root, folder, samples, images=_images(2, j), names=[f"img{j}_{i}.png" for i in range(2)]
        )


def _expected_nme(samples, offset):
    i, j = get_scheme("300w").normaliser_indices
    gt = np.stack([s.landmarks for s in samples])
    iod = np.linalg.norm(gt[:, i] - gt[:, j], axis=-1)
    return float(np.mean(np.linalg.norm(offset) / iod))


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_evaluate_predictions_end_to_end(tmp_path, suffix, capsys):
    root = tmp_path / "300W"
    _write_300w(root)
    samples = datasets.load("300w", root, "full")
    assert len(samples) == 6
    gt = np.stack([s.landmarks for s in samples])
    pred_path = write_predictions(
        tmp_path / f"pred{suffix}", from_arrays([s.id for s in samples], gt + [3.0, 4.0], "300w")
    )
    out = tmp_path / "out"
    rc = main(
        [
            "evaluate",
            "--data-root",
            str(root),
            "--protocol",
            "300w-full",
            "--predictions",
            str(pred_path),
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    assert "300w-full: 6 images" in capsys.readouterr().out
    res = json.loads((out / "results.json").read_text())
    expected = _expected_nme(samples, [3.0, 4.0])
    assert res["summary"]["NME"] == pytest.approx(100 * expected)
    assert res["num_images"] == 6 and res["num_points"] == K68
    assert res["common_space"] == "300w" and res["model_scheme"] == "300w"
    assert res["box_source"] == "landmarks" and res["perturbation"] is None
    assert set(res["per_image_nme"]) == {s.id for s in samples}
    # CED is consistent with the summary: fraction <= 0.1 = 1 - FR^I_0.1
    t = res["ced"]["thetas"].index(0.1)
    assert res["ced"]["image"][t] == pytest.approx(1 - res["summary"]["FR^I_0.1"] / 100)
    md = (out / "results.md").read_text()
    assert "| NME (%) |" in md and f"{100 * expected:.2f}" in md
    for name in ("ced_image.png", "ced_landmark.png"):
        img = cv2.imread(str(out / name))
        assert img is not None and img.shape[0] > 100
    assert sorted(p.name for p in out.iterdir()) == [
        "ced_image.png",
        "ced_landmark.png",
        "results.json",
        "results.md",
    ]


def test_evaluate_cross_dataset_300w_model_on_wflw(tmp_path):
    root = tmp_path / "WFLW"
    samples = _samples("wflw", 3, seed=7)
    datasets.write_wflw(
        root, "test", samples, images=_images(3, 7), names=[f"a/{i}.png" for i in range(3)]
    )
    loaded = datasets.load("wflw", root, "test")
    pred68 = convert(np.stack([s.landmarks for s in loaded]), "wflw", "300w")
    pred_path = write_predictions(
        tmp_path / "p.json", from_arrays([s.id for s in loaded], pred68, "300w")
    )
    out = tmp_path / "out"
    assert (
        main(
            [
                "evaluate",
                "--data-root",
                str(root),
                "--protocol",
                "300w-wflw",
                "--predictions",
                str(pred_path),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    res = json.loads((out / "results.json").read_text())
    assert res["common_space"] == "300w" and res["num_points"] == K68
    assert res["summary"]["NME"] == pytest.approx(0.0, abs=1e-9)
    assert res["summary"]["AUC^I_0.1"] == pytest.approx(100.0)


def test_mean_shape_baseline_is_exact_when_every_face_has_the_same_shape(tmp_path):
    root = tmp_path / "300W"
    _write_300w(root, shape=_shape("300w", 99))
    out = tmp_path / "out"
    assert (
        main(
            [
                "evaluate",
                "--data-root",
                str(root),
                "--protocol",
                "occlusion-medium",
                "--baseline",
                "mean-shape",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    res = json.loads((out / "results.json").read_text())
    assert res["source"]["baseline"] == "mean-shape" and res["source"]["train_samples"] == 6
    # integer boxes of side 40-60 hold the shape exactly: errors are rounding only
    assert res["summary"]["NME"] == pytest.approx(0.0, abs=1e-9)
    assert (out / "mean_shape.json").is_file() and (out / "predictions.json").is_file()


def test_errors_are_one_line_naming_file_and_id(tmp_path, capsys):
    root = tmp_path / "300W"
    _write_300w(root)
    samples = datasets.load("300w", root, "common")
    gt = np.stack([s.landmarks for s in samples])
    pred_path = write_predictions(
        tmp_path / "p.json", from_arrays([s.id for s in samples[1:]], gt[1:], "300w")
    )
    rc = main(
        [
            "evaluate",
            "--data-root",
            str(root),
            "--protocol",
            "300w-common",
            "--predictions",
            str(pred_path),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert "p.json: no prediction for 1 of 4 sample(s)" in err and repr(samples[0].id) in err
    assert not (tmp_path / "o").exists()
    rc = main(
        [
            "evaluate",
            "--data-root",
            str(tmp_path / "missing"),
            "--protocol",
            "300w-common",
            "--predictions",
            str(pred_path),
        ]
    )
    assert rc == 2 and "missing" in capsys.readouterr().err
    assert main(["evaluate", "--protocol", "300w-common"]) == 2


def test_list_protocols(capsys):
    assert main(["evaluate", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("300w-wflw", "occlusion-large", "blur-medium", "cofw-aflw", "wflw-pose"):
        assert name in out


def test_evaluate_checkpoint_runs_the_detector_on_perturbed_inputs(tmp_path):
    import torch

    from otmark.inference import Detector
    from otmark.models import create_model
    from otmark.protocols import build_protocol, read_predictions
    from otmark.transforms.crop import tight_box

    torch.manual_seed(0)
    model = create_model("hrnet_tiny", K68)
    ckpt = tmp_path / "tiny.pt"
    codec = {"input_size": 64, "heatmap_size": 16, "sigma": 1.5, "decoder": "get_bc"}
    torch.save(
        {
            "model_name": "hrnet_tiny",
            "model_kwargs": {"num_landmarks": K68},
            "model": model.state_dict(),
            "scheme": "300w",
            "codec": codec,
        },
        ckpt,
    )
    root = tmp_path / "300W"
    _write_300w(root)
    out = tmp_path / "out"
    assert (
        main(
            [
                "evaluate",
                "--data-root",
                str(root),
                "--protocol",
                "occlusion-large",
                "--checkpoint",
                str(ckpt),
                "--device",
                "cpu",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    res = json.loads((out / "results.json").read_text())
    assert res["source"] == {"checkpoint": str(ckpt)} and res["num_images"] == 6
    pred = read_predictions(out / "predictions.json")
    # independent check of one sample: the detector on the occluded image, tight GT box
    proto = build_protocol("occlusion-large", root)
    det = Detector.from_checkpoint(ckpt, device="cpu")
    i = 4
    image = proto.input_image(i)
    assert (image == 0).all(axis=2).any()  # the occluder is there
    ref = det.predict(image, tight_box(proto.samples[i].landmarks)[None])[0]
    np.testing.assert_allclose(pred.landmarks[proto.ids[i]], ref, atol=1e-5)
    errors, _ = proto.score(pred.for_ids(proto.ids))
    assert res["summary"]["NME"] == pytest.approx(100 * errors.mean())


def test_subset_protocol_with_full_test_set_predictions(tmp_path, capsys):
    root = tmp_path / "WFLW"
    samples = _samples("wflw", 3, seed=8)
    samples[1].attributes["pose"] = 1
    datasets.write_wflw(
        root, "test", samples, images=_images(3, 8), names=["a.png", "b.png", "c.png"]
    )
    loaded = datasets.load("wflw", root, "test")
    gt = np.stack([s.landmarks for s in loaded])
    pred_path = write_predictions(
        tmp_path / "p.json", from_arrays([s.id for s in loaded], gt, "wflw")
    )
    args = [
        "evaluate",
        "--data-root",
        str(root),
        "--protocol",
        "wflw-pose",
        "--predictions",
        str(pred_path),
        "--out",
        str(tmp_path / "o"),
        "--no-progress",
    ]
    assert main(args) == 2
    assert "2 prediction(s) for ids not in the evaluated set" in capsys.readouterr().err
    assert main(args + ["--allow-extra-ids"]) == 0
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert list(res["per_image_nme"]) == [loaded[1].id] and res["summary"]["NME"] == 0.0
