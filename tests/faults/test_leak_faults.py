"""Leaks and duplicates: a test face in a training split, a training line written twice.

Reproductions: a WFLW test line appended to the training list, or a training line written
twice, gave ``otmark check-data`` 0 problems and trained without a word. Now a face shared by a
training split and a test split is an error naming both entries (by file and by content), a
repeated sample a warning naming its lines, for every official format (tiny generated data in
the official layouts), and ``otmark train`` refuses a validation face in its training split.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from synth_helpers import csv_copy_of_300w, synth_root
from train_helpers import copy_tree, one_error_line, run_cli, tiny_raw, write_yaml

from otmark import datasets
from otmark.cli.main import main
from otmark.datasets import ImageRef, Sample
from otmark.datasets.leaks import (
    DUPLICATE,
    LEAK,
    find_duplicates,
    find_leaks,
    leak_pairs,
    same_face,
    screen_leaks,
)
from otmark.datasets.wflw import list_path


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    """Clean generated roots in the official layouts (each test copies the one it damages)."""
    top = tmp_path_factory.mktemp("leak_bases")
    out = {name: synth_root(top / name, name) for name in ("300w", "wflw", "aflw", "cofw")}
    out["300vw"] = synth_root(top / "300vw", "300vw", "--frames", "3")
    out["300w-csv"] = csv_copy_of_300w(out["300w"], top / "300w-csv")
    return out


def _copy(bases, name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bases[name], tmp_path / name, symlinks=True))


def _check(dataset: str, root: Path, capsys, *extra: str) -> tuple[int, list[str]]:
    rc = main(["check-data", "--dataset", dataset, "--root", str(root), "--show", "50", *extra])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.out + cap.err and cap.err == ""
    return rc, cap.out.splitlines()


def _lines(out: list[str], start: str) -> list[str]:
    return [line.strip() for line in out if line.strip().startswith(start)]


# --- the reproductions (WFLW lists) ---------------------------------------------------------


def test_wflw_test_line_appended_to_the_training_list_is_an_error(bases, tmp_path, capsys):
    root = _copy(bases, "wflw", tmp_path)
    train, test = list_path(root, "train"), list_path(root, "test")
    test_line = test.read_text().splitlines()[0]
    with train.open("a") as fh:
        fh.write(test_line + "\n")  # becomes line 3 of the training list
    image = "WFLW_images/" + test_line.split()[-1]
    rc, out = _check("wflw", root, capsys)
    assert rc == 1
    assert _lines(out, "wflw train:")[0].endswith("0 problems (3 images decoded)")
    assert _lines(out, "wflw train vs test:") == [
        "wflw train vs test: 1 leak(s) (by file and content)"
    ]
    assert _lines(out, "error:") == [
        f"error: leak: the same face is in train {train}:3 (image {image}) and in test "
        f"{test}:1 (image {image}) (same image file)"
    ]


def test_wflw_training_line_written_twice_is_a_warning(bases, tmp_path, capsys):
    root = _copy(bases, "wflw", tmp_path)
    train = list_path(root, "train")
    first = train.read_text().splitlines()[0]
    with train.open("a") as fh:
        fh.write(first + "\n")
    image = "WFLW_images/" + first.split()[-1]
    rc, out = _check("wflw", root, capsys)
    assert rc == 0  # a warning: the split is usable, one face weighs twice
    assert _lines(out, "wflw train:")[0].endswith("0 problems (3 images decoded), 1 duplicate(s)")
    assert _lines(out, "warning:") == [
        f"warning: duplicate sample: train {train}:1 (image {image}) repeated as train "
        f"{train}:3 (image {image}) (same image file and landmarks)"
    ]
    assert _lines(out, "wflw train vs test:") == [
        "wflw train vs test: no shared face (by file and content)"
    ]


# --- every official format ------------------------------------------------------------------


def _leak_300w(root: Path) -> tuple[str, str]:
    """A copy of a test face (iBUG) under a new name in a training folder: same content."""
    for suffix in (".jpg", ".pts"):
        shutil.copy(root / "ibug" / f"ibug_00000{suffix}", root / "afw" / f"copy{suffix}")
    return str(root / "afw" / "copy.pts"), f"full {root / 'ibug' / 'ibug_00000.pts'}"


def _append_row(src: Path, dst: Path, at: int = 2) -> int:
    """Append line ``at`` (a data row) of csv ``src`` to ``dst``; the new row's line number."""
    row = src.read_text().splitlines()[at - 1]
    lines = dst.read_text().splitlines() + [row]
    dst.write_text("\n".join(lines) + "\n")
    return len(lines)


