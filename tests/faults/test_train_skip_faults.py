"""Bad samples in ``train`` and ``evaluate``: by default one line naming the file before any
work; with ``--on-error skip`` each is logged with its file and reason, a count is printed, and
more than ``data.max_bad_fraction`` bad samples stop the run."""

import json

import cv2
import numpy as np
import pytest
from train_helpers import copy_tree, load_ckpt, one_error_line, run_cli, tiny_raw, write_yaml


def _write_pts(path, points):
    body = "\n".join(f"{x:.3f} {y:.3f}" for x, y in points)
    path.write_text(f"version: 1\nn_points: {len(points)}\n{{\n{body}\n}}\n")


def _read_pts(path):
    lines = path.read_text().splitlines()
    return np.array([[float(v) for v in line.split()] for line in lines[3:-1]])


def _corrupt_image(path):
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG signature, then nothing usable


def _zero_interocular(path):
    from otmark.schemes import get_scheme

    i, j = get_scheme("300w").normaliser_indices
    pts = _read_pts(path)
    pts[j] = pts[i]
    _write_pts(path, pts)


def _far_outside(path):
    pts = _read_pts(path)
    pts[0] = (5000.0, 5000.0)
    _write_pts(path, pts)


def _one_pixel(path):
    cv2.imwrite(str(path), np.zeros((1, 1, 3), np.uint8))


DAMAGE = {
    # name: (file under the data root, damage, words of the reason)
    # a PNG signature without the end marker: the truncation check names it before decoding
    "undecodable image": ("afw/img2_0.png", _corrupt_image, "PNG file is truncated"),
    "zero inter-ocular": ("ibug/val1.pts", _zero_interocular, "inter-ocular distance"),
    "landmarks far outside": ("helen/trainset/img1_1.pts", _far_outside, "image size outside"),
    "1x1 image": ("lfpw/trainset/img0_2.png", _one_pixel, "smaller than 8x8"),
}


@pytest.fixture(params=sorted(DAMAGE))
def damaged(request, tiny_data, tmp_path):
    """A copy of the tiny data with one damaged sample: ``(root, image path, reason words)``."""
    rel, damage, words = DAMAGE[request.param]
    root = copy_tree(tiny_data, tmp_path / "300W")
    damage(root / rel)
    return root, root / rel.replace(".pts", ".png"), words


def test_default_raise_names_the_file_before_any_work(damaged, tmp_path, capsys):
    root, image, words = damaged
    config = write_yaml(tmp_path / "c.yaml", tiny_raw(root, tmp_path / "run"))
    code, out, err = run_cli(capsys, "train", "--config", str(config))
    assert code == 2
    line = one_error_line(err)
    assert str(image) in line and words in line and "--on-error skip" in line
    assert not (tmp_path / "run").exists()


