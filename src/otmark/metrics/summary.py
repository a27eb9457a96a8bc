"""The paper's table columns computed from one ``(N, K)`` error array."""

from __future__ import annotations

import numpy as np

from otmark.metrics.curves import auc, failure_rate
from otmark.metrics.errors import nme

#: (column key, kind, theta, per) in the order of the paper's tables.
COLUMNS: tuple[tuple[str, str, float | None, str], ...] = (
    ("NME", "nme", None, "image"),
    ("FR^I_0.08", "fr", 0.08, "image"),
    ("FR^I_0.1", "fr", 0.10, "image"),
    ("FR^L_0.08", "fr", 0.08, "landmark"),
    ("FR^L_0.1", "fr", 0.10, "landmark"),
    ("FR^L_0.15", "fr", 0.15, "landmark"),
    ("FR^L_0.2", "fr", 0.20, "landmark"),
    ("AUC^I_0.1", "auc", 0.10, "image"),
)


def summary(errors: np.ndarray, percent: bool = True) -> dict[str, float]:
    """NME, FR^I_0.08, FR^I_0.1, FR^L_0.08/0.1/0.15/0.2 and the image-wise AUC_0.1.

    Args:
        errors: ``(N, K)`` normalised errors (:func:`otmark.metrics.landmark_errors`).
        percent: report every value in percent (x100, as the paper's tables do; the default),
            or as fractions in ``[0, 1]`` when False.

    Returns:
        dict column name -> value, keys in :data:`COLUMNS` order.
    """
    scale = 100.0 if percent else 1.0
    out: dict[str, float] = {}
    for key, kind, theta, per in COLUMNS:
        if kind == "nme":
            value = nme(errors)
        elif kind == "fr":
            value = failure_rate(errors, theta, per=per)  # type: ignore[arg-type]
        else:
            value = auc(errors, theta, per=per)  # type: ignore[arg-type]
        out[key] = scale * value
    return out


def markdown_table(rows: dict[str, dict[str, float]], percent: bool = True) -> str:
    """A Markdown table: one row per named summary (``name -> summary(...)``)."""
    unit = " (%)" if percent else ""
    keys = [c[0] for c in COLUMNS]
    header = "| | " + " | ".join(f"{k}{unit}" for k in keys) + " |"
    sep = "|---|" + "---:|" * len(keys)
    lines = [header, sep]
    for name, values in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{values[k]:.2f}" for k in keys) + " |")
    return "\n".join(lines) + "\n"
