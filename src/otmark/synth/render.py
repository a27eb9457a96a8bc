"""Drawing one face model into an image (numpy + OpenCV, CPU).

The face is drawn back to front onto an ``(H, W, 3)`` uint8 RGB image: hair behind the head,
neck, ears, the shaded skin (a fan mesh spanned by the jaw and forehead curves, Lambert-lit from
``Style.light_dir``), eyes (sclera, iris, pupil, lids, lashes), brows, the nose (its convex hull,
which is also the nose occluder of :func:`otmark.synth.camera.annotate`, and nostrils), lips
and mouth interior, and the fringe. Everything is drawn from the same 3-D curves that the
landmarks are sampled from, so drawing and annotation agree by construction.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from otmark.synth.camera import (
    Camera,
    Pose,
    convex_hull,
    facing_camera,
    project,
    rotation_matrix,
    to_camera,
)
from otmark.synth.face_model import SIDES, Face, nose_points
from otmark.synth.silhouette import FAN_CENTRE

_SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = 1 << _SHIFT

#: skin tones (RGB) between which a face's skin colour is interpolated
SKIN_TONES = np.array(
    [
        [241, 206, 180],
        [224, 172, 140],
        [198, 140, 105],
        [160, 108, 76],
        [112, 72, 50],
        [78, 52, 38],
    ],
    dtype=np.float64,
)
HAIR_COLOURS = np.array(
    [
        [20, 16, 14],
        [56, 38, 26],
        [100, 70, 45],
        [165, 125, 80],
        [200, 170, 120],
        [120, 40, 25],
        [150, 150, 150],
    ],
    dtype=np.float64,
)
IRIS_COLOURS = np.array([[70, 45, 30], [110, 80, 50], [60, 100, 140], [80, 120, 80], [40, 30, 25]])


@dataclass(frozen=True)
class Style:
    """Colours, hair and lighting of one rendered face (colours RGB 0-255)."""

    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    lips: tuple[float, float, float]
    iris: tuple[float, float, float]
    brow: tuple[float, float, float]
    hair_length: float = 0.5  # 0 = very short, 1 = long (to the shoulders)
    hairline: float = 0.0  # shifts the hairline: > 0 lower (fringe), < 0 higher
    light_dir: tuple[float, float, float] = (0.3, -0.4, 1.0)  # camera frame, towards the light
    light_rgb: tuple[float, float, float] = (1.0, 1.0, 1.0)
    ambient: float = 0.45
    makeup: float = 0.0  # 0..1: eye shadow and lip colour strength
    makeup_rgb: tuple[float, float, float] = (120, 60, 120)
    specular: float = 0.0  # 0..1: strength of the skin's specular highlights (oily skin)
    shininess: float = 16.0  # Blinn-Phong exponent
    texture: float = 0.0  # 0..1: strength of the skin texture (blotches, pores)
    freckles: float = 0.0  # 0..1: density of freckles (0: none)
    blemishes: int = 0  # number of small spots
    blush: float = 0.0  # 0..1: redness of the cheeks
    stubble: float = 0.0  # 0..1: stubble/beard density over the chin, cheeks and upper lip
    beard: float = 0.0  # 0..1: beard length (0: stubble only)
    texture_seed: int = 0  # offset of the texture crops

    @staticmethod
    def sample(rng: np.random.Generator, light_spread: float = 0.5, makeup_p: float = 0.1) -> Style:
        """A random style; ``light_spread`` in [0, 1] widens the lighting directions/colours."""
        tone = (len(SKIN_TONES) - 1) * rng.beta(1.3, 1.8)
        lo = int(np.floor(tone))
        hi = min(lo + 1, len(SKIN_TONES) - 1)
        skin = SKIN_TONES[lo] + (tone - lo) * (SKIN_TONES[hi] - SKIN_TONES[lo])
        skin = skin * rng.uniform(0.93, 1.05, size=3)
        hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.8, 1.2)
        lips = skin * np.array([0.85, 0.55, 0.55]) + rng.uniform(-10, 10, size=3)
        iris = IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))].astype(np.float64)
        brow = np.minimum(hair, skin * 0.45) if rng.random() < 0.7 else hair * 0.8
        ang = rng.uniform(-np.pi, np.pi)
        tilt = rng.uniform(0.0, 1.2 * light_spread + 0.3)
        light_dir = (np.sin(tilt) * np.cos(ang), np.sin(tilt) * np.sin(ang), np.cos(tilt))
        tint = 1.0 + light_spread * rng.uniform(-0.25, 0.25, size=3)
        makeup = float(rng.uniform(0.4, 1.0)) if rng.random() < makeup_p else 0.0
        hairy = rng.random() < 0.2
        return Style(
            skin=tuple(np.clip(skin, 0, 255)),
            hair=tuple(np.clip(hair, 0, 255)),
            lips=tuple(np.clip(lips, 0, 255)),
            iris=tuple(iris),
            brow=tuple(np.clip(brow, 0, 255)),
            hair_length=float(rng.uniform(0, 1)),
            hairline=float(rng.uniform(-0.1, 0.15)),
            light_dir=tuple(light_dir),
            light_rgb=tuple(tint / tint.max()),
            ambient=float(rng.uniform(0.6, 0.8) - 0.25 * light_spread),
            makeup=makeup,
            makeup_rgb=tuple(rng.uniform(30, 220, size=3)),
            specular=float(rng.uniform(0.05, 0.5)),
            shininess=float(rng.uniform(8.0, 40.0)),
            texture=float(rng.uniform(0.3, 1.0)),
            freckles=float(rng.uniform(0.2, 1.0)) if rng.random() < 0.15 else 0.0,
            blemishes=int(rng.poisson(1.5)),
            blush=float(rng.uniform(0.0, 0.6) + 0.4 * makeup),
            stubble=float(rng.uniform(0.3, 1.0)) if hairy and makeup == 0 else 0.0,
            beard=float(rng.uniform(0.0, 1.0)) if hairy and rng.random() < 0.4 else 0.0,
            texture_seed=int(rng.integers(2**31)),
        )


def _fix(uv: np.ndarray) -> np.ndarray:
    """Float pixels ``(N, 2)`` -> int32 cv2 points with ``_SHIFT`` fractional bits."""
    return np.round(uv * _ONE).astype(np.int32)


def _pixel_box(uv: np.ndarray, shape, pad: int) -> tuple[int, int, int, int] | None:
    """The pixel box ``(x0, y0, x1, y1)`` (end exclusive) around the points ``uv: (N, 2)``
    widened by ``pad`` pixels and clipped to an image of ``shape`` (H, W, ...); None when it
    holds no pixel of the image."""
    h, w = shape[:2]
    x0, y0 = np.maximum(np.floor(uv.min(0)).astype(int) - pad, 0)
    x1, y1 = np.minimum(np.ceil(uv.max(0)).astype(int) + pad + 1, [w, h])
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def _col(rgb, k: float = 1.0) -> tuple[float, float, float]:
    return tuple(float(min(255.0, max(0.0, c * k))) for c in rgb)


class _Painter:
    """Projection and lighting shared by the drawing steps of one face."""

    def __init__(self, img: np.ndarray, face: Face, pose: Pose, camera: Camera, style: Style):
        self.img, self.face, self.pose, self.camera, self.style = img, face, pose, camera, style
        self.rot = rotation_matrix(pose)
        ld = np.asarray(style.light_dir, dtype=np.float64)
        self.light = ld / np.linalg.norm(ld)
        self.scale = camera.focal / camera.distance  # pixels per head unit (approx.)

    def uv(self, pts: np.ndarray) -> np.ndarray:
        return project(pts, self.pose, self.camera, self.rot)

    def depth(self, pts: np.ndarray) -> np.ndarray:
        return to_camera(pts, self.pose, self.camera, self.rot)[:, 2]

    def shade(self, normals: np.ndarray) -> np.ndarray:
        """Lambert intensity ``(N,)`` of head-frame ``normals: (N, 3)``."""
        n = normals @ self.rot.T
        n = n * np.array([1.0, 1.0, -1.0])  # camera frame: Z away from the camera
        n = n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)
        lam = np.clip(n @ (self.light * np.array([1.0, 1.0, -1.0])), 0.0, 1.0)
        return self.style.ambient + (1.0 - self.style.ambient) * lam

    def lit(self, rgb, k: float = 1.0) -> tuple[float, float, float]:
        return _col(np.asarray(rgb) * np.asarray(self.style.light_rgb), k)

    def facing(self, pts: np.ndarray, normals: np.ndarray) -> np.ndarray:
        return facing_camera(pts, normals, self.pose, self.camera, rot=self.rot)

    def poly(self, pts3: np.ndarray, rgb, img: np.ndarray | None = None) -> None:
        cv2.fillPoly(
            self.img if img is None else img,
            [_fix(self.uv(pts3))],
            rgb,
            cv2.LINE_AA,
            _SHIFT,
        )

    def blend(self, pts3: np.ndarray, rgb, alpha: float, projected: bool = False) -> None:
        """Fill a polygon with opacity ``alpha``, touching only its bounding box
        (``projected``: ``pts3[:, :2]`` are already pixels)."""
        uv = pts3[:, :2] if projected else self.uv(pts3)
        box = _pixel_box(uv, self.img.shape, 1)
        if box is None:
            return
        x0, y0, x1, y1 = box
        roi = self.img[y0:y1, x0:x1]
        over = roi.copy()
        cv2.fillPoly(over, [_fix(uv - np.array([x0, y0]))], rgb, cv2.LINE_AA, _SHIFT)
        cv2.addWeighted(over, alpha, roi, 1.0 - alpha, 0, roi)

    def hair(self, pts3: np.ndarray, k: float, strength: float = 0.3) -> None:
        """Fill a polygon with hair: the hair colour times ``k``, lit, with vertical strands
        (a crop of the strand texture) and a soft sheen band."""
        uv = self.uv(pts3)
        box = _pixel_box(uv, self.img.shape, 1)
        if box is None:
            return
        x0, y0, x1, y1 = box
        rh, rw = y1 - y0, x1 - x0
        m = np.zeros((rh, rw), np.uint8)
        cv2.fillPoly(m, [_fix(uv - np.array([x0, y0]))], 255, cv2.LINE_AA, _SHIFT)
        tex = bank_texture(self.style.texture_seed + 1, 2, rw, rh).T
        yy = np.linspace(-1.0, 1.0, rh, dtype=np.float32)[:, None]
        sheen = 0.25 * np.exp(-((yy + 0.4) ** 2) / 0.08) * (1.0 - self.style.ambient)
        base = np.asarray(self.lit(self.style.hair, k), np.float32)
        col = base * (1.0 + strength * np.clip(tex, -2, 2) / 2.0 + sheen)[..., None]
        col = col + 40.0 * sheen[..., None]
        a = (m.astype(np.float32) / 255.0)[..., None]
        roi = self.img[y0:y1, x0:x1]
        roi[:] = np.clip(roi * (1 - a) + col * a, 0, 255).astype(np.uint8)

    def line(self, pts3: np.ndarray, rgb, width: float, closed: bool = False) -> None:
        th = max(1, int(round(width)))
        cv2.polylines(self.img, [_fix(self.uv(pts3))], closed, rgb, th, cv2.LINE_AA, _SHIFT)


def _skin_mesh(face: Face, rings: int = 5, segments: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Fan mesh of the skin: vertices ``(rings + 1, M, 3)`` and quad normals ``(rings, M, 3)``."""
    jaw = face.curve("jaw", np.linspace(0.0, 1.0, segments + 1))
    top = face.curve("forehead", np.linspace(1.0, 0.0, segments + 1))[1:-1]
    loop = np.vstack([jaw, top])
    centre = FAN_CENTRE  # the dome's apex (also the jaw outline's, otmark.synth.silhouette)
    s = np.linspace(0.0, 1.0, rings)[:, None, None]
    verts = centre + s * (loop[None] - centre)
    verts[..., 2] = centre[2] + (loop[None, :, 2] - centre[2]) * s[..., 0] ** 2
    # one more ring behind the outline: the sides of the head (cheeks towards the ears), so
    # that a turned face shows its side instead of a flat disc
    side = loop.copy()
    side[:, 0] *= 1.06
    side[:, 1] = centre[1] + (side[:, 1] - centre[1]) * 1.02
    side[:, 2] -= 0.38
    verts = np.concatenate([verts, side[None]], axis=0)
    a = verts[1:, :]
    b = np.roll(verts[1:, :], -1, axis=1)
    c = verts[:-1, :]
    n = np.cross(c - a, b - a)  # outward (towards the camera on a frontal face)
    n = n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)
    return verts, n


