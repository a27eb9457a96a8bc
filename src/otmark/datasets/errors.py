"""Errors of the dataset readers, and how a loader collects them.

Per-sample problems (a malformed ``.pts``, a bad list line, a missing image, NaN coordinates)
raise :class:`DatasetError` with ``on_error="raise"`` and are collected in
:attr:`LoadResult.skipped` with ``on_error="skip"``. Problems that make a whole split unusable
(a root or list file that does not exist, a ``.mat`` without the expected variables) always raise.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # records.py reads .mat images through matimage.py, which raises DatasetError
    from otmark.datasets.records import Sample

ON_ERROR = ("raise", "skip")


class DatasetError(ValueError):
    """Bad dataset input. The message starts with ``<file>:<line>: `` (line when known).

    Attributes:
        path: the offending file (or folder).
        line: 1-based line number in ``path``, or ``None``.
        problem: what is wrong, without the location.
    """

    def __init__(self, path: str | PathLike, problem: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {problem}")

    @property
    def location(self) -> str:
        """``path`` or ``path:line``."""
        return self.path if self.line is None else f"{self.path}:{self.line}"


@dataclass
class LoadResult(Sequence["Sample"]):
    """What a loader returns: the samples (the result is a sequence of them) and what was left out.

    Attributes:
        samples: the loaded samples, in a deterministic order.
        skipped: ``(location, problem)`` of every bad sample left out with ``on_error="skip"``.
        excluded: ``(location, reason)`` of samples left out on purpose (300VW's known broken
            frames, standard-list videos absent from the root); never errors.
    """

    samples: list[Sample] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    excluded: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index):  # type: ignore[override]
        return self.samples[index]

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def summary(self) -> str:
        """One line, e.g. ``"3148 samples, 2 skipped, 0 excluded"``."""
        n, s, e = len(self.samples), len(self.skipped), len(self.excluded)
        return f"{n} samples, {s} skipped, {e} excluded"


class Collector:
    """Applies an ``on_error`` policy while a loader runs (a small helper, one per load)."""

    def __init__(self, on_error: str) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        self.on_error = on_error
        self.result = LoadResult()

    def add(self, sample: Sample) -> None:
        self.result.samples.append(sample)

    def fail(self, error: DatasetError) -> None:
        """Raise ``error`` (``on_error="raise"``) or record it as skipped."""
        if self.on_error == "raise":
            raise error
        self.result.skipped.append((error.location, error.problem))

    def exclude(self, location: str, reason: str) -> None:
        self.result.excluded.append((location, reason))
