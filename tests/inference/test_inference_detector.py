"""Detector geometry against closed forms, with fake models whose heatmaps are known exactly."""

import numpy as np
import pytest
import torch

from otmark.heatmaps import HeatmapCodec
from otmark.inference import (
    Detector,
    codec_from_meta,
    crop_faces,
    heatmaps_to_image,
    meta_context,
)
from otmark.inference.recrop import Placements
from otmark.schemes import get_scheme

SCHEME = "aflw"
N_IN, M_HM = 32, 8  # crop side and heatmap side (stride 4)


def splat_logits(points: np.ndarray, m: int) -> torch.Tensor:
    """Logits ``(K, m, m)`` whose softmax is the bilinear splat of ``points (K, 2)``.

    The barycenter of a bilinear splat is the point itself, exactly.
    """
    k = len(points)
    prob = np.full((k, m, m), 1e-30)
    for i, (x, y) in enumerate(points):
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        fx, fy = x - x0, y - y0
        for dx, wx in ((0, 1 - fx), (1, fx)):
            for dy, wy in ((0, 1 - fy), (1, fy)):
                prob[i, y0 + dy, x0 + dx] += wx * wy
    return torch.from_numpy(np.log(prob)).float()


def fixed_backend(points: np.ndarray, calls: list):
    """A fake model: the same heatmaps (splats at ``points``) for every crop, whatever it shows."""
    logits = splat_logits(points, M_HM)

    def backend(x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1:] == (3, N_IN, N_IN) and x.dtype == torch.float32
        calls.append(x.shape[0])
        return logits.expand(x.shape[0], -1, -1, -1).clone()

    return backend


def expected_image_xy(h: np.ndarray, box: np.ndarray, context: float = 1.25) -> np.ndarray:
    """Closed form: heatmap coordinate -> image coordinate through the centre/scale crop.

    The crop covers a square of side ``L = context * max(w, h)`` centred on the box centre; the
    heatmap's ``M`` pixels tile it, pixel centres at integers:
    ``x = c + L * ((h + 0.5) / M - 1/2)``.
    """
    c = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    side = context * max(box[2] - box[0], box[3] - box[1])
    return c + side * ((h + 0.5) / M_HM - 0.5)


@pytest.fixture
def heat_points():
    k = get_scheme(SCHEME).num_points
    rng = np.random.default_rng(3)
    return rng.uniform(1.2, M_HM - 2.2, size=(k, 2))  # away from the border and the .5 ties


BOXES = np.array([[10.0, 20.0, 50.0, 70.0], [60.5, 5.0, 90.0, 30.25]])


def image():
    return np.random.default_rng(0).integers(0, 256, (80, 100, 3), dtype=np.uint8)


def test_get_bc_maps_heatmap_points_to_image_closed_form(heat_points):
    calls = []
    codec = HeatmapCodec(N_IN, M_HM, decoder="get_bc", softmax=True)
    det = Detector(fixed_backend(heat_points, calls), SCHEME, codec, batch_size=16, passes=1)
    pred = det.predict(image(), BOXES)
    assert pred.shape == (2, len(heat_points), 2)
    for i, box in enumerate(BOXES):
        np.testing.assert_allclose(pred[i], expected_image_xy(heat_points, box), atol=1e-4)
    assert calls == [2]


def test_get_max_quarter_pixel_rule_closed_form(heat_points):
    codec = HeatmapCodec(N_IN, M_HM, decoder="get_max", softmax=True)
    det = Detector(fixed_backend(heat_points, []), SCHEME, codec, passes=1)
    pred = det.predict(image(), BOXES[:1])
    nearest = np.rint(heat_points)
    hm = nearest + 0.25 * np.sign(heat_points - nearest)  # HRNet's quarter-pixel shift
    np.testing.assert_allclose(pred[0], expected_image_xy(hm, BOXES[0]), atol=1e-6)


