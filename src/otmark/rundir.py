"""Claiming an output folder: one run owns it at a time, and never writes into another run's.

:func:`claim_folder` is what every ``otmark`` command that writes a folder enters first:

1. **Lock.** ``FOLDER/.otmark.lock`` is created with ``O_CREAT | O_EXCL`` (atomic: of two
   processes, one gets it) and holds the owner's pid, host name, process start time and
   command. A second process is refused at once (:class:`FolderInUse`, naming the owner). A
   lock whose process is gone (pid not alive on this host, or alive but started at another
   time: the pid was reused) is stale and taken over, with a note. A lock of another host is
   never judged stale (its pid means nothing here): the message says how to remove it.
   Commands whose processes may share a folder by design (the study's shards) take a
   *shared* claim, ``FOLDER/.otmark.lock.<host>.<pid>``: shared claims coexist, an exclusive
   one and a shared one do not.
2. **Contents.** A folder holding anything (other than these lock files) is refused
   (:class:`FolderNotEmpty`, naming the folder, what is in it and the flag to use) unless the
   command continues that run (``resume``), the caller's ``accept(folder)`` says the contents
   are this same run's (e.g. a generated dataset with the same settings), or ``overwrite``:
   then its entries are moved aside first (into ``FOLDER/.otmark-previous``; the run
   sees an empty folder), deleted when the run ends, and put back when it fails before
   writing anything (a refused input). Nothing outside the folder is touched; ``/``, the home
   folder, the working folder, their parents, a repository and a folder holding one of the
   run's inputs are refused (:class:`UnsafeOverwrite`).
3. **Release.** The lock is removed when the ``with`` block ends, also on an exception (and
   the folder too when the claim created it and the run left it empty); while
   it runs, SIGTERM and SIGHUP (when nothing else handles them) end the process through
   ``SystemExit`` so that the lock is removed too. Only SIGKILL (or a crash) leaves a lock
   behind, which the next run finds stale.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

#: the exclusive lock inside a claimed folder
LOCK_NAME = ".otmark.lock"
#: where ``overwrite`` keeps a folder's previous contents until the run ends
ASIDE_NAME = ".otmark-previous"
#: a lock this old that cannot be read (its writer died between creating and writing it) is stale
UNREADABLE_STALE_S = 10.0


class RunFolderError(ValueError):
    """An output folder that cannot be claimed (the message names it and what to do)."""


class FolderInUse(RunFolderError):
    """Another live process holds the folder's lock."""


class FolderNotEmpty(RunFolderError):
    """The folder holds another run's outputs (or other files)."""


class UnsafeOverwrite(RunFolderError):
    """``overwrite`` asked to clear a folder that must never be cleared."""


