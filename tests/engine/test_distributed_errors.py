"""A rank-local error is raised on every process (2 gloo processes on CPU)."""

import os
import socket
import subprocess
import sys

import pytest

from otmark.engine.distributed import DistInfo, RankFailed, iterate_on_all_ranks, raise_on_any_rank

WORKER = r"""
import sys
import time
import torch
from torch import nn
from otmark.engine.distributed import exit_if_group_left, init_distributed, shutdown_distributed
from otmark.engine.loop import train_one_epoch

mode, fail_rank, linger = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
torch.set_num_threads(1)
info = init_distributed("cpu")
K = 3


class Loader:
    dataset = None

    def __iter__(self):
        gen = torch.Generator().manual_seed(info.rank)
        for step in range(6):
            if mode == "sample" and info.rank == fail_rank and step == 2:
                raise ValueError("bad sample img_2.png: 3 landmarks, expected 68")
            yield {
                "image": torch.randn(2, 3, 16, 16, generator=gen),
                "weight": torch.ones(2, K),
                "target": torch.rand(2, K, 4, 4, generator=gen),
            }


calls = {"n": 0}


def loss_fn(pred, target, weight):
    calls["n"] += 1
    loss = ((pred - target) ** 2).mean()
    if mode == "nan" and info.rank == fail_rank and calls["n"] == 3:
        loss = loss * float("nan")
    return loss


torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(3, K, 3, stride=4, padding=1), nn.BatchNorm2d(K))
net = nn.parallel.DistributedDataParallel(model)
opt = torch.optim.SGD(net.parameters(), lr=0.1)
try:
    res = train_one_epoch(net, Loader(), loss_fn, opt, torch.device("cpu"), info=info)
    print(f"rank {info.rank} OK {res.steps} steps", flush=True)
    code = 0
except Exception as exc:
    print(f"rank {info.rank} RAISED {type(exc).__name__}: {exc}", flush=True)
    code = 3
    if info.rank == fail_rank:
        time.sleep(linger)  # a failing process slow to exit (writing a checkpoint, say)
# the subject here is the error flags, not gloo's teardown (tests/engine/test_ddp.py runs
# that): leave the group as the CLI does after a failure, which is deterministic under load
shutdown_distributed(abandon=True)
exit_if_group_left(code)
sys.exit(code)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_two(tmp_path, mode: str, fail_rank: int = 1, linger: float = 0.0, timeout=120.0):
    """Run the worker on 2 gloo processes; returns their exit codes and outputs. The process
    ``fail_rank`` fails (``mode``) and then waits ``linger`` seconds before exiting; it is
    killed once the other process has exited (or given up on after ``timeout`` s)."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(
            os.environ,
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE="2",
            OMP_NUM_THREADS="1",
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), mode, str(fail_rank), str(linger)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    other = procs[1 - fail_rank]
    try:
        other.communicate(timeout=timeout)
        if linger == 0:  # nothing lingers: the failing rank exits by itself too
            procs[fail_rank].communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    finally:
        procs[fail_rank].kill()
    for p in procs:
        if p.poll() is None:
            p.kill()
    outs = [p.communicate()[0] for p in procs]
    return [p.returncode for p in procs], outs


def test_ddp_runs_normally_with_the_error_flags(tmp_path):
    codes, outs = _run_two(tmp_path, "none")
    assert codes == [0, 0], outs
    assert all("OK 6 steps" in o for o in outs)


@pytest.mark.parametrize(
    "mode, own_error",
    [
        ("nan", "FloatingPointError: non-finite loss nan at step 2"),
        ("sample", "ValueError: bad sample img_2.png"),
    ],
)
def test_an_error_on_one_rank_is_raised_on_both(tmp_path, mode, own_error):
    # the failing process stays alive for 10 minutes after its error: without the error flag
    # the other one would wait in DDP's next collective for that long (or until the process
    # group's timeout); here it must exit on its own, with the error, within 120 s
    codes, outs = _run_two(tmp_path, mode, fail_rank=1, linger=600.0)
    assert codes[0] == 3, outs
    assert "rank 0 RAISED RankFailed" in outs[0]
    assert f"rank 1: {own_error}" in outs[0]
    assert f"rank 1 RAISED {own_error}" in outs[1]


def test_single_process_helpers_are_plain():
    info = DistInfo()
    assert list(iterate_on_all_ranks([1, 2, 3], info)) == [1, 2, 3]
    with pytest.raises(KeyError):
        with raise_on_any_rank(info):
            raise KeyError("x")


def test_rank_failed_names_the_ranks():
    err = RankFailed("step 4 (rank 0)", {3: "ValueError: bad", 1: "FloatingPointError: nan"})
    assert err.ranks == [1, 3]
    assert str(err) == (
        "step 4 (rank 0): failed on another process "
        "(rank 1: FloatingPointError: nan; rank 3: ValueError: bad)"
    )
