import cv2
import numpy as np
import pytest

from otmark.schemes import get_scheme
from otmark.synth.accessories import draw_accessories, occluded_by_mask
from otmark.synth.background import render_background
from otmark.synth.camera import Camera, Pose, annotate, project
from otmark.synth.effects import Effects, apply_effects, motion_kernel
from otmark.synth.face_model import Expression, Face, Identity
from otmark.synth.render import Style, render_face


def scene(yaw=0.0):
    face = Face(Identity(), Expression())
    cam = Camera(focal=450.0, cx=64.0, cy=50.0, distance=8.0)
    style = Style(
        skin=(200, 150, 120),
        hair=(40, 30, 20),
        lips=(170, 80, 80),
        iris=(60, 100, 140),
        brow=(50, 35, 25),
        light_dir=(0.0, 0.0, 1.0),
    )
    return face, Pose(yaw=yaw), cam, style


def test_face_is_drawn_where_its_landmarks_are():
    face, pose, cam, style = scene()
    img = np.full((128, 128, 3), (0, 0, 255), np.uint8)
    mask = render_face(img, face, pose, cam, style)
    uv, occ = annotate(face, "300w", pose, cam)
    xy = np.round(uv).astype(int)
    # every landmark except the contour lies inside the skin mask; the contour is on its edge
    sch = get_scheme("300w")
    contour = np.zeros(sch.num_points, bool)
    contour[list(sch.regions["contour"])] = True
    inner = mask[xy[~contour, 1], xy[~contour, 0]]
    assert (inner > 0).all()
    grown = cv2.dilate(mask, np.ones((5, 5), np.uint8))
    assert (grown[xy[contour, 1], xy[contour, 0]] > 0).all()
    # the background colour survives away from the head, not on the face
    assert tuple(img[2, 2]) == (0, 0, 255)
    assert not (img[mask > 0] == (0, 0, 255)).all(axis=1).any()
    # the pupils are dark, the cheek is lit skin
    pupil = face.point("right_pupil")

    pu = np.round(project(pupil[None], pose, cam)[0]).astype(int)
    assert img[pu[1] - 1 : pu[1] + 2, pu[0] - 1 : pu[0] + 2].mean(axis=2).min() < 60
    below_eye = uv[sch.index("right_eye_lower_outer")]
    corner = uv[sch.index("right_mouth_corner")]
    cheek = np.round(0.5 * (below_eye + corner)).astype(int)
    r, g, b = img[cheek[1], cheek[0]].astype(int)
    assert r > g > b and r > 150


def test_rendering_is_deterministic():
    face, pose, cam, style = scene(yaw=30)
    a = np.zeros((128, 128, 3), np.uint8)
    b = np.zeros((128, 128, 3), np.uint8)
    render_face(a, face, pose, cam, style)
    render_face(b, face, pose, cam, style)
    np.testing.assert_array_equal(a, b)
    bg1 = render_background(np.random.default_rng(4), 64, 80, 0.8)
    bg2 = render_background(np.random.default_rng(4), 64, 80, 0.8)
    assert bg1.shape == (64, 80, 3) and bg1.dtype == np.uint8
    np.testing.assert_array_equal(bg1, bg2)


def test_occluded_by_mask_hand_worked():
    mask = np.zeros((10, 10), np.uint8)
    mask[2:5, 3:6] = 255
    pts = np.array([[3.0, 2.0], [5.4, 4.4], [5.6, 4.0], [20.0, 3.0], [-1.0, -1.0]])
    assert occluded_by_mask(pts, mask).tolist() == [True, True, False, False, False]


@pytest.mark.parametrize("kind", ["glasses", "hat", "hand_or_object"])
def test_accessories_mark_what_they_cover(kind):
    face, pose, cam, style = scene()
    img = np.zeros((128, 128, 3), np.uint8)
    render_face(img, face, pose, cam, style)
    before = img.copy()
    mask, drawn = draw_accessories(img, face, pose, cam, np.random.default_rng(0), {kind: 1.0})
    assert drawn == [kind]
    assert mask.any()
    changed = (img != before).any(axis=2)
    # the mask is where the image changed (up to anti-aliased edges)
    assert changed[mask > 0].mean() > 0.9
    none, drawn0 = draw_accessories(img, face, pose, cam, np.random.default_rng(0), {})
    assert drawn0 == [] and not none.any()


def test_motion_kernel_and_effects():
    k = motion_kernel(4.0, 0.0)
    assert k.sum() == pytest.approx(1.0)
    assert k.shape == (5, 5) and (k[2] > 0).all() and k[[0, 1, 3, 4]].sum() == 0
    img = (np.arange(48 * 48 * 3) % 251).astype(np.uint8).reshape(48, 48, 3)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(apply_effects(img, Effects(), rng), img)
    bright = apply_effects(img, Effects(gain=2.0), rng)
    assert (bright.astype(int) >= img).all() and bright.mean() > img.mean() * 1.5
    # a vertical bar moved sideways spreads horizontally, not vertically
    bar = np.zeros((21, 21, 3), np.uint8)
    bar[:, 10] = 255
    mb = apply_effects(bar, Effects(motion=(6.0, 0.0)), rng)
    assert mb[10, 8, 0] > 0 and mb[10, 12, 0] > 0 and mb[10, 10, 0] < 255
    assert (mb[:, 0] == 0).all()
    jp = apply_effects(img, Effects(jpeg=30), rng)
    assert jp.shape == img.shape and not np.array_equal(jp, img)