def _leak_300w_csv(root: Path) -> tuple[str, str]:
    """The iBUG row of the full validation csv appended to the training csv: same file."""
    train, full = root / "face_landmarks_300w_train.csv", root / "face_landmarks_300w_valid.csv"
    rows = full.read_text().splitlines()
    at = next(i for i, row in enumerate(rows, 1) if row.startswith("full_ibug_"))
    return f"{train}:{_append_row(full, train, at)}", f"full {full}:{at}"


def _leak_aflw(root: Path) -> tuple[str, str]:
    train, test = root / "face_landmarks_aflw_train.csv", root / "face_landmarks_aflw_test.csv"
    return f"{train}:{_append_row(test, train)}", f"full {test}:2"


def _leak_cofw(root: Path) -> tuple[str, str]:
    """The test face (pixels and landmarks) appended to the training .mat: same pixels."""
    train = list(datasets.load("cofw", root, "train"))
    test = list(datasets.load("cofw", root, "test"))
    images = [s.load_image() for s in train + test[:1]]
    datasets.write_cofw(root, "train", train + test[:1], images=images)
    mat = root / "COFW_train_color.mat"
    return f"{mat}:IsTr[{len(train)}]", f"test {root / 'COFW_test_color.mat'}:IsT[0]"


def _leak_300vw(root: Path) -> tuple[str, str]:
    """A test video (category 3) copied in as a training video the root lacks."""
    shutil.copytree(root / "516", root / "003")
    return str(root / "003" / "annot" / "000001.pts"), f"test {root / '516/annot/000001.pts'}"


LEAKS = {
    "300w": (_leak_300w, "same image content, sha256"),
    "300w-csv": (_leak_300w_csv, "same image file"),
    "aflw": (_leak_aflw, "same image file"),
    "cofw": (_leak_cofw, "same image content, sha256"),
    "300vw": (_leak_300vw, "same video content, sha256"),
}


@pytest.mark.parametrize("name", sorted(LEAKS))
def test_each_official_format_finds_a_test_face_in_training(bases, tmp_path, capsys, name):
    root = _copy(bases, name, tmp_path)
    rc, out = _check(name, root, capsys)
    assert rc == 0 and not _lines(out, "error:"), out  # the clean data has no leak
    leak, reason = LEAKS[name]
    train_entry, test_entry = leak(root)
    rc, out = _check(name, root, capsys)
    assert rc == 1
    errors = _lines(out, "error:")
    assert len(errors) == 1, out
    line = errors[0]
    assert line.startswith(f"error: leak: the same face is in train {train_entry}"), line
    assert f" and in {test_entry}" in line and reason in line
    if name == "300vw":  # one leak for the video, whatever its frames
        assert "3 annotated training frame(s)" in line


def test_fast_compares_by_file_a_link_counts_a_copy_needs_content(bases, tmp_path, capsys):
    root = _copy(bases, "300w", tmp_path)
    ibug = root / "ibug"
    os.symlink(ibug / "ibug_00000.jpg", root / "afw" / "link.jpg")
    shutil.copy(ibug / "ibug_00000.pts", root / "afw" / "link.pts")
    rc, out = _check("300w", root, capsys, "--fast")
    assert rc == 1
    [line] = _lines(out, "error:")
    assert f"train {root / 'afw' / 'link.pts'} (image afw/link.jpg)" in line
    assert line.endswith(f"(same image file, both are {ibug / 'ibug_00000.jpg'})")
    (root / "afw" / "link.jpg").unlink()
    shutil.copy(ibug / "ibug_00000.jpg", root / "afw" / "link.jpg")  # a copy: content only
    assert _check("300w", root, capsys, "--fast")[0] == 0  # documented: --fast reads no image
    assert _check("300w", root, capsys)[0] == 1


# --- the library functions ------------------------------------------------------------------


def _face(path: str, lm, frame=None) -> Sample:
    return Sample(ImageRef(Path(path), frame=frame), np.asarray(lm, float), "300w", id=path)


def _square(x0: float, side: float = 10.0) -> np.ndarray:
    """Four points whose tight box is ``[x0, 0, x0 + side, side]``."""
    return np.array([[x0, 0.0], [x0 + side, 0.0], [x0, side], [x0 + side, side]])


