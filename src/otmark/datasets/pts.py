"""The ``.pts`` landmark file format (300W, 300VW).

On disk::

    version: 1
    n_points: 68
    {
    x y
    ...
    }

Coordinates on disk are **1-based** (the centre of the top-left pixel is ``(1, 1)``; menpo
subtracts 1 on import). :func:`read_pts` returns 0-based coordinates, :func:`write_pts` adds 1.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from otmark.datasets.errors import DatasetError
from otmark.datasets.fileio import format_number, write_text_atomic


def parse_pts(text: str, path: str | os.PathLike = "<string>", num_points: int | None = None):
    """Parse the text of a ``.pts`` file.

    Args:
        text: file content.
        path: file name used in error messages.
        num_points: expected ``K`` (``None``: whatever ``n_points`` says).
    Returns:
        ``(K, 2)`` float64, 0-based.
    Raises:
        DatasetError: naming ``path`` and the 1-based line of the problem (missing header,
            wrong count, non-numeric or non-finite value, missing braces, truncated file).
    """
    fast = _parse_fast(text, num_points)
    if fast is not None:
        return fast
    # slow path: walks the lines to name the first problem and its line
    lines = text.splitlines()
    # position of the next non-blank line (header lines may be followed by blank lines)
    i = 0

    def next_line(what: str) -> tuple[int, str]:
        nonlocal i
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i >= len(lines):
            raise DatasetError(path, f"truncated file: expected {what}", line=len(lines) + 1)
        i += 1
        return i, lines[i - 1].strip()

    no, line = next_line("'version: 1'")
    key, _, value = line.partition(":")
    if key.strip() != "version" or value.strip() not in ("1", "1.0"):
        raise DatasetError(path, f"expected 'version: 1', got {line!r}", line=no)
    no, line = next_line("'n_points: N'")
    key, _, value = line.partition(":")
    if key.strip() != "n_points":
        raise DatasetError(path, f"expected 'n_points: N', got {line!r}", line=no)
    try:
        n = int(value.strip())
    except ValueError:
        raise DatasetError(
            path, f"n_points is not an integer: {value.strip()!r}", line=no
        ) from None
    if n <= 0:
        raise DatasetError(path, f"n_points must be positive, got {n}", line=no)
    if num_points is not None and n != num_points:
        raise DatasetError(path, f"n_points is {n}, expected {num_points} landmarks", line=no)
    no, line = next_line("'{'")
    if line != "{":
        raise DatasetError(path, f"expected '{{', got {line!r}", line=no)
    out = np.empty((n, 2), dtype=np.float64)
    for k in range(n):
        no, line = next_line(f"point {k + 1} of {n} (file truncated?)")
        if line == "}":
            raise DatasetError(path, f"only {k} points before '}}', n_points says {n}", line=no)
        fields = line.split()
        if len(fields) != 2:
            raise DatasetError(path, f"expected 'x y', got {line!r}", line=no)
        try:
            x, y = float(fields[0]), float(fields[1])
        except ValueError:
            raise DatasetError(path, f"non-numeric coordinate in {line!r}", line=no) from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise DatasetError(path, f"non-finite coordinate in {line!r}", line=no)
        out[k] = (x - 1.0, y - 1.0)
    no, line = next_line("'}' (file truncated?)")
    if line != "}":
        raise DatasetError(path, f"expected '}}' after {n} points, got {line!r}", line=no)
    rest = [j for j in range(i, len(lines)) if lines[j].strip()]
    if rest:
        raise DatasetError(
            path, f"unexpected content after '}}': {lines[rest[0]].strip()!r}", line=rest[0] + 1
        )
    return out


def _parse_fast(text: str, num_points: int | None) -> np.ndarray | None:
    """The common well-formed case in a few vectorised steps; ``None`` if anything is off."""
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if len(lines) < 4 or lines[2] != "{" or lines[-1] != "}":
        return None
    key, _, value = lines[0].partition(":")
    if key.strip() != "version" or value.strip() not in ("1", "1.0"):
        return None
    key, _, value = lines[1].partition(":")
    if key.strip() != "n_points" or not value.strip().isdigit():
        return None
    n = int(value)
    if n <= 0 or len(lines) != n + 4 or (num_points is not None and n != num_points):
        return None
    fields = [ln.split() for ln in lines[3:-1]]
    if any(len(f) != 2 for f in fields):
        return None
    try:
        out = np.array(fields, dtype=np.float64)
    except ValueError:
        return None
    if not np.all(np.isfinite(out)):
        return None
    return out - 1.0


def read_pts(path: str | os.PathLike, num_points: int | None = None) -> np.ndarray:
    """Read a ``.pts`` file: ``(K, 2)`` float64, 0-based (see :func:`parse_pts`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise DatasetError(path, "file does not exist") from None
    except UnicodeDecodeError:
        raise DatasetError(path, "not a text file") from None
    return parse_pts(text, path, num_points)


def format_pts(landmarks) -> str:
    """Text of a ``.pts`` file for ``landmarks: (K, 2)`` 0-based (written 1-based)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[1] != 2 or lm.shape[0] == 0:
        raise ValueError(f"landmarks must be (K, 2), got shape {lm.shape}")
    if not np.all(np.isfinite(lm)):
        raise ValueError("landmarks contain NaN or infinite values; .pts cannot store them")
    body = "\n".join(f"{format_number(x + 1.0)} {format_number(y + 1.0)}" for x, y in lm)
    return f"version: 1\nn_points: {lm.shape[0]}\n{{\n{body}\n}}\n"


def write_pts(path: str | os.PathLike, landmarks) -> None:
    """Write ``landmarks: (K, 2)`` (0-based) as a 1-based ``.pts`` file, atomically."""
    write_text_atomic(path, format_pts(landmarks))
