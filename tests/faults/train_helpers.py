"""Helpers of the training fault tests: tiny configs, the CLI in-process and in a subprocess,
snapshots of folders (to show that nothing on disk was lost) and small tmpfs mounts (full disk,
read-only folder; skipped where mounting is not allowed).

A module of its own name (not ``conftest``): several test folders have a conftest.py."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

_ENGINE_CONFTEST = Path(__file__).resolve().parents[1] / "engine" / "engine_data.py"


def _engine_fixtures():
    """tests/engine/engine_data.py, loaded from its file (it is not on this folder's path)."""
    spec = importlib.util.spec_from_file_location("_engine_fixtures", _ENGINE_CONFTEST)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


engine_fixtures = _engine_fixtures()


def tiny_raw(data_root: Path, out_dir: Path, **sections) -> dict:
    """A deterministic config dict for a seconds-long run: hrnet_tiny, 64 px, batch 2, 2 epochs
    (4 steps per epoch)."""
    raw = engine_fixtures.tiny_config(
        data_root,
        out_dir,
        optim={"epochs": 2, "milestones": [1], "batch_size": 2},
        train={"deterministic": True, "seed": 5, "checkpoint_every": 0},
    )
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return raw


def write_yaml(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def copy_tree(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def snapshot(root: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every file under ``root`` (empty if it does not exist)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def temp_leftovers(root: Path) -> list[str]:
    """Temporary files an atomic writer would leave behind after a failure (should be none)."""
    return [str(p) for p in root.rglob(".*.tmp.*")] if root.exists() else []


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``otmark ARGV`` in this process: ``(exit code, stdout, stderr)``."""
    from otmark.cli.main import main

    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def one_error_line(err: str, command: str = "train") -> str:
    """The error line of a failed command: the last line of stderr, the only one that says
    ``otmark COMMAND: error:`` (log lines such as skipped samples may come before it), and no
    traceback."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and "Traceback" not in err, err
    assert lines[-1].startswith(f"otmark {command}: error: "), err
    assert sum("error:" in line for line in lines) == 1, err
    return lines[-1]


def subprocess_env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(key, None)
    return env


def otmark_cmd(*argv: str) -> list[str]:
    return [sys.executable, "-m", "otmark", *argv]


def run_subprocess(*argv: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        otmark_cmd(*argv), env=subprocess_env(), capture_output=True, text=True, timeout=timeout
    )


def load_ckpt(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def same_weights(a: dict, b: dict) -> None:
    """Bit-identical model and optimizer state, and the same per-epoch log rows."""
    assert a["model"].keys() == b["model"].keys()
    for k, v in b["model"].items():
        assert torch.equal(a["model"][k], v), k
    for x, y in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(x["exp_avg"], y["exp_avg"]) and torch.equal(
            x["exp_avg_sq"], y["exp_avg_sq"]
        )
    rows_a = [r for r in a["history"] if "event" not in r]
    rows_b = [r for r in b["history"] if "event" not in r]
    assert [r["epoch"] for r in rows_a] == [r["epoch"] for r in rows_b]
    for ra, rb in zip(rows_a, rows_b):
        assert ra["train_loss"] == rb["train_loss"] and ra.get("val_NME") == rb.get("val_NME")


@contextlib.contextmanager
def tmpfs(path: Path, size: str, read_only: bool = False):
    """A small tmpfs mounted at ``path`` (root only); skips the test where it cannot mount."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({res.stderr.strip() or res.returncode})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
