"""One generated face: draw the scene parameters from a domain, frame the face, render it and
annotate it in any number of schemes.

Annotation rule (documented choice): every landmark is the **projected 3-D point** of the face
model, except on the far side of the jaw contour of a turned face, whose points lie on the
visible outline of the cheek as iBUG-68/300W annotators place them
(:mod:`otmark.synth.silhouette`); ``occluded`` flags a point hidden by the face itself (facing
away, behind the nose, see :func:`otmark.synth.camera.annotate`) or by an accessory.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from otmark.synth.accessories import draw_accessories, occluded_by_mask
from otmark.synth.background import render_background
from otmark.synth.camera import Camera, Pose, annotate, project
from otmark.synth.domains import Domain, sample_effects, sample_pose
from otmark.synth.effects import Effects, apply_effects
from otmark.synth.face_model import Expression, Face, Identity, face_box_points
from otmark.synth.render import Style, render_face


@dataclass(frozen=True)
class Scene:
    """Everything that decides one image (except the background pixels and accessory draws)."""

    face: Face
    pose: Pose
    camera: Camera
    style: Style
    effects: Effects
    occluders: dict[str, float] = field(default_factory=dict)
    accessory_seed: int = 0


@dataclass
class Rendered:
    """A rendered face.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB.
        landmarks: scheme name -> ``(K, 2)`` float64 pixels (0-based, pixel centres at integers).
        occluded: scheme name -> ``(K,)`` bool (self-occlusion or accessory).
        self_occluded: scheme name -> ``(K,)`` bool (self-occlusion only).
        accessories: names of the accessories drawn.
        scene: the scene parameters.
    """

    image: np.ndarray
    landmarks: dict[str, np.ndarray]
    occluded: dict[str, np.ndarray]
    self_occluded: dict[str, np.ndarray]
    accessories: list[str]
    scene: Scene


def fit_camera(
    face: Face,
    pose: Pose,
    size: tuple[int, int],
    box_side: float,
    centre: tuple[float, float],
    distance: float,
) -> Camera:
    """A camera that puts the face box (:func:`otmark.synth.face_model.face_box_points`, longer
    side ``box_side`` pixels) centred at ``centre`` in an image of ``size = (height, width)``.

    Focal length and principal point are solved in closed form: scaling the focal length by
    ``k`` scales the projection by ``k`` about the principal point, and moving the principal
    point translates it.
    """
    h, w = size
    cam = Camera(focal=100.0 * distance, cx=w / 2, cy=h / 2, distance=distance)
    uv = project(face_box_points(face), pose, cam)
    lo, hi = uv.min(0), uv.max(0)
    k = box_side / max(float((hi - lo).max()), 1e-6)
    c = (lo + hi) / 2
    cx = centre[0] - k * (c[0] - cam.cx)
    cy = centre[1] - k * (c[1] - cam.cy)
    return replace(cam, focal=cam.focal * k, cx=float(cx), cy=float(cy))


def sample_scene(
    domain: Domain, rng: np.random.Generator, scheme: str, size: tuple[int, int]
) -> Scene:
    """Draw a scene from ``domain`` for an image of ``size = (height, width)`` (``scheme`` is
    unused by the framing, which goes by the face box, and kept for callers)."""
    h, w = size
    identity = Identity.sample(rng, domain.identity_spread)
    if rng.random() < domain.expression_p:
        expression = Expression.sample(rng, domain.expression_strength)
    else:
        expression = Expression(gaze_x=float(rng.uniform(-0.3, 0.3)))
    face = Face(identity, expression)
    pose = sample_pose(domain, rng)
    side = float(rng.uniform(*domain.face_frac)) * min(h, w)
    off = rng.uniform(-domain.offset, domain.offset, size=2) * min(h, w)
    distance = float(rng.uniform(5.0, 14.0))
    camera = fit_camera(face, pose, size, side, (w / 2 + off[0], h / 2 + off[1]), distance)
    style = Style.sample(rng, domain.light_spread, domain.makeup_p)
    effects = sample_effects(domain, rng)
    return Scene(
        face, pose, camera, style, effects, dict(domain.occluders), int(rng.integers(2**31))
    )


def render_scene(
    scene: Scene,
    background: np.ndarray,
    schemes: tuple[str, ...],
    rng: np.random.Generator,
) -> Rendered:
    """Render ``scene`` over a copy of ``background: (H, W, 3)`` and annotate it in ``schemes``.

    ``rng`` drives only the sensor noise; accessories are drawn from ``scene.accessory_seed``
    so that a video keeps the same accessory from frame to frame.
    """
    img = background.copy()
    render_face(img, scene.face, scene.pose, scene.camera, scene.style)
    acc_rng = np.random.default_rng(scene.accessory_seed)
    mask, drawn = draw_accessories(
        img, scene.face, scene.pose, scene.camera, acc_rng, scene.occluders, scene.style.skin
    )
    img = apply_effects(img, scene.effects, rng)
    landmarks, occluded, self_occ = {}, {}, {}
    for name in schemes:
        uv, hidden = annotate(scene.face, name, scene.pose, scene.camera)
        landmarks[name] = uv
        self_occ[name] = hidden
        occluded[name] = hidden | occluded_by_mask(uv, mask)
    return Rendered(img, landmarks, occluded, self_occ, drawn, scene)


def synth_face(
    domain: Domain,
    rng: np.random.Generator,
    schemes: tuple[str, ...],
    size: tuple[int, int] = (256, 256),
) -> Rendered:
    """Draw and render one face of ``domain``, annotated in ``schemes`` (framed on the first)."""
    scene = sample_scene(domain, rng, schemes[0], size)
    background = render_background(rng, size[0], size[1], domain.clutter)
    return render_scene(scene, background, schemes, rng)


def wflw_attributes(rendered: Rendered, scheme: str = "wflw") -> dict[str, int]:
    """WFLW's six attribute flags derived from the generator's parameters.

    pose: ``|yaw| > 45`` or ``|pitch| > 28`` or ``|roll| > 32`` degrees; expression: mouth open
    > 0.6, ``|smile| > 0.85``, ``|brow_raise| > 0.9`` or an eye closure > 0.7; illumination:
    exposure gain outside [0.58, 1.36], ambient light < 0.37 or a colour cast > 16 %; make-up:
    make-up drawn; occlusion: >= 10 % of the points hidden by accessories; blur: Gaussian sigma
    > 1.2 px or motion > 3 px. On generated WFLW each flag is set on roughly 15-35 % of faces
    (real WFLW test: 8-31 %).
    """
    sc = rendered.scene
    p, e, fx = sc.pose, sc.face.expression, sc.effects
    by_acc = rendered.occluded[scheme] & ~rendered.self_occluded[scheme]
    return {
        "pose": int(abs(p.yaw) > 45 or abs(p.pitch) > 28 or abs(p.roll) > 32),
        "expression": int(
            e.mouth_open > 0.6
            or abs(e.smile) > 0.85
            or abs(e.brow_raise) > 0.9
            or max(e.eye_closure_left, e.eye_closure_right) > 0.7
        ),
        "illumination": int(
            not 0.58 <= fx.gain <= 1.36
            or sc.style.ambient < 0.37
            or max(abs(c - 1.0) for c in fx.cast) > 0.16
        ),
        "makeup": int(sc.style.makeup > 0),
        "occlusion": int(by_acc.mean() >= 0.1),
        "blur": int(fx.blur > 1.2 or float(np.hypot(*fx.motion)) > 3.0),
    }