@dataclass(frozen=True)
class LockInfo:
    """What a lock file records about its owner."""

    pid: int
    host: str
    started: str  # ISO time the lock was taken
    command: str
    process_start: str | None = None  # the owner's start time as the kernel counts it

    @classmethod
    def mine(cls, command: str) -> LockInfo:
        return cls(
            pid=os.getpid(),
            host=socket.gethostname(),
            started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            command=command,
            process_start=process_start(os.getpid()),
        )

    def describe(self) -> str:
        return f"'{self.command}' (pid {self.pid} on {self.host}, since {self.started})"


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (``/proc/PID/stat`` field
    22), or None where there is no ``/proc`` or no such process. Tells a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (one of another user counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(info: LockInfo) -> bool:
    """Whether the owner of a lock is gone: same host, and its pid is not alive or belongs to
    a process started at another time."""
    if info.host != socket.gethostname():
        return False
    if not pid_alive(info.pid):
        return True
    now = process_start(info.pid)
    return info.process_start is not None and now is not None and now != info.process_start


def read_lock(path: Path) -> LockInfo | None:
    """The lock at ``path``; None when it is unreadable or not a lock (FileNotFoundError when
    it is gone)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return LockInfo(**raw)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, TypeError):
        return None


def _create(path: Path, info: LockInfo) -> bool:
    """Create ``path`` holding ``info`` atomically; False when it exists."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        os.write(fd, (json.dumps(asdict(info)) + "\n").encode("utf-8"))
    finally:
        os.close(fd)
    return True


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _gone_or_stale(path: Path) -> tuple[bool, LockInfo | None]:
    """``(stale, info)`` of the lock at ``path``; a missing lock counts as stale."""
    try:
        info = read_lock(path)
    except FileNotFoundError:
        return True, None
    if info is None:
        return _age(path) > UNREADABLE_STALE_S, None
    return is_stale(info), info


def _shared_locks(folder: Path) -> list[Path]:
    return sorted(folder.glob(LOCK_NAME + ".*"))


def is_lock_file(name: str) -> bool:
    """Whether a folder entry is one of this module's lock files."""
    return name == LOCK_NAME or name.startswith(LOCK_NAME + ".")


class FolderLock:
    """The lock of one claimed folder (see the module docstring); ``note`` gets a line when a
    stale lock is taken over."""

    def __init__(
        self,
        folder: Path,
        command: str,
        shared: bool = False,
        note: Callable[[str], None] | None = None,
        name: str | None = None,
    ) -> None:
        self.folder, self.command, self.shared = folder, command, shared
        self.note = note or _note
        self.info = LockInfo.mine(command)
        if name is None:
            name = f"{LOCK_NAME}.{self.info.host}.{self.info.pid}" if shared else LOCK_NAME
        self.path = folder / name
        self.held = False

    def _refuse(self, info: LockInfo | None, path: Path) -> FolderInUse:
        if info is None:
            return FolderInUse(f"{self.folder}: in use (lock {path} is being written)")
        if info.host != socket.gethostname():
            how = f"if no process on {info.host} writes to it, delete {path}"
        else:
            how = "wait for it to finish, or choose another folder"
        return FolderInUse(f"{self.folder}: in use by {info.describe()}; {how}")

    def _take_over(self, path: Path, info: LockInfo | None) -> None:
        """Remove the stale lock at ``path`` unless another process replaced it meanwhile."""
        guard = path.with_name(path.name + ".takeover")
        if not _create(guard, self.info):  # another process is taking it over: look again
            if _age(guard) > UNREADABLE_STALE_S:
                guard.unlink(missing_ok=True)
            time.sleep(0.05)
            return
        try:
            stale, now = _gone_or_stale(path)
            if stale and now == info:
                path.unlink(missing_ok=True)
                what = info.describe() if info else "an unreadable lock"
                self.note(f"{self.folder}: took over the stale lock of {what}, no longer running")
        finally:
            guard.unlink(missing_ok=True)

    def acquire(self) -> None:
        """Take the lock, or raise :class:`FolderInUse`."""
        exclusive = self.folder / LOCK_NAME
        for _ in range(40):
            if self.shared:
                self.path.unlink(missing_ok=True)  # a left-over of this very pid is not a holder
                _create(self.path, self.info)
                stale, info = _gone_or_stale(exclusive)
                if not stale:
                    self.path.unlink(missing_ok=True)
                    raise self._refuse(info, exclusive)
                if info is not None or exclusive.exists():
                    self.path.unlink(missing_ok=True)
                    self._take_over(exclusive, info)
                    continue
                self.held = True
                return
            if _create(self.path, self.info):
                for other in _shared_locks(self.folder) if self.path == exclusive else ():
                    if other.name.endswith(".takeover"):
                        continue
                    stale, info = _gone_or_stale(other)
                    if stale:
                        other.unlink(missing_ok=True)
                    else:
                        exclusive.unlink(missing_ok=True)
                        raise self._refuse(info, other)
                self.held = True
                return
            stale, info = _gone_or_stale(self.path)
            if not stale:
                raise self._refuse(info, self.path)
            self._take_over(self.path, info)
        raise FolderInUse(f"{self.folder}: in use (its lock {self.path} keeps changing)")

    def release(self) -> None:
        """Remove the lock if it is still this process's (a forked child never removes it)."""
        if not self.held or os.getpid() != self.info.pid:
            return
        self.held = False
        with contextlib.suppress(FileNotFoundError):
            if read_lock(self.path) == self.info:
                self.path.unlink()


def _note(line: str) -> None:
    print(f"note: {line}", file=sys.stderr)


def _contains(parent: Path, child: Path) -> bool:
    return child == parent or parent in child.parents


def check_clearable(folder: str | os.PathLike[str]) -> Path:
    """``folder`` resolved, or :class:`UnsafeOverwrite` when clearing it could delete what is
    not a run's: the file system root, the home folder, the working folder, a parent of
    either, a folder that holds a ``.git`` (a repository) or something that is not a folder."""
    path = Path(folder).expanduser()
    real = path.resolve()
    home = Path.home().resolve()
    cwd = Path.cwd().resolve()
    why = None
    if real == Path(real.anchor):
        why = "it is the file system root"
    elif _contains(real, home):
        why = "it is the home folder or a parent of it"
    elif _contains(real, cwd):
        why = "it is the working folder or a parent of it"
    elif (real / ".git").exists():
        why = "it holds a .git repository"
    elif real.exists() and not real.is_dir():
        why = "it is not a folder"
    if why:
        raise UnsafeOverwrite(f"{path}: --overwrite refuses to clear it ({why})")
    return real


def clear_folder(folder: str | os.PathLike[str]) -> list[str]:
    """Delete every entry of ``folder`` except lock files; returns the names deleted.

    A symbolic link is removed as a link (what it points to stays), a sub-folder with
    ``shutil.rmtree`` (which does not follow links). Refuses what :func:`check_clearable`
    refuses. ``folder`` itself stays.
    """
    real = check_clearable(folder)
    removed = []
    if not real.is_dir():
        return removed
    for entry in sorted(real.iterdir()):
        if is_lock_file(entry.name):
            continue
        if entry.is_symlink() or not entry.is_dir():
            entry.unlink()
        else:
            shutil.rmtree(entry)
        removed.append(entry.name)
    return removed


def contents(folder: Path) -> list[str]:
    """The entries of ``folder`` other than lock files and :data:`ASIDE_NAME`, sorted (a
    sub-folder with a ``/``)."""
    if not folder.is_dir():
        return []
    return sorted(
        e.name + ("/" if e.is_dir() else "")
        for e in folder.iterdir()
        if not is_lock_file(e.name) and e.name != ASIDE_NAME
    )


def describe_contents(names: list[str], shown: int = 4) -> str:
    """``"best.pt, config.yaml, log.txt and 2 more"``."""
    head = ", ".join(names[:shown])
    return head + (f" and {len(names) - shown} more" if len(names) > shown else "")


def refusal(folder: Path, names: list[str], resume_flag: str | None) -> FolderNotEmpty:
    """The error of a folder holding ``names``, naming the flags that go on."""
    how = f"{resume_flag} continues that run, " if resume_flag else ""
    return FolderNotEmpty(
        f"{folder}: already holds another run's outputs or other files "
        f"({describe_contents(names)}); {how}--overwrite deletes them first, or choose "
        "another folder"
    )


@contextlib.contextmanager
def _release_on_signals() -> Iterator[None]:
    """While inside: SIGTERM / SIGHUP, when nothing else handles them, raise ``SystemExit(128
    + signal)`` so that ``finally`` blocks (the lock's release) run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {}

    def handler(signum, frame):  # noqa: ARG001
        raise SystemExit(128 + signum)

    for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if s is not None and signal.getsignal(s) is signal.SIG_DFL:
            old[s] = signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def claim_folder(
    folder: str | os.PathLike[str],
    command: str,
    *,
    resume: bool = False,
    overwrite: bool = False,
    accept: Callable[[Path], bool] | None = None,
    shared: bool = False,
    resume_flag: str | None = "--resume",
    note: Callable[[str], None] | None = None,
    inputs: tuple[str | os.PathLike[str] | None, ...] = (),
) -> Iterator[Path]:
    """Own ``folder`` for the ``with`` block (see the module docstring); yields its path.

    Args:
        folder: the output folder (created, with its parents, when missing).
        command: who claims it, for the lock and the messages (e.g. ``"otmark train"``).
        resume: the run continues the one in the folder: its contents are accepted (the
            command checks them itself).
        overwrite: delete the folder's contents first (after taking the lock).
        accept: ``accept(folder) -> True`` when the contents are this same run's (a run that
            may simply go on); None: nothing is.
        shared: a shared claim (several processes of a command made for it).
        resume_flag: the flag named in the refusal for going on (None: the command has none).
        note: gets one line when a stale lock is taken over or an interrupted ``overwrite``
            left the previous contents aside (default: stderr).
        inputs: files or folders the run reads (None entries ignored): ``overwrite`` refuses
            a folder that holds one of them.

    Raises:
        FolderInUse, FolderNotEmpty, UnsafeOverwrite (all :class:`RunFolderError`).
    """
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"{path}: exists and is not a folder")
    if overwrite:
        real = check_clearable(path)
        for item in inputs:
            if item is not None and _contains(real, Path(item).resolve()):
                raise UnsafeOverwrite(
                    f"{path}: --overwrite refuses to clear it (it holds the input {item})"
                )
    created = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    lock = FolderLock(path, command, shared=shared, note=note)
    try:
        lock.acquire()
    except BaseException:
        _remove_empty(created)
        raise
    try:
        names = contents(path)
        aside = None
        if (path / ASIDE_NAME).exists() and not overwrite:
            (note or _note)(
                f"{path / ASIDE_NAME}: what an interrupted --overwrite run set aside (the "
                "contents before it); delete it when it is not needed"
            )
        if overwrite and (names or (path / ASIDE_NAME).exists()):
            aside = _move_aside(path)
        elif names and not resume and not (accept is not None and accept(path)):
            raise refusal(path, names, resume_flag)
        try:
            with _release_on_signals():
                yield path
        except BaseException:
            if aside is not None and not contents(path):
                _restore(path, aside)
                aside = None
            raise
        finally:
            if aside is not None:
                shutil.rmtree(aside)
    finally:
        lock.release()
        _remove_empty(created)


def _move_aside(folder: Path) -> Path:
    """Move every entry of ``folder`` but the lock files into ``folder/ASIDE_NAME`` (renames:
    the same file system), after deleting one a killed run left; returns that folder."""
    check_clearable(folder)
    aside = folder / ASIDE_NAME
    if aside.is_symlink() or aside.is_file():
        aside.unlink()
    elif aside.is_dir():
        shutil.rmtree(aside)
    aside.mkdir()
    for entry in folder.iterdir():
        if not is_lock_file(entry.name) and entry.name != ASIDE_NAME:
            os.rename(entry, aside / entry.name)
    return aside


def _restore(folder: Path, aside: Path) -> None:
    """Move the entries set aside back into ``folder`` (which the run left empty)."""
    for entry in aside.iterdir():
        os.rename(entry, folder / entry.name)
    aside.rmdir()


def _remove_empty(created: list[Path]) -> None:
    """Remove the folders a claim created (deepest first) that the run left empty."""
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            return


@contextlib.contextmanager
def claim_file(
    path: str | os.PathLike[str],
    command: str,
    *,
    overwrite: bool = False,
    note: Callable[[str], None] | None = None,
) -> Iterator[Path]:
    """Own the output file ``path`` for the ``with`` block: a lock beside it
    (``.NAME.otmark-lock``, as :func:`claim_folder`'s), and an existing file is refused
    (:class:`FolderNotEmpty`) unless ``overwrite``; then it stays until the run's atomic write
    replaces it (a failed run leaves it as it was). Yields ``path``."""
    path = Path(path)
    if path.is_dir():
        raise RunFolderError(f"{path}: is a folder; give the name of the file to write")
    created = [p for p in path.parents if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FolderLock(path.parent, command, note=note, name=f".{path.name}.otmark-lock")
    try:
        lock.acquire()
    except FolderInUse as exc:
        _remove_empty(created)
        text = str(exc).replace(f"{path.parent}: in use", f"{path}: in use", 1)
        raise FolderInUse(text) from None
    try:
        if path.exists() or path.is_symlink():
            if not overwrite:
                raise FolderNotEmpty(
                    f"{path}: already exists; --overwrite replaces it, or choose another name"
                )
            (note or _note)(f"{path}: --overwrite replaces it")
        with _release_on_signals():
            yield path
    finally:
        lock.release()
        _remove_empty(created)