def blinn_phong(
    normals: np.ndarray,
    light: np.ndarray,
    ambient: float,
    specular: float = 0.0,
    shininess: float = 16.0,
    wrap: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel shading of unit ``normals: (..., 3)`` in the view frame (``x`` right, ``y``
    down, ``z`` towards the viewer, who looks along ``-z`` from far away) lit by the unit
    direction ``light: (3,)`` (towards the light).

    Returns:
        ``(diffuse, highlight)``, each ``(...)``: ``diffuse = ambient + (1 - ambient) *
        max(0, (n.l + wrap) / (1 + wrap))`` (``wrap > 0`` softens the terminator as skin's
        subsurface scattering does) and ``highlight = specular * max(0, n.h)^shininess`` with
        the half vector ``h = normalise(l + (0, 0, 1))``, zero where ``n.l <= 0``.
    """
    ndl = normals @ light
    diffuse = ambient + (1.0 - ambient) * np.clip((ndl + wrap) / (1.0 + wrap), 0.0, 1.0)
    half = light + np.array([0.0, 0.0, 1.0])
    half = half / max(float(np.linalg.norm(half)), 1e-9)
    ndh = np.clip(normals @ half, 0.0, 1.0)
    highlight = specular * ndh**shininess * (ndl > 0)
    return diffuse.astype(np.float32), highlight.astype(np.float32)


_BANK = 512


@functools.lru_cache(maxsize=1)
def _texture_bank() -> np.ndarray:
    """A fixed ``(512, 512, 3)`` float32 texture bank (seeded once), zero-mean channels:
    0 = blotches (smooth, two scales), 1 = pores (fine grain), 2 = hair strands (noise
    stretched along x). Textures are crops of it at offsets drawn per face."""
    rng = np.random.default_rng(20261201)
    n = _BANK
    blot = sum(
        cv2.resize(rng.standard_normal((c, c)).astype(np.float32), (n, n), cv2.INTER_CUBIC) * a
        for c, a in ((12, 0.7), (40, 0.5))
    )
    pores = cv2.GaussianBlur(rng.standard_normal((n, n)).astype(np.float32), (0, 0), 0.6)
    pores = np.minimum(pores, 0.6)  # pores are dark dips, not bright bumps
    strands = cv2.GaussianBlur(
        rng.standard_normal((n, n)).astype(np.float32), (0, 0), 6.0, sigmaY=0.5
    )
    bank = np.stack([blot, pores, strands], axis=-1)
    bank = (bank - bank.mean((0, 1))) / bank.std((0, 1))
    bank.setflags(write=False)
    return bank


def bank_texture(seed: int, channel: int, h: int, w: int) -> np.ndarray:
    """A ``(h, w)`` float32 crop of one bank channel at an offset given by ``seed``."""
    bank = _texture_bank()[..., channel]
    ch, cw = min(h, _BANK - 32), min(w, _BANK - 32)
    rng = np.random.default_rng([seed, channel])
    y0, x0 = (int(v) for v in rng.integers(0, [_BANK - ch + 1, _BANK - cw + 1]))
    crop = bank[y0 : y0 + ch, x0 : x0 + cw]
    if (ch, cw) != (h, w):
        crop = cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)
    return crop


def _cheek_points(p: _Painter) -> np.ndarray:
    """Projected cheek centres ``(2, 2)`` (between the lower lid and the mouth corner)."""
    f = p.face
    pts = [
        0.55 * f.curve(f"{s}_eye_lower", [0.4])[0] + 0.45 * f.curve("lip_outer_upper", [t])[0]
        for s, t in (("right", 0.0), ("left", 1.0))
    ]
    pts = np.array(pts)
    pts[:, 0] *= 1.25
    return p.uv(pts)


def _draw_skin(p: _Painter) -> np.ndarray:
    """Shaded, textured skin; returns the face mask ``(H, W)`` uint8 (255 inside).

    Normals: the skin mesh's quad normals (view frame) are rasterised at half resolution,
    blurred and renormalised (smooth per-pixel normals), perturbed by the pore texture, and
    shaded with :func:`blinn_phong`. Albedo: the skin colour modulated by blotches and pores,
    cheek redness, freckles and spots; eye sockets and the nose's cast shadow are darkened.
    """
    h, w = p.img.shape[:2]
    st = p.style
    verts, normals = _skin_mesh(p.face)
    rings, m = normals.shape[:2]
    uv = p.uv(verts.reshape(-1, 3)).reshape(rings + 1, m, 2)
    depth = p.depth(verts.reshape(-1, 3)).reshape(rings + 1, m)
    mask = np.zeros((h, w), np.uint8)
    box = _pixel_box(uv.reshape(-1, 2), p.img.shape, 2)
    if box is None:
        return mask
    x0, y0, x1, y1 = box
    rh, rw = y1 - y0, x1 - x0
    # normals are smooth: drawn and blurred at half resolution, then upsampled; the mask
    # (silhouette) is drawn at full resolution
    hh, hw = (rh + 1) // 2, (rw + 1) // 2
    half_n = np.zeros((hh, hw, 3), np.float32)
    half_mask = np.zeros((hh, hw), np.float32)
    roi_mask = np.zeros((rh, rw), np.uint8)
    nview = (normals.reshape(-1, 3) @ p.rot.T).reshape(rings, m, 3)
    off = np.array([x0, y0], dtype=np.float64)
    nxt = np.roll(np.arange(m), -1)
    quads = np.stack([uv[1:], uv[1:, nxt], uv[:-1, nxt], uv[:-1]], axis=2)  # (rings, m, 4, 2)
    z = depth[1:] + depth[1:, nxt] + depth[:-1, nxt] + depth[:-1]
    # signed area in the image: quads seen from behind have the opposite winding
    q = quads
    area = np.sum(
        q[..., 0] * np.roll(q[..., 1], -1, -1) - np.roll(q[..., 0], -1, -1) * q[..., 1], -1
    )
    front_sign = np.sign(np.sum(area * (z < np.median(z))))
    keep = (area * front_sign) > 0
    if not keep.any():
        return mask
    fixed = _fix(quads - off)
    fixed_half = _fix((quads - off) * 0.5 - 0.25)
    order = np.argsort(-z, axis=None, kind="stable")
    for idx in order:
        r, j = divmod(int(idx), m)
        if keep[r, j]:
            cv2.fillConvexPoly(
                half_n, fixed_half[r, j], tuple(float(v) for v in nview[r, j]), cv2.LINE_8, _SHIFT
            )
    # the skin's silhouette is convex (a dome and the sides of the head): one hull each
    hull = cv2.convexHull(fixed[keep].reshape(-1, 2))
    hull_half = cv2.convexHull(fixed_half[keep].reshape(-1, 2))
    cv2.fillConvexPoly(roi_mask, hull, 255, cv2.LINE_8, _SHIFT)
    cv2.fillConvexPoly(half_mask, hull_half, 1.0, cv2.LINE_8, _SHIFT)
    sigma = max(0.5, 0.03 * p.scale)
    num = cv2.GaussianBlur(half_n, (0, 0), sigma)
    den = cv2.GaussianBlur(half_mask, (0, 0), sigma)
    nmap = num / np.maximum(den, 1e-3)[..., None]
    edge = cv2.GaussianBlur(half_mask, (0, 0), max(0.5, 0.06 * p.scale))
    nmap = cv2.resize(nmap, (rw, rh), interpolation=cv2.INTER_LINEAR)
    edge = cv2.resize(edge, (rw, rh), interpolation=cv2.INTER_LINEAR)
    # pores and fine relief perturb the normals
    seed = st.texture_seed
    pores = bank_texture(seed, 1, rh, rw)
    bump = 0.06 * st.texture * max(0.3, min(1.0, p.scale / 200.0))
    gy, gx = np.gradient(pores)
    nmap[..., 0] -= bump * gx
    nmap[..., 1] -= bump * gy
    nmap /= np.maximum(np.linalg.norm(nmap, axis=-1, keepdims=True), 1e-6)
    light = p.light * np.array([1.0, 1.0, 1.0])
    diffuse, highlight = blinn_phong(
        nmap, light, st.ambient, 0.55 * st.specular, st.shininess, wrap=0.3
    )
    # albedo: skin colour, blotches, pores, cheek redness
    skin = np.asarray(st.skin, np.float32)
    blot = bank_texture(seed, 0, rh, rw)
    albedo = np.empty((rh, rw, 3), np.float32)
    tex = 1.0 + st.texture * (0.035 * blot + 0.025 * pores)
    albedo[:] = skin
    albedo *= tex[..., None]
    albedo[..., 1:] *= (1.0 - 0.025 * st.texture * np.maximum(blot, 0.0))[..., None]
    occl = np.zeros((rh, rw), np.float32)  # ambient occlusion and cast shadows (0..1)
    blush = np.zeros((rh, rw), np.float32)
    for c in _cheek_points(p) - off:
        ax = (max(1, int(0.2 * p.scale)), max(1, int(0.14 * p.scale)))
        cv2.ellipse(blush, (int(c[0]), int(c[1])), ax, 0.0, 0, 360, 1.0, -1)
    f = p.face
    for side in SIDES:
        t = np.linspace(0.0, 1.0, 9)
        up = f.curve(f"{side}_eye_upper", t)
        brow = f.curve(f"{side}_brow_lower", t)
        socket = np.vstack([up * 0.8 + brow * 0.2, f.curve(f"{side}_eye_lower", t)[::-1]])
        socket = socket.mean(0) + 1.25 * (socket - socket.mean(0))
        cv2.fillPoly(occl, [_fix(p.uv(socket) - off)], 0.5, cv2.LINE_8, _SHIFT)
    # the nose's cast shadow: its hull moved away from the light
    nose = p.uv(nose_points(f))
    l_xy = light[:2] / max(light[2], 0.35)
    shift = -l_xy * 0.22 * p.scale
    shift *= min(1.0, 0.1 * p.scale / max(float(np.linalg.norm(shift)), 1e-9))
    cv2.fillPoly(
        occl, [_fix(convex_hull(nose) + shift - off)], 0.9 * (1.0 - st.ambient), cv2.LINE_8, _SHIFT
    )
    under = f.curve("lip_outer_lower", np.linspace(0.2, 0.8, 7)) + np.array([0, 0.04, 0])
    cv2.polylines(occl, [_fix(p.uv(under) - off)], False, 0.35, max(1, int(0.035 * p.scale)))
    occl = cv2.GaussianBlur(occl, (0, 0), max(0.8, 0.045 * p.scale))
    blush = cv2.GaussianBlur(blush, (0, 0), max(0.8, 0.08 * p.scale)) * st.blush
    albedo *= 1.0 - blush[..., None] * np.array([0.0, 0.14, 0.12], np.float32)
    _freckles(p, albedo, off)
    # subsurface tint: shadowed skin turns a little redder
    light_rgb = np.asarray(st.light_rgb, np.float32)
    shade = 1.08 * diffuse * (1.0 - occl)
    colour = albedo * shade[..., None]
    colour *= 1.0 + (1.0 - shade)[..., None] * np.array([0.06, -0.04, -0.06], np.float32)
    colour = colour * light_rgb + (255.0 * highlight * (1.0 - occl))[..., None] * light_rgb
    # a soft rim towards the silhouette
    colour *= (0.82 + 0.18 * np.clip(edge * 1.6 - 0.3, 0, 1))[..., None]
    alpha = cv2.GaussianBlur(roi_mask, (3, 3), 0.7).astype(np.float32)[..., None] / 255.0
    roi = p.img[y0:y1, x0:x1].astype(np.float32)
    out = roi * (1 - alpha) + alpha * colour
    p.img[y0:y1, x0:x1] = np.clip(out, 0, 255).astype(np.uint8)
    mask[y0:y1, x0:x1] = roi_mask
    return mask


def _freckles(p: _Painter, albedo: np.ndarray, off: np.ndarray) -> None:
    """Freckles over the nose and cheeks and a few spots anywhere, into ``albedo`` in place."""
    st = p.style
    n_freckles = int(st.freckles * 60)
    if n_freckles == 0 and st.blemishes == 0:
        return
    rng = np.random.default_rng([st.texture_seed, 7])
    f = p.face
    centre = 0.5 * (f.point("right_pupil") + f.point("left_pupil")) + np.array([0, 0.25, 0.1])
    spots = np.zeros(albedo.shape[:2], np.float32)
    if n_freckles:
        pts = centre + rng.normal(0, 1, (n_freckles, 3)) * np.array([0.35, 0.12, 0.0])
        for c, r in zip(p.uv(pts) - off, rng.uniform(0.004, 0.01, n_freckles) * p.scale):
            cv2.circle(spots, (int(c[0]), int(c[1])), max(0, int(r)), 0.35, -1)
    if st.blemishes:
        pts = centre + rng.uniform(-1, 1, (st.blemishes, 3)) * np.array([0.6, 0.7, 0.0])
        for c, r in zip(p.uv(pts) - off, rng.uniform(0.006, 0.014, st.blemishes) * p.scale):
            cv2.circle(spots, (int(c[0]), int(c[1])), max(0, int(r)), 0.3, -1)
    spots = cv2.GaussianBlur(spots, (0, 0), 0.6)
    albedo *= 1.0 - spots[..., None] * np.array([0.25, 0.45, 0.55], np.float32)


def _draw_hair_back(p: _Painter) -> None:
    f = p.face
    t = np.linspace(0.0, 1.0, 17)
    top = f.curve("forehead", t)
    centre = np.array([0.0, 0.1, -0.7])
    scalp = centre + (top - centre) * np.array([1.12, 1.1, 1.0])
    scalp[:, 2] -= 0.15
    drop = 0.2 + 1.4 * p.style.hair_length
    w = f.jaw_hw * (1.1 + 0.08 * p.style.hair_length)
    # long hair falls straight down beside the face and ends in a rounded line
    right = np.array([[-w, 0.3, -0.8], [-w * 1.02, drop, -0.8], [-w * 0.75, drop + 0.1, -0.85]])
    bottom = np.array([[-w * 0.4, drop + 0.14, -0.9], [w * 0.4, drop + 0.14, -0.9]])
    left = right[::-1] * np.array([-1.0, 1.0, 1.0])
    outline = np.vstack([scalp, right, bottom, left])
    p.hair(outline, 0.8)


def _draw_side_hair(p: _Painter) -> None:
    """Hair on the side of the head (above and behind the ear) of the side turned towards the
    camera: without it a turned head would show bare skin up to the crown."""
    f = p.face
    w = f.jaw_hw
    top = f.head_top_y
    low = 0.15 + 0.6 * p.style.hair_length
    for sg in (-1.0, 1.0):
        if not p.facing(np.array([[sg * w, -0.3, -0.7]]), np.array([[sg, -0.1, 0.0]]))[0]:
            continue
        panel = np.array(
            [
                [1.03 * w, -0.45 + 0.2 * p.style.hairline, -0.42],
                [0.92 * w, 0.7 * top, -0.5],
                [0.8 * w, 0.85 * top, -0.85],
                [0.98 * w, 0.35 * top, -0.98],
                [1.04 * w, low, -0.95],
                [1.08 * w, 0.05, -0.85],
                [1.08 * w, -0.08, -0.62],
                [1.06 * w, -0.12, -0.5],
            ]
        )
        panel[:, 0] *= sg
        p.hair(panel, 0.85 * float(p.shade(np.array([[sg, -0.3, 0.2]]))[0]))


def _draw_neck(p: _Painter) -> None:
    f = p.face
    jaw = f.curve("jaw", np.linspace(0.3, 0.7, 9))
    jaw[:, 2] -= 0.45
    jaw[:, 1] -= 0.15
    lo = jaw[[-1, 0]].copy()
    lo[:, 1] += 2.0
    lo[:, 0] *= 0.95
    n_front = (np.array([0.0, 0.3, 1.0]) @ p.rot.T) / np.linalg.norm([0.0, 0.3, 1.0])
    k = float(blinn_phong(n_front[None], p.light, p.style.ambient)[0][0])
    neck = np.vstack([jaw, lo])
    p.poly(neck, p.lit(p.style.skin, 0.82 * k))
    # the jaw's shadow on the neck
    shadow = np.vstack([jaw, (jaw + np.array([0.0, 0.35, 0.0]))[::-1]])
    p.blend(shadow, p.lit(p.style.skin, 0.45 * k), 0.6)
    shoulders = np.array([[1.6, 2.4, -1.0], [1.6, 4.0, -1.0], [-1.6, 4.0, -1.0], [-1.6, 2.4, -1.0]])
    shoulders[:2, 0] *= f.identity.face_width
    p.poly(shoulders, p.lit(p.style.hair[::-1], 0.5 + 0.3))


def _draw_ears(p: _Painter, near: bool) -> None:
    """The ears: the one turned towards the camera is drawn over the skin (``near``)."""
    f = p.face
    th = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    for sg in (-1.0, 1.0):
        centre = np.array([[sg * (f.jaw_hw + 0.05), 0.2, -0.62]])
        if bool(p.facing(centre, np.array([[sg, 0.0, 0.35]]))[0]) != near:
            continue
        a = 0.5 * (1 + np.sin(th))
        ear = np.stack(
            [
                sg * (f.jaw_hw + 0.01 + 0.07 * a),
                0.2 + 0.19 * np.cos(th),
                -0.6 - 0.12 * np.sin(th),
            ],
            axis=1,
        )
        normal = np.array([[sg, 0.0, 0.6]])
        k = float(p.shade(normal)[0])
        p.poly(ear, p.lit(p.style.skin, 0.85 * k))
        inner = ear.mean(0) + 0.55 * (ear - ear.mean(0))
        p.line(inner, p.lit(p.style.skin, 0.6 * k), max(1.0, 0.012 * p.scale), closed=True)


def _draw_eye(p: _Painter, side: str) -> None:
    f, st = p.face, p.style
    t = np.linspace(0.0, 1.0, 13)
    up, lo = f.curve(f"{side}_eye_upper", t), f.curve(f"{side}_eye_lower", t)
    centre = 0.5 * (up[6] + lo[6])
    normal = (centre - np.array([0.0, 0.25, -0.95]))[None]
    if not p.facing(centre[None], normal)[0]:
        return
    k = float(p.shade(normal)[0])
    lw = max(1.0, 0.014 * p.scale)
    if st.makeup > 0:
        brow = f.curve(f"{side}_brow_lower", t)
        shadow = np.vstack([up, brow[::-1] * 0.35 + up[::-1] * 0.65])
        p.blend(shadow, p.lit(st.makeup_rgb, k), 0.45 * st.makeup)
    opening = np.vstack([up, lo[::-1]])
    if f.eye_openness(side) > 0.08:
        uv = p.uv(opening)
        box = _pixel_box(uv, p.img.shape, 1)
        if box is not None:
            x0, y0, x1, y1 = box
            roi = p.img[y0:y1, x0:x1]
            off = np.array([x0, y0], np.float64)
            patch = roi.copy()
            sclera = p.lit((235, 230, 225), 0.8 * k + 0.15)
            cv2.fillPoly(patch, [_fix(uv - off)], sclera, cv2.LINE_AA, _SHIFT)
            pupil3 = f.point(f"{side}_pupil")
            c = p.uv(pupil3[None])[0] - off
            zc = p.depth(pupil3[None])[0]
            r = f.iris_r * p.camera.focal / zc
            rr = int(round(r * _ONE))
            cv2.circle(
                patch, tuple(_fix(c[None])[0]), rr, p.lit(st.iris, k), -1, cv2.LINE_AA, _SHIFT
            )
            cv2.circle(
                patch,
                tuple(_fix(c[None])[0]),
                rr,
                p.lit(st.iris, 0.5 * k),
                max(1, int(r / 6)),
                cv2.LINE_AA,
                _SHIFT,
            )
            cv2.circle(
                patch,
                tuple(_fix(c[None])[0]),
                int(rr * 0.45),
                (10, 10, 10),
                -1,
                cv2.LINE_AA,
                _SHIFT,
            )
            hl = c + np.array([0.3 * r, -0.3 * r])
            cv2.circle(
                patch,
                tuple(_fix(hl[None])[0]),
                max(1, int(rr * 0.18)),
                (250, 250, 250),
                -1,
                cv2.LINE_AA,
                _SHIFT,
            )
            m = np.zeros(roi.shape[:2], np.uint8)
            cv2.fillPoly(m, [_fix(uv - off)], 255, cv2.LINE_AA, _SHIFT)
            a = (m.astype(np.float32) / 255.0)[..., None]
            roi[:] = (roi * (1 - a) + patch * a).astype(np.uint8)
    lash = p.lit((25, 18, 15), 1.0)
    p.line(up, lash, 1.6 * lw)
    if f.eye_openness(side) > 0.08:  # lashes: strokes up and outwards from the upper lid
        ts = np.linspace(0.1, 0.9, 9)
        roots = f.curve(f"{side}_eye_upper", ts)
        out = -1.0 if side == "right" else 1.0
        s_out = 1.0 - ts if side == "right" else ts  # 1 at the outer corner
        d = np.stack([out * (0.2 + 0.6 * s_out), -np.ones_like(ts), np.zeros_like(ts)], 1)
        d *= 0.035 / np.linalg.norm(d, axis=1, keepdims=True)
        _strokes(p, roots, roots + d, lash, 0.6 * lw)
    p.line(lo, p.lit(st.skin, 0.55 * k), 0.7 * lw)


def _draw_stubble(p: _Painter) -> None:
    """Stubble (dots of the pore texture) or a beard (dense strands) over the chin, jaw and
    upper lip; the lips are drawn over it afterwards."""
    st, f = p.style, p.face
    if st.stubble <= 0:
        return
    jaw = f.curve("jaw", np.linspace(0.1, 0.9, 17))
    if not p.facing(f.point("chin")[None], np.array([[0.0, 0.6, 0.8]]))[0]:
        return
    y_top = f.nose_base_y + 0.02
    wings = f.curve("nose_base", [1.0, 0.5, 0.0]) + np.array([0.0, 0.03, 0.02])
    cheeks = np.array([[0.8 * f.jaw_hw, y_top + 0.08, -0.1], [-0.8 * f.jaw_hw, y_top + 0.08, -0.1]])
    region = np.vstack([jaw, cheeks[:1], wings, cheeks[1:]])
    uv = p.uv(region)
    box = _pixel_box(uv, p.img.shape, 2)
    if box is None:
        return
    x0, y0, x1, y1 = box
    rh, rw = y1 - y0, x1 - x0
    m = np.zeros((rh, rw), np.float32)
    cv2.fillPoly(m, [_fix(uv - np.array([x0, y0]))], 1.0, cv2.LINE_AA, _SHIFT)
    m = cv2.GaussianBlur(m, (0, 0), max(0.7, 0.04 * p.scale))
    dots = np.clip(bank_texture(st.texture_seed + 2, 1, rh, rw) * 0.3 + 0.5, 0, 1)
    strands = np.clip(0.75 + 0.25 * bank_texture(st.texture_seed + 3, 2, rw, rh).T, 0, 1)
    a = m * (st.stubble * 0.3 * dots * (1 - st.beard) + st.beard * 0.85 * strands)
    col = np.asarray(p.lit(st.brow, 0.8), np.float32)
    roi = p.img[y0:y1, x0:x1]
    roi[:] = np.clip(roi * (1 - a[..., None]) + col * a[..., None], 0, 255).astype(np.uint8)


def _strokes(p: _Painter, starts: np.ndarray, ends: np.ndarray, rgb, width: float) -> None:
    """Draw hair strokes from ``starts (N, 3)`` to ``ends (N, 3)`` (one polylines call)."""
    a, b = _fix(p.uv(starts)), _fix(p.uv(ends))
    lines = list(np.stack([a, b], axis=1).reshape(-1, 2, 2))
    th = max(1, int(round(width)))
    cv2.polylines(p.img, lines, False, rgb, th, cv2.LINE_AA, _SHIFT)


def _draw_brow(p: _Painter, side: str) -> None:
    """A brow: a faint base fill and hair strokes that grow outwards (upwards at the inner
    end), drawn between the upper and lower brow contours."""
    f = p.face
    t = np.linspace(0.0, 1.0, 11)
    up, lo = f.curve(f"{side}_brow_upper", t), f.curve(f"{side}_brow_lower", t)
    mid = up[5]
    normal = (mid - np.array([0.0, 0.25, -0.95]))[None]
    if not p.facing(mid[None], normal)[0]:
        return
    k = float(p.shade(normal)[0])
    col = p.lit(p.style.brow, k)
    p.blend(np.vstack([up, lo[::-1]]), col, 0.45)
    rng = np.random.default_rng([p.style.texture_seed, 11 if side == "right" else 12])
    n = 44
    ts = np.sort(rng.uniform(0.0, 1.0, n))
    v = rng.uniform(0.0, 1.0, n)[:, None]
    a = f.curve(f"{side}_brow_lower", ts) * (1 - v) + f.curve(f"{side}_brow_upper", ts) * v
    s_in = ts if side == "right" else 1.0 - ts  # 0 at the outer end, 1 at the inner end
    out = -1.0 if side == "right" else 1.0
    ang = np.where(s_in > 0.8, 1.2, 0.35) + rng.normal(0, 0.15, n)
    length = 0.05 + 0.03 * rng.random(n)
    d = np.stack([out * np.cos(ang), -np.sin(ang), np.zeros(n)], 1) * length[:, None]
    _strokes(p, a - 0.4 * d, a + 0.6 * d, _col(np.asarray(col), 0.85), max(1.0, 0.008 * p.scale))


def _draw_nose(p: _Painter) -> None:
    f, st = p.face, p.style
    hull = convex_hull(p.uv(nose_points(f)))
    # the nose is skin lit from its own (forward) normal, blended over the textured skin
    n_front = (np.array([0.0, 0.15, 1.0]) @ p.rot.T)[None]
    n_front /= np.linalg.norm(n_front)
    dif, spec = blinn_phong(n_front, p.light, st.ambient, 0.55 * st.specular, st.shininess, 0.3)
    local = np.asarray(st.skin) * np.asarray(st.light_rgb) * float(dif[0])
    p.blend(np.column_stack([hull, np.zeros(len(hull))]), _col(local, 1.0), 0.45, projected=True)
    tip = p.uv(f.point("nose_tip")[None])[0]
    rr = max(1, int(0.03 * p.scale))
    shine = _col(local + 255.0 * float(spec[0]) + 20.0, 1.0)
    over = p.img.copy()
    cv2.circle(over, (int(tip[0]), int(tip[1] - rr)), rr, shine, -1, cv2.LINE_AA)
    cv2.addWeighted(over, 0.35, p.img, 0.65, 0, p.img)
    lw = max(1.0, 0.012 * p.scale)
    # the side of the nose away from the light is in shadow
    sgn = -1.0 if p.light[0] > 0 else 1.0
    t = np.linspace(0.05, 1.0, 6)
    bridge = f.curve("nose_bridge", t)
    wing = f.curve("nose_base", np.linspace(0.0, 0.3, 4) if sgn < 0 else np.linspace(1.0, 0.7, 4))
    side = bridge + np.array([sgn * 0.055, 0.0, -0.05])
    shadow = np.vstack([bridge, wing[::-1], side[::-1]])
    p.blend(shadow, _col(local, 0.78), 0.6)
    base = f.curve("nose_base", np.linspace(0, 1, 11))
    for lo_t, hi_t in ((0.0, 0.35), (0.65, 1.0)):
        seg = f.curve("nose_base", np.linspace(lo_t, hi_t, 5)) - np.array([0, 0.03, 0])
        p.line(seg, _col(local, 0.6), lw)
    for tt in (0.3, 0.7):
        c3 = f.curve("nose_base", [tt])[0] - np.array([0, 0.012, 0])
        if not p.facing(c3[None], np.array([[2 * tt - 1, 0.6, 0.8]]))[0]:
            continue
        c = p.uv(c3[None])[0]
        ax = (0.05 * p.scale, 0.024 * p.scale)
        ang = float(np.degrees(np.arctan2(*(p.rot[1, :2][::-1]))) * 0 + p.pose.roll)
        cv2.ellipse(
            p.img,
            (tuple(c), ax, ang),
            p.lit(st.skin, 0.25),
            -1,
            cv2.LINE_AA,
        )
    del base


def _draw_mouth(p: _Painter) -> None:
    f, st = p.face, p.style
    t = np.linspace(0.0, 1.0, 15)
    ou, ol = f.curve("lip_outer_upper", t), f.curve("lip_outer_lower", t)
    iu, il = f.curve("lip_inner_upper", t), f.curve("lip_inner_lower", t)
    k = float(p.shade(np.array([[0.0, 0.2, 1.0]]))[0])
    lips = np.asarray(st.lips) * (1 - st.makeup) + st.makeup * np.array([170.0, 30.0, 50.0])
    if f.expression.mouth_open > 0.05:
        p.poly(np.vstack([iu, il[::-1]]), p.lit((60, 20, 25), k))
        teeth = iu + (il - iu) * 0.3
        p.poly(np.vstack([iu, teeth[::-1]]), p.lit((225, 220, 205), k))
    p.poly(np.vstack([ou, iu[::-1]]), p.lit(lips, 0.85 * k))
    p.poly(np.vstack([il, ol[::-1]]), p.lit(lips, 1.0 * k))
    p.line(np.vstack([ou[:1], iu, ou[-1:]]), p.lit(lips, 0.45 * k), max(1.0, 0.01 * p.scale))


def _draw_fringe(p: _Painter) -> None:
    f = p.face
    t = np.linspace(0.08, 0.92, 15)
    top = f.curve("forehead", t)
    line_y = -0.62 + 0.35 * p.style.hairline
    hairline = top.copy()
    hairline[:, 1] = np.maximum(top[:, 1], line_y + 0.08 * np.cos(np.pi * (t - 0.5)) ** 2 * 0)
    hairline[:, 1] = np.where(top[:, 1] < line_y, line_y, top[:, 1])
    hairline[:, 2] += 0.08
    outer = top * np.array([1.03, 1.03, 1.0])
    p.hair(np.vstack([outer, hairline[::-1]]), 0.95)


def render_face(
    img: np.ndarray, face: Face, pose: Pose, camera: Camera, style: Style
) -> np.ndarray:
    """Draw ``face`` into ``img: (H, W, 3)`` uint8 RGB, in place.

    Returns:
        ``(H, W)`` uint8 mask of the skin region (255 inside).
    """
    p = _Painter(img, face, pose, camera, style)
    _draw_hair_back(p)
    _draw_neck(p)
    _draw_ears(p, near=False)
    mask = _draw_skin(p)
    _draw_side_hair(p)
    _draw_ears(p, near=True)
    _draw_fringe(p)
    # far features first: the side whose eye is deeper is drawn first
    order = sorted(
        SIDES,
        key=lambda s: -p.depth(face.point(f"{s}_pupil")[None])[0],
    )
    _draw_stubble(p)
    for side in order:
        _draw_brow(p, side)
        _draw_eye(p, side)
    _draw_mouth(p)
    _draw_nose(p)
    return mask
