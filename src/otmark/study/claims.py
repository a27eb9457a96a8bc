"""The paper's claims, each tied to the comparison that tests it on the study's cells, and a
verdict that names its evidence.

A claim is a **contrast** of settings: a weighted sum of per-image errors (NME, or the per-image
share of landmarks failing at 0.05 for local precision) whose mean is negative when the claim
holds. A pairwise claim "A beats B" is ``A - B``; the density claim of Table 8 ("W gains less
with dense annotation") is the interaction ``(W - L2)[98 points] - (W - L2)[17 points]``, written
so that a negative value supports it.

For every protocol of a claim, :func:`judge` gives the mean contrast with its bootstrap interval
(:func:`otmark.study.stats.hierarchical_bootstrap_ci`: seeds resampled, then the test images,
or whole videos on the video protocols, :func:`resampling_unit`), the sign of the contrast in
every seed and, for a pair of settings on a perturbed protocol, the same contrast on the
degradation (perturbed - clean, on the same images) and the perturbed NMEs at a matched clean
NME.

The verdict on one protocol (:attr:`Evidence.outcome`):

* **holds** - the interval lies below 0 *and* the contrast is negative in every seed;
* **contradicted** - the interval lies above 0 and the contrast is positive in every seed;
* **not shown** - anything else (an interval across 0, or seeds that disagree).

A claim tested on several protocols is combined by :func:`combine`: ``holds`` when it holds on
every protocol, ``holds on k of n`` when it holds on k and is contradicted on none,
``contradicted`` / ``contradicted on k of n`` the mirror, ``mixed`` when some protocols hold
and others contradict, ``not shown`` when none decides. Each protocol's verdict is kept (in
``summary.json``'s ``claims`` list, :func:`claim_entries`) with its seeds and resampling unit.
Claims the generated benchmark cannot test are listed in :data:`NOT_TESTABLE` with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from otmark.study.scoring import clean_counterpart, protocol_spec
from otmark.study.stats import (
    Interval,
    Wins,
    at_matched_clean,
    hierarchical_bootstrap_ci,
    per_seed_wins,
)

#: per-image fields of a cell's protocol record, by metric
FIELDS = {"NME": "nme_per_image", "FR^L_0.05": "frl05_per_image"}
BOOTSTRAP_SEED = 0
#: the three verdicts on one protocol
OUTCOMES = ("holds", "contradicted", "not shown")
#: datasets whose test images are frames of videos (resampled whole)
VIDEO_DATASETS = ("300vw",)


def resampling_unit(protocol: str) -> str:
    """``seeds+videos`` for a protocol on video frames (300VW: its ids are
    ``"<video>/<frame>"``), ``seeds+images`` otherwise."""
    video = protocol_spec(protocol).dataset in VIDEO_DATASETS
    return "seeds+videos" if video else "seeds+images"


@dataclass(frozen=True)
class Term:
    """``coef`` times the per-image errors of ``setting`` (trained on ``scheme``; None: the
    experiment's only scheme)."""

    coef: float
    setting: str
    scheme: str | None = None


def pair(a: str, b: str, scheme: str | None = None) -> tuple[Term, ...]:
    """The contrast ``A - B`` (negative: A has the lower error)."""
    return (Term(1.0, a, scheme), Term(-1.0, b, scheme))


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and its test.

    Attributes:
        key: short name. text: the claim in our words, with where the paper makes it.
        experiment: the study experiment whose cells test it.
        contrast: the terms; the claim holds when their mean is below 0.
        protocols: where it is tested. metric: ``NME`` or ``FR^L_0.05``.
    """

    key: str
    text: str
    experiment: str
    contrast: tuple[Term, ...]
    protocols: tuple[str, ...]
    metric: str = "NME"


PERTURBED = ("occlusion-medium", "occlusion-large", "blur-medium", "blur-large")
CROSS = ("300w-wflw", "300w-300vw")

CLAIMS: tuple[Claim, ...] = (
    Claim(
        "w-vs-vanilla-clean",
        "W + σ3 + GET_BC is more accurate than vanilla HRNet (L2 σ1 GET_MAX) on clean faces "
        "(Tables 1, 3, 4)",
        "losses",
        pair("w_s3_bc", "l2_s1_max"),
        ("300w-test",),
    ),
    Claim(
        "w-vs-vanilla-occlusion",
        "... and more robust under occlusion (Table 6)",
        "losses",
        pair("w_s3_bc", "l2_s1_max"),
        ("occlusion-medium", "occlusion-large"),
    ),
    Claim(
        "w-vs-vanilla-blur",
        "... and under motion blur (Table 6, Fig. 10)",
        "losses",
        pair("w_s3_bc", "l2_s1_max"),
        ("blur-medium", "blur-large"),
    ),
    Claim(
        "w-vs-vanilla-cross",
        "... and across datasets (Fig. 8, Table 5)",
        "losses",
        pair("w_s3_bc", "l2_s1_max"),
        CROSS,
    ),
    Claim(
        "w-vs-l2-sigma3",
        "W is more robust than heatmap L2 at equal σ3 (not in the paper: separates the loss "
        "from the wider target)",
        "losses",
        pair("w_s3_bc", "l2_s3_max"),
        PERTURBED + CROSS,
    ),
    Claim(
        "larger-sigma-robust-w",
        "a larger σ makes the model more robust (W loss; Tables 5, 6)",
        "losses",
        pair("w_s3_bc", "w_s1_bc"),
        PERTURBED + CROSS,
    ),
    Claim(
        "larger-sigma-robust-l2",
        "a larger σ makes the model more robust (L2 loss; Tables 5, 6)",
        "losses",
        pair("l2_s3_max", "l2_s1_max"),
        PERTURBED + CROSS,
    ),
    Claim(
        "larger-sigma-precision",
        "a larger σ costs local precision: more landmarks fail at 0.05 (Table 2, Sect. 6)",
        "losses",
        pair("w_s1_bc", "w_s3_bc"),
        ("300w-test",),
        "FR^L_0.05",
    ),
    Claim(
        "bc-harms-l2",
        "GET_BC harms a model trained with heatmap L2 (Table 2)",
        "losses",
        pair("l2_s1_max", "l2_s1_bc"),
        ("300w-test",),
    ),
    Claim(
        "w-vs-js-sigma1",
        "W is more robust than Jensen-Shannon (σ1, GET_BC; Table 7)",
        "losses",
        pair("w_s1_bc", "js_s1_bc"),
        CROSS,
    ),
    Claim(
        "w-vs-js-sigma3",
        "W is more robust than Jensen-Shannon at equal σ3 (not in the paper: the fair version)",
        "losses",
        pair("w_s3_bc", "js_s3_bc"),
        CROSS,
    ),
    Claim(
        "w-vs-softargmax",
        "W is more robust than Soft-ArgMax (σ1, GET_BC; Table 7)",
        "losses",
        pair("w_s1_bc", "softargmax_s1_bc"),
        CROSS,
    ),
    Claim(
        "coordconv-w-s3",
        "CoordConv added to W σ3 improves cross-dataset robustness (Tables 5, 7)",
        "losses",
        pair("w_s3_bc_cc", "w_s3_bc"),
        CROSS,
    ),
    Claim(
        "coordconv-w-s3-perturbed",
        "CoordConv added to W σ3 improves robustness under occlusion and blur (not in the "
        "paper's tables: the perturbed protocols of the same pair)",
        "losses",
        pair("w_s3_bc_cc", "w_s3_bc"),
        PERTURBED,
    ),
    *(
        Claim(
            f"w-vs-vanilla-density-{points}",
            f"W + σ3 + GET_BC is more accurate than vanilla HRNet when both train on {points} "
            "points, scored on the 17 common points (Table 8)",
            "density",
            pair("w_s3_bc", "l2_s1_max", scheme),
            ("wflw-17",),
        )
        for points, scheme in (("98", "wflw"), ("68", "300w"), ("17", "17"))
    ),
    Claim(
        "other-model",
        "the method also helps another heatmap model, SimpleBaselines (Fig. 9)",
        "models",
        pair("w_s3_bc", "l2_s1_max"),
        ("occlusion-large", "blur-large", "300w-wflw"),
    ),
    Claim(
        "dense-annotation-robust",
        "training on denser annotation is more robust (vanilla HRNet, 98 vs 17 points, scored "
        "on the 17 common points; Table 8)",
        "density",
        (Term(1.0, "l2_s1_max", "wflw"), Term(-1.0, "l2_s1_max", "17")),
        ("wflw-17",),
    ),
    Claim(
        "dense-annotation-smaller-gain",
        "W gains less over vanilla HRNet with dense annotation: (W - L2) at 98 points minus "
        "(W - L2) at 17 points is positive (Table 8)",
        "density",
        (
            Term(-1.0, "w_s3_bc", "wflw"),
            Term(1.0, "l2_s1_max", "wflw"),
            Term(1.0, "w_s3_bc", "17"),
            Term(-1.0, "l2_s1_max", "17"),
        ),
        ("wflw-17",),
    ),
)

#: claims of the paper that the generated benchmark cannot test, with the reason
NOT_TESTABLE: tuple[tuple[str, str], ...] = (
    (
        "the published NMEs on 300W, WFLW, COFW and 300VW (Tables 1, 3, 4)",
        "the real datasets cannot be downloaded here; `otmark study --data-root` runs the same "
        "cells on them",
    ),
    (
        "W improves WFLW-trained models only marginally (4.57 vs 4.60 %, Table 4)",
        "the study trains the loss ablation on 300W only; the density experiment trains on WFLW "
        "faces but scores 17 points",
    ),
    (
        "Hourglass and CPN benefit too (Fig. 9)",
        "only SimpleBaselines is in the CPU study's budget (both models are in `otmark train`)",
    ),
    (
        "with small σ, CoordConv models are less robust to large occlusions (Sect. 6)",
        "the study runs CoordConv with σ3 only",
    ),
)


@dataclass
class Evidence:
    """The test of one claim on one protocol (intervals in points of the metric).

    Attributes:
        protocol: the protocol. seeds: the seeds every term has.
        diff: mean contrast and its bootstrap interval, resampled by ``diff.unit``
            (:func:`resampling_unit`); None when a term misses the per-image values, e.g.
            cells scored before ``frl05_per_image`` was stored.
        wins: seeds where the contrast is negative, from the per-seed means (``wins.diffs``:
            the per-seed mean contrast, in the order of ``seeds``).
        degradation: the contrast of (perturbed - clean) per image (pairs on perturbed
            protocols only).
        matched: ``{"clean", "a", "b"}``: the perturbed NMEs of the two settings at a common
            clean NME along their checkpoints (pairs on perturbed protocols only).
    """

    protocol: str
    seeds: list[int]
    diff: Interval | None
    wins: Wins
    degradation: Interval | None = None
    matched: dict | None = None

    @property
    def seed_signs(self) -> list[int]:
        """The sign (-1, 0, +1) of the mean contrast in each seed (order of ``seeds``)."""
        return [int(np.sign(v)) for v in self.wins.diffs]

    @property
    def resampling(self) -> str:
        """The resampling unit of the interval (:func:`resampling_unit`)."""
        return self.diff.unit if self.diff is not None else resampling_unit(self.protocol)

    @property
    def outcome(self) -> str:
        """``holds`` (the interval below 0 and every seed's contrast negative),
        ``contradicted`` (the interval above 0 and every seed's contrast positive) or ``not
        shown`` (otherwise, and when there is no interval)."""
        if self.diff is None:
            return "not shown"
        signs = self.seed_signs
        if self.diff.high < 0 and all(s < 0 for s in signs):
            return "holds"
        if self.diff.low > 0 and all(s > 0 for s in signs):
            return "contradicted"
        return "not shown"


@dataclass
class Verdict:
    """A claim, its evidence per protocol (empty: not run yet) and the combined verdict."""

    claim: Claim
    evidence: list[Evidence]

    @property
    def verdict(self) -> str:
        return combine([e.outcome for e in self.evidence])


def combine(outcomes: list[str]) -> str:
    """One verdict from the protocols' outcomes (:data:`OUTCOMES`): ``not run`` (none),
    ``holds`` (holds on all), ``holds on k of n`` (holds on some, contradicted on none), ``not
    shown`` (on every protocol), ``contradicted`` / ``contradicted on k of n`` (the mirror),
    ``mixed`` (holds on some, contradicted on others)."""
    if not outcomes:
        return "not run"
    bad = sorted(set(outcomes) - set(OUTCOMES))
    if bad:
        raise ValueError(f"unknown outcome(s) {bad}; expected {OUTCOMES}")
    sup = outcomes.count("holds")
    con = outcomes.count("contradicted")
    if sup and con:
        return "mixed"
    n = len(outcomes)
    if con:
        return "contradicted" if con == n else f"contradicted on {con} of {n}"
    if sup == n:
        return "holds"
    if sup:
        return f"holds on {sup} of {n}"
    return "not shown"


def _records(docs: list[dict], term: Term, protocol: str, section: str) -> dict:
    """seed -> the protocol record of ``term``'s cells (``section``: results or clean)."""
    out = {}
    for d in docs:
        if d["setting"] == term.setting and (term.scheme is None or d["scheme"] == term.scheme):
            rec = d.get(section, {}).get(protocol)
            if rec is not None:
                out[d["seed"]] = rec
    return out


def _per_image(record: dict, field: str, ids: list[str]) -> np.ndarray | None:
    if field not in record:
        return None
    table = dict(zip(record["ids"], record[field]))
    return np.array([table[i] for i in ids], dtype=np.float64)


def evidence(docs: list[dict], claim: Claim, protocol: str) -> Evidence | None:
    """The test of ``claim`` on ``protocol`` from the cell documents of its experiment; None
    when a term has no cell there yet."""
    field = FIELDS[claim.metric]
    by_term = [_records(docs, t, protocol, "results") for t in claim.contrast]
    seeds = sorted(set.intersection(*(set(r) for r in by_term)))
    if not seeds:
        return None
    ids = sorted(by_term[0][seeds[0]]["ids"])
    coefs = [t.coef for t in claim.contrast]

    def contrast(values: list[np.ndarray]) -> np.ndarray:
        return sum(c * v for c, v in zip(coefs, values))

    unit = resampling_unit(protocol)
    images = [[_per_image(r[s], field, ids) for s in seeds] for r in by_term]
    diff = None
    if all(v is not None for vs in images for v in vs):
        stacked = contrast([np.stack(vs) for vs in images])
        diff = hierarchical_bootstrap_ci(stacked, BOOTSTRAP_SEED, unit, ids)
        per_seed = stacked.mean(axis=1)  # the seed signs of the data the interval resamples
    else:
        per_seed = np.array(
            [contrast([r[s]["summary"][claim.metric] for r in by_term]) for s in seeds]
        )
    wins = per_seed_wins(per_seed, np.zeros(len(seeds)))
    ev = Evidence(protocol, seeds, diff, wins)
    clean = clean_counterpart(protocol)
    if len(claim.contrast) == 2 and claim.metric == "NME" and clean != protocol:
        cleans = [_records(docs, t, clean, "clean") for t in claim.contrast]
        if all(set(seeds) <= set(c) for c in cleans):
            base = [np.stack([_per_image(c[s], field, ids) for s in seeds]) for c in cleans]
            pert = [np.stack(vs) for vs in images]
            ev.degradation = hierarchical_bootstrap_ci(
                contrast([p - b for p, b in zip(pert, base)]), BOOTSTRAP_SEED, unit, ids
            )
            ev.matched = _matched(docs, claim, protocol, clean, seeds)
    return ev


def _matched(docs, claim: Claim, protocol: str, clean: str, seeds: list[int]) -> dict:
    curves = []
    for term in claim.contrast:
        for s in seeds:
            (doc,) = [
                d
                for d in docs
                if d["setting"] == term.setting
                and d["seed"] == s
                and (term.scheme is None or d["scheme"] == term.scheme)
            ]
            points = [c for c in doc["checkpoints"] if clean in c["nme"] and protocol in c["nme"]]
            curves.append(([c["nme"][clean] for c in points], [c["nme"][protocol] for c in points]))
    m = at_matched_clean(curves)
    k = len(seeds)

    def mean(v: np.ndarray) -> float:
        v = v[np.isfinite(v)]
        return float(v.mean()) if v.size else math.nan

    return {"clean": m.target, "a": mean(m.perturbed[:k]), "b": mean(m.perturbed[k:])}


def judge(docs: list[dict], claims: tuple[Claim, ...] = CLAIMS) -> list[Verdict]:
    """The verdict of every claim from the study's cell documents (all experiments)."""
    out = []
    for claim in claims:
        exp_docs = [d for d in docs if d["experiment"] == claim.experiment]
        found = [evidence(exp_docs, claim, p) for p in claim.protocols]
        out.append(Verdict(claim, [e for e in found if e is not None]))
    return out


def claim_entries(verdicts: list[Verdict]) -> list[dict]:
    """``summary.json``'s ``claims`` list: one entry per claim and protocol that has an
    interval, ``{"claim", "protocol", "difference", "ci": [lo, hi], "resampling", "seeds",
    "seed_signs", "verdict"}`` (:mod:`otmark.study.summary`); ``difference`` is the mean
    contrast (negative: the claim's direction), ``seed_signs`` its sign per seed of
    ``seeds``, ``verdict`` the protocol's :attr:`Evidence.outcome`."""
    out = []
    for v in verdicts:
        for e in v.evidence:
            if e.diff is None:
                continue
            out.append(
                {
                    "claim": v.claim.key,
                    "protocol": e.protocol,
                    "difference": e.diff.estimate,
                    "ci": [e.diff.low, e.diff.high],
                    "resampling": e.resampling,
                    "seeds": list(e.seeds),
                    "seed_signs": e.seed_signs,
                    "verdict": e.outcome,
                }
            )
    return out


def _signs(e: Evidence) -> str:
    marks = {-1: "−", 0: "0", 1: "+"}
    seeds = ", ".join(str(s) for s in e.seeds)
    return f"{' '.join(marks[s] for s in e.seed_signs)} (seeds {seeds})"


def _fmt(iv: Interval | None) -> str:
    return "–" if iv is None else f"{iv.estimate:+.2f} [{iv.low:+.2f}, {iv.high:+.2f}]"


def verdict_lines(verdicts: list[Verdict]) -> list[str]:
    """The markdown section of the verdicts (one row per claim and protocol)."""
    lines = [
        "## Claims",
        "",
        "Each claim is a contrast of per-image errors that is negative when the claim holds "
        "(`A - B` for 'A beats B'; points of the metric). Per protocol: the mean contrast with "
        "its 95 % bootstrap interval, resampling the seeds and then the test images "
        "(`seeds+images`) or, on the video protocols, whole videos (`seeds+videos`); the sign "
        "of the contrast in each seed; the same contrast on the degradation (perturbed - "
        "clean, same images) and the perturbed NMEs of A and B at a matched clean NME. On a "
        "protocol the claim **holds** when the interval lies below 0 and the contrast is "
        "negative in every seed, is **contradicted** in the mirror case, and is **not shown** "
        "otherwise; the claim's verdict combines its protocols (`holds on k of n`: holds on k, "
        "contradicted on none; `mixed`: holds on some, contradicted on others).",
        "",
        "| claim | contrast | protocol | resampling | mean [95 % CI] | sign per seed "
        "| degradation [95 % CI] | at matched clean NME | outcome | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        terms = " ".join(
            f"{'+' if t.coef > 0 else '-'} {'' if abs(t.coef) == 1 else f'{abs(t.coef):g} '}"
            f"{t.setting}{f'[{t.scheme}]' if t.scheme else ''}"
            for t in v.claim.contrast
        ).removeprefix("+ ")
        head = f"{v.claim.text} | {terms} ({v.claim.metric})"
        if not v.evidence:
            lines.append(f"| {head} | – | – | – | – | – | – | not run | not run |")
            continue
        for i, e in enumerate(v.evidence):
            m = e.matched
            matched = (
                f"{m['a']:.2f} vs {m['b']:.2f} at {m['clean']:.2f}"
                if m and all(math.isfinite(x) for x in m.values())
                else "–"
            )
            first = head if i == 0 else " | "
            verdict = v.verdict if i == 0 else ""
            lines.append(
                f"| {first} | {e.protocol} | {e.resampling} | {_fmt(e.diff)} | {_signs(e)} | "
                f"{_fmt(e.degradation)} | {matched} | {e.outcome} | {verdict} |"
            )
    lines += ["", "Not testable on the generated benchmark:", ""]
    lines += [f"- {text}: {why}." for text, why in NOT_TESTABLE]
    return lines + [""]