def test_flip_test_averages_with_mirrored_prediction_closed_form(heat_points):
    """The mirrored crop's slot k holds landmark perm[k] at the mirrored heatmap position."""
    perm = get_scheme(SCHEME).flip_permutation
    calls = []
    codec = HeatmapCodec(N_IN, M_HM, decoder="get_bc", softmax=True)
    det = Detector(
        fixed_backend(heat_points, calls), SCHEME, codec, flip_test=True, batch_size=3, passes=1
    )
    pred = det.predict(image(), BOXES)
    mirrored = heat_points[perm].copy()
    mirrored[:, 0] = (M_HM - 1) - mirrored[:, 0]
    for i, box in enumerate(BOXES):
        plain = expected_image_xy(heat_points, box)
        flipped = expected_image_xy(mirrored, box)
        np.testing.assert_allclose(pred[i], (plain + flipped) / 2, atol=1e-4)
    assert calls == [3, 1]  # 2 faces x 2 crops, in batches of 3
    # a non-symmetric layout: the flip test really changes the answer
    assert np.abs(pred[0] - expected_image_xy(heat_points, BOXES[0])).max() > 0.5


# --- a content-reading fake model: finds coloured dots in the crop ------------------------------


def dot_layout(scheme_name: str, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Face-like dot positions ``(K, 2)`` inside ``box`` and a colour code per point.

    Paired points get mirror-symmetric x about the box's vertical axis (the slot with the
    subject's right side, i.e. the first of each flip pair, on the image's left), unpaired points
    lie on the axis; the two members of a pair share one code.
    """
    scheme = get_scheme(scheme_name)
    k = scheme.num_points
    rng = np.random.default_rng(7)
    cx = (box[0] + box[2]) / 2
    w, h = box[2] - box[0], box[3] - box[1]
    pts = np.zeros((k, 2))
    code = np.zeros(k, dtype=int)
    groups = [tuple(sorted(p)) for p in scheme.flip_pairs]
    paired = {i for p in groups for i in p}
    groups += [(i,) for i in range(k) if i not in paired]
    rows = np.linspace(box[1] + 0.1 * h, box[3] - 0.1 * h, len(groups))
    rng.shuffle(rows)
    for c, (group, y) in enumerate(zip(groups, rows)):
        code[list(group)] = c
        if len(group) == 2:
            d = rng.uniform(0.1, 0.4) * w
            pts[group[0]] = (cx - d, y)
            pts[group[1]] = (cx + d, y + rng.uniform(-1, 1))
        else:
            pts[group[0]] = (cx + rng.uniform(-1, 1), y)
    return pts, code


def draw_dots(shape, pts, code, sigma=1.0):
    """Gaussian dots coloured ``(R, G, B) = (20 + 20 * code, 255, 0) * g``: R/G encodes the code."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3))
    for (x, y), c in zip(pts, code):
        g = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
        img[..., 0] += (20 + 20 * c) * g
        img[..., 1] += 255 * g
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def dot_reading_backend(scheme_name: str, code: np.ndarray, codec: HeatmapCodec):
    """A fake, mirror-consistent "face model": channel k fires at the dot of k's colour code;
    for a flip pair the first slot takes the dot on the image's left, the second the right one."""
    from otmark.transforms import IMAGENET_MEAN, IMAGENET_STD

    scheme = get_scheme(scheme_name)
    first = {a: b for a, b in (tuple(sorted(p)) for p in scheme.flip_pairs)}
    second = {b for b in first.values()}
    n_codes = code.max() + 1
    stride = codec.input_size / codec.heatmap_size

    def backend(x: torch.Tensor) -> torch.Tensor:
        out = []
        for crop in x.numpy():
            rgb = (crop.transpose(1, 2, 0) * IMAGENET_STD + IMAGENET_MEAN) * 255
            g = rgb[..., 1]
            ratio = np.where(g > 60, rgb[..., 0] / np.maximum(g, 1e-6), -1)
            label = np.rint((ratio * 255 - 20) / 20).astype(int)
            label[g <= 60] = -1
            pts = np.zeros((len(code), 2))
            yy, xx = np.mgrid[0 : g.shape[0], 0 : g.shape[1]]
            for c in range(n_codes):
                mask = label == c
                members = np.flatnonzero(code == c)
                # split the code's pixels into a left and a right dot at the mean x
                xm = (xx[mask] * g[mask]).sum() / g[mask].sum()
                parts = [mask & (xx < xm), mask & (xx >= xm)] if len(members) == 2 else [mask]
                cents = [
                    ((xx[p] * g[p]).sum() / g[p].sum(), (yy[p] * g[p]).sum() / g[p].sum())
                    for p in parts
                ]
                cents.sort()
                for m in members:
                    pts[m] = cents[1] if m in second else cents[0]
            out.append(splat_logits((pts + 0.5) / stride - 0.5, codec.heatmap_size))
        return torch.stack(out)

    return backend


