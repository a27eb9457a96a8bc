"""Fault injection: corrupt, truncated and degenerate data through ``otmark check-data``.

Every supported annotation format (300W ``.pts``, HRNet csv, WFLW txt, COFW ``.mat`` v7.3 and v5,
AFLW csv, 300VW video + ``.pts``) is generated tiny (``otmark synth --num 2 --size 64`` or the
dataset writers), then damaged one way at a time. Each case asserts: exit code 1 (problems found)
with the damaged file named in the report, no traceback, and every file of the dataset byte for
byte as it was (check-data only reads). The clean datasets pass with exit 0, so the reports are
caused by the damage.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from synth_helpers import csv_copy_of_300w, synth_root

from otmark import datasets
from otmark.cli.main import main
from otmark.schemes import get_scheme


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    """Clean generated roots, one per format (copied by each test before damaging it)."""
    top = tmp_path_factory.mktemp("check_data_bases")
    out = {name: synth_root(top / name, name) for name in ("300w", "wflw", "aflw")}
    out["cofw"] = synth_root(top / "cofw", "cofw")  # MATLAB v7.3 (HDF5)
    out["300vw"] = synth_root(top / "300vw", "300vw", "--frames", "10")
    # COFW as MATLAB v5 and 300W as HRNet csv, from the generated samples through the writers
    v5 = top / "cofw_v5"
    for split in ("train", "test"):
        res = datasets.load("cofw", out["cofw"], split)
        datasets.write_cofw(v5, split, res.samples, version="5")
    out["cofw_v5"] = v5
    out["300w-csv"] = csv_copy_of_300w(out["300w"], top / "300w-csv")
    return out


def _copy(bases, name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bases[name], tmp_path / name))


def _snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _check(dataset: str, root: Path, capsys, *extra: str) -> tuple[int, str]:
    """Run check-data in-process; asserts it changed no file and printed nothing on stderr."""
    before = _snapshot(root)
    rc = main(["check-data", "--dataset", dataset, "--root", str(root), "--show", "50", *extra])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err and "Traceback" not in cap.out
    assert _snapshot(root) == before
    return rc, cap.out


def _cut(path: Path, fraction: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


DATASET_OF = {"cofw_v5": "cofw"}


@pytest.mark.parametrize("name", ["300w", "300w-csv", "wflw", "cofw", "cofw_v5", "aflw", "300vw"])
def test_clean_data_passes(bases, tmp_path, capsys, name):
    root = _copy(bases, name, tmp_path)
    split = {"wflw": ["--split", "train", "--split", "test"]}.get(name, [])
    rc, out = _check(DATASET_OF.get(name, name), root, capsys, *split)
    assert rc == 0, out
    assert "0 problems" in out and "images decoded" in out


# --- corrupt and truncated annotation files, every format ------------------------------------


def _first(root: Path, pattern: str) -> Path:
    return sorted(root.rglob(pattern))[0]


def _damage_cases():
    """(format, split, file glob, damage, words expected in the report line of that file)."""
    half = lambda p: _cut(p, 0.5)  # noqa: E731
    garbage = lambda p: p.write_bytes(b"\x00\xff\x13garbage\n" * 3)  # noqa: E731
    empty = lambda p: p.write_bytes(b"")  # noqa: E731
    return [
        ("300w", "challenge", "ibug/*.pts", half, "truncated"),
        ("300w", "challenge", "ibug/*.pts", garbage, ""),
        ("300w", "challenge", "ibug/*.pts", empty, ""),
        ("300w-csv", "challenge", "*challenge.csv", half, ""),
        ("300w-csv", "challenge", "*challenge.csv", garbage, ""),
        ("wflw", "train", "*train.txt", half, ""),
        ("wflw", "train", "*train.txt", garbage, ""),
        ("cofw", "test", "*test_color.mat", half, "MATLAB"),
        ("cofw", "test", "*test_color.mat", garbage, "MATLAB"),
        ("cofw", "test", "*test_color.mat", empty, "MATLAB"),
        ("cofw_v5", "test", "*test_color.mat", half, "MATLAB"),
        ("cofw_v5", "test", "*test_color.mat", garbage, "MATLAB"),
        ("aflw", "train", "*aflw_train.csv", half, ""),
        ("aflw", "train", "*aflw_train.csv", garbage, ""),
        ("300vw", "test3", "516/annot/000004.pts", half, "truncated"),
        ("300vw", "test3", "516/annot/000004.pts", garbage, ""),
    ]


@pytest.mark.parametrize(
    "name, split, pattern, damage, words",
    _damage_cases(),
    ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(_damage_cases())],
)
def test_corrupt_annotation_file_is_reported(
    bases, tmp_path, capsys, name, split, pattern, damage, words
):
    root = _copy(bases, name, tmp_path)
    bad = _first(root, pattern)
    damage(bad)
    rc, out = _check(DATASET_OF.get(name, name), root, capsys, "--split", split)
    assert rc == 1, out
    named = [line for line in out.splitlines() if str(bad) in line]
    assert named, out
    assert any(words in line for line in named), out


# --- images and videos ------------------------------------------------------------------------


@pytest.mark.parametrize("fast", [False, True])
def test_truncated_jpeg_is_found_unless_fast(bases, tmp_path, capsys, fast):
    root = _copy(bases, "300w", tmp_path)
    img = _first(root, "ibug/*.jpg")
    _cut(img, 0.6)  # OpenCV decodes this silently (grey fill): only the end marker tells
    rc, out = _check("300w", root, capsys, "--split", "challenge", *(["--fast"] if fast else []))
    if fast:
        assert rc == 0 and "images not decoded" in out
    else:
        assert rc == 1
        assert f"{img}: JPEG file is truncated" in out


def test_unreadable_and_missing_images(bases, tmp_path, capsys):
    root = _copy(bases, "wflw", tmp_path)
    imgs = sorted((root / "WFLW_images").rglob("*.jpg"))
    imgs[0].write_bytes(b"not a jpeg at all")
    imgs[1].unlink()
    rc, out = _check("wflw", root, capsys, "--split", "train", "--split", "test")
    assert rc == 1
    assert f"{imgs[0]}: not a readable image" in out
    assert str(imgs[1]) in out


def test_one_pixel_image(bases, tmp_path, capsys):
    root = _copy(bases, "aflw", tmp_path)
    img = _first(root, "images/train_00000.jpg")
    cv2.imwrite(str(img), np.zeros((1, 1, 3), np.uint8))
    rc, out = _check("aflw", root, capsys, "--split", "train")
    assert rc == 1
    assert f"{img}: image is 1x1 pixels, smaller than 8x8" in out
    # the landmarks (in a 64-pixel frame) are now far outside the 1x1 image too
    assert f"{img}: " in out and "outside the 1x1 image" in out


def test_truncated_video_reports_frames_decoded_vs_announced(bases, tmp_path, capsys):
    root = _copy(bases, "300vw", tmp_path)
    video = root / "516" / "vid.avi"
    _cut(video, 0.6)
    rc, out = _check("300vw", root, capsys, "--split", "test3")
    assert rc == 1
    lines = [line for line in out.splitlines() if f"{video}@" in line]
    assert lines and all("announced 10 (truncated video?)" in line for line in lines)
    decoded = int(lines[0].split("frames decoded ")[1].split(",")[0])
    assert 0 < decoded < 10 and len(lines) == 10 - decoded
    rc, out = _check("300vw", root, capsys, "--split", "test3", "--fast")
    assert rc == 0  # --fast decodes nothing: the cut frames stay unseen (documented)


def test_cofw_v5_image_cell_damaged(bases, tmp_path, capsys):
    """A v5 file whose annotation variables still load but whose image cells do not."""
    from scipy.io import loadmat, savemat

    root = _copy(bases, "cofw_v5", tmp_path)
    mat = root / "COFW_test_color.mat"
    doc = {k: v for k, v in loadmat(str(mat)).items() if not k.startswith("__")}
    cells = np.empty((1, 1), dtype=object)
    cells[0, 0] = np.zeros((4, 4, 3))  # float pixels where uint8 images belong
    doc["IsT"] = cells
    savemat(str(mat), doc)
    rc, out = _check("cofw", root, capsys, "--split", "test")
    assert rc == 1
    assert f"{mat}:IsT[0]: IsT[0] is float64, expected uint8 pixels" in out


# --- degenerate geometry ----------------------------------------------------------------------


def _edit_pts(path: Path, edit) -> None:
    lm = datasets.read_pts(path)
    edit(lm)
    datasets.write_pts(path, lm)


def test_zero_interocular_distance_is_found_even_fast(bases, tmp_path, capsys):
    root = _copy(bases, "300w", tmp_path)
    pts = _first(root, "ibug/*.pts")
    i, j = get_scheme("300w").normaliser_indices
    _edit_pts(pts, lambda lm: lm.__setitem__(j, lm[i]))
    for extra in ([], ["--fast"]):
        rc, out = _check("300w", root, capsys, "--split", "challenge", *extra)
        assert rc == 1
        img = pts.with_suffix(".jpg")
        assert f"{img}: inter-ocular distance (points {i}, {j}) is 0 px" in out


def test_landmarks_far_outside_the_image(bases, tmp_path, capsys):
    root = _copy(bases, "300w", tmp_path)
    pts = _first(root, "ibug/*.pts")
    _edit_pts(pts, lambda lm: lm.__setitem__(slice(0, 3), lm[:3] + 5000.0))
    rc, out = _check("300w", root, capsys, "--split", "challenge")
    assert rc == 1
    assert f"{pts.with_suffix('.jpg')}: 3 landmark(s) more than one image size outside" in out


def test_aflw_zero_box_size(bases, tmp_path, capsys):
    root = _copy(bases, "aflw", tmp_path)
    csv_path = root / "face_landmarks_aflw_train.csv"
    lines = csv_path.read_text().splitlines()
    cells = lines[1].split(",")
    cells[2] = "0"  # box_size: AFLW's NME normaliser
    lines[1] = ",".join(cells)
    csv_path.write_text("\n".join(lines) + "\n")
    rc, out = _check("aflw", root, capsys, "--split", "train", "--fast")
    assert rc == 1
    assert "box_size 0 px is below 1 px" in out


def test_empty_split_is_a_problem(bases, tmp_path, capsys):
    root = _copy(bases, "wflw", tmp_path)
    lst = _first(root, "*test.txt")
    lst.write_text("")
    rc, out = _check("wflw", root, capsys, "--split", "test")
    assert rc == 1
    assert "wflw test: 0 samples" in out and "the split has no usable sample" in out
    assert ", 0 problems" not in out


def test_empty_split_folder_is_a_problem(bases, tmp_path, capsys):
    root = _copy(bases, "300w", tmp_path)
    for f in (root / "ibug").iterdir():
        f.unlink()
    rc, out = _check("300w", root, capsys, "--split", "challenge")
    assert rc == 1
    assert "300w challenge: 0 samples" in out and "the split has no usable sample" in out
    assert ", 0 problems" not in out


def test_missing_root_one_line_exit(tmp_path):
    """The real command: a root that does not exist is reported in one line, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "otmark", "check-data", "--dataset", "cofw"]
        + ["--root", str(tmp_path / "nowhere"), "--split", "test"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stdout.strip().splitlines() == [
        f"cofw test: error: {tmp_path / 'nowhere'}: dataset root does not exist or is not a folder"
    ]


def test_fast_and_decode_conflict(tmp_path, capsys):
    rc = main(
        ["check-data", "--dataset", "300w", "--root", str(tmp_path), "--fast", "--decode", "3"]
    )
    assert rc == 2
    assert "--fast decodes no image" in capsys.readouterr().err
