"""Stable per-sample seeds: the same (protocol seed, sample id) gives the same perturbation on any
machine, in any process and for any evaluated model (Python's ``hash`` is salted per process, so
it is not used)."""

from __future__ import annotations

import hashlib

import numpy as np


def sample_seed(protocol_seed: int, sample_id: str) -> int:
    """A 63-bit seed from SHA-256 of ``"<protocol_seed>:<sample_id>"``."""
    digest = hashlib.sha256(f"{int(protocol_seed)}:{sample_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def sample_rng(protocol_seed: int, sample_id: str) -> np.random.Generator:
    """A numpy ``Generator`` seeded with :func:`sample_seed`."""
    return np.random.default_rng(sample_seed(protocol_seed, sample_id))