@pytest.mark.parametrize("flip_test", [False, True])
def test_dot_model_is_located_through_the_inverse_crop(flip_test):
    """End to end on pixels: the dots are found in the (mirrored) crops and mapped back."""
    box = np.array([30.0, 22.0, 110.0, 102.0])
    pts, code = dot_layout(SCHEME, box)
    img = draw_dots((130, 150), pts, code)
    codec = HeatmapCodec(96, 24, decoder="get_bc", softmax=True)
    det = Detector(
        dot_reading_backend(SCHEME, code, codec), SCHEME, codec, flip_test=flip_test, passes=1
    )
    pred = det.predict(img, box[None])[0]
    err = np.linalg.norm(pred - pts, axis=1)
    assert err.max() < 0.3, err


def test_dot_model_flip_test_needs_the_permutation():
    """Control: undoing the mirror without re-indexing the slots swaps every flip pair."""
    box = np.array([30.0, 22.0, 110.0, 102.0])
    pts, code = dot_layout(SCHEME, box)
    codec = HeatmapCodec(96, 24, decoder="get_bc", softmax=True)
    backend = dot_reading_backend(SCHEME, code, codec)
    crops, inv = crop_faces(draw_dots((130, 150), pts, code), box[None], codec, flip=True)
    no_perm = heatmaps_to_image(backend(crops), inv, codec)[0]
    with_perm = heatmaps_to_image(backend(crops), inv, codec, get_scheme(SCHEME).flip_permutation)[
        0
    ]
    assert np.linalg.norm(with_perm - pts, axis=1).max() < 0.3
    paired = [i for p in get_scheme(SCHEME).flip_pairs for i in p]
    assert np.linalg.norm(no_perm - pts, axis=1)[paired].min() > 5


def test_predict_many_shares_batches_across_images(heat_points):
    calls = []
    codec = HeatmapCodec(N_IN, M_HM, decoder="get_bc", softmax=True)
    det = Detector(
        fixed_backend(heat_points, calls), SCHEME, codec, flip_test=True, batch_size=4, passes=1
    )
    boxes = [BOXES, np.zeros((0, 4)), BOXES[1:]]
    out = det.predict_many([image(), image()[:50], image()], boxes)
    assert [o.shape[0] for o in out] == [2, 0, 1]
    assert calls == [4, 2]  # 3 faces x 2 views in batches of 4
    single = Detector(fixed_backend(heat_points, []), SCHEME, codec, flip_test=True, passes=1)
    np.testing.assert_allclose(out[0], single.predict(image(), BOXES), atol=1e-9)
    np.testing.assert_allclose(out[2], single.predict(image(), BOXES[1:]), atol=1e-9)
    with pytest.raises(ValueError, match="2 images but 1 box arrays"):
        det.predict_many([image(), image()], [BOXES])