def test_same_face_is_an_iou_of_one_half():
    a = _face("p.jpg", _square(0))
    # boxes [0, 10] and [2, 12]: overlap 8 x 10 = 80, union 120, IoU 2/3
    assert same_face(a, _face("p.jpg", _square(2)))
    # [0, 10] and [5, 15]: overlap 50, union 150, IoU 1/3: another face of the photograph
    assert not same_face(a, _face("p.jpg", _square(5)))


def test_another_face_of_a_shared_photograph_is_no_leak(tmp_path):
    photo = tmp_path / "group.jpg"
    photo.write_bytes(b"pixels")
    train = [_face(str(photo), _square(0))]
    assert find_leaks(train, [_face(str(photo), _square(40))]) == []
    [leak] = find_leaks(train, [_face(str(photo), _square(1))])
    assert leak.kind == LEAK and leak.reason == "same image file"


def test_duplicates_group_every_repeat_and_skip_other_faces(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(b"same bytes")
    b.write_bytes(b"same bytes")  # another file, the same content
    samples = [
        _face(str(a), _square(0)),
        _face(str(a), _square(40)),  # another face of a.png: not a duplicate
        _face(str(b), _square(0)),  # a's first face, by content
        _face(str(a), _square(0) + 1e-4),  # equal to 0.01 px
    ]
    [dup] = find_duplicates(samples, ["s0", "s1", "s2", "s3"])
    assert dup.kind == DUPLICATE and dup.entries == ("s0", "s2", "s3")
    assert dup.message.startswith("duplicate sample: s0 repeated as s2 and 1 more (same image")
    assert find_duplicates(samples, ["s0", "s1", "s2", "s3"], content=False)[0].entries == (
        "s0",
        "s3",
    )


def test_video_frames_leak_once_per_video(tmp_path):
    video = tmp_path / "vid.avi"
    video.write_bytes(b"frames")
    train = [_face(str(video), _square(0), frame=f) for f in range(3)]
    test = [_face(str(video), _square(30), frame=f) for f in range(5, 9)]
    [leak] = find_leaks(train, test, [f"t{i}" for i in range(3)], [f"v{i}" for i in range(4)])
    assert leak.entries == ("t0", "v0")
    assert leak.reason == "same video file, 3 annotated training frame(s)"


def test_official_pairs_check_the_containing_splits():
    assert leak_pairs("wflw", datasets.dataset_info("wflw").splits) == [("train", "test")]
    assert leak_pairs("300w", datasets.dataset_info("300w").splits) == [
        ("train", "full"),
        ("train", "test"),
    ]
    assert leak_pairs("300w", ["train", "challenge"]) == [("train", "challenge")]
    assert leak_pairs("aflw", ["train", "full", "frontal"]) == [("train", "full")]
    assert leak_pairs("300vw", ["train", "test1", "test3"]) == [
        ("train", "test1"),
        ("train", "test3"),
    ]
    assert leak_pairs("cofw", ["test"]) == []


# --- before training ------------------------------------------------------------------------


def test_train_refuses_a_validation_face_in_the_training_split(tiny_data, tmp_path, capsys):
    root = copy_tree(tiny_data, tmp_path / "300W")
    for suffix in (".png", ".pts"):
        shutil.copy(root / "ibug" / f"val1{suffix}", root / "afw" / f"extra{suffix}")
    config = write_yaml(tmp_path / "c.yaml", tiny_raw(root, tmp_path / "run"))
    code, _, err = run_cli(capsys, "train", "--config", str(config))
    assert code == 2
    line = one_error_line(err)
    assert (
        f"the same face is in train {root / 'afw' / 'extra.pts'} (image afw/extra.png) and in "
        f"challenge {root / 'ibug' / 'val1.pts'} (image ibug/val1.png)"
    ) in line
    assert "shares 1 face(s) with the training split 'train'" in line
    assert not (tmp_path / "run").exists()  # refused before any work


def test_training_duplicates_are_logged(tiny_data):
    train = list(datasets.load("300w", tiny_data, "train"))
    val = list(datasets.load("300w", tiny_data, "challenge"))
    logged: list[str] = []
    found = screen_leaks(
        train + train[:1],
        val,
        val_split="challenge",
        dataset="300w",
        root=tiny_data,
        log=logged.append,
    )
    pts = tiny_data / f"{train[0].id}.pts"
    assert [f.kind for f in found] == [DUPLICATE]
    assert logged == [f"warning: {found[0].message}"]
    assert f"train {pts} (image " in logged[0] and "repeated as train" in logged[0]
    # validating on the training split itself is the user's choice, not a leak
    screen_leaks(train, train, val_split="train", log=logged.append)
