"""The paper's claims, each tied to the comparison that tests it on the study's cells, and a
verdict that names its evidence.

A claim is a **contrast** of settings: a weighted sum of per-image errors (NME, or the per-image
share of landmarks failing at 0.05 for local precision) whose mean is negative when the claim
holds. A pairwise claim "A beats B" is ``A - B``; the density claim of Table 8 ("W gains less
with dense annotation") is the interaction ``(W - L2)[98 points] - (W - L2)[17 points]``, written
so that a negative value supports it.

For every protocol of a claim, :func:`judge` gives the mean contrast with its bootstrap interval
(images resampled with their seeds, :func:`otmark.study.stats.bootstrap_mean_ci`), the seeds in
which the contrast is negative and, for a pair of settings on a perturbed protocol, the same
contrast on the degradation (perturbed - clean, on the same images) and the perturbed NMEs at a
matched clean NME. The protocol **supports** the claim when the interval lies below 0,
**contradicts** it when it lies above 0, and shows **no difference** otherwise; the claim's
verdict combines its protocols (:func:`combine`). Claims the generated benchmark cannot test
are listed in :data:`NOT_TESTABLE` with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from otmark.study.scoring import clean_counterpart
from otmark.study.stats import (
    Interval,
    Wins,
    at_matched_clean,
    bootstrap_mean_ci,
    per_seed_wins,
)

#: per-image fields of a cell's protocol record, by metric
FIELDS = {"NME": "nme_per_image", "FR^L_0.05": "frl05_per_image"}
BOOTSTRAP_SEED = 0


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
        diff: mean contrast and its bootstrap interval (None when a term misses the per-image
            values, e.g. cells scored before ``frl05_per_image`` was stored).
        wins: seeds where the contrast is negative, from the per-seed means.
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
    def outcome(self) -> str:
        """``supports``, ``contradicts`` or ``no difference`` (by the interval; by the sign
        of every seed when there is no interval)."""
        if self.diff is not None:
            if self.diff.high < 0:
                return "supports"
            if self.diff.low > 0:
                return "contradicts"
            return "no difference"
        n = len(self.seeds)
        if self.wins.wins == n:
            return "supports"
        if self.wins.losses == n:
            return "contradicts"
        return "no difference"


@dataclass
class Verdict:
    """A claim, its evidence per protocol (empty: not run yet) and the combined verdict."""

    claim: Claim
    evidence: list[Evidence]

    @property
    def verdict(self) -> str:
        return combine([e.outcome for e in self.evidence])


def combine(outcomes: list[str]) -> str:
    """One verdict from the protocols' outcomes: ``not run`` (none), ``holds`` (all support),
    ``holds on k of n`` (some support, none contradicts), ``not shown`` (no difference on
    any), ``contradicted`` / ``contradicted on k of n`` (some contradict, none supports),
    ``mixed`` (both)."""
    if not outcomes:
        return "not run"
    sup = outcomes.count("supports")
    con = outcomes.count("contradicts")
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

    per_seed = []
    for s in seeds:
        if claim.metric == "NME":
            per_seed.append(contrast([r[s]["summary"]["NME"] for r in by_term]))
        else:
            per_seed.append(contrast([r[s]["summary"][claim.metric] for r in by_term]))
    wins = per_seed_wins(np.array(per_seed), np.zeros(len(seeds)))
    images = [[_per_image(r[s], field, ids) for s in seeds] for r in by_term]
    diff = None
    if all(v is not None for vs in images for v in vs):
        stacked = contrast([np.stack(vs) for vs in images])
        diff = bootstrap_mean_ci(stacked, BOOTSTRAP_SEED)
    ev = Evidence(protocol, seeds, diff, wins)
    clean = clean_counterpart(protocol)
    if len(claim.contrast) == 2 and claim.metric == "NME" and clean != protocol:
        cleans = [_records(docs, t, clean, "clean") for t in claim.contrast]
        if all(set(seeds) <= set(c) for c in cleans):
            base = [np.stack([_per_image(c[s], field, ids) for s in seeds]) for c in cleans]
            pert = [np.stack(vs) for vs in images]
            ev.degradation = bootstrap_mean_ci(
                contrast([p - b for p, b in zip(pert, base)]), BOOTSTRAP_SEED
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


def _fmt(iv: Interval | None) -> str:
    return "–" if iv is None else f"{iv.estimate:+.2f} [{iv.low:+.2f}, {iv.high:+.2f}]"


def verdict_lines(verdicts: list[Verdict]) -> list[str]:
    """The markdown section of the verdicts (one row per claim and protocol)."""
    lines = [
        "## Claims",
        "",
        "Each claim is a contrast of per-image errors that is negative when the claim holds "
        "(`A - B` for 'A beats B'; points of the metric). Per protocol: the mean contrast with "
        "its 95 % bootstrap interval (images resampled with their seeds), the seeds with a "
        "negative contrast, the same contrast on the degradation (perturbed - clean, same "
        "images) and the perturbed NMEs of A and B at a matched clean NME. A protocol "
        "supports the claim when the interval is below 0 and contradicts it when it is above.",
        "",
        "| claim | contrast | protocol | mean [95 % CI] | seeds < 0 | degradation [95 % CI] "
        "| at matched clean NME | outcome | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        terms = " ".join(
            f"{'+' if t.coef > 0 else '-'} {'' if abs(t.coef) == 1 else f'{abs(t.coef):g} '}"
            f"{t.setting}{f'[{t.scheme}]' if t.scheme else ''}"
            for t in v.claim.contrast
        ).removeprefix("+ ")
        head = f"{v.claim.text} | {terms} ({v.claim.metric})"
        if not v.evidence:
            lines.append(f"| {head} | – | – | – | – | – | not run | not run |")
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
                f"| {first} | {e.protocol} | {_fmt(e.diff)} | {e.wins.wins}/{len(e.seeds)} | "
                f"{_fmt(e.degradation)} | {matched} | {e.outcome} | {verdict} |"
            )
    lines += ["", "Not testable on the generated benchmark:", ""]
    lines += [f"- {text}: {why}." for text, why in NOT_TESTABLE]
    return lines + [""]
