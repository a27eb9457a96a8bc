"""The report of a study: ``study.md`` (NME mean +- std over seeds per experiment and protocol)
and CED plots, from the stored cell JSONs."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict
from pathlib import Path

import numpy as np

from otmark.study.config import CED_THETAS, StudyConfig, cell_path, is_done


def load_results(study: StudyConfig) -> list[dict]:
    """The current cell JSONs of ``study`` (stale or foreign files ignored)."""
    out = []
    for cell in study.cells():
        if is_done(study, cell):
            out.append(json.loads(cell_path(study, cell).read_text(encoding="utf-8")))
    return out


def mean_std(values: list[float]) -> str:
    """``"m ± s (n)"`` (sample standard deviation; ``±  -`` for one value)."""
    if not values:
        return "–"
    m = statistics.fmean(values)
    s = f"{statistics.stdev(values):.2f}" if len(values) > 1 else "-"
    return f"{m:.2f} ± {s} ({len(values)})"


def aggregate(study: StudyConfig, docs: list[dict]) -> dict:
    """``experiment -> row label -> protocol -> {"nme": [per seed], "ced": [per seed]}``."""
    table: dict = {}
    for d in docs:
        k = d["key"]
        exp = k["experiment"]
        row = f"{exp['model']} {d['label']}"
        if len(exp["schemes"]) > 1:
            row += f" [{k['scheme']}]"
        rows = table.setdefault(exp["name"], {})
        for proto, r in d["results"].items():
            slot = rows.setdefault(row, {}).setdefault(proto, {"nme": [], "ced": []})
            slot["nme"].append(r["summary"]["NME"])
            slot["ced"].append(r["ced_image"])
    return table


def write_report(study: StudyConfig) -> Path:
    """``study.md`` (NME mean ± std (n seeds) per experiment and protocol) and CED plots (mean
    curve over seeds) in the results folder."""
    from otmark.atomic import write_text_atomic
    from otmark.study.plots import plot_ced

    docs = load_results(study)
    table = aggregate(study, docs)
    out = study.results_dir
    secs = sum(d["seconds"]["total"] for d in docs)
    hw = sorted({d["hardware"] for d in docs})
    lines = [
        f"# Study `{study.name}` ({study.profile} profile)",
        "",
        f"{len(docs)} of {len(study.cells())} cells done; summed cell wall time "
        f"{secs / 3600:.2f} h on {', '.join(hw) or '-'}. NME in %, mean ± sample std (number "
        "of seeds). "
        + (
            "Real datasets: "
            + json.dumps({k: str(v) for k, v in study.data_roots.items()})
            + "; generated benchmark for the others: "
            if study.data_roots
            else "Benchmark: "
        )
        + json.dumps(asdict(study.benchmark))
        + "; training: "
        + json.dumps(study.train.to_dict())
        + ".",
        "",
    ]
    for exp in study.experiments:
        rows = table.get(exp.name, {})
        lines += [
            f"## {exp.name}",
            "",
            "| | " + " | ".join(exp.protocols) + " |",
            "|---|" + "---:|" * len(exp.protocols),
        ]
        for row, protos in rows.items():
            cells = [mean_std(protos.get(p, {}).get("nme", [])) for p in exp.protocols]
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
        lines.append("")
        for p in exp.protocols:
            curves = {
                row: (CED_THETAS.tolist(), np.mean(protos[p]["ced"], axis=0).tolist())
                for row, protos in rows.items()
                if p in protos
            }
            if curves:
                name = f"ced_{exp.name}_{p}.png"
                plot_ced(out / name, curves, f"{exp.name}: {p} (mean over seeds)")
                lines.append(f"![{exp.name} {p}]({name})")
        lines.append("")
    path = out / "study.md"
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "\n".join(lines))
    return path
