"""The pretraining data: generated faces of three domains in one 300W layout."""

from __future__ import annotations

import pytest

from otmark import datasets
from otmark.pretrained.data import (
    DEFAULT_MIX,
    TRAIN_FOLDERS,
    split_counts,
    write_pretrain_data,
)
from otmark.schemes import get_scheme


@pytest.mark.parametrize("total", [3, 10, 20000, 20001])
def test_split_counts_share_the_total(total):
    counts = split_counts(total, DEFAULT_MIX)
    assert sum(counts.values()) == total and min(counts.values()) >= 1
    if total >= 100:
        for k, share in DEFAULT_MIX.items():
            assert abs(counts[k] - share * total) <= 1


def test_split_counts_refuse_too_few():
    with pytest.raises(ValueError, match="at least 3"):
        split_counts(2, DEFAULT_MIX)


def test_layout_reads_as_300w(tiny_run):
    root = tiny_run / "data" / "300W"
    train = datasets.load("300w", root, "train", on_error="raise")
    full = datasets.load("300w", root, "full", on_error="raise")
    assert len(train) == 12 and len(full) == 3
    k = get_scheme("300w").num_points
    assert all(s.landmarks.shape == (k, 2) for s in train)
    # one folder per domain, named in the file names
    counts = split_counts(12, DEFAULT_MIX)
    for folder, domain in TRAIN_FOLDERS.items():
        names = sorted((root / folder).glob("*.jpg"))
        assert len(names) == counts[domain]
        assert all(f"_{domain}_" in p.name for p in names)


def test_deterministic_and_distinct_from_otmark_synth(tiny_run, tmp_path):
    from otmark.synth.writers import synthesize

    again = tmp_path / "again"
    write_pretrain_data(again, 12, 3, size=64, seed=0)
    root = tiny_run / "data" / "300W"
    for p in sorted(root.rglob("*.pts")):
        assert (again / p.relative_to(root)).read_bytes() == p.read_bytes()
    synth = tmp_path / "synth"
    synthesize("300w", synth, 4, seed=0, size=64)
    ours = {p.read_bytes() for p in root.rglob("*.pts")}
    theirs = {p.read_bytes() for p in synth.rglob("*.pts")}
    assert ours and theirs and not ours & theirs


def test_unknown_domain_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown domains"):
        write_pretrain_data(tmp_path, 6, 3, size=64, mix={"300w": 1, "mars": 1})
