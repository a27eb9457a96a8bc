"""``otmark`` output into a closed pipe, and ``check-data`` on a fresh generated WFLW.

Reproductions: ``otmark check-data | head`` printed "error: Broken pipe"; on a fresh
``otmark synth --dataset wflw``, ``check-data`` without ``--split`` failed on the empty
``test_pose``/``test_blur`` subsets. Now a closed pipe ends the command quietly (exit status
141, as a process ended by SIGPIPE), and without ``--split`` the splits with no sample are
listed as empty.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from otmark.cli.main import EXIT_CLOSED_PIPE, main


@pytest.fixture(scope="module")
def wflw_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pipe") / "WFLW"
    args = ["synth", "--dataset", "wflw", "--out", str(root), "--num", "2", "--size", "64"]
    assert main(args) == 0
    return root


def test_closed_pipe_ends_quietly_in_a_real_process(wflw_root):
    proc = subprocess.Popen(
        [sys.executable, "-m", "otmark", "check-data", "--dataset", "wflw", "--root"]
        + [str(wflw_root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader goes away before the command writes (like `| head -0`)
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == EXIT_CLOSED_PIPE == 141
    assert err == b""  # no "Broken pipe", no "Exception ignored" at exit


class ClosedPipe(io.TextIOBase):
    """A stdout whose reader is gone, without a file descriptor (as under pytest)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_closed_pipe_in_process_returns_the_sigpipe_status(wflw_root, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    rc = main(["check-data", "--dataset", "wflw", "--root", str(wflw_root)])
    monkeypatch.undo()
    assert rc == EXIT_CLOSED_PIPE
    assert capsys.readouterr().err == ""


def test_fresh_synth_wflw_checks_without_split(wflw_root, capsys):
    rc = main(["check-data", "--dataset", "wflw", "--root", str(wflw_root), "--fast"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0, out
    checked = [line.split(":")[0] for line in out if line.startswith("wflw ") and "samples" in line]
    assert checked[:2] == ["wflw train", "wflw test"]
    [empty] = [line for line in out if line.startswith("wflw: empty split(s)")]
    missing = {"train", "test", "test_pose", "test_expression", "test_illumination"}
    missing |= {"test_makeup", "test_occlusion", "test_blur"}
    missing -= {name.split(" ")[1] for name in checked}
    listed = set(empty.split(": ")[-1].split(", "))
    assert listed == missing and {"test_pose", "test_blur"} <= listed
    # a split named with --split must hold a sample
    rc = main(["check-data", "--dataset", "wflw", "--root", str(wflw_root), "--split", "test_pose"])
    assert rc == 1
    assert "the split has no usable sample" in capsys.readouterr().out


def test_every_split_empty_is_a_problem(tmp_path, capsys):
    lists = tmp_path / "WFLW_annotations" / "list_98pt_rect_attr_train_test"
    lists.mkdir(parents=True)
    for part in ("train", "test"):
        (lists / f"list_98pt_rect_attr_{part}.txt").write_text("")
    assert main(["check-data", "--dataset", "wflw", "--root", str(tmp_path)]) == 1
    assert "wflw: error: every split is empty" in capsys.readouterr().out