def test_heatmaps_placed_orders_faces_then_mirrored_views(heat_points):
    """Faces of two images in one pass: the plain views of all faces, then the mirrored ones;
    each crop -> image matrix sends the crop centre to its placement's centre."""
    calls: list = []
    codec = HeatmapCodec(N_IN, M_HM, decoder="get_bc", softmax=True)
    det = Detector(fixed_backend(heat_points, calls), SCHEME, codec, flip_test=True, passes=1)
    placed = Placements.from_boxes(np.concatenate([BOXES, BOXES[:1]]))
    heatmaps, inv = det.heatmaps_placed([image(), image()[:60]], np.array([0, 0, 1]), placed)
    assert heatmaps.shape == (6, get_scheme(SCHEME).num_points, M_HM, M_HM)
    assert inv.shape == (6, 2, 3) and calls == [6]
    centre = np.full(2, (N_IN - 1) / 2)
    for j, m in enumerate(inv):
        np.testing.assert_allclose(m[:, :2] @ centre + m[:, 2], placed.centres[j % 3], atol=1e-9)
    assert np.allclose(inv[3:, :, 0], -inv[:3, :, 0])  # the mirrored views flip the x axis
    wrong = Detector(fixed_backend(heat_points[:3], []), SCHEME, codec, passes=1)
    with pytest.raises(ValueError, match="predicts 3 landmarks"):
        wrong.heatmaps_placed([image()], np.zeros(1, dtype=int), placed.subset([0]))


def test_crop_faces_mirrored_crop_is_the_mirror_image():
    img = image()
    codec = HeatmapCodec(N_IN, M_HM, decoder="get_bc", softmax=True)
    crops, inv = crop_faces(img, BOXES, codec)
    crops_f, inv_f = crop_faces(img, BOXES, codec, flip=True)
    torch.testing.assert_close(crops_f, crops.flip(-1), atol=1e-5, rtol=0)
    # the crop -> image matrices send the crop centre to the box centre
    centre = np.full(2, (N_IN - 1) / 2)
    for b, m, mf in zip(BOXES, inv, inv_f):
        c = [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]
        np.testing.assert_allclose(m[:, :2] @ centre + m[:, 2], c, atol=1e-9)
        np.testing.assert_allclose(mf[:, :2] @ centre + mf[:, 2], c, atol=1e-9)


def test_heatmaps_to_image_rejects_wrong_heatmap_size():
    codec = HeatmapCodec(N_IN, M_HM, decoder="get_bc", softmax=True)
    with pytest.raises(ValueError, match="codec expects"):
        heatmaps_to_image(torch.zeros(1, 3, M_HM + 1, M_HM), np.zeros((1, 2, 3)), codec)


def test_predict_without_boxes_uses_face_finder_and_handles_no_face(heat_points):
    codec = HeatmapCodec(N_IN, M_HM, decoder="get_bc", softmax=True)
    found = []

    def finder(img):
        found.append(img.shape)
        return np.zeros((0, 4))

    det = Detector(fixed_backend(heat_points, []), SCHEME, codec, face_finder=finder)
    k = get_scheme(SCHEME).num_points
    assert det.predict(image()).shape == (0, k, 2)
    assert det.detect(image()) == []
    assert found == [(80, 100, 3), (80, 100, 3)]


def test_model_with_wrong_landmark_count_is_reported(heat_points):
    det = Detector(
        fixed_backend(heat_points[:3], []),
        SCHEME,
        HeatmapCodec(N_IN, M_HM, decoder="get_bc", softmax=True),
    )
    with pytest.raises(ValueError, match="predicts 3 landmarks"):
        det.predict(image(), BOXES)


def test_bad_inputs_are_rejected(heat_points):
    det = Detector(
        fixed_backend(heat_points, []),
        SCHEME,
        HeatmapCodec(N_IN, M_HM, decoder="get_bc", softmax=True),
    )
    with pytest.raises(ValueError, match="uint8"):
        det.predict(image().astype(np.float32), BOXES)
    with pytest.raises(ValueError, match="x1 > x0"):
        det.predict(image(), np.array([[10, 10, 5, 20.0]]))


