"""Evaluation metrics: normalised errors, NME, failure rates (FR^I, FR^L), CED and AUC.

All functions take the ``(N, K)`` array of per-landmark normalised errors produced by
:func:`landmark_errors`; rates are fractions, :func:`summary` reports percentages by default.
"""

from otmark.metrics.curves import auc, ced, failure_rate, pooled_values
from otmark.metrics.errors import landmark_errors, nme, per_image_nme
from otmark.metrics.summary import COLUMNS, markdown_table, summary

__all__ = [
    "COLUMNS",
    "auc",
    "ced",
    "failure_rate",
    "landmark_errors",
    "markdown_table",
    "nme",
    "per_image_nme",
    "pooled_values",
    "summary",
]
