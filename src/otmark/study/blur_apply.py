"""The study's blur-video selection applied to its stored cells (used by the report).

With ``blur_select`` in the study config, the cells score the blur protocols on every candidate
video. Before every core cell is done, the blur results are withheld from the report (a
partial selection could differ from the final one). Once they are all done, the videos are
chosen with :func:`otmark.study.blur_select.select_competent_videos` from the core cells'
clean NMEs, the choice and its inputs are written to ``<out>/blur_selection.json``, and every
cell's (and mean shape's) blur records are restricted to the chosen videos. Too few qualifying
videos is an error (:class:`otmark.study.blur_select.TooFewVideosError`), raised after the file
is written so that the inputs can be read.
"""

from __future__ import annotations

from pathlib import Path

from otmark.atomic import write_json_atomic
from otmark.study.blur_select import (
    SELECTION_FILE,
    Selection,
    TooFewVideosError,
    core_inputs,
    select_competent_videos,
    selection_document,
)
from otmark.study.config import CED_THETAS, StudyConfig
from otmark.study.restrict import restrict_doc, withhold
from otmark.study.scoring import clean_counterpart, protocol_spec


def blur_protocols(study: StudyConfig) -> list[str]:
    """The blur protocols scored by any experiment of ``study``, in first-use order."""
    out: list[str] = []
    for exp in study.experiments:
        for p in exp.protocols:
            if p not in out and protocol_spec(p).perturbation == "blur":
                out.append(p)
    return out


def selection_experiment(study: StudyConfig) -> str:
    """The experiment whose cells are the core models: ``blur_select.experiment``, else the
    first experiment that scores a blur protocol."""
    cfg = study.blur_select
    if cfg is not None and cfg.experiment is not None:
        return cfg.experiment
    blur = set(blur_protocols(study))
    for exp in study.experiments:
        if blur & set(exp.protocols):
            return exp.name
    raise ValueError(f"{study.source}: blur_select: no experiment scores a blur protocol")


def apply_blur_selection(
    study: StudyConfig, docs: list[dict], mean_shapes: dict, out: Path
) -> tuple[list[dict], dict, list[str], set[str]]:
    """``(docs, mean_shapes, report lines, withheld protocols)``: the blur records restricted
    to the selected videos, or withheld (and named in the last item) while core cells are
    missing; unchanged without ``blur_select``."""
    cfg = study.blur_select
    blur = blur_protocols(study)
    if cfg is None or not blur:
        return docs, mean_shapes, [], set()
    names = set(blur) | {clean_counterpart(p) for p in blur}
    experiment = selection_experiment(study)
    core = [
        c.id
        for c in study.cells()
        if c.experiment.name == experiment and c.setting.name in cfg.settings
    ]
    done = [d for d in docs if d["cell"] in core]
    if len(done) < len(core) or not core:
        lines = [
            "## Blur protocols",
            "",
            f"Withheld: the blur videos are chosen once every core cell is done ({len(done)} of "
            f"{len(core)} cells of {list(cfg.settings)} in {experiment}; docs/study_method.md, "
            '"Blur protocol").',
            "",
        ]
        return (
            [withhold(d, names) for d in docs],
            {k: withhold(v, names) for k, v in mean_shapes.items()},
            lines,
            names,
        )
    clean = clean_counterpart(blur[0])
    by_video, ref = core_inputs(done, cfg.settings, clean, cfg.reference)
    path = Path(out) / SELECTION_FILE
    try:
        sel = select_competent_videos(by_video, ref, cfg.factor, cfg.needed)
    except TooFewVideosError as exc:
        write_json_atomic(path, selection_document(cfg, experiment, clean, by_video, ref, exc))
        raise TooFewVideosError(f"{exc} (inputs in {path})") from None
    write_json_atomic(path, selection_document(cfg, experiment, clean, by_video, ref, sel))
    videos = set(sel.videos)
    restricted = [restrict_doc(d, names, videos, CED_THETAS) for d in docs]
    shapes = {k: restrict_doc(v, names, videos, CED_THETAS) for k, v in mean_shapes.items()}
    lines = selection_lines(sel, experiment, cfg.reference, len(done))
    return restricted, shapes, lines, set()


def selection_lines(sel: Selection, experiment: str, reference: str, models: int) -> list[str]:
    """The report's paragraph on the chosen blur videos."""
    rejected = ", ".join(f"{v} ({len(m)} of {models} models)" for v, m in sel.failed_by.items())
    return [
        "## Blur protocols",
        "",
        f"{len(sel.videos)} of {sel.candidates} candidate videos kept: clean NME <= "
        f"{sel.factor:g} x the {reference} NME for each of the {models} core models of "
        f"{experiment} (blurred NMEs not read; inputs in `{SELECTION_FILE}`): "
        f"{', '.join(sel.videos)}. Rejected (models over their limit): {rejected or 'none'}. "
        "The blur rows of this report are computed on the kept videos only; their NME at the "
        "intermediate checkpoints (a mean over all videos) is not used.",
        "",
    ]
