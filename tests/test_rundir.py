"""otmark.rundir: the lock of an output folder, the refusal of another run's outputs, and
--overwrite's limits."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from otmark.rundir import (
    ASIDE_NAME,
    LOCK_NAME,
    FolderInUse,
    FolderLock,
    FolderNotEmpty,
    LockInfo,
    RunFolderError,
    UnsafeOverwrite,
    check_clearable,
    claim_file,
    claim_folder,
    clear_folder,
    contents,
    is_stale,
    process_start,
    read_lock,
)


def dead_pid() -> int:
    """The pid of a process that has ended (reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def plant_lock(folder: Path, **fields) -> Path:
    """A lock file as another process would have written it."""
    folder.mkdir(parents=True, exist_ok=True)
    info = replace(LockInfo.mine("otmark train"), **fields)
    path = folder / LOCK_NAME
    path.write_text(json.dumps(asdict(info)))
    return path


def test_claim_locks_the_folder_and_releases_it(tmp_path):
    out = tmp_path / "a" / "run"
    with claim_folder(out, "otmark train") as folder:
        assert folder == out and out.is_dir()
        info = read_lock(out / LOCK_NAME)
        assert (info.pid, info.host) == (os.getpid(), socket.gethostname())
        assert info.command == "otmark train"
        assert info.process_start == process_start(os.getpid())
        (out / "last.pt").write_bytes(b"x")
    assert sorted(p.name for p in out.iterdir()) == ["last.pt"]  # the lock is gone


def test_a_folder_the_claim_created_and_the_run_left_empty_is_removed(tmp_path):
    out = tmp_path / "a" / "b"
    with pytest.raises(RuntimeError):
        with claim_folder(out, "otmark train"):
            raise RuntimeError("failed before writing")
    assert not (tmp_path / "a").exists()
    existing = tmp_path / "kept"
    existing.mkdir()
    with claim_folder(existing, "otmark train"):
        pass
    assert existing.is_dir()  # it was there before


def test_a_folder_with_files_is_refused_naming_them_and_the_flags(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    for name in ("best.pt", "config.yaml", "last.pt", "log.jsonl", "notes.txt"):
        (out / name).write_text("x")
    (out / "tb").mkdir()
    with pytest.raises(FolderNotEmpty) as err:
        with claim_folder(out, "otmark train"):
            pytest.fail("entered")
    msg = str(err.value)
    assert msg.startswith(f"{out}: already holds")
    assert "best.pt, config.yaml, last.pt, log.jsonl and 2 more" in msg
    assert "--resume continues that run" in msg and "--overwrite deletes them first" in msg
    assert not (out / LOCK_NAME).exists()  # refused: the lock is released
    with pytest.raises(FolderNotEmpty, match="--overwrite") as err:
        with claim_folder(out, "otmark detect", resume_flag=None):
            pass
    assert "--resume" not in str(err.value)


def test_resume_and_accept_go_on_in_a_folder_with_files(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_text("x")
    with claim_folder(out, "otmark train", resume=True):
        assert (out / "last.pt").read_text() == "x"
    seen = []
    with claim_folder(out, "otmark synth", accept=lambda f: seen.append(f) or True):
        pass
    assert seen == [out]
    with pytest.raises(FolderNotEmpty):
        with claim_folder(out, "otmark synth", accept=lambda f: False):
            pass


def test_overwrite_clears_the_folder_but_not_what_a_link_points_to(tmp_path):
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    out = tmp_path / "run"
    (out / "sub" / "deeper").mkdir(parents=True)
    (out / "sub" / "deeper" / "f.txt").write_text("x")
    (out / "best.pt").write_text("x")
    (out / "link_dir").symlink_to(outside, target_is_directory=True)
    (out / "sub" / "link_file").symlink_to(outside / "keep.txt")
    with claim_folder(out, "otmark train", overwrite=True) as folder:
        assert contents(folder) == []  # the run sees an empty folder
        (out / "best.pt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["best.pt"]
    assert (out / "best.pt").read_text() == "new"
    assert (outside / "keep.txt").read_text() == "keep"
    assert clear_folder(tmp_path / "missing") == []


def test_overwrite_puts_the_contents_back_when_the_run_fails_before_writing(tmp_path):
    out = tmp_path / "run"
    (out / "sub").mkdir(parents=True)
    (out / "landmarks.json").write_text("previous")
    (out / "sub" / "a.png").write_text("png")
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    with pytest.raises(ValueError, match="bad input"):
        with claim_folder(out, "otmark detect", overwrite=True):
            raise ValueError("bad input")
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before
    assert (out / "landmarks.json").read_text() == "previous"
    # a run that wrote something and then failed keeps what it wrote (e.g. a resumable state)
    with pytest.raises(KeyboardInterrupt):
        with claim_folder(out, "otmark train", overwrite=True):
            (out / "last.pt").write_text("state")
            raise KeyboardInterrupt
    assert sorted(p.name for p in out.iterdir()) == ["last.pt"]


def test_contents_set_aside_by_a_killed_overwrite_run_are_noted_then_cleared(tmp_path):
    out = tmp_path / "run"
    (out / ASIDE_NAME).mkdir(parents=True)
    (out / ASIDE_NAME / "old.pt").write_text("old")
    (out / "last.pt").write_text("partial")
    notes = []
    with claim_folder(out, "otmark train", resume=True, note=notes.append):
        pass
    assert notes and notes[0].startswith(f"{out / ASIDE_NAME}: what an interrupted --overwrite")
    with claim_folder(out, "otmark train", overwrite=True):
        assert sorted(p.name for p in out.iterdir()) == sorted([LOCK_NAME, ASIDE_NAME])
    assert list(out.iterdir()) == []


def test_overwrite_refuses_root_home_cwd_their_parents_and_repositories(tmp_path, monkeypatch):
    home = tmp_path / "home" / "me"
    work = tmp_path / "work" / "project"
    work.mkdir(parents=True)
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    for folder, why in (
        ("/", "file system root"),
        (home, "home folder"),
        (tmp_path / "home", "home folder"),
        (work, "working folder"),
        (".", "working folder"),
        ("..", "working folder"),
        (tmp_path, "home folder"),
    ):
        with pytest.raises(UnsafeOverwrite, match=why):
            check_clearable(folder)
    repo = work / "runs" / "repo"
    (repo / ".git").mkdir(parents=True)
    with pytest.raises(UnsafeOverwrite, match=r"\.git"):
        clear_folder(repo)
    (work / "file.txt").write_text("x")
    with pytest.raises(UnsafeOverwrite, match="not a folder"):
        check_clearable(work / "file.txt")
    # a link to the working folder is the working folder
    (tmp_path / "alias").symlink_to(work, target_is_directory=True)
    with pytest.raises(UnsafeOverwrite, match="working folder"):
        check_clearable(tmp_path / "alias")
    assert check_clearable("runs/x") == work / "runs" / "x"
    with pytest.raises(UnsafeOverwrite):  # refused before anything is deleted
        with claim_folder(work, "otmark train", overwrite=True):
            pass
    assert (work / "file.txt").exists()


def test_a_second_claim_is_refused_at_once_naming_the_owner(tmp_path):
    out = tmp_path / "run"
    with claim_folder(out, "otmark train"):
        t0 = time.perf_counter()
        with pytest.raises(FolderInUse) as err:
            with claim_folder(out, "otmark synth", resume=True):
                pass
        assert time.perf_counter() - t0 < 0.5
        assert (out / LOCK_NAME).exists()  # the refused claim left the owner's lock
    msg = str(err.value)
    assert msg.startswith(f"{out}: in use by 'otmark train' (pid {os.getpid()} on ")
    assert "wait for it to finish" in msg


def test_a_live_process_lock_is_respected(tmp_path):
    out = tmp_path / "run"
    plant_lock(out, pid=os.getppid(), process_start=process_start(os.getppid()))
    with pytest.raises(FolderInUse, match=f"pid {os.getppid()}"):
        with claim_folder(out, "otmark train"):
            pass


def test_a_dead_process_lock_is_taken_over_with_a_note(tmp_path):
    out = tmp_path / "run"
    pid = dead_pid()
    plant_lock(out, pid=pid, process_start="1")
    notes = []
    with claim_folder(out, "otmark train", note=notes.append):
        assert read_lock(out / LOCK_NAME).pid == os.getpid()
    assert len(notes) == 1 and f"took over the stale lock of 'otmark train' (pid {pid}" in notes[0]
    assert not (out / LOCK_NAME).exists()


def test_a_reused_pid_makes_the_lock_stale():
    """A pid that is alive but belongs to a process started at another time."""
    me = LockInfo.mine("otmark train")
    assert not is_stale(me)
    assert is_stale(replace(me, process_start=str(int(me.process_start) + 1)))
    assert is_stale(replace(me, pid=dead_pid()))
    assert not is_stale(replace(me, pid=dead_pid(), host=me.host + "-other"))


def test_a_lock_of_another_host_is_never_taken_over(tmp_path):
    out = tmp_path / "run"
    lock = plant_lock(out, pid=dead_pid(), host="elsewhere.example")
    with pytest.raises(FolderInUse) as err:
        with claim_folder(out, "otmark train"):
            pass
    assert f"if no process on elsewhere.example writes to it, delete {lock}" in str(err.value)


def test_an_unreadable_lock_is_in_use_while_fresh_and_stale_when_old(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    lock = out / LOCK_NAME
    lock.write_text("")  # created, not written yet
    with pytest.raises(FolderInUse, match="being written"):
        with claim_folder(out, "otmark train"):
            pass
    old = time.time() - 60
    os.utime(lock, (old, old))
    notes = []
    with claim_folder(out, "otmark train", note=notes.append):
        pass
    assert "an unreadable lock" in notes[0]


def test_of_many_threads_racing_for_the_lock_one_wins(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    barrier = threading.Barrier(8)
    won, refused = [], []

    def race():
        lock = FolderLock(out, "otmark train")
        barrier.wait()
        try:
            lock.acquire()
            won.append(lock)
        except FolderInUse:
            refused.append(lock)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(won), len(refused)) == (1, 7)
    won[0].release()
    assert not (out / LOCK_NAME).exists()


def test_shared_claims_coexist_and_exclude_an_exclusive_one(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    # another live process's shared claim
    other = out / f"{LOCK_NAME}.{socket.gethostname()}.{os.getppid()}"
    info = replace(LockInfo.mine("otmark study"), pid=os.getppid(), process_start=None)
    other.write_text(json.dumps(asdict(info)))
    with claim_folder(out, "otmark study", shared=True):
        assert len(list(out.iterdir())) == 2
        with pytest.raises(FolderInUse, match="otmark study"):
            with claim_folder(out, "otmark train", accept=lambda f: True):
                pass
    assert list(out.iterdir()) == [other]
    other.unlink()
    with claim_folder(out, "otmark train"):
        with pytest.raises(FolderInUse, match="otmark train"):
            with claim_folder(out, "otmark study", shared=True):
                pass
    # a shared claim left by a dead process does not block an exclusive one
    (out / "cell.json").write_text("{}")
    dead = replace(LockInfo.mine("otmark study"), pid=dead_pid())
    (out / f"{LOCK_NAME}.{dead.host}.{dead.pid}").write_text(json.dumps(asdict(dead)))
    with claim_folder(out, "otmark study", overwrite=True):
        assert contents(out) == [] and not list(out.glob(f"{LOCK_NAME}.*"))


def test_not_a_folder_is_an_error(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(RunFolderError, match="not a folder"):
        with claim_folder(path, "otmark train"):
            pass


SLEEPER = """
import sys, time
from otmark.rundir import claim_folder
with claim_folder(sys.argv[1], "otmark train"):
    print("claimed", flush=True)
    time.sleep(30)
"""


def test_sigterm_releases_the_lock(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLEEPER, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "claimed"
        assert read_lock(out / LOCK_NAME).pid == proc.pid
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 128 + signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()
    assert not out.exists()  # lock gone, and the empty folder it created


def test_claim_file_refuses_an_existing_file_unless_overwrite(tmp_path):
    target = tmp_path / "sub" / "model.onnx"
    with claim_file(target, "otmark export") as path:
        assert path == target and (tmp_path / "sub" / ".model.onnx.otmark-lock").is_file()
        with pytest.raises(FolderInUse, match=f"^{target}: in use by 'otmark export'"):
            with claim_file(target, "otmark export"):
                pass
        target.write_text("v1")
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.onnx"]
    with pytest.raises(FolderNotEmpty, match="already exists; --overwrite replaces it"):
        with claim_file(target, "otmark export"):
            pass
    with pytest.raises(RuntimeError):  # a failed run leaves the file as it was
        with claim_file(target, "otmark export", overwrite=True):
            raise RuntimeError
    assert target.read_text() == "v1"
    with pytest.raises(RunFolderError, match="is a folder"):
        with claim_file(tmp_path, "otmark export"):
            pass
    with pytest.raises(RuntimeError):
        with claim_file(tmp_path / "new" / "m.onnx", "otmark export"):
            raise RuntimeError
    assert not (tmp_path / "new").exists()
