"""README verdicts of the converged study, recomputed from the stored per-image NMEs.

Reads the cell JSONs of ``results/study/converged/cpu/`` directly (not through
:mod:`otmark.study.claims`), pairs the two settings image by image, draws the clustered
bootstrap and applies the seed-sign rule by hand, then checks the ``claims`` entries of
``summary.json`` and the README's wording.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from otmark.study.stats import hierarchical_bootstrap_ci
from otmark.study.summary import read_summary

ROOT = Path(__file__).resolve().parents[2]
CELLS = ROOT / "results" / "study" / "converged" / "cpu"


def per_image(setting: str, protocol: str) -> dict[int, dict[str, float]]:
    """seed -> image id -> NME of the losses-experiment cells of ``setting``."""
    out = {}
    for path in sorted(CELLS.glob(f"losses__{setting}__300w__seed*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        rec = doc["results"][protocol]
        out[doc["seed"]] = dict(zip(rec["ids"], rec["nme_per_image"]))
    return out


def pm(x: float) -> str:
    """``+1.07`` / ``−0.30`` as the README writes them (a true minus sign)."""
    return f"{x:+.2f}".replace("-", "−")


@pytest.mark.parametrize(
    "claim, protocol, unit, verdict, wording",
    [
        (
            "w-vs-vanilla-occlusion",
            "occlusion-large",
            "seeds+images",
            "holds",
            "3 seeds: holds on occlusion-large ({d} [{lo}, {hi}])",
        ),
        (
            "w-vs-vanilla-cross",
            "300w-wflw",
            "seeds+images",
            "not shown",
            "W is worse on 300W→WFLW in 3 of 3 seeds ({d} [{lo}, {hi}], not shown)",
        ),
        (
            "w-vs-vanilla-blur",
            "blur-large",
            "seeds+videos",
            "holds",
            "holds on occlusion-large ({d0} [{lo0}, {hi0}]) and blur",
        ),
    ],
)
def test_readme_verdict_recomputed_from_the_cells(claim, protocol, unit, verdict, wording):
    w, l2 = per_image("w_s3_bc", protocol), per_image("l2_s1_max", protocol)
    seeds = sorted(w)
    assert seeds == sorted(l2) == [0, 1, 2]
    ids = sorted(w[0])
    diff = np.array([[w[s][i] - l2[s][i] for i in ids] for s in seeds])  # (S, N) W - L2
    ci = hierarchical_bootstrap_ci(diff, 0, unit, ids)  # the report's seed and resamples
    means = diff.mean(axis=1)
    if ci.high < 0 and (means < 0).all():
        got = "holds"
    elif ci.low > 0 and (means > 0).all():
        got = "contradicted"
    else:
        got = "not shown"
    assert got == verdict

    summary = read_summary(CELLS / "summary.json")  # validated: verdicts follow the rule
    (entry,) = [c for c in summary["claims"] if (c["claim"], c["protocol"]) == (claim, protocol)]
    assert entry["verdict"] == got and entry["resampling"] == unit
    assert entry["seeds"] == seeds and entry["seed_signs"] == np.sign(means).astype(int).tolist()
    assert entry["difference"] == pytest.approx(diff.mean(), abs=1e-9)
    assert entry["ci"] == pytest.approx([ci.low, ci.high], abs=1e-9)

    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    (occ,) = [
        c
        for c in summary["claims"]
        if c["protocol"] == "occlusion-large" and c["claim"] == "w-vs-vanilla-occlusion"
    ]
    text = wording.format(
        d=pm(entry["difference"]),
        lo=pm(entry["ci"][0]),
        hi=pm(entry["ci"][1]),
        d0=pm(occ["difference"]),
        lo0=pm(occ["ci"][0]),
        hi0=pm(occ["ci"][1]),
    )
    assert text in readme
