"""Backgrounds: crops of real photographs (scikit-image's data images, when scikit-image is
installed) and cluttered procedural ones (gradients, value noise, stripes/checkers, shapes and
parts of other faces: eyes and mouths that are not annotated).

The photographs are those of ``skimage.data`` that ship inside the scikit-image wheel under a
licence that allows any use and show no human face (:data:`PHOTOS`: CC0 or public domain, as
their ``skimage.data`` docstrings state). scikit-image is optional: without it every background
is procedural. :func:`background_source` names the source in use, so that a dataset records it
(byte determinism per seed holds for the same source).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

#: ``skimage.data`` functions used as photographs (licence per their docstrings)
PHOTOS = (
    "coffee",  # CC0 (Rachel Michetti)
    "chelsea",  # CC0 (Stefan van der Walt)
    "rocket",  # public domain (SpaceX)
    "brick",  # CC0 (CC0Textures)
    "grass",  # CC0 (CC0Textures)
    "gravel",  # CC0 (CC0Textures)
    "hubble_deep_field",  # public domain (NASA)
    "immunohistochemistry",  # no known copyright restrictions
    "clock",  # public domain (Stefan van der Walt)
    "coins",  # no known copyright restrictions
    "text",  # public domain
)
_PHOTO_SIDE = 384  # photographs are kept at most this many pixels on their longer side


@functools.lru_cache(maxsize=1)
def photo_library() -> tuple[np.ndarray, ...]:
    """The photographs as ``(h, w, 3)`` uint8 RGB arrays (read-only), or ``()`` without
    scikit-image."""
    try:
        import skimage.data as data  # lazy: optional extra [photos]
    except ImportError:
        return ()
    out = []
    for name in PHOTOS:
        img = np.asarray(getattr(data, name)())
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        img = np.ascontiguousarray(img[..., :3]).astype(np.uint8)
        k = _PHOTO_SIDE / max(img.shape[:2])
        if k < 1:
            img = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        img.setflags(write=False)
        out.append(img)
    return tuple(out)


def background_source() -> str:
    """``"skimage <version> photos"`` when the photographs are available, else
    ``"procedural"``."""
    if not photo_library():
        return "procedural"
    import skimage  # lazy: optional extra [photos]

    return f"skimage {skimage.__version__} photos"


def photo_crop(rng: np.random.Generator, height: int, width: int) -> np.ndarray | None:
    """A random crop of a random photograph resized to ``(height, width, 3)``, flipped and
    colour-jittered; ``None`` without photographs."""
    lib = photo_library()
    if not lib:
        return None
    img = lib[int(rng.integers(len(lib)))]
    ph, pw = img.shape[:2]
    frac = rng.uniform(0.35, 1.0)
    ch = max(8, int(frac * min(ph, pw * height / width)))
    cw = max(8, int(ch * width / height))
    cw = min(cw, pw)
    y0 = int(rng.integers(0, ph - ch + 1))
    x0 = int(rng.integers(0, pw - cw + 1))
    crop = cv2.resize(
        img[y0 : y0 + ch, x0 : x0 + cw], (width, height), interpolation=cv2.INTER_AREA
    )
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    gain = rng.uniform(0.6, 1.2, size=3).astype(np.float32)
    lut = np.clip(np.arange(256, dtype=np.float32)[:, None] * gain[None], 0, 255)
    return cv2.LUT(np.ascontiguousarray(crop), lut.astype(np.uint8).reshape(1, 256, 3))


def _value_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """``(h, w)`` float32 smooth noise in [0, 1] from a ``cells x cells`` random grid."""
    g = rng.random((cells, cells), dtype=np.float32)
    return cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)


def _colour(rng: np.random.Generator) -> tuple[float, float, float]:
    return tuple(float(c) for c in rng.uniform(0, 255, size=3))


def draw_face_parts(img: np.ndarray, rng: np.random.Generator, n: int) -> None:
    """Draw ``n`` unannotated face parts (an eye pair or a mouth) of other faces into ``img``."""
    h, w = img.shape[:2]
    for _ in range(n):
        c = rng.uniform([0, 0], [w, h])
        s = rng.uniform(0.03, 0.12) * min(h, w)
        ang = rng.uniform(-40, 40)
        if rng.random() < 0.6:
            for dx in (-0.6, 0.6):
                p = c + s * dx * np.array([np.cos(np.radians(ang)), np.sin(np.radians(ang))])
                box = ((float(p[0]), float(p[1])), (0.5 * s, 0.22 * s), float(ang))
                cv2.ellipse(img, box, (230, 228, 220), -1, cv2.LINE_AA)
                cv2.circle(
                    img, tuple(np.round(p).astype(int)), max(1, int(0.09 * s)), (50, 35, 25), -1
                )
        else:
            box = ((float(c[0]), float(c[1])), (0.8 * s, 0.25 * s), float(ang))
            cv2.ellipse(img, box, (150, 60, 70), -1, cv2.LINE_AA)


def render_background(
    rng: np.random.Generator,
    height: int,
    width: int,
    clutter: float = 0.5,
    photos: bool | None = None,
) -> np.ndarray:
    """A random background ``(height, width, 3)`` uint8 RGB.

    Args:
        clutter: in [0, 1]; the expected number of shapes and face parts grows with it, and
            textures become more likely.
        photos: use photographs (with probability 0.75; fewer shapes are drawn over them);
            ``None``: when :func:`photo_library` has them.
    """
    h, w = height, width
    use = bool(photo_library()) if photos is None else photos
    if use and not photo_library():
        raise RuntimeError("photographic backgrounds need scikit-image (pip install scikit-image)")
    if use and rng.random() < 0.75:
        img = np.ascontiguousarray(photo_crop(rng, h, w))
        draw_face_parts(img, rng, int(rng.poisson(0.3 * clutter)))
        return img
    # the smooth parts are computed at half resolution, then resized once
    hs, ws = max(2, h // 2), max(2, w // 2)
    c0 = rng.uniform(20, 235, size=3).astype(np.float32)
    c1 = rng.uniform(20, 235, size=3).astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    ramp = (
        np.cos(ang) * np.linspace(-0.5, 0.5, ws, dtype=np.float32)[None]
        + np.sin(ang) * np.linspace(-0.5, 0.5, hs, dtype=np.float32)[:, None]
    ) + 0.5
    noise = _value_noise(rng, hs, ws, int(rng.integers(3, 9)))
    a = np.clip(0.6 * ramp + 0.4 * noise, 0, 1)[..., None]
    small = c0 * (1 - a) + c1 * a
    if rng.random() < 0.3 + 0.5 * clutter:
        kind = rng.integers(3)
        yy = np.arange(hs, dtype=np.float32)[:, None] * (h / hs)
        xx = np.arange(ws, dtype=np.float32)[None] * (w / ws)
        if kind == 0:  # stripes
            f = rng.uniform(0.02, 0.2)
            th = rng.uniform(0, np.pi)
            tex = 0.5 + 0.5 * np.sin(f * (np.cos(th) * xx + np.sin(th) * yy))
        elif kind == 1:  # checkers
            cell = int(rng.integers(8, 40))
            tex = (((xx // cell) + (yy // cell)) % 2).astype(np.float32)
        else:  # fine grain
            tex = _value_noise(rng, hs, ws, int(rng.integers(16, 48)))
        amp = rng.uniform(10, 50)
        tint = (amp * rng.uniform(0.5, 1.0, size=3)).astype(np.float32)
        small = small + (tex - 0.5)[..., None] * tint
    small = np.clip(small, 0, 255).astype(np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    for _ in range(int(rng.poisson(1 + 10 * clutter))):
        col = _colour(rng)
        kind = rng.integers(4)
        p = rng.uniform([0, 0], [w, h]).astype(int)
        s = int(rng.uniform(0.03, 0.3) * min(h, w)) + 1
        if kind == 0:
            q = p + rng.integers(-s, s + 1, size=2)
            cv2.rectangle(img, tuple(p), tuple(q), col, -1)
        elif kind == 1:
            cv2.circle(img, tuple(p), s // 2 + 1, col, -1, cv2.LINE_8)
        elif kind == 2:
            q = p + rng.integers(-2 * s, 2 * s + 1, size=2)
            cv2.line(img, tuple(p), tuple(q), col, int(rng.integers(1, 6)), cv2.LINE_AA)
        else:
            pts = p + rng.integers(-s, s + 1, size=(int(rng.integers(3, 7)), 2))
            cv2.fillPoly(img, [pts.astype(np.int32)], col, cv2.LINE_8)
    draw_face_parts(img, rng, int(rng.poisson(0.6 * clutter)))
    return img
