"""Split a study's cells over several processes or machines (``--shard I/N``) and merge the
result folders they write.

* :func:`parse_shard` - ``"I/N"`` with a **1-based** index: ``1/4`` ... ``4/4`` (the form of a
  SLURM array ``--array=1-4``); ``0/4`` or ``5/4`` is refused with the valid range.
* :func:`assign_shards` - a deterministic shard per cell. Cells that share a training (the
  decoder-only variants of one setting) form a *group* and always land on one shard. Each
  group has a *cost* (the estimated time of its training; 1 each by default). Seed by seed
  (lowest first), the groups of a seed are taken by decreasing cost (then by name) and each
  goes to the shard with the least cost so far (the lowest index on a tie): with equal costs
  this deals the groups round-robin, so the shards get the same number of trainings (within
  one); with the study's measured costs a shard does not get all the slow losses. Adding a
  seed above the existing ones only appends groups: every cell of the existing seeds keeps
  its shard. The order of the input does not matter.
* :func:`merge_cell_files` - read the cell JSON files of several result folders into one list;
  the same cell twice with the same config hash is kept once (the first folder's copy), the
  same cell with different config hashes is an error naming both files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


class ShardError(ValueError):
    """A bad ``--shard`` value or an impossible assignment."""


class MergeError(ValueError):
    """Result folders that cannot be merged; the message names the files."""


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ShardError(f"shard count must be >= 1, got {self.count}")
        if not 1 <= self.index <= self.count:
            raise ShardError(
                f"shard index {self.index} is outside 1..{self.count} (shards are numbered "
                f"from 1: --shard 1/{self.count} ... {self.count}/{self.count})"
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"I/N"`` -> :class:`Shard` (1-based ``I``); raises :class:`ShardError` with the
    reason."""
    parts = str(text).strip().split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ShardError(f"--shard expects I/N with whole numbers (e.g. 1/4), got {text!r}")
    return Shard(int(parts[0]), int(parts[1]))


@dataclass(frozen=True)
class ShardItem:
    """One cell as the sharding sees it.

    Attributes:
        key: the cell's unique name (its result file stem).
        seed: the cell's seed (groups are dealt seed-major).
        group: cells with the same group share a training and stay together (default: the
            cell alone).
        cost: estimated cost of the cell's training (> 0, any unit; a group costs the largest
            cost of its cells).
    """

    key: str
    seed: int = 0
    group: str | None = None
    cost: float = 1.0

    @property
    def group_name(self) -> str:
        return self.key if self.group is None else self.group


def _plan(items: list[ShardItem], count: int) -> tuple[dict[str, int], list[float]]:
    """Shard (1-based) of every group name, and each shard's summed cost (module docstring)."""
    if count < 1:
        raise ShardError(f"shard count must be >= 1, got {count}")
    keys = [it.key for it in items]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise ShardError(f"duplicate cell keys: {dup}")
    seeds: dict[str, int] = {}
    costs: dict[str, float] = {}
    for it in items:
        if not it.cost > 0:
            raise ShardError(f"cell {it.key!r}: cost must be > 0, got {it.cost!r}")
        if seeds.setdefault(it.group_name, it.seed) != it.seed:
            raise ShardError(
                f"group {it.group_name!r} mixes seeds {seeds[it.group_name]} and {it.seed}"
            )
        costs[it.group_name] = max(costs.get(it.group_name, 0.0), float(it.cost))
    order = sorted(seeds, key=lambda g: (seeds[g], -costs[g], g))
    load = [0.0] * count
    shard_of_group = {}
    for g in order:
        j = min(range(count), key=lambda i: (load[i], i))
        shard_of_group[g] = j + 1
        load[j] += costs[g]
    return shard_of_group, load


def assign_shards(items: Iterable[ShardItem], count: int) -> dict[str, int]:
    """Shard (1-based) of every cell key, for ``count`` shards (see the module docstring)."""
    items = list(items)
    shard_of_group, _ = _plan(items, count)
    return {it.key: shard_of_group[it.group_name] for it in items}


def shard_costs(items: Iterable[ShardItem], count: int) -> dict[int, float]:
    """Summed cost of the trainings (groups) on each shard (1-based), e.g. to check the
    balance before starting the shards."""
    _, load = _plan(list(items), count)
    return {i + 1: cost for i, cost in enumerate(load)}


def select_shard(items: Sequence[ShardItem], shard: Shard) -> list[ShardItem]:
    """The items of ``shard``, in their input order."""
    assigned = assign_shards(items, shard.count)
    return [it for it in items if assigned[it.key] == shard.index]


def is_study_cell(doc: dict) -> bool:
    """Whether a JSON document is a study cell (its ``format`` starts ``otmark-study-cell``)."""
    return str(doc.get("format", "")).startswith("otmark-study-cell")


def merge_cell_files(
    folders: Sequence[str | os.PathLike[str]],
    is_cell: Callable[[dict], bool] = is_study_cell,
    key_field: str = "cell",
    hash_field: str = "key_hash",
) -> list[dict]:
    """Cell documents of every ``*.json`` directly in ``folders``, one per cell key, sorted by
    key.

    JSON files that are not cells (``is_cell`` False: a summary, a report) are skipped. A cell
    without ``key_field`` or ``hash_field``, a file that is not valid JSON, a missing folder,
    or one key with two different hashes raises :class:`MergeError` naming the file(s).
    """
    seen: dict[str, tuple[str, Path, dict]] = {}
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            raise MergeError(f"{root}: result folder not found")
        for path in sorted(root.glob("*.json")):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise MergeError(f"{path}: not valid JSON ({e})") from e
            if not isinstance(doc, dict) or not is_cell(doc):
                continue
            for name in (key_field, hash_field):
                if not isinstance(doc.get(name), str) or not doc[name]:
                    raise MergeError(f"{path}: cell without a {name!r} string")
            key, digest = doc[key_field], doc[hash_field]
            if key in seen:
                other_digest, other_path, _ = seen[key]
                if other_digest != digest:
                    raise MergeError(
                        f"cell {key!r} was run with two different configs: {other_path} "
                        f"({hash_field} {other_digest}) and {path} ({hash_field} {digest}); "
                        "remove the stale one"
                    )
                continue
            seen[key] = (digest, path, doc)
    return [seen[k][2] for k in sorted(seen)]
