"""The generated domains differ: the mean-shape baseline fitted on generated 300W does worse on
generated WFLW and AFLW-like poses than on 300W's own common test set."""

import numpy as np

from otmark.baselines.mean_shape import MeanShape
from otmark.datasets import load
from otmark.datasets.records import Sample
from otmark.metrics.errors import landmark_errors
from otmark.schemes import convert, normaliser
from otmark.synth.writers import synthesize


def to_300w(samples):
    return [
        Sample(s.image, convert(s.landmarks[None], s.scheme, "300w")[0], "300w", s.box, id=s.id)
        for s in samples
    ]


def nme(model, samples):
    gt = np.stack([s.landmarks for s in samples])
    return landmark_errors(model.predict(samples), gt, normaliser(gt, "300w")).mean()


def test_mean_shape_from_300w_degrades_on_harder_domains(tmp_path):
    synthesize("300w", tmp_path / "300w", 60, seed=1, size=96)
    synthesize("wflw", tmp_path / "wflw", 30, seed=1, size=96)
    model = MeanShape.fit(load("300w", tmp_path / "300w", "train"))
    common = list(load("300w", tmp_path / "300w", "common"))
    wflw = to_300w(load("wflw", tmp_path / "wflw", "test"))
    assert len(common) >= 8 and len(wflw) >= 8
    assert nme(model, wflw) > 1.3 * nme(model, common)
