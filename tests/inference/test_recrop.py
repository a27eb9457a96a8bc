"""Re-cropping from predicted landmarks: the training crop rule, the eye roll, and the
crop-placement loop driven by an oracle "model" whose error grows with the crop's misplacement."""

import math

import numpy as np
import pytest

from otmark.inference.recrop import (
    DEFAULT_PASSES,
    Placements,
    crop_from_landmarks,
    eye_roll,
    moved,
    refine,
    rotation_limit,
)
from otmark.schemes import get_scheme
from otmark.synth.camera import Pose, annotate
from otmark.synth.face_model import Face, Identity
from otmark.synth.generate import fit_camera
from otmark.transforms import apply_affine, centre_scale_from_landmarks, crop_matrix

SCHEME = get_scheme("300w")
N = 64  # oracle crop side


def face_landmarks(roll: float, yaw: float = 0.0, side: float = 120.0, seed: int = 0):
    """68 generated landmarks ``(68, 2)`` of a face with the given roll, in a 400x400 image."""
    rng = np.random.default_rng(seed)
    face = Face(Identity.sample(rng, 1.0))
    pose = Pose(yaw=yaw, pitch=0.0, roll=roll)
    cam = fit_camera(face, pose, (400, 400), side, (200.0, 210.0), 9.0)
    return annotate(face, "300w", pose, cam)[0]


def rot_about(points, angle_deg, pivot):
    r = math.radians(angle_deg)
    m = np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]])
    return (points - pivot) @ m.T + pivot


def test_upright_face_gets_exactly_the_training_crop():
    pts = face_landmarks(roll=8.0)
    centre, scale, angle = crop_from_landmarks(pts, SCHEME, max_roll=30.0)
    c_ref, s_ref = centre_scale_from_landmarks(pts)
    np.testing.assert_array_equal(centre, c_ref)
    assert scale == s_ref and angle == 0.0
    # hand-worked: box [1, 2] .. [11, 7] -> centre (6, 4.5), scale 1.25 * 10 / 200
    square = np.array([[1.2, 2.0], [10.5, 6.3], [4.0, 5.0]])
    c, s, a = crop_from_landmarks(square, get_scheme("aflw"), max_roll=None)
    np.testing.assert_allclose(c, [6.0, 4.5])
    assert s == pytest.approx(1.25 * 10 / 200) and a == 0.0


@pytest.mark.parametrize("turn", [-50.0, -12.0, 25.0, 70.0])
def test_eye_roll_levels_the_eyes(turn):
    pts = rot_about(face_landmarks(roll=0.0), turn, np.array([200.0, 210.0]))
    roll = eye_roll(pts, SCHEME)
    # an on-screen rotation by `turn` (clockwise, y down) rolls the eyes by `turn`
    assert roll == pytest.approx(turn, abs=1.0)
    m = crop_matrix(np.array([200.0, 210.0]), 1.0, 100, rotation=roll)
    crop = apply_affine(pts, m)
    right, left = crop[36:42].mean(0), crop[42:48].mean(0)
    assert abs(left[1] - right[1]) < 1e-6 and left[0] > right[0]


def test_turned_crop_is_the_upright_crop_turned():
    """A face turned on screen by 45 degrees gets the crop of the upright face, turned with it."""
    upright = face_landmarks(roll=0.0) + 0.37  # off the integer grid of the tight box
    pivot = upright.mean(0)
    c0, s0, a0 = crop_from_landmarks(upright, SCHEME, max_roll=30.0)
    level = eye_roll(upright, SCHEME)
    turned = rot_about(upright, 45.0, pivot)
    c, s, a = crop_from_landmarks(turned, SCHEME, max_roll=30.0)
    assert a == pytest.approx(45.0 + level, abs=1e-9)
    assert abs(level) < 1.0 and a0 == 0.0
    # same side (to the box's integer rounding), centre turned about the same pivot
    assert s == pytest.approx(s0, rel=0.02)
    np.testing.assert_allclose(c, rot_about(c0[None], 45.0, pivot)[0], atol=1.5)
    # within max_roll: never turned
    assert crop_from_landmarks(turned, SCHEME, max_roll=50.0)[2] == 0.0
    assert crop_from_landmarks(turned, SCHEME, max_roll=None)[2] == 0.0


def test_rotation_limit_reads_the_training_augmentation():
    assert rotation_limit(None) == 30.0  # AugmentConfig's default
    assert rotation_limit({"config": {"augment": {"rotation": 15.0}}}) == 15.0
    assert rotation_limit({"config": {"augment": {"enabled": False, "rotation": 15.0}}}) == 0.0
    assert rotation_limit({"config": {"augment": {"rotation": 15, "rotation_prob": 0}}}) == 0.0


