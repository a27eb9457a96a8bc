"""The report's table of the perturbed protocols: FR^I_0.1 and AUC^I_0.1 beside the NME.

A mean NME mixes how often a model fails with how far off its failures land; the image-wise
failure rate ``FR^I_0.1`` (share of images with NME > 10 %) and the area under the image-wise
CED up to 0.1 (``AUC^I_0.1``) separate the two. All three are computed from each cell's stored
per-image NMEs (:func:`otmark.study.restrict.image_columns`), so they hold for records
restricted to some videos as well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from otmark.study.restrict import image_columns
from otmark.study.scoring import protocol_spec
from otmark.study.stats import mean_std

#: the columns, in order
COLUMNS = ("NME", "FR^I_0.1", "AUC^I_0.1")


def robustness_rows(
    protocols: Sequence[str], rows: Mapping[str, Sequence[dict]], mean_shape: dict | None = None
) -> list[tuple[str, str, dict[str, str]]]:
    """``(protocol, row, {column: "mean ± std (seeds)"})`` for every protocol and row.

    Args:
        protocols: the perturbed protocols.
        rows: row label -> the cell documents of that row (one per seed).
        mean_shape: the mean shape's document (its ``results``), shown first when given.
    """
    out = []
    for p in protocols:
        if mean_shape is not None and p in mean_shape.get("results", {}):
            cols = image_columns(mean_shape["results"][p])
            out.append((p, "mean shape", {k: f"{cols[k]:.2f}" for k in COLUMNS}))
        for label, docs in rows.items():
            per_seed = [image_columns(d["results"][p]) for d in docs if p in d["results"]]
            if per_seed:
                out.append((p, label, {k: mean_std([c[k] for c in per_seed]) for k in COLUMNS}))
    return out


def robustness_lines(
    protocols: Sequence[str], rows: Mapping[str, Sequence[dict]], mean_shape: dict | None = None
) -> list[str]:
    """The Markdown table of :func:`robustness_rows` (no lines without perturbed protocols)."""
    table = robustness_rows(protocols, rows, mean_shape)
    if not table:
        return []
    lines = [
        "Perturbed protocols: NME, image failure rate FR^I_0.1 (share of images with NME > "
        "10 %) and AUC^I_0.1 (area under the image CED up to 0.1), in %, mean ± sample std "
        "(seeds), from the per-image NMEs.",
        "",
        "| protocol | | " + " | ".join(COLUMNS) + " |",
        "|---|---|" + "---:|" * len(COLUMNS),
    ]
    for p, label, cols in table:
        lines.append(f"| {p} | {label} | " + " | ".join(cols[k] for k in COLUMNS) + " |")
    return lines + [""]


def experiment_robustness(exp, rows: Mapping[str, dict], mean_shapes: Mapping) -> list[str]:
    """:func:`robustness_lines` of the perturbed protocols of experiment ``exp``; ``rows``:
    the report's row label -> ``{"docs": [...]}``, ``mean_shapes``: ``(experiment, scheme) ->
    document`` (shown for a one-scheme experiment)."""
    perturbed = [p for p in exp.protocols if protocol_spec(p).perturbation is not None]
    shape = mean_shapes.get((exp.name, exp.schemes[0])) if len(exp.schemes) == 1 else None
    return robustness_lines(perturbed, {k: v["docs"] for k, v in rows.items()}, shape)
