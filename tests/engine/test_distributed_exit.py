"""How a ``torchrun`` worker ends: at once with its code, output flushed, no interpreter
teardown (whose freeing of gloo threads can abort a run that succeeded)."""

import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import atexit
import sys
from otmark.engine.distributed import end_worker

atexit.register(lambda: print("interpreter teardown ran"))
print("files written", end="")  # unflushed on purpose
end_worker(int(sys.argv[1]))
print(" - still running")
sys.exit(9)
"""


def _run(env_extra: dict, code: int) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "TORCHELASTIC_RUN_ID")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, str(code)], env=env, capture_output=True, text=True
    )


@pytest.mark.parametrize("code", [0, 2])
def test_torchrun_worker_ends_at_once_with_its_code(code):
    res = _run({"WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "job"}, code)
    assert res.returncode == code
    assert res.stdout == "files written"  # flushed before the end, nothing after it


@pytest.mark.parametrize(
    "env", [{}, {"WORLD_SIZE": "1", "TORCHELASTIC_RUN_ID": "job"}, {"WORLD_SIZE": "2"}]
)
def test_a_no_op_outside_a_multi_process_torchrun_job(env):
    res = _run(env, 0)
    assert res.returncode == 9
    assert res.stdout == "files written - still running\ninterpreter teardown ran\n"
