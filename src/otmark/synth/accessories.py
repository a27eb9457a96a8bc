"""Occluding accessories (glasses, hats, hands and objects) and the per-point flags they cause.

Each drawer paints into the image and into an occlusion mask ``(H, W)`` uint8 (255 where the
accessory hides the face). A landmark is flagged occluded when the mask is set at its (rounded)
pixel: thin clear-glass frames hide only the points under the frame, sunglasses the whole eye.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from otmark.synth.background import photo_crop, photo_library
from otmark.synth.camera import Camera, Pose, project, rotation_matrix
from otmark.synth.face_model import SIDES, Face

_SHIFT = 4


def _fix(uv: np.ndarray) -> np.ndarray:
    return np.round(uv * (1 << _SHIFT)).astype(np.int32)


def _both(img: np.ndarray, mask: np.ndarray, uv: np.ndarray, rgb, alpha: float = 1.0) -> None:
    """Fill polygon ``uv: (N, 2)`` into the image (with opacity ``alpha``) and the mask."""
    if alpha >= 1.0:
        cv2.fillPoly(img, [_fix(uv)], rgb, cv2.LINE_AA, _SHIFT)
    else:
        over = img.copy()
        cv2.fillPoly(over, [_fix(uv)], rgb, cv2.LINE_AA, _SHIFT)
        cv2.addWeighted(over, alpha, img, 1 - alpha, 0, img)
    cv2.fillPoly(mask, [_fix(uv)], 255, cv2.LINE_8, _SHIFT)


def _photo_texture(img: np.ndarray, uv: np.ndarray, rng: np.random.Generator) -> None:
    """Paint polygon ``uv: (N, 2)`` with a crop of a photograph (when scikit-image's images are
    available, :func:`otmark.synth.background.photo_crop`), shaded left to right."""
    if not photo_library() or rng.random() < 0.3:
        return
    h, w = img.shape[:2]
    x0, y0 = np.maximum(np.floor(uv.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(uv.max(0)).astype(int) + 2, [w, h])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(m, [_fix(uv - np.array([x0, y0]))], 255, cv2.LINE_AA, _SHIFT)
    tex = photo_crop(rng, y1 - y0, x1 - x0).astype(np.float32)
    tex *= np.linspace(1.1, 0.75, x1 - x0, dtype=np.float32)[None, :, None]
    a = (m.astype(np.float32) / 255.0)[..., None]
    roi = img[y0:y1, x0:x1]
    roi[:] = np.clip(roi * (1 - a) + tex * a, 0, 255).astype(np.uint8)


def draw_glasses(img, mask, face: Face, pose: Pose, camera: Camera, rng) -> None:
    """Frames around both eyes, a bridge and the temples; sunglasses with probability 0.35."""
    rot = rotation_matrix(pose)
    sun = rng.random() < 0.35
    col = tuple(float(c) for c in rng.uniform(0, 90, size=3))
    th = max(1, int(round(rng.uniform(0.012, 0.03) * camera.focal / camera.distance)))
    a = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    rims = []
    for side in SIDES:
        c = face.point(f"{side}_pupil")
        rx, ry = 1.35 * face.eye_hw, rng.uniform(0.09, 0.13)
        rim = np.stack(
            [c[0] + rx * np.cos(a), c[1] + 0.02 + ry * np.sin(a), np.full_like(a, c[2] + 0.1)], 1
        )
        rims.append(rim)
        uv = project(rim, pose, camera, rot)
        if sun:
            _both(img, mask, uv, tuple(float(v) for v in rng.uniform(10, 50, size=3)), 0.92)
        cv2.polylines(img, [_fix(uv)], True, col, th, cv2.LINE_AA, _SHIFT)
        cv2.polylines(mask, [_fix(uv)], True, 255, th, cv2.LINE_8, _SHIFT)
    bridge = np.array([rims[0][0], [0, 0.0, rims[0][0, 2] + 0.02], rims[1][10]])
    temples = [
        np.array([rims[0][10], [-face.jaw_hw - 0.02, 0.05, -0.45]]),
        np.array([rims[1][0], [face.jaw_hw + 0.02, 0.05, -0.45]]),
    ]
    for seg in [bridge, *temples]:
        uv = project(seg, pose, camera, rot)
        cv2.polylines(img, [_fix(uv)], False, col, th, cv2.LINE_AA, _SHIFT)
        cv2.polylines(mask, [_fix(uv)], False, 255, th, cv2.LINE_8, _SHIFT)


def draw_hat(img, mask, face: Face, pose: Pose, camera: Camera, rng) -> None:
    """A cap or hat over the head whose brim comes down to the forehead or the brows."""
    rot = rotation_matrix(pose)
    t = np.linspace(0, 1, 17)
    top = face.curve("forehead", t)
    centre = np.array([0.0, 0.0, -0.6])
    crown = centre + (top - centre) * 1.18
    brim_y = rng.uniform(-0.5, -0.12)
    x = np.linspace(1.0, -1.0, 17) * face.jaw_hw * rng.uniform(1.05, 1.35)
    brim = np.stack([x, np.full_like(x, brim_y), 0.2 - 0.7 * x**2], 1)
    uv = project(np.vstack([crown, brim]), pose, camera, rot)
    col = tuple(float(c) for c in rng.uniform(0, 255, size=3))
    _both(img, mask, uv, col)
    cv2.polylines(
        img,
        [_fix(project(brim, pose, camera, rot))],
        False,
        tuple(c * 0.6 for c in col),
        2,
        cv2.LINE_AA,
        _SHIFT,
    )


def draw_hand_or_object(img, mask, face: Face, pose: Pose, camera: Camera, rng, skin) -> None:
    """A hand (palm and fingers, in a skin colour) or an object (cup, phone, scarf, ball) over a
    random part of the face."""
    rot = rotation_matrix(pose)
    targets = ["right_pupil", "left_pupil", "nose_tip", "chin"]
    anchor = face.point(targets[int(rng.integers(len(targets)))]).copy()
    if rng.random() < 0.4:
        anchor = 0.5 * (
            face.curve("lip_outer_upper", [0.5])[0] + face.curve("lip_outer_lower", [0.5])[0]
        )
    anchor[:2] += rng.normal(0, 0.12, size=2)
    c = project(anchor[None], pose, camera, rot)[0]
    s = camera.focal / camera.distance * rng.uniform(0.25, 0.55)
    ang = rng.uniform(0, 2 * np.pi)
    d = np.array([np.cos(ang), np.sin(ang)])
    nrm = np.array([-d[1], d[0]])
    if rng.random() < 0.5:  # hand
        tone = np.asarray(skin, np.float64) * rng.uniform(0.8, 1.1)
        col = tuple(float(v) for v in np.clip(tone, 0, 255))
        palm = c + 0.9 * s * d
        box = ((float(palm[0]), float(palm[1])), (1.2 * s, 1.0 * s), float(np.degrees(ang)))
        pts = cv2.ellipse2Poly(
            (int(palm[0]), int(palm[1])),
            (int(0.6 * s), int(0.5 * s)),
            int(np.degrees(ang)),
            0,
            360,
            15,
        ).astype(np.float64)
        _both(img, mask, pts, col)
        del box
        fw = max(2, int(0.22 * s))
        for k in range(4):
            base = palm + nrm * (k - 1.5) * 0.26 * s - 0.3 * s * d
            tip = base - d * s * rng.uniform(0.6, 0.9)
            cv2.line(
                img,
                tuple(np.round(base).astype(int)),
                tuple(np.round(tip).astype(int)),
                col,
                fw,
                cv2.LINE_AA,
            )
            cv2.line(
                mask, tuple(np.round(base).astype(int)), tuple(np.round(tip).astype(int)), 255, fw
            )
            cv2.circle(
                img,
                tuple(np.round(tip).astype(int)),
                fw // 2,
                tuple(v * 0.9 for v in col),
                -1,
                cv2.LINE_AA,
            )
    else:
        col = tuple(float(v) for v in rng.uniform(0, 255, size=3))
        kind = int(rng.integers(3))
        if kind == 0:  # rectangle-ish object (phone, book, cup)
            w, h = s * rng.uniform(0.5, 1.2), s * rng.uniform(0.8, 1.6)
            corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
            pts = c + corners @ np.array([d, nrm])
        elif kind == 1:  # ball / round object
            pts = cv2.ellipse2Poly(
                (int(c[0]), int(c[1])), (int(0.5 * s), int(0.5 * s)), 0, 0, 360, 15
            )
            pts = pts.astype(np.float64)
        else:  # scarf / band across the face
            half = s * 2.0
            wid = s * rng.uniform(0.3, 0.6)
            pts = np.array(
                [
                    c - half * d - wid * nrm,
                    c + half * d - wid * nrm,
                    c + half * d + wid * nrm,
                    c - half * d + wid * nrm,
                ]
            )
        _both(img, mask, pts, col)
        _photo_texture(img, pts, rng)


#: accessory name -> drawer
ACCESSORIES: dict[str, Callable] = {
    "glasses": draw_glasses,
    "hat": draw_hat,
    "hand_or_object": draw_hand_or_object,
}


def draw_accessories(
    img: np.ndarray,
    face: Face,
    pose: Pose,
    camera: Camera,
    rng: np.random.Generator,
    probs: dict[str, float],
    skin=(200, 150, 120),
) -> tuple[np.ndarray, list[str]]:
    """Draw each accessory with its probability in ``probs`` (``hand_or_object`` may be drawn
    up to twice: a probability above 1 gives a second one with probability ``p - 1``).

    Returns:
        the occlusion mask ``(H, W)`` uint8 and the names of the accessories drawn.
    """
    mask = np.zeros(img.shape[:2], np.uint8)
    drawn: list[str] = []
    for name in ("glasses", "hat", "hand_or_object"):
        p = float(probs.get(name, 0.0))
        for _ in range(2 if name == "hand_or_object" else 1):
            if rng.random() < min(p, 1.0):
                if name == "hand_or_object":
                    draw_hand_or_object(img, mask, face, pose, camera, rng, skin)
                else:
                    ACCESSORIES[name](img, mask, face, pose, camera, rng)
                drawn.append(name)
            p -= 1.0
    return mask, drawn


def occluded_by_mask(landmarks: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(K,)`` bool: landmarks ``(K, 2)`` whose rounded pixel is set in ``mask: (H, W)``;
    points outside the image are not flagged here."""
    h, w = mask.shape
    xy = np.round(landmarks).astype(np.int64)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    out = np.zeros(len(landmarks), bool)
    out[inside] = mask[xy[inside, 1], xy[inside, 0]] > 0
    return out
