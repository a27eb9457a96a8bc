from pathlib import Path

import cv2
import numpy as np
import pytest

from otmark.datasets.records import ImageRef, Sample
from otmark.perturb import OCCLUSION_LEVELS, blur_frame, blur_reference_index
from otmark.protocols import PROTOCOLS, Protocol, get_protocol_spec, neighbours
from otmark.schemes import common_points, get_scheme

K68 = get_scheme("300w").num_points


def _write(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path


def _faces(tmp_path, n, scheme="300w", seed=0, **attrs):
    rng = np.random.default_rng(seed)
    k = get_scheme(scheme).num_points
    out = []
    for i in range(n):
        img = rng.integers(40, 256, (120, 140, 3), dtype=np.uint8)
        lm = rng.uniform(30, 100, (k, 2))
        path = _write(tmp_path / f"img{i}.png", img)
        out.append(Sample(ImageRef(path), lm, scheme, id=f"set/img{i}", attributes=dict(attrs)))
    return out


def test_registry_is_consistent():
    for spec in PROTOCOLS.values():
        gt_scheme = get_scheme(spec.dataset).name  # reader names double as scheme names
        assert common_points(spec.model_scheme, gt_scheme).num_points > 0
        if spec.perturbation:
            assert spec.level in OCCLUSION_LEVELS
    assert get_protocol_spec("300W-WFLW").model_scheme == "300w"
    with pytest.raises(KeyError, match="unknown protocol 'nope'"):
        get_protocol_spec("nope")


def test_occlusion_inputs_are_deterministic_and_model_independent(tmp_path):
    samples = _faces(tmp_path, 3)
    spec = get_protocol_spec("occlusion-large")
    a = Protocol(spec, samples)
    b = Protocol(spec, samples[::-1], box_source="box")  # other order, other model boxes
    for i in range(3):
        img_a = a.input_image(i)
        np.testing.assert_array_equal(img_a, b.input_image(2 - i))
        assert a.perturbation_params(i) == b.perturbation_params(2 - i)
        e = a.perturbation_params(i)["occlusion"]
        box = a.occlusion_box(i)
        assert box[0] <= e["center"][0] <= box[2] and box[1] <= e["center"][1] <= box[3]
        orig = samples[i].load_image()
        black = (img_a == 0).all(axis=2)
        assert black.sum() > 0
        np.testing.assert_array_equal(img_a[~black], orig[~black])
    # two different samples get different ellipses
    assert a.perturbation_params(0) != a.perturbation_params(1)


def test_unperturbed_protocol_returns_the_image_and_tight_box(tmp_path):
    samples = _faces(tmp_path, 1, scheme="cofw")
    samples[0].box = np.array([1.0, 2.0, 3.0, 4.0])
    p = Protocol(get_protocol_spec("cofw"), samples)
    np.testing.assert_array_equal(p.input_image(0), samples[0].load_image())
    lm = samples[0].landmarks
    np.testing.assert_array_equal(
        p.box(0),
        [
            np.floor(lm[:, 0].min()),
            np.floor(lm[:, 1].min()),
            np.ceil(lm[:, 0].max()),
            np.ceil(lm[:, 1].max()),
        ],
    )
    p2 = Protocol(get_protocol_spec("cofw"), samples, box_source="box")
    np.testing.assert_array_equal(p2.box(0), [1, 2, 3, 4])
    assert p.perturbation_params(0) == {}


def _video(tmp_path, frames, moves):
    """Frames of one video as image files; reference point moves by `moves` (x) per frame."""
    rng = np.random.default_rng(5)
    nose = blur_reference_index("300vw")
    base = rng.uniform(30, 90, (K68, 2))
    out = []
    x = 0.0
    for f, dx in zip(frames, moves):
        x += dx
        lm = base.copy()
        lm[nose, 0] += x
        img = np.zeros((100, 120, 3), dtype=np.uint8)
        img[50, 60] = 255
        path = _write(tmp_path / f"v/{f:06d}.png", img)
        out.append(
            Sample(ImageRef(path), lm, "300vw", id=f"v/{f}", attributes={"video": "v", "frame": f})
        )
    return out


def test_blur_neighbours_within_videos_with_gaps(tmp_path):
    samples = _video(tmp_path, [0, 1, 2, 5], [0, 0, 0, 0])
    other = _video(tmp_path / "w", [7], [0])
    other[0].attributes["video"] = "w"
    # sample order is shuffled on purpose
    order = [samples[2], other[0], samples[0], samples[3], samples[1]]
    nb = neighbours(order)
    assert nb[2] == (2, 4, 1)  # frame 0: one-sided, next frame 1 (index 4)
    assert nb[4] == (2, 0, 2)  # frame 1: frames 0 and 2
    assert nb[0] == (4, 3, 4)  # frame 2: frames 1 and 5 (gap)
    assert nb[3] == (0, 3, 3)  # frame 5: one-sided, previous frame 2
    assert nb[1] == (1, 1, 0)  # a single-frame video: no motion


def test_blur_input_images(tmp_path):
    # reference point moves 0, +4, +4, 0 px: frame 1 sees (x2 - x0) / 2 = 4 px/frame
    samples = _video(tmp_path, [0, 1, 2, 3], [0, 4, 4, 0])
    p = Protocol(get_protocol_spec("blur-medium"), samples)
    img1 = p.input_image(1)
    expected = blur_frame(
        samples[1].load_image(),
        samples[0].landmarks,
        samples[2].landmarks,
        "medium",
        blur_reference_index("300vw"),
        frames_apart=2,
    )
    np.testing.assert_array_equal(img1, expected)
    xs = np.nonzero(img1[50, :, 0])[0]
    assert xs.min() == 56 and xs.max() == 64  # medium: 2 x 4 px streak centred on x = 60
    # last frame: one-sided 3 -> 3 difference is zero: unchanged
    np.testing.assert_array_equal(p.input_image(3), samples[3].load_image())
    assert p.perturbation_params(1) == {"blur": {"prev": "v/0", "next": "v/2", "frames_apart": 2}}


def test_blur_protocol_rejects_still_images(tmp_path):
    with pytest.raises(ValueError, match="sample 'set/img0': blur protocols need video frames"):
        Protocol(get_protocol_spec("blur-large"), _faces(tmp_path, 1, scheme="300vw"))


def test_protocol_errors(tmp_path):
    samples = _faces(tmp_path, 3, scheme="wflw")
    with pytest.raises(ValueError, match="no samples"):
        Protocol(get_protocol_spec("wflw-makeup"), [])
    samples[2].id = samples[0].id
    with pytest.raises(ValueError, match="duplicate sample id 'set/img0'"):
        Protocol(get_protocol_spec("wflw"), samples)
    with pytest.raises(ValueError, match="box_source"):
        Protocol(get_protocol_spec("wflw"), samples[:1], box_source="face")


def test_protocol_score_known_offset(tmp_path):
    samples = _faces(tmp_path, 2)
    p = Protocol(get_protocol_spec("300w-full"), samples)
    gt = np.stack([s.landmarks for s in samples])
    i, j = get_scheme("300w").normaliser_indices
    iod = np.linalg.norm(gt[:, i] - gt[:, j], axis=-1)
    err, space = p.score(gt + [0.0, 2.0])
    assert space == "300w"
    np.testing.assert_allclose(err.mean(axis=1), 2.0 / iod)
