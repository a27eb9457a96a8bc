"""Screening a split before ``otmark train`` or ``otmark evaluate`` (``--on-error raise|skip``).

:func:`screen_samples` checks every sample with the one per-sample check,
:func:`otmark.datasets.check.check_sample` (the checks of ``otmark check-data``, images decoded
once each), logs what it leaves out and enforces the largest bad fraction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from otmark.datasets.check import sample_location, sample_problems
from otmark.datasets.errors import DatasetError


@dataclass
class ScreenResult:
    """The usable samples of a split and ``(location, problem)`` of each one left out."""

    samples: list = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def screen_samples(
    samples: Sequence,
    what: str,
    on_error: str = "raise",
    max_bad_fraction: float = 0.05,
    log: Callable[[str], None] = print,
    workers: int | None = None,
    limit_name: str = "data.max_bad_fraction",
    *,
    missing_ok: bool = False,
    decode: bool = True,
) -> ScreenResult:
    """Check every sample of a split with :func:`otmark.datasets.check.check_sample`.

    Args:
        samples: the split.
        what: its name in messages (e.g. ``"training split 'train'"``).
        on_error: ``raise``: the first bad sample raises :class:`DatasetError` naming its file;
            ``skip``: bad samples are left out, each logged with its file and problems, then one
            summary line.
        max_bad_fraction: with ``skip``, more bad samples than this fraction raise
            :class:`DatasetError` (the split is probably wrong, not a few files).
        log: receives the messages.
        workers: decoding threads (default: up to 8, the CPU count).
        limit_name: the setting of ``max_bad_fraction``, named in the message.
        missing_ok: accept points that are NaN in x and y as missing (a training split; a split
            that is scored needs every point).
        decode: decode the images (size, truncation, landmark range).

    Returns:
        :class:`ScreenResult` (the samples in their order); a problem is the sample's problems
        joined with ``"; "``, its location :func:`otmark.datasets.check.sample_location` with
        the sample id.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    found = sample_problems(samples, decode=decode, missing_ok=missing_ok, workers=workers)
    result = ScreenResult()
    for sample, problems in zip(samples, found, strict=True):
        if not problems:
            result.samples.append(sample)
            continue
        where, problem = sample_location(sample, with_id=True), "; ".join(problems)
        if on_error == "raise":
            raise DatasetError(where, f"{problem} (in the {what}; --on-error skip leaves it out)")
        result.skipped.append((where, problem))
        log(f"skipped {where}: {problem}")
    n, bad = len(samples), len(result.skipped)
    if bad:
        log(f"{what}: skipped {bad} of {n} samples ({100 * bad / n:.1f}%)")
        if bad > max_bad_fraction * n:
            first, why = result.skipped[0]
            raise DatasetError(
                first,
                f"{why}; {bad} of {n} samples of the {what} are bad ({100 * bad / n:.1f}%), "
                f"more than {limit_name} = {max_bad_fraction:g}",
            )
    return result