def test_skip_logs_each_sample_and_a_count(damaged, tmp_path, capsys):
    root, image, words = damaged
    raw = tiny_raw(root, tmp_path / "run", optim={"epochs": 1}, data={"max_bad_fraction": 0.3})
    config = write_yaml(tmp_path / "c.yaml", raw)
    code, out, err = run_cli(capsys, "train", "--config", str(config), "--on-error", "skip")
    assert code == 0, err
    skipped = [line for line in out.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 1 and str(image) in skipped[0] and words in skipped[0]
    split = "validation split 'challenge'" if "ibug" in str(image) else "training split 'train'"
    total = 4 if "ibug" in str(image) else 8
    assert f"{split}: skipped 1 of {total} samples" in out
    assert load_ckpt(tmp_path / "run" / "last.pt")["epoch"] == 1


def test_skip_stops_above_max_bad_fraction(tiny_data, tmp_path, capsys):
    root = copy_tree(tiny_data, tmp_path / "300W")
    _corrupt_image(root / "afw" / "img2_0.png")  # 1 of 8 = 12.5% > 5% (the default)
    config = write_yaml(tmp_path / "c.yaml", tiny_raw(root, tmp_path / "run"))
    code, out, err = run_cli(capsys, "train", "--config", str(config), "--on-error", "skip")
    assert code == 2
    line = one_error_line(err)
    assert "img2_0.png" in line and "1 of 8 samples" in line
    assert "data.max_bad_fraction = 0.05" in line
    assert not (tmp_path / "run").exists()


def _evaluate(capsys, root, out, *extra):
    argv = ["evaluate", "--protocol", "300w-challenge", "--data-root", str(root)]
    return run_cli(capsys, *argv, "--baseline", "mean-shape", "--out", str(out), *extra)


def test_evaluate_on_error(tiny_data, tmp_path, capsys):
    root = copy_tree(tiny_data, tmp_path / "300W")
    _zero_interocular(root / "ibug" / "val2.pts")
    code, out, err = _evaluate(capsys, root, tmp_path / "a")
    assert code == 2
    line = one_error_line(err, "evaluate")
    assert str(root / "ibug" / "val2.png") in line and "inter-ocular distance" in line
    assert not (tmp_path / "a" / "results.json").exists()

    code, out, err = _evaluate(capsys, root, tmp_path / "b", "--on-error", "skip")
    assert code == 2 and "--max-bad-fraction = 0.05" in one_error_line(err, "evaluate")  # 1 of 4

    extra = ("--on-error", "skip", "--max-bad-fraction", "0.5")
    code, out, err = _evaluate(capsys, root, tmp_path / "c", *extra)
    assert code == 0, err
    assert "skipped" in err and "val2.png" in err and "skipped 1 of 4 samples" in err
    doc = json.loads((tmp_path / "c" / "results.json").read_text())
    assert len(doc["per_image_nme"]) == 3 and all(np.isfinite(list(doc["per_image_nme"].values())))
    assert [s["sample"] for s in doc["skipped"]] == [str(root / "ibug" / "val2.png")]


def _cut_in_half(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _all_coincide(path):
    pts = _read_pts(path)
    _write_pts(path, np.full_like(pts, 30.0))


def test_check_data_and_train_skip_reject_the_same_samples(tiny_data, tmp_path, capsys):
    """One per-sample check: ``check-data`` and ``train --on-error skip`` name the same samples
    with the same problems, on data with several kinds of damage in both splits."""
    root = copy_tree(tiny_data, tmp_path / "300W")
    _cut_in_half(root / "afw" / "img2_0.png")  # truncated PNG
    _one_pixel(root / "lfpw" / "trainset" / "img0_2.png")  # 1x1 image (landmarks outside too)
    _far_outside(root / "helen" / "trainset" / "img1_1.pts")
    _all_coincide(root / "lfpw" / "trainset" / "img0_0.pts")
    _zero_interocular(root / "ibug" / "val1.pts")
    _corrupt_image(root / "ibug" / "val3.png")

    code, out, _ = run_cli(
        capsys, "check-data", "--dataset", "300w", "--root", str(root), "--show", "50",
        "--split", "train", "--split", "challenge",
    )  # fmt: skip
    assert code == 1
    by_check: dict[str, list[str]] = {}
    for line in out.splitlines():
        if line.startswith("  "):
            where, problem = line.strip().split(": ", 1)
            by_check.setdefault(where, []).append(problem)

    raw = tiny_raw(root, tmp_path / "run", optim={"epochs": 1}, data={"max_bad_fraction": 0.6})
    config = write_yaml(tmp_path / "c.yaml", raw)
    code, out, err = run_cli(capsys, "train", "--config", str(config), "--on-error", "skip")
    assert code == 0, err
    by_train = dict(
        line[len("skipped ") :].split(": ", 1)
        for line in out.splitlines()
        if line.startswith("skipped ")
    )
    expected = {
        "afw/img2_0.png": "PNG file is truncated",
        "lfpw/trainset/img0_2.png": "image is 1x1 pixels",
        "helen/trainset/img1_1.png": "more than one image size outside",
        "lfpw/trainset/img0_0.png": "all landmarks coincide",
        "ibug/val1.png": "inter-ocular distance",
        "ibug/val3.png": "PNG file is truncated",
    }
    assert set(by_check) == set(by_train) == {str(root / rel) for rel in expected}
    for rel, words in expected.items():
        assert words in by_train[str(root / rel)]
    assert {k: "; ".join(v) for k, v in by_check.items()} == by_train
    assert "training split 'train': skipped 4 of 8 samples" in out
    assert "validation split 'challenge': skipped 2 of 4 samples" in out


def test_missing_points_train_but_are_refused_where_scored(tiny_data, tmp_path, monkeypatch):
    """Points NaN in x and y are missing points in the training split (the run trains, finite
    loss); in the validation split they are refused before any work (the NME needs them)."""
    from otmark.datasets.errors import DatasetError
    from otmark.engine import builders, trainer
    from otmark.engine.config import config_from_dict

    load = builders.build_samples

    def with_missing(split_name):
        def build(cfg, split, limit=None):
            samples = load(cfg, split, limit)
            if split == split_name:
                samples[0].landmarks = samples[0].landmarks.copy()
                samples[0].landmarks[[3, 20]] = np.nan
            return samples

        return build

    monkeypatch.setattr(builders, "build_samples", with_missing("train"))
    cfg = config_from_dict(tiny_raw(tiny_data, tmp_path / "a", optim={"epochs": 1}))
    lines = []
    trainer.train(cfg, log=lines.append)
    assert not [line for line in lines if line.startswith("skipped")]
    assert load_ckpt(tmp_path / "a" / "last.pt")["epoch"] == 1
    [row] = [line.split() for line in lines if line.startswith("epoch 1/1")]
    assert np.isfinite(float(row[row.index("loss") + 1]))

    monkeypatch.setattr(builders, "build_samples", with_missing("challenge"))
    cfg = config_from_dict(tiny_raw(tiny_data, tmp_path / "b", optim={"epochs": 1}))
    with pytest.raises(DatasetError, match="landmarks contain NaN or infinite values") as err:
        trainer.train(cfg, log=lambda _: None)
    assert "validation split 'challenge'" in str(err.value)
    assert not (tmp_path / "b").exists()
