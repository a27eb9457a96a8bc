"""``Detector.predict_batch``: the faces of many images in shared backend batches."""

from __future__ import annotations

import inspect

import numpy as np
import torch

from otmark.heatmaps import HeatmapCodec
from otmark.inference import Detector
from otmark.schemes import get_scheme

SCHEME = "aflw"
K = get_scheme(SCHEME).num_points
CODEC = HeatmapCodec(input_size=32, heatmap_size=8, sigma=1.0, decoder="get_max")


class CountingBackend:
    """Heatmaps peaked at a pixel fixed by each crop's mean colour; counts batch sizes."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, crops: torch.Tensor) -> torch.Tensor:
        self.batches.append(crops.shape[0])
        out = torch.zeros(crops.shape[0], K, 8, 8)
        for b, crop in enumerate(crops):
            i = int((crop.mean() * 10).floor()) % 8
            out[b, :, i, (i + 3) % 8] = 1.0
        return out


#: one prediction per face (the re-crop passes, where the detector has them, off)
ONE_PASS = {"passes": 1} if "passes" in inspect.signature(Detector).parameters else {}


def _images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (40 + 4 * i, 50, 3), dtype=np.uint8) for i in range(3)]


BOXES = [
    np.array([[2.0, 3, 30, 33], [10, 5, 40, 30]]),
    np.array([[0.0, 0, 20, 20]]),
    np.array([[5.0, 5, 45, 40], [1, 1, 11, 11], [20, 20, 30, 30]]),
]


def test_matches_one_image_at_a_time_in_fewer_backend_calls():
    backend = CountingBackend()
    det = Detector(backend, SCHEME, CODEC, batch_size=4, **ONE_PASS)
    out = det.predict_batch(_images(), BOXES)
    assert backend.batches == [4, 2]  # 6 faces in batches of 4
    assert [o.shape for o in out] == [(2, K, 2), (1, K, 2), (3, K, 2)]
    backend.batches.clear()
    one = [det.predict(im, b) for im, b in zip(_images(), BOXES)]
    assert backend.batches == [2, 1, 3]
    for a, b in zip(out, one):
        np.testing.assert_array_equal(a, b)


def test_a_stacked_array_of_images_and_images_without_faces():
    det = Detector(CountingBackend(), SCHEME, CODEC, **ONE_PASS)
    stack = np.stack([im[:40] for im in _images()])
    out = det.predict_batch(stack, [BOXES[1], np.zeros((0, 4)), BOXES[1]])
    assert [o.shape[0] for o in out] == [1, 0, 1]
    np.testing.assert_array_equal(out[0], det.predict(stack[0], BOXES[1]))
