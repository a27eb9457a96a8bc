"""The real-face development set of ``benchmarks/real_faces.py``: fetched (Debian's dlib source
package through a private apt configuration), laid out as 300W test data, read back exactly.
Skips when it cannot be fetched (offline, not Debian, no apt-get)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from otmark.datasets import load
from otmark.datasets.dlib_xml import read_dlib_xml
from otmark.protocols import build_protocol, evaluate_predictions, from_arrays, get_protocol_spec

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "real_faces.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("real_faces_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dev_root(bench):
    try:
        return bench.build_dev_set(bench.DEFAULT_CACHE)
    except bench.FetchError as exc:
        pytest.skip(f"development set cannot be fetched here: {exc}")


def test_dev_set_holds_dlibs_43_faces_with_their_xml_landmarks(bench, dev_root):
    faces = bench.DEFAULT_CACHE / "dlib" / "faces"
    expected = {}
    for name in bench.XML_NAMES:
        for img in read_dlib_xml(faces / name):
            for j, box in enumerate(img.boxes):
                pts = np.array([box.parts[f"{i:02d}"] for i in range(len(box.parts))])
                expected[f"300W/01_Indoor/{img.path.stem}_{j:02d}"] = pts
    assert len(expected) == 43
    loaded = {s.id: s for s in load("300w", dev_root, "test")}
    indoor = {k: v for k, v in loaded.items() if k.startswith("300W/01_Indoor/")}
    assert sorted(indoor) == sorted(expected)
    for key, pts in expected.items():
        np.testing.assert_allclose(indoor[key].landmarks, pts, atol=1e-9)
    outdoor = [k for k in loaded if k.startswith("300W/02_Outdoor/")]
    assert outdoor in ([], ["300W/02_Outdoor/astronaut_00"])


def test_labels_score_zero_and_a_miss_is_a_failure(bench, dev_root):
    protocol = build_protocol(get_protocol_spec("300w-test"), dev_root)
    samples = list(load("300w", dev_root, "test"))
    exact = from_arrays([s.id for s in samples], np.stack([s.landmarks for s in samples]), "300w")
    assert evaluate_predictions(protocol, exact).summary["NME"] == pytest.approx(0, abs=1e-9)
    preds, missed = bench.finder_predictions(samples, [[] for _ in samples], min_iou=0.4)
    assert missed == [s.id for s in samples]
    centre = from_arrays(list(preds), np.stack(list(preds.values())), "300w")
    result = evaluate_predictions(protocol, centre)
    assert result.summary["FR^I_0.1"] == pytest.approx(100.0)
