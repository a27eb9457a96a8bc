"""Generated group photographs: several faces of different sizes in one image.

For testing face finders and the choice among several faces (``otmark detect --all-faces``):
:func:`group_photo` draws faces of given sizes at random, non-overlapping places (the space
around each face box leaves room for hair and ears) on one background, then applies one set of
camera effects to the whole photograph. Each face keeps its landmarks and its tight landmark
box.

>>> photo = group_photo(np.random.default_rng(0), sides=(120, 80, 50))  # doctest: +SKIP
>>> photo.image.shape, photo.boxes.shape                                  # doctest: +SKIP
((360, 540, 3), (3, 4))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from otmark.synth.accessories import draw_accessories
from otmark.synth.background import render_background
from otmark.synth.camera import annotate
from otmark.synth.domains import get_domain, sample_effects
from otmark.synth.effects import apply_effects
from otmark.synth.generate import Scene, fit_camera, sample_scene
from otmark.synth.render import render_face
from otmark.transforms import tight_box

#: the room a face takes around its face box, in face-box sides (hair, ears, neck)
ROOM = (1.7, 1.9)


@dataclass
class GroupPhoto:
    """A generated group photograph.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB.
        landmarks: per face, scheme name -> ``(K, 2)`` float64 pixels (pixel centres at
            integers), in the order of ``sides``.
        boxes: ``(N, 4)`` tight boxes of each face's landmarks in the first scheme
            (:func:`otmark.transforms.tight_box`, the training convention of face boxes).
        scenes: per face, the scene it was drawn from.
    """

    image: np.ndarray
    landmarks: list[dict[str, np.ndarray]]
    boxes: np.ndarray
    scenes: list[Scene]


def _place(
    rng: np.random.Generator, sides: Sequence[float], size: tuple[int, int], step: float
) -> list[tuple[float, float]]:
    """Centres of non-overlapping rooms (:data:`ROOM`) of faces of ``sides`` in ``size``:
    largest first, each at a random one of the free places on a grid of ``step`` pixels."""
    h, w = size
    rooms = np.zeros((0, 4))
    centres: dict[int, tuple[float, float]] = {}
    for i in sorted(range(len(sides)), key=lambda j: -sides[j]):
        side = float(sides[i])
        rw, rh = ROOM[0] * side, ROOM[1] * side
        if rw > w or rh > h:
            raise ValueError(f"a face of side {side:g} px does not fit a {w}x{h} image")
        xs = np.arange(rw / 2, w - rw / 2 + 1e-9, step)
        ys = np.arange(rh / 2, h - rh / 2 + 1e-9, step)
        cx, cy = (g.ravel() for g in np.meshgrid(xs, ys))
        cand = np.stack([cx - rw / 2, cy - rh / 2, cx + rw / 2, cy + rh / 2], axis=1)
        free = np.ones(len(cand), dtype=bool)
        for r in rooms:
            free &= (
                (cand[:, 2] <= r[0])
                | (r[2] <= cand[:, 0])
                | (cand[:, 3] <= r[1])
                | (r[3] <= cand[:, 1])
            )
        if not free.any():
            raise ValueError(
                f"cannot place faces of sides {list(sides)} apart in a {w}x{h} image; "
                "use a larger image or smaller faces"
            )
        k = int(rng.choice(np.flatnonzero(free)))
        rooms = np.vstack([rooms, cand[k]])
        centres[i] = (float(cx[k]), float(cy[k]) + 0.1 * side)  # the face sits low in its room
    return [centres[i] for i in range(len(sides))]


def group_photo(
    rng: np.random.Generator,
    sides: Sequence[float] = (120.0, 80.0, 50.0),
    size: tuple[int, int] = (360, 540),
    schemes: tuple[str, ...] = ("300w",),
    domain: str = "300w",
    max_yaw: float | None = 20.0,
    step: float = 4.0,
) -> GroupPhoto:
    """Draw faces with face boxes of ``sides`` pixels at random places of one photograph.

    Args:
        rng: all randomness.
        sides: face-box side of each face (pixels; the face box spans the jaw, brows and
            forehead, :func:`otmark.synth.face_model.face_box_points`).
        size: ``(height, width)`` of the image.
        schemes: landmark schemes to annotate (the boxes come from the first).
        domain: the generated dataset whose poses, looks and camera effects are drawn
            (:func:`otmark.synth.domains.get_domain`).
        max_yaw: clip each head's yaw to this many degrees (None: the domain's own range).
        step: grid step (pixels) of the places a face may take.

    Returns:
        a :class:`GroupPhoto`. Raises ``ValueError`` when the faces do not fit apart.
    """
    if not sides:
        raise ValueError("a group photograph needs at least one face side")
    if any(not np.isfinite(s) or s <= 0 for s in sides):
        raise ValueError(f"face sides must be positive numbers, got {list(sides)}")
    dom = get_domain(domain)
    h, w = size
    centres = _place(rng, sides, size, step)
    image = render_background(rng, h, w, dom.clutter)
    scenes, landmarks = [], []
    # far (small) faces first: a near face is drawn over anything of a far one
    for i in sorted(range(len(sides)), key=lambda j: sides[j]):
        scene = sample_scene(dom, rng, schemes[0], size)
        pose = scene.pose
        if max_yaw is not None:
            pose = replace(pose, yaw=float(np.clip(pose.yaw, -max_yaw, max_yaw)))
        cam = fit_camera(scene.face, pose, size, float(sides[i]), centres[i], scene.camera.distance)
        scene = replace(scene, pose=pose, camera=cam)
        render_face(image, scene.face, scene.pose, scene.camera, scene.style)
        draw_accessories(
            image,
            scene.face,
            scene.pose,
            scene.camera,
            np.random.default_rng(scene.accessory_seed),
            scene.occluders,
            scene.style.skin,
        )
        scenes.append((i, scene))
        landmarks.append((i, {s: annotate(scene.face, s, pose, cam)[0] for s in schemes}))
    image = apply_effects(image, sample_effects(dom, rng), rng)
    scenes_in_order = [sc for _, sc in sorted(scenes, key=lambda t: t[0])]
    marks = [lm for _, lm in sorted(landmarks, key=lambda t: t[0])]
    boxes = np.stack([tight_box(m[schemes[0]]) for m in marks])
    return GroupPhoto(image, marks, boxes, scenes_in_order)
