import json
import random

import pytest

from otmark.atomic import write_json_atomic
from otmark.study.shard import (
    MergeError,
    Shard,
    ShardError,
    ShardItem,
    assign_shards,
    merge_cell_files,
    parse_shard,
    select_shard,
    shard_costs,
)


def test_parse_shard_one_based():
    assert parse_shard("1/4") == Shard(1, 4)
    assert parse_shard(" 4/4 ") == Shard(4, 4)
    assert str(parse_shard("2/3")) == "2/3"


@pytest.mark.parametrize(
    "text, match",
    [
        ("0/4", r"outside 1\.\.4.*numbered from 1"),
        ("5/4", r"outside 1\.\.4"),
        ("1/0", "count must be >= 1"),
        ("1-4", "I/N"),
        ("a/4", "I/N"),
        ("-1/4", "I/N"),
        ("1/4/2", "I/N"),
        ("", "I/N"),
    ],
)
def test_parse_shard_errors(text, match):
    with pytest.raises(ShardError, match=match):
        parse_shard(text)


def grid(seeds, settings=("l2_s1_max", "w_s3_bc", "js_s1_bc"), shared=True):
    """Cells of a small grid; l2_s1_bc shares the training of l2_s1_max."""
    items = []
    for seed in seeds:
        for s in settings:
            items.append(ShardItem(f"losses__{s}__seed{seed}", seed, f"{s}/{seed}"))
        if shared:
            items.append(ShardItem(f"losses__l2_s1_bc__seed{seed}", seed, f"l2_s1_max/{seed}"))
    return items


def test_assignment_hand_checked_round_robin_over_seed_major_groups():
    # groups sorted by (seed, name): js_s1_bc/0, l2_s1_max/0, w_s3_bc/0, js_s1_bc/1, ...
    got = assign_shards(grid([0, 1]), 2)
    assert got == {
        "losses__js_s1_bc__seed0": 1,
        "losses__l2_s1_max__seed0": 2,
        "losses__l2_s1_bc__seed0": 2,  # shares the training of l2_s1_max
        "losses__w_s3_bc__seed0": 1,
        "losses__js_s1_bc__seed1": 2,
        "losses__l2_s1_max__seed1": 1,
        "losses__l2_s1_bc__seed1": 1,
        "losses__w_s3_bc__seed1": 2,
    }


def test_shards_partition_the_cells_and_balance_trainings():
    items = grid(range(3), settings=[f"set{i}" for i in range(7)])
    for n in (1, 2, 3, 4, 5):
        parts = [select_shard(items, Shard(i, n)) for i in range(1, n + 1)]
        keys = [it.key for part in parts for it in part]
        assert sorted(keys) == sorted(it.key for it in items)  # every cell exactly once
        trainings = [len({it.group_name for it in part}) for part in parts]
        assert max(trainings) - min(trainings) <= 1


def test_adding_a_seed_keeps_every_other_cell_on_its_shard():
    before = assign_shards(grid([0, 1, 2]), 4)
    after = assign_shards(grid([0, 1, 2, 3]), 4)
    assert {k: after[k] for k in before} == before


def test_assignment_does_not_depend_on_input_order():
    items = grid([0, 1, 2])
    shuffled = list(items)
    random.Random(0).shuffle(shuffled)
    assert assign_shards(shuffled, 3) == assign_shards(items, 3)
    # select_shard keeps the caller's order
    part = select_shard(shuffled, Shard(1, 3))
    assert part == [it for it in shuffled if it in part]


def test_costly_groups_are_spread_by_least_loaded_shard_hand_checked():
    # seed 0 by decreasing cost: a 5 -> shard 1 (loads 5, 0); b 3 -> 2 (5, 3); c 2 -> 2 (5, 5);
    # d 2 -> 1 on the tie (7, 5); seed 1: e 1 -> 2 (7, 6); f 1 -> 2 (7, 7)
    items = [
        ShardItem("d", 0, cost=2.0),
        ShardItem("a", 0, cost=5.0),
        ShardItem("c", 0, cost=2.0),
        ShardItem("b", 0, cost=3.0),
        ShardItem("f", 1, cost=1.0),
        ShardItem("e", 1, cost=1.0),
    ]
    assert assign_shards(items, 2) == {"a": 1, "b": 2, "c": 2, "d": 1, "e": 2, "f": 2}
    assert shard_costs(items, 2) == {1: 7.0, 2: 7.0}
    # round-robin would put both costly trainings (a, c) on shard 1: 7 against 5
    assert shard_costs(items[:4], 2) == {1: 7.0, 2: 5.0}


