"""Protocols built from data written in the official on-disk formats."""

from pathlib import Path

import numpy as np
import pytest

from otmark import datasets
from otmark.datasets.records import ImageRef, Sample
from otmark.perturb import blur_frame, blur_reference_index
from otmark.protocols import PROTOCOLS, build_protocol, evaluate_predictor
from otmark.schemes import convert, get_scheme


def test_every_protocol_names_a_known_dataset_split_and_scheme():
    for spec in PROTOCOLS.values():
        info = datasets.dataset_info(spec.dataset)
        assert spec.split in info.splits, spec.name
        get_scheme(spec.model_scheme)


def test_cofw_model_on_aflw_scored_with_box_size(tmp_path):
    rng = np.random.default_rng(0)
    k19 = get_scheme("aflw").num_points
    samples = []
    for i, size in enumerate((40.0, 80.0, 120.0)):
        lm = rng.uniform(10, 60, (k19, 2))
        samples.append(
            Sample(ImageRef(Path("x")), lm, "aflw", id=f"f{i}", attributes={"box_size": size})
        )
    images = [rng.integers(0, 256, (72, 72, 3), dtype=np.uint8) for _ in samples]
    datasets.write_aflw(
        tmp_path, "full", samples, images=images, names=[f"{i}.png" for i in range(3)]
    )
    proto = build_protocol("cofw-aflw", tmp_path)
    assert len(proto) == 3
    gt = np.stack([s.landmarks for s in proto.samples])
    sizes = np.array([s.attributes["box_size"] for s in proto.samples])
    np.testing.assert_allclose(sorted(sizes), [40, 80, 120])
    pred29 = rng.uniform(10, 60, (3, get_scheme("cofw").num_points, 2))
    errors, space = proto.score(pred29, "cofw")
    assert space == "aflw"
    ref = np.linalg.norm(convert(pred29, "cofw", "aflw") - gt, axis=-1) / sizes[:, None]
    np.testing.assert_allclose(errors, ref)


def test_blur_protocol_on_a_written_300vw_video(tmp_path):
    k = get_scheme("300vw").num_points
    nose = blur_reference_index("300vw")
    rng = np.random.default_rng(1)
    base = rng.uniform(20, 60, (k, 2))
    xs = [0.0, 5.0, 10.0, 10.0]  # the reference point moves 5 px/frame, then stops
    lms = []
    for x in xs:
        lm = base.copy()
        lm[nose, 0] += x
        lms.append(lm)
    frames = []
    for _ in xs:
        f = np.full((80, 96, 3), 30, dtype=np.uint8)
        f[40, 48] = 255
        frames.append(f)
    datasets.write_300vw_video(tmp_path, "516", frames, lms)  # a test category 3 video
    proto = build_protocol("blur-large", tmp_path)
    assert proto.ids == [f"516/{n:06d}" for n in (1, 2, 3, 4)]
    decoded = proto.samples[1].load_image()
    expected = blur_frame(
        decoded,
        proto.samples[0].landmarks,
        proto.samples[2].landmarks,
        "large",
        nose,
        frames_apart=2,
    )
    np.testing.assert_array_equal(proto.input_image(1), expected)
    assert not np.array_equal(expected, decoded)
    # last frame: one-sided difference 10 -> 10 is zero: the decoded frame, unchanged
    np.testing.assert_array_equal(proto.input_image(3), proto.samples[3].load_image())

    # a predictor sees the perturbed inputs and the tight ground-truth boxes
    seen = []

    def predict(image, box):
        seen.append((image.copy(), box))
        return proto.samples[len(seen) - 1].landmarks

    result = evaluate_predictor(proto, predict, "300w")
    np.testing.assert_array_equal(seen[1][0], expected)
    assert result.summary["NME"] == pytest.approx(0.0, abs=1e-9)
    assert result.space in ("300w", "300vw")
