"""Every registered protocol on tiny datasets written in the official formats.

For each protocol, a "perfect" prediction in the model's scheme is built from the ground truth:
``pred = pinv(A) @ (B @ gt)`` where ``A``/``B`` convert the model's/dataset's scheme into the
common space (``A`` has full row rank, so ``A @ pred`` equals the converted ground truth
exactly). Its errors are 0; a constant offset ``c`` gives ``|c| / normaliser`` everywhere
(conversion rows sum to 1, so offsets pass through unchanged).
"""

from pathlib import Path

import numpy as np
import pytest

from otmark import datasets
from otmark.datasets.records import ImageRef, Sample
from otmark.protocols import PROTOCOLS, build_protocol
from otmark.schemes import common_points, get_scheme
from otmark.schemes.conversions import apply_matrix

SIZE = 48
VIDEOS = {"test1": "114", "test2": "203", "test3": "516"}


def _samples(scheme, n, rng, prefix, **attrs):
    k = get_scheme(scheme).num_points
    return [
        Sample(
            ImageRef(Path("x")),
            rng.uniform(6, 42, (k, 2)),
            scheme,
            id=f"{prefix}{i}",
            attributes=dict(attrs),
        )
        for i in range(n)
    ]


def _images(n, rng):
    return [rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    out = {}
    r = base / "300W"
    for j, folder in enumerate(datasets.w300.FOLDERS):
        s = _samples("300w", 2, rng, f"w{j}_")
        datasets.write_300w(
            r, folder, s, images=_images(2, rng), names=[f"f{j}_{i}.png" for i in range(2)]
        )
    out["300w"] = r
    r = base / "WFLW"
    s = _samples("wflw", 3, rng, "wf")
    for a in datasets.wflw.ATTRIBUTES:
        s[0].attributes[a] = 1  # every attribute subset holds sample 0
    datasets.write_wflw(r, "test", s, images=_images(3, rng), names=["a.png", "b.png", "c.png"])
    out["wflw"] = r
    r = base / "COFW"
    datasets.write_cofw(r, "test", _samples("cofw", 2, rng, "c"), images=_images(2, rng))
    out["cofw"] = r
    r = base / "AFLW"
    for split in ("full", "frontal"):
        s = _samples("aflw", 2, rng, split)
        for i, smp in enumerate(s):
            smp.attributes["box_size"] = 30.0 + 10 * i
        datasets.write_aflw(
            r, split, s, images=_images(2, rng), names=[f"{split}{i}.png" for i in range(2)]
        )
    out["aflw"] = r
    r = base / "300VW"
    k = get_scheme("300vw").num_points
    for video in VIDEOS.values():
        lms = [rng.uniform(6, 42, (k, 2)) for _ in range(3)]
        datasets.write_300vw_video(r, video, _images(3, rng), lms)
    out["300vw"] = r
    return out


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_protocol_scores_perfect_and_offset_predictions(roots, name):
    spec = PROTOCOLS[name]
    proto = build_protocol(name, roots[spec.dataset])
    assert len(proto) > 0
    image = proto.input_image(0)
    assert image.dtype == np.uint8 and image.shape == (SIZE, SIZE, 3)
    gt = np.stack([s.landmarks for s in proto.samples])
    cp = common_points(spec.model_scheme, proto.samples[0].scheme, strict=spec.strict)
    a = cp.matrix_a[cp.keep]
    target = apply_matrix(cp.matrix_b[cp.keep], gt)
    pred = apply_matrix(np.linalg.pinv(a), target)
    np.testing.assert_allclose(apply_matrix(a, pred), target, atol=1e-9)
    errors, space = proto.score(pred)
    assert space == cp.space and errors.shape == (len(proto), cp.num_points)
    np.testing.assert_allclose(errors, 0.0, atol=1e-9)

    offset = np.array([0.3, -0.4])  # length 0.5
    full = apply_matrix(cp.matrix_b, gt)
    sch = get_scheme(space)
    if sch.normaliser_kind == "box":
        norm = np.array([s.attributes["box_size"] for s in proto.samples])
    else:
        i, j = sch.normaliser_indices
        norm = np.linalg.norm(full[:, i] - full[:, j], axis=-1)
    errors, _ = proto.score(pred + offset)
    np.testing.assert_allclose(errors, np.repeat((0.5 / norm)[:, None], errors.shape[1], 1))
