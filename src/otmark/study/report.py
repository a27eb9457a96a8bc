"""The report of a study: ``study.md``, CED plots and ``summary.json``, from the stored cell
JSONs (of one results folder, or of several merged: :func:`otmark.study.shard.
merge_cell_files`).

``study.md`` has, per experiment: the NME table (mean ± std over seeds, the mean shape's row,
``FR^L_0.05``, the steps and whether each run stopped at its plateau), the learning rates, and
the paired comparisons of :data:`COMPARISONS` (:mod:`otmark.study.stats`): per protocol the
mean per-image difference with its bootstrap interval (seeds resampled, then images, or whole
videos on the video protocols: :func:`otmark.study.stats.hierarchical_bootstrap_ci`), the
per-seed wins, the difference of the degradations (perturbed - clean on the
same images) and the perturbed NMEs at a matched clean NME along the runs' checkpoints; then
the verdict on each of the paper's claims (:mod:`otmark.study.claims`), which
``summary.json`` repeats in its ``claims`` list.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from otmark.atomic import write_text_atomic
from otmark.settings import label_of
from otmark.study.blur_apply import apply_blur_selection
from otmark.study.claims import (
    Claim,
    Verdict,
    claim_entries,
    evidence,
    judge,
    pair,
    verdict_lines,
)
from otmark.study.config import CED_THETAS, StudyConfig, cell_path, is_done
from otmark.study.plots import plot_ced
from otmark.study.robust_table import experiment_robustness
from otmark.study.stats import mean_std
from otmark.study.summary import write_summary

#: the comparisons of the report: (A, B) setting names; a pair is shown when both were run
COMPARISONS = (
    ("w_s3_bc", "l2_s1_max"),  # the paper's recommendation against the vanilla baseline
    ("w_s3_bc", "js_s3_bc"),  # W against JS at equal sigma
    ("w_s1_bc", "js_s1_bc"),
    ("w_s3_bc", "w_s1_bc"),  # a larger sigma (judge local precision with FR^L_0.05)
    ("l2_s3_max", "l2_s1_max"),
    ("l2_s1_bc", "l2_s1_max"),  # decoder only
    ("w_s3_bc_cc", "w_s3_bc"),  # CoordConv
)


def load_results(study: StudyConfig) -> list[dict]:
    """The current cell JSONs of ``study`` (stale or foreign files ignored)."""
    out = []
    for cell in study.cells():
        if is_done(study, cell):
            out.append(json.loads(cell_path(study, cell).read_text(encoding="utf-8")))
    return out


def load_mean_shapes(folders: Sequence[Path]) -> dict:
    """``(experiment, scheme) -> mean-shape document`` from ``mean_shape__*.json`` files."""
    out = {}
    for folder in folders:
        for path in sorted(Path(folder).glob("mean_shape__*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            out.setdefault((doc["experiment"], doc["scheme"]), doc)
    return out


def load_lrs(folders: Sequence[Path]) -> dict:
    """``loss -> learning-rate choice`` from ``lr/*.json`` files."""
    out = {}
    for folder in folders:
        for path in sorted((Path(folder) / "lr").glob("*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            out.setdefault(doc.get("family", doc["loss"]), doc)
    return out


def row_label(d: dict) -> str:
    """The table row of a cell document: its model and its setting's label (from the table of
    settings, :func:`otmark.settings.label_of`, not the label stored with the cell)."""
    row = f"{d['model']} {label_of(d['setting'])}"
    if len(d["key"]["experiment"]["schemes"]) > 1:
        row += f" [{d['scheme']}]"
    return row


def _by_experiment(docs: list[dict]) -> dict:
    out: dict = {}
    for d in docs:
        out.setdefault(d["experiment"], []).append(d)
    return out


def compare(docs: list[dict], a: str, b: str, scheme: str, protocol: str) -> dict | None:
    """The paired comparison of settings ``a`` and ``b`` on ``protocol`` (cells of one
    experiment and scheme, on the seeds both have); None when one side is missing.
    :func:`otmark.study.claims.evidence` of the contrast ``a - b``."""
    ev = evidence(docs, Claim("", "", "", pair(a, b, scheme), (protocol,)), protocol)
    if ev is None:
        return None
    out = {"seeds": ev.seeds, "diff": ev.diff, "wins": ev.wins}
    if ev.degradation is not None:
        out["degradation"] = ev.degradation
        out["matched"] = {"clean": ev.matched["clean"], a: ev.matched["a"], b: ev.matched["b"]}
    return out


def _fmt_ci(iv) -> str:
    mark = " *" if iv.excludes_zero() else ""
    return f"{iv.estimate:+.2f} [{iv.low:+.2f}, {iv.high:+.2f}]{mark}"


def _summary_cells(docs: list[dict]) -> list[dict]:
    cells = []
    for d in sorted(docs, key=lambda d: d["cell"]):
        cells.append(
            {
                "setting": d["setting"],
                "seed": d["seed"],
                "lr": d["lr"],
                "lr_candidates": d["lr_candidates"],
                "steps": d["steps"],
                "stopped_at_plateau": bool(d["stopped_at_plateau"]),
                "nme": {p: r["summary"]["NME"] for p, r in d["results"].items()},
                "history": [
                    {k: r[k] for k in ("step", "train_loss", "val_nme")} for r in d["history"]
                ],
                "experiment": d["experiment"],
                "model": d["model"],
                "scheme": d["scheme"],
                "lr_curve": d.get("lr_curve") or _lr_curve(d),
            }
        )
    return cells


def _lr_curve(d: dict) -> dict:
    """``{rate: validation NME}`` of a cell document without ``lr_curve`` (its
    ``lr_candidates`` and ``lr_val_nme``)."""
    return {f"{lr:g}": v for lr, v in zip(d["lr_candidates"], d["lr_val_nme"], strict=True)}


def summary_data(
    docs: list[dict], mean_shapes: dict, verdicts: list[Verdict] | None = None
) -> dict:
    """The ``summary.json`` dict (:mod:`otmark.study.summary`): the mean shape of each
    protocol (from the training dataset's own scheme), one entry per cell and the claims'
    verdicts per protocol (``verdicts``: :func:`otmark.study.claims.judge` of ``docs``,
    computed when None)."""
    mean = {}
    for (_, scheme), doc in sorted(mean_shapes.items()):
        native = doc.get("train_on") == scheme
        for p, r in doc["results"].items():
            if native or p not in mean:
                mean.setdefault(p, r["summary"]["NME"])
    cells = [c for c in _summary_cells(docs) if set(c["nme"]) <= set(mean)]
    verdicts = judge(docs) if verdicts is None else verdicts
    return {"mean_shape": mean, "cells": cells, "claims": claim_entries(verdicts)}


def write_report(
    study: StudyConfig,
    docs: list[dict] | None = None,
    out: Path | None = None,
    folders: Sequence[Path] | None = None,
) -> Path:
    """``study.md``, CED plots and ``summary.json`` in ``out`` (default: the results folder).

    ``docs``: the cell documents (default: the study's current cells); ``folders``: where the
    mean-shape and learning-rate files are (default: the results folder).
    """
    docs = load_results(study) if docs is None else docs
    out = Path(out or study.results_dir)
    folders = list(folders or [study.results_dir])
    mean_shapes = load_mean_shapes(folders)
    docs, mean_shapes, blur_lines, withheld = apply_blur_selection(study, docs, mean_shapes, out)
    lrs = load_lrs(folders)
    secs = sum(d["seconds"]["total"] for d in docs)
    hw = sorted({d["hardware"] for d in docs})
    lines = [
        f"# Study `{study.name}` ({study.profile} profile)",
        "",
        f"{len(docs)} of {len(study.cells())} cells done; summed cell wall time "
        f"{secs / 3600:.2f} h on {', '.join(hw) or '-'}. NME in %, mean ± sample std (number "
        "of seeds). Benchmark: "
        + json.dumps(study.benchmark.__dict__)
        + (
            "; real datasets: " + json.dumps({k: str(v) for k, v in study.data_roots.items()})
            if study.data_roots
            else ""
        )
        + f"; validation: {study.val_faces} faces held out of the training split.",
        "",
        "## Learning rates (chosen on the validation split)",
        "",
        "| loss | setting | lr | candidates | validation NME per candidate |",
        "|---|---|---:|---|---|",
    ]
    for loss, doc in sorted(lrs.items()):
        vals = ", ".join("-" if v is None else f"{v:.2f}" for v in doc["val_nme"])
        lines.append(
            f"| {loss} | {doc['setting']} | {doc['lr']:g} | {doc['lr_candidates']} | {vals} |"
        )
    lines.append("")
    lines += blur_lines
    by_exp = _by_experiment(docs)
    for exp in study.experiments:
        exp_docs = by_exp.get(exp.name, [])
        exp = replace(exp, protocols=tuple(p for p in exp.protocols if p not in withheld))
        if exp.protocols:
            lines += _experiment_section(exp, exp_docs, mean_shapes, out, plot_ced)
    verdicts = judge(docs)
    lines += verdict_lines(verdicts)
    path = out / "study.md"
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "\n".join(lines))
    data = summary_data(docs, mean_shapes, verdicts)
    if data["mean_shape"]:
        write_summary(out / "summary.json", data)
    return path


def _experiment_section(exp, docs: list[dict], mean_shapes: dict, out: Path, plot_ced) -> list:
    rows: dict = {}
    for d in sorted(docs, key=lambda d: d["cell"]):
        slot = rows.setdefault(row_label(d), {"docs": []})
        slot["docs"].append(d)
    protos = list(exp.protocols)
    lines = [
        f"## {exp.name}",
        "",
        "NME (%) per protocol; FR^L_0.05 (%) on the first protocol; steps and plateau stops.",
        "",
        "| | " + " | ".join(protos) + f" | FR^L_0.05 {protos[0]} | steps | at plateau |",
        "|---|" + "---:|" * (len(protos) + 3),
    ]
    for scheme in exp.schemes:
        ms = mean_shapes.get((exp.name, scheme))
        if ms is not None:
            suffix = f" [{scheme}]" if len(exp.schemes) > 1 else ""
            cells = [
                f"{ms['results'][p]['summary']['NME']:.2f}" if p in ms["results"] else "–"
                for p in protos
            ]
            lines.append(f"| mean shape{suffix} | " + " | ".join(cells) + " | | | |")
    for row, slot in rows.items():
        ds = slot["docs"]
        cells = [mean_std([d["results"][p]["summary"]["NME"] for d in ds]) for p in protos]
        fr = mean_std([d["results"][protos[0]]["summary"]["FR^L_0.05"] for d in ds])
        steps = "/".join(str(d["steps"]) for d in ds)
        plateau = f"{sum(bool(d['stopped_at_plateau']) for d in ds)}/{len(ds)}"
        lines.append(f"| {row} | " + " | ".join(cells) + f" | {fr} | {steps} | {plateau} |")
    lines.append("")
    lines += experiment_robustness(exp, rows, mean_shapes)
    comp = []
    for scheme in exp.schemes:
        for a, b in COMPARISONS:
            for p in protos:
                res = compare(docs, a, b, scheme, p)
                if res is None:
                    continue
                deg = _fmt_ci(res["degradation"]) if "degradation" in res else "–"
                m = res.get("matched")
                matched = (
                    f"{m[a]:.2f} vs {m[b]:.2f} at clean {m['clean']:.2f}"
                    if m and all(math.isfinite(v) for v in m.values())
                    else "–"
                )
                label = f"{a} − {b}" + (f" [{scheme}]" if len(exp.schemes) > 1 else "")
                comp.append(
                    f"| {label} | {p} | {_fmt_ci(res['diff'])} | {res['wins']} | {deg} | "
                    f"{matched} |"
                )
    if comp:
        lines += [
            "Paired comparisons (NME points, A − B, negative: A better; 95 % bootstrap "
            "interval, seeds resampled and then images, or whole videos on the 300VW "
            "protocols; * = the interval excludes 0); wins = "
            "seeds where A's mean NME is lower; degradation = (perturbed − clean) of A minus "
            "that of B on the same images; matched = perturbed NME of A vs B where the clean "
            "NME of the same images is equal along the runs' checkpoints.",
            "",
            "| A − B | protocol | mean difference | wins | degradation difference | matched |",
            "|---|---|---|---|---|---|",
            *comp,
            "",
        ]
    for p in protos:
        curves = {
            row: (
                CED_THETAS.tolist(),
                np.mean([d["results"][p]["ced_image"] for d in slot["docs"]], axis=0).tolist(),
            )
            for row, slot in rows.items()
        }
        if curves:
            name = f"ced_{exp.name}_{p}.png"
            plot_ced(out / name, curves, f"{exp.name}: {p} (mean over seeds)")
            lines.append(f"![{exp.name} {p}]({name})")
    lines.append("")
    return lines