def test_codec_from_meta_defaults_and_errors():
    c = codec_from_meta({"input_size": 256, "heatmap_size": 64, "sigma": 3, "decoder": "GET_BC"})
    assert (c.decoder, c.softmax, c.sigma) == ("get_bc", True, 3.0)
    assert meta_context(c.to_dict()) == 1.25 and meta_context({"context": 1.5}) == 1.5
    assert codec_from_meta({**c.to_dict(), "softmax": False}).softmax is False
    assert not codec_from_meta({"input_size": 8, "heatmap_size": 2, "loss": "l2"}).softmax
    assert codec_from_meta({"input_size": 8, "heatmap_size": 2, "loss": "wasserstein"}).softmax
    assert codec_from_meta(c.to_dict()) == c
    assert codec_from_meta({"input_size": [64, 64], "heatmap_size": (16, 16)}).input_size == 64
    with pytest.raises(ValueError, match="not square"):
        codec_from_meta({"input_size": [64, 48], "heatmap_size": 16})
    with pytest.raises(ValueError, match="heatmap_size"):
        codec_from_meta({"input_size": 256})
    with pytest.raises(ValueError, match="unknown decoder"):
        HeatmapCodec(256, 64, decoder="argmax")


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("decoder", ["get_bc", "get_max"])
def test_training_targets_decode_back_to_the_landmarks(flip, decoder):
    """Consistency with training: the targets otmark.transforms builds for a face (plain or
    flipped with the scheme's permutation) decode, through the detector's path, to the
    annotated landmarks."""
    from otmark.transforms import AugmentParams, centre_scale_from_box, prepare_sample

    scheme = get_scheme(SCHEME)
    rng = np.random.default_rng(11)
    box = np.array([20.0, 15.0, 70.0, 75.0])
    # within 15 px of the centre: 3 sigma (= 3 heatmap px = 14 image px) from the crop border,
    # where the targets are whole Gaussians (the border clips them and biases any decoder)
    landmarks = rng.uniform(-15, 15, size=(scheme.num_points, 2)) + [45.0, 45.0]
    crop = HeatmapCodec(input_size=64, heatmap_size=16, sigma=1.0)
    centre, scale = centre_scale_from_box(box)
    item = prepare_sample(
        image(), landmarks, centre, scale, crop, AugmentParams(flip=flip), scheme.flip_permutation
    )
    codec = HeatmapCodec(64, 16, decoder=decoder, softmax=False)
    perm = scheme.flip_permutation if flip else None
    got = heatmaps_to_image(item["target"][None], item["inverse"].numpy()[None], codec, perm)[0]
    # GET_BC: the 3-sigma cut keeps a slightly asymmetric set of pixels (bias < 0.01 heatmap px);
    # GET_MAX: within a quarter heatmap pixel per axis
    stride_in_image = 1.25 * 60 / 16
    tol = 0.01 * stride_in_image if decoder == "get_bc" else 0.36 * stride_in_image
    assert np.abs(got - landmarks).max() < tol


def test_crop_context_comes_from_the_crop_module_or_the_metadata():
    from otmark.transforms.crop import CONTEXT

    meta = {"input_size": N_IN, "heatmap_size": M_HM, "decoder": "get_bc", "softmax": True}
    model = torch.nn.Identity()
    assert Detector.from_model(model, SCHEME, meta, device="cpu").context == CONTEXT == 1.25
    wide = Detector.from_model(model, SCHEME, {**meta, "context": 2.5}, device="cpu")
    assert wide.context == 2.5 and wide.codec == codec_from_meta(meta)
    # a box cropped with context 2.5 covers twice the image of one cropped with 1.25
    _, inv = crop_faces(image(), BOXES[:1], wide.codec)
    _, inv_wide = crop_faces(image(), BOXES[:1], wide.codec, context=2.5)
    np.testing.assert_allclose(inv_wide[0][:, :2], 2 * inv[0][:, :2], atol=1e-12)