def test_moved_tolerances():
    a = Placements(np.array([[100.0, 100.0]] * 4), np.array([1.0] * 4), np.zeros(4))
    b = Placements(
        np.array([[101.0, 100.0], [105.0, 100.0], [100.0, 100.0], [100.0, 100.0]]),
        np.array([1.0, 1.0, 1.05, 1.0]),
        np.array([0.0, 0.0, 0.0, 5.0]),
    )
    # 1 px of a 200 px crop is 0.5 %: still; 5 px, 5 % scale, 5 degrees: moved
    assert moved(a, b).tolist() == [False, True, True, True]


def oracle(truths: np.ndarray, max_roll: float, pull: float, noise: float, seed: int):
    """A stub "model": in the crop, the true landmarks pulled by ``pull`` towards where a
    training crop would show them (a model sees a misplaced face partly as a centred one; it
    covers rolls up to ``max_roll`` in the crop), plus Gaussian noise of ``noise`` crop pixels;
    mapped back to the image through the crop."""
    rng = np.random.default_rng(seed)

    def predict(idx: np.ndarray, placed: Placements) -> np.ndarray:
        out = []
        for j, c, s, a in zip(idx, placed.centres, placed.scales, placed.angles):
            m = crop_matrix(c, s, N, rotation=a)
            tc, ts, _ = crop_from_landmarks(truths[j], SCHEME, max_roll=max_roll)
            # the model covers rolls up to max_roll in its crop: beyond, it is pulled back
            roll = eye_roll(truths[j], SCHEME)
            excess = (roll - a + 180.0) % 360.0 - 180.0
            ta = roll - float(np.clip(excess, -max_roll, max_roll))
            seen = apply_affine(truths[j], m)
            trained = apply_affine(truths[j], crop_matrix(tc, ts, N, rotation=ta))
            crop_pts = (1 - pull) * seen + pull * trained + rng.normal(0, noise, seen.shape)
            inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
            out.append(apply_affine(crop_pts, inv))
        return np.stack(out)

    return predict


