"""Images per CPU second of ``synth_face`` for two source trees, timed alternately in one run.

    git archive REV src | tar -x -C /tmp/old
    python benchmarks/synth_speed.py --old /tmp/old/src [--n 60] [--rounds 2]

Each measurement runs in a fresh interpreter (one OpenCV thread) with ``PYTHONPATH`` set to the
tree; the machine's load affects both trees alike, so compare the ratios.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

TIMER = """
import sys, time, numpy as np, cv2
cv2.setNumThreads(1)
from otmark.synth.generate import synth_face
from otmark.synth.domains import DOMAINS
dom, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
synth_face(DOMAINS[dom], rng, ("300w",), (size, size))
c0 = time.process_time()
for _ in range(n):
    synth_face(DOMAINS[dom], rng, ("300w",), (size, size))
print(n / (time.process_time() - c0))
"""


def rate(src: Path, domain: str, n: int, size: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(src))
    out = subprocess.run(
        [sys.executable, "-c", TIMER, domain, str(n), str(size)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, required=True, help="the other tree's src folder")
    ap.add_argument("--new", type=Path, default=Path(__file__).resolve().parents[1] / "src")
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)
    cases = (("300w", 256), ("wflw", 256), ("300w", 160))
    print(f"{'domain, size':<14} {'old':>8} {'new':>8} {'ratio':>6}")
    for _ in range(args.rounds):
        for domain, size in cases:
            old = rate(args.old, domain, args.n, size)
            new = rate(args.new, domain, args.n, size)
            print(f"{domain + ', ' + str(size):<14} {old:>8.1f} {new:>8.1f} {new / old:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