def test_a_group_costs_its_largest_cell_once():
    items = [
        ShardItem("w_max", 0, "w", cost=4.0),
        ShardItem("w_bc", 0, "w", cost=1.0),  # a decoder-only variant: no training of its own
        ShardItem("x", 0, cost=3.0),
        ShardItem("y", 0, cost=1.0),
    ]
    got = assign_shards(items, 2)
    assert got == {"w_max": 1, "w_bc": 1, "x": 2, "y": 2}
    assert shard_costs(items, 2) == {1: 4.0, 2: 4.0}


def test_weighted_assignment_keeps_existing_seeds_and_ignores_input_order():
    def weighted(seeds):
        cost = {"l2_s1_max": 1.0, "w_s3_bc": 2.5, "js_s1_bc": 1.1}
        return [
            ShardItem(it.key, it.seed, it.group, cost[it.group.split("/")[0]]) for it in grid(seeds)
        ]

    before = assign_shards(weighted([0, 1]), 3)
    after = assign_shards(weighted([0, 1, 2]), 3)
    assert {k: after[k] for k in before} == before
    shuffled = weighted([0, 1, 2])
    random.Random(1).shuffle(shuffled)
    assert assign_shards(shuffled, 3) == after


def test_assignment_errors():
    with pytest.raises(ShardError, match="duplicate"):
        assign_shards([ShardItem("a"), ShardItem("a")], 2)
    with pytest.raises(ShardError, match="mixes seeds"):
        assign_shards([ShardItem("a", 0, "g"), ShardItem("b", 1, "g")], 2)
    with pytest.raises(ShardError, match="count"):
        assign_shards([ShardItem("a")], 0)
    with pytest.raises(ShardError, match=r"cell 'a': cost must be > 0"):
        assign_shards([ShardItem("a", cost=0.0)], 2)


def cell(key, digest, nme=1.0):
    return {"format": "otmark-study-cell-1", "cell": key, "key_hash": digest, "nme": nme}


def test_merge_reads_several_folders(tmp_path):
    a, b = tmp_path / "shard1", tmp_path / "shard2"
    write_json_atomic(a / "x__seed0.json", cell("x__seed0", "h1"))
    write_json_atomic(a / "y__seed0.json", cell("y__seed0", "h2", 2.0))
    write_json_atomic(b / "z__seed1.json", cell("z__seed1", "h3"))
    write_json_atomic(b / "y__seed0.json", cell("y__seed0", "h2", 9.0))  # same config: rerun
    write_json_atomic(b / "summary.json", {"mean_shape": {}, "cells": []})  # not a cell
    (b / "notes.txt").write_text("ignored")
    merged = merge_cell_files([a, b])
    assert [d["cell"] for d in merged] == ["x__seed0", "y__seed0", "z__seed1"]
    assert merged[1]["nme"] == 2.0  # the first folder's copy
    assert merge_cell_files([b, a])[1]["nme"] == 9.0


def test_merge_refuses_conflicting_duplicates_naming_both_files(tmp_path):
    a, b = tmp_path / "shard1", tmp_path / "shard2"
    write_json_atomic(a / "x.json", cell("x", "h1"))
    write_json_atomic(b / "x.json", cell("x", "h9"))
    with pytest.raises(MergeError) as err:
        merge_cell_files([a, b])
    msg = str(err.value)
    assert str(a / "x.json") in msg and str(b / "x.json") in msg
    assert "h1" in msg and "h9" in msg


def test_merge_errors_name_the_file(tmp_path):
    bad = tmp_path / "r"
    bad.mkdir()
    (bad / "broken.json").write_text("{not json")
    with pytest.raises(MergeError, match=r"broken\.json: not valid JSON"):
        merge_cell_files([bad])
    (bad / "broken.json").unlink()
    (bad / "nohash.json").write_text(json.dumps({"format": "otmark-study-cell-1", "cell": "x"}))
    with pytest.raises(MergeError, match=r"nohash\.json: cell without a 'key_hash'"):
        merge_cell_files([bad])
    with pytest.raises(MergeError, match="result folder not found"):
        merge_cell_files([tmp_path / "missing"])
