"""Which videos the blur protocols keep: those whose clean frames the core models handle.

The rule (:func:`select_competent_videos`): a video qualifies when, for **every** core model
(each trained model: every seed of each core setting, not their average), the mean NME of its
clean frames is at most ``factor`` times that model's NME on the reference protocol
(``300w-test``). It reads clean NMEs and reference NMEs only, never a blurred NME nor any
difference between settings, so it is fixed before any W - L2 difference is seen; it treats
the two core settings alike.

In the study (:func:`selection_from_cells`), the cells score the blur protocols on a whole pool
of candidate videos (:mod:`otmark.study.blur_pool`); the report applies the selection once every
core cell is done, stores it with its inputs in ``blur_selection.json`` and restricts every
cell's blur records to the kept videos (:mod:`otmark.study.restrict`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from otmark.study.stats import video_of

#: the report's file holding the selection and its inputs
SELECTION_FILE = "blur_selection.json"
SELECTION_FORMAT = "otmark-blur-selection-1"


class TooFewVideosError(ValueError):
    """Fewer videos qualify than the blur protocols need."""


def per_video_nme(ids: Sequence[str], nme_per_image: Sequence[float]) -> dict[str, float]:
    """``video -> mean NME`` of its frames, from the ``(N,)`` per-image NMEs of ids
    ``"<video>/<frame>"`` (videos in order of first appearance)."""
    if len(ids) != len(nme_per_image):
        raise ValueError(f"{len(ids)} ids but {len(nme_per_image)} per-image NMEs")
    sums: dict[str, list[float]] = {}
    for i, v in zip(ids, nme_per_image):
        sums.setdefault(video_of(i), []).append(float(v))
    return {k: sum(v) / len(v) for k, v in sums.items()}


@dataclass(frozen=True)
class Selection:
    """The outcome of :func:`select_competent_videos`.

    Attributes:
        videos: the qualifying videos, in the order of the input's first model.
        failed_by: ``video -> models`` whose clean NME on it exceeds their limit (rejected
            videos only).
        limits: ``model -> factor x reference NME``.
        factor, needed: the rule's parameters.
    """

    videos: tuple[str, ...]
    failed_by: dict[str, list[str]]
    limits: dict[str, float]
    factor: float
    needed: int

    @property
    def candidates(self) -> int:
        return len(self.videos) + len(self.failed_by)


def select_competent_videos(
    clean_nme_by_video: Mapping[str, Mapping[str, float]],
    reference_nme: Mapping[str, float],
    factor: float = 2.0,
    needed: int = 1,
) -> Selection:
    """Keep the videos whose clean NME is ``<= factor x reference NME`` for every model.

    Args:
        clean_nme_by_video: ``model -> {video: mean clean NME}``; every model must score the
            same videos.
        reference_nme: ``model -> NME on the reference protocol`` (same unit).
        factor: the allowed ratio (a video at exactly ``factor x`` qualifies).
        needed: how many videos the protocol needs.

    Raises:
        TooFewVideosError: fewer than ``needed`` videos qualify (the message gives the counts).
        ValueError: no model, a model without a reference NME, or models scoring different
            videos.
    """
    if not clean_nme_by_video:
        raise ValueError("video selection needs at least one model's clean NMEs")
    if not factor > 0 or needed < 1:
        raise ValueError(f"factor must be > 0 and needed >= 1, got {factor!r}, {needed!r}")
    models = list(clean_nme_by_video)
    missing = [m for m in models if m not in reference_nme]
    if missing:
        raise ValueError(f"no reference NME for model(s) {missing}")
    videos = list(clean_nme_by_video[models[0]])
    for m in models[1:]:
        if set(clean_nme_by_video[m]) != set(videos):
            raise ValueError(
                f"models {models[0]} and {m} were scored on different videos: "
                f"{sorted(videos)} vs {sorted(clean_nme_by_video[m])}"
            )
    limits = {m: factor * float(reference_nme[m]) for m in models}
    kept, failed_by = [], {}
    for v in videos:
        bad = [m for m in models if float(clean_nme_by_video[m][v]) > limits[m]]
        if bad:
            failed_by[v] = bad
        else:
            kept.append(v)
    sel = Selection(tuple(kept), failed_by, limits, float(factor), int(needed))
    if len(kept) < needed:
        raise TooFewVideosError(
            f"blur protocol: {len(kept)} of {len(videos)} candidate videos qualify (clean NME "
            f"<= {factor:g} x the reference NME for each of {len(models)} models), {needed} "
            "needed; a larger pool (benchmark.blur_pool) re-runs every cell"
        )
    return sel


@dataclass(frozen=True)
class BlurSelect:
    """The study config's ``blur_select`` section.

    Attributes:
        needed: the fewest videos the blur protocols may keep.
        factor: clean NME <= ``factor`` x the reference NME, for every core model.
        settings: the core settings (every seed of each is a core model).
        experiment: the experiment whose cells are the core models (None: the first one that
            scores a blur protocol).
        reference: the reference protocol.
    """

    needed: int = 5
    factor: float = 2.0
    settings: tuple[str, ...] = ("l2_s1_max", "w_s3_bc")
    experiment: str | None = None
    reference: str = "300w-test"

    @classmethod
    def from_dict(cls, raw: object, where: str = "blur_select") -> BlurSelect:
        """Build from the YAML mapping; errors name ``where`` and the key."""
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: expected a mapping, got {raw!r}")
        known = {"needed", "factor", "settings", "experiment", "reference"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown}; valid: {sorted(known)}")
        needed = raw.get("needed", cls.needed)
        if not isinstance(needed, int) or isinstance(needed, bool) or needed < 1:
            raise ValueError(f"{where}.needed: must be an integer >= 1, got {needed!r}")
        factor = raw.get("factor", cls.factor)
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not factor > 0:
            raise ValueError(f"{where}.factor: must be a number > 0, got {factor!r}")
        settings = raw.get("settings", list(cls.settings))
        if not isinstance(settings, list | tuple) or not settings:
            raise ValueError(f"{where}.settings: expected a non-empty list of setting names")
        exp = raw.get("experiment")
        return cls(
            needed=needed,
            factor=float(factor),
            settings=tuple(str(s) for s in settings),
            experiment=None if exp is None else str(exp),
            reference=str(raw.get("reference", cls.reference)),
        )


def core_inputs(
    docs: Sequence[dict], settings: Sequence[str], clean: str, reference: str
) -> tuple[dict, dict]:
    """``(clean_nme_by_video, reference_nme)`` of the core cells among ``docs`` (cell
    documents of one experiment): one model per cell (its id), from its ``clean[clean]``
    per-image NMEs and its ``results[reference]`` NME."""
    by_video: dict[str, dict[str, float]] = {}
    ref: dict[str, float] = {}
    for d in sorted(docs, key=lambda d: d["cell"]):
        if d["setting"] not in settings:
            continue
        where = f"cell {d['cell']}"
        if clean not in d.get("clean", {}) or reference not in d.get("results", {}):
            raise ValueError(f"{where}: needs records of {clean} and {reference}")
        rec = d["clean"][clean]
        by_video[d["cell"]] = per_video_nme(rec["ids"], rec["nme_per_image"])
        ref[d["cell"]] = float(d["results"][reference]["summary"]["NME"])
    return by_video, ref


def selection_document(
    cfg: BlurSelect, experiment: str, clean: str, by_video: dict, ref: dict, outcome
) -> dict:
    """The JSON of ``blur_selection.json``: the rule, its inputs and ``outcome`` (a
    :class:`Selection`, or the error's message when too few videos qualify)."""
    doc = {
        "format": SELECTION_FORMAT,
        "rule": (
            f"keep a video when its mean clean NME ({clean}) is <= {cfg.factor:g} x the "
            f"{cfg.reference} NME of every core model (each cell of {list(cfg.settings)} in "
            f"experiment {experiment}); blurred NMEs are not read"
        ),
        "factor": cfg.factor,
        "needed": cfg.needed,
        "experiment": experiment,
        "settings": list(cfg.settings),
        "reference": cfg.reference,
        "clean_protocol": clean,
        "reference_nme": ref,
        "clean_nme_by_video": by_video,
    }
    if isinstance(outcome, Selection):
        doc.update(
            candidates=outcome.candidates,
            selected=list(outcome.videos),
            failed_by=outcome.failed_by,
            limits=outcome.limits,
        )
    else:
        doc.update(error=str(outcome), selected=None)
    return doc


def parse_blur_select(
    raw: object, experiments: Mapping[str, Sequence[str]], pool: int, where: str
) -> BlurSelect | None:
    """The study config's ``blur_select`` (None when absent), checked against the study:
    ``experiments`` (name -> its settings) must hold the core settings, and a pool of
    ``pool`` videos (0: no pool) must have at least ``needed`` of them."""
    if raw is None:
        return None
    cfg = BlurSelect.from_dict(raw, where)
    if cfg.experiment is not None and cfg.experiment not in experiments:
        raise ValueError(f"{where}.experiment: no experiment {cfg.experiment!r}")
    names = [cfg.experiment] if cfg.experiment else list(experiments)
    missing = [s for s in cfg.settings if not any(s in experiments[n] for n in names)]
    if missing:
        raise ValueError(f"{where}.settings: {missing} not among the experiments' settings")
    if pool and cfg.needed > pool:
        raise ValueError(
            f"{where}.needed: {cfg.needed} videos needed but benchmark.blur_pool generates {pool}"
        )
    return cfg