def nme(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    d = np.linalg.norm(truth[:, 36] - truth[:, 45], axis=1)
    return np.linalg.norm(pred - truth, axis=2).mean(1) / d


def test_refine_converges_from_shifted_and_turned_boxes():
    """Faces rolled up to 30 degrees (the model covers 10), crops shifted by up to 20 % of the
    side and scaled by 0.8-1.2: the loop ends near the training crops, far better than 1 pass."""
    rng = np.random.default_rng(1)
    rolls = np.array([-30.0, -22.0, -5.0, 0.0, 14.0, 30.0])
    truths = np.stack(
        [face_landmarks(r, yaw=rng.uniform(-20, 20), seed=i) for i, r in enumerate(rolls)]
    )
    max_roll = 10.0
    ref = Placements.from_landmarks(truths, SCHEME, max_roll=max_roll)
    side = 200 * ref.scales
    shift = rng.uniform(-0.2, 0.2, (len(rolls), 2)) * side[:, None]
    start = Placements(ref.centres + shift, ref.scales * rng.uniform(0.8, 1.2, len(rolls)),
                       np.zeros(len(rolls)))  # fmt: skip
    predict = oracle(truths, max_roll, pull=0.5, noise=0.3, seed=2)
    first = predict(np.arange(len(rolls)), start)
    three = refine(predict, first, start, SCHEME, passes=3, max_roll=max_roll)
    many = refine(predict, first, start, SCHEME, passes=8, max_roll=max_roll)
    e1, e3, e8 = nme(first, truths), nme(three.landmarks, truths), nme(many.landmarks, truths)
    assert np.all(e3 < e1) and e3.mean() < 0.4 * e1.mean(), (e1, e3)
    assert e8.max() < 0.045, e8  # converged: the noise's level (0.3 px, 1.6 % NME)
    # the crops stopped moving before 8 passes and sit on the training crops
    assert np.all(many.passes < 8) and np.all(many.passes >= 3)
    np.testing.assert_allclose(many.placements.angles, ref.angles, atol=3.0)
    off = np.linalg.norm(many.placements.centres - ref.centres, axis=1) / side
    assert off.max() < 0.03
    np.testing.assert_allclose(many.placements.scales, ref.scales, rtol=0.04)
    # the turned ones really are turned; the upright ones stay upright
    assert np.all(np.abs(many.placements.angles[np.abs(rolls) > 15]) > 10)
    assert np.all(many.placements.angles[np.abs(rolls) <= 5] == 0.0)


def test_refine_stops_when_the_crop_does_not_move_and_passes_1_is_the_identity():
    truths = np.stack([face_landmarks(3.0, seed=5)])
    ref = Placements.from_landmarks(truths, SCHEME, max_roll=30.0)
    calls = []
    predict = oracle(truths, 30.0, pull=0.5, noise=0.0, seed=0)

    def counting(idx, placed):
        calls.append(len(idx))
        return predict(idx, placed)

    first = predict(np.arange(1), ref)  # already the training crop: nothing to do
    out = refine(counting, first, ref, SCHEME, passes=3, max_roll=30.0)
    assert calls == [] and out.passes.tolist() == [1]
    np.testing.assert_array_equal(out.landmarks, first)
    with pytest.raises(ValueError, match="passes"):
        refine(counting, first, ref, SCHEME, passes=0)


def rendered_face(seed: int, roll: float, shift: tuple[float, float]):
    """A generated 300W face (160 px image) with the given roll, and its tight landmark box
    shifted by ``shift`` box sides."""
    from dataclasses import replace

    from otmark.synth.background import render_background
    from otmark.synth.domains import get_domain
    from otmark.synth.generate import render_scene, sample_scene
    from otmark.transforms import tight_box

    rng = np.random.default_rng(seed)
    scene = sample_scene(get_domain("300w"), rng, "300w", (160, 160))
    pose = replace(scene.pose, roll=roll)
    cam = fit_camera(scene.face, pose, (160, 160), 84.0, (80.0, 84.0), scene.camera.distance)
    r = render_scene(
        replace(scene, pose=pose, camera=cam),
        render_background(rng, 160, 160, 0.3, photos=False),
        ("300w",),
        rng,
    )
    truth = r.landmarks["300w"]
    box = tight_box(truth)
    box = box + np.tile(np.asarray(shift) * (box[2] - box[0]), 2)
    return r.image, box, truth


def test_packaged_model_recrops_shifted_and_turned_faces():
    """The packaged model on generated faces: from boxes shifted by 20 % of their side, and on
    a face rolled by 50 degrees (beyond the 30 of its training augmentation), the default
    passes (2) and 3 passes are each better than 1 (3 passes here: 6.3/6.6/8.3 -> 1.2/2.4/1.5 %
    NME; 40 faces per condition: benchmarks/recrop_synth.py)."""
    from otmark.inference import Detector

    faces = [
        rendered_face(11, 4.0, (0.2, -0.2)),
        rendered_face(14, -6.0, (-0.2, 0.15)),
        rendered_face(16, 50.0, (0.0, 0.0)),
    ]
    det = Detector.from_checkpoint("pretrained", device="cpu")
    assert det.passes == DEFAULT_PASSES == 2 and det.max_roll == 30.0
    images = [f[0] for f in faces]
    boxes = [f[1][None] for f in faces]
    truth = np.stack([f[2] for f in faces])
    two = np.concatenate(det.predict_many(images, boxes))
    det.passes = 3
    three = np.concatenate(det.predict_many(images, boxes))
    det.passes = 1
    one = np.concatenate(det.predict_many(images, boxes))
    e1, e2, e3 = nme(one, truth), nme(two, truth), nme(three, truth)
    assert np.all(e2 < e1) and np.all(e3 < e1) and np.all(e3 < 0.03), (e1, e2, e3)
    assert np.all(e1 > 0.04), e1  # the misplaced crops really hurt one pass


def test_detector_passes_share_batches_across_images_and_match_single_images():
    """Re-crops of faces of several images (with the flip test) give what each image gives
    alone; a model whose heatmaps never move makes the crop move, so passes run."""
    import torch

    from otmark.heatmaps import HeatmapCodec
    from otmark.inference import Detector

    rng = np.random.default_rng(4)
    logits = torch.from_numpy(rng.normal(0, 3, (68, 8, 8))).float()
    calls = []

    def backend(x):
        calls.append(x.shape[0])
        return logits.expand(x.shape[0], -1, -1, -1).clone()

    codec = HeatmapCodec(32, 8, decoder="get_bc", softmax=True)
    det = Detector(backend, "300w", codec, flip_test=True, passes=3, batch_size=64)
    imgs = [rng.integers(0, 256, (90, 120, 3), dtype=np.uint8) for _ in range(2)]
    boxes = [
        np.array([[10.0, 12.0, 50.0, 60.0], [60.0, 20.0, 100.0, 70.0]]),
        np.array([[5.0, 5.0, 45.0, 40.0]]),
    ]
    both = det.predict_many(imgs, boxes)
    assert calls == [6, 6, 6]  # 3 faces x 2 views, three passes
    for img, b, out in zip(imgs, boxes, both):
        np.testing.assert_allclose(det.predict(img, b), out, atol=1e-9)
    det.passes = 1
    assert not np.allclose(det.predict_many(imgs, boxes)[0], both[0])
