"""Smooth head-motion videos (300VW-like) with three categories of rising difficulty.

A video keeps one identity, style, background and accessory set; along time:

- head pose = start pose + a sum of sinusoids (per axis, random phases), plus a sideways drift
  of the face in the frame; amplitude and frequency grow with the category (:data:`MOTION`);
- expression = smooth (cosine) interpolation between random key expressions every ~1.5 s, with
  blinks;
- category 2 and 3: the exposure gain and the light direction change along the video;
- category 3: an occluder (hand or object) is present during a window of frames, and every
  frame gets **motion blur along the nose tip's motion** between frames t-1 and t+1 (the
  paper's motion-blur protocol direction), with an exposure of half the frame interval.

Category 3 is fast by construction: its mean nose-tip speed is several pixels per frame at 256
px (``video_stats`` reports it; the tests check category 3 > category 1).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from otmark.schemes import get_scheme
from otmark.synth.background import render_background
from otmark.synth.camera import Pose, project
from otmark.synth.domains import get_domain, sample_effects, sample_pose
from otmark.synth.effects import Effects
from otmark.synth.face_model import Expression, Face, Identity
from otmark.synth.generate import Rendered, fit_camera, render_scene
from otmark.synth.generate import Scene as _Scene
from otmark.synth.render import Style


@dataclass(frozen=True)
class Motion:
    """Per-category motion: sinusoid amplitudes (degrees), frequency range (cycles per frame),
    drift amplitude (image fraction), whether light changes / occluders / motion blur occur."""

    yaw_amp: float
    pitch_amp: float
    roll_amp: float
    freq: tuple[float, float]
    drift: float
    light_change: bool
    occlusion: bool
    motion_blur: bool


MOTION: dict[int, Motion] = {
    1: Motion(12.0, 5.0, 4.0, (0.004, 0.012), 0.02, False, False, False),
    2: Motion(20.0, 8.0, 6.0, (0.006, 0.02), 0.04, True, False, False),
    3: Motion(38.0, 14.0, 12.0, (0.02, 0.045), 0.1, True, True, True),
}


def _smooth_series(rng: np.random.Generator, n: int, amp: float, freq: tuple[float, float]):
    t = np.arange(n, dtype=np.float64)
    out = np.zeros(n)
    for _ in range(2):
        f = rng.uniform(*freq)
        out += amp / 2 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return out


def _expressions(rng: np.random.Generator, n: int, strength: float) -> list[Expression]:
    step = 38
    keys = [Expression.sample(rng, strength) for _ in range(n // step + 2)]
    out = []
    blink_at = set()
    for start in np.nonzero(rng.random(n) < 0.02)[0]:
        blink_at.update(range(int(start), int(start) + 4))
    for i in range(n):
        k, a = divmod(i, step)
        w = 0.5 - 0.5 * np.cos(np.pi * a / step)
        e = keys[k].lerp(keys[k + 1], float(w))
        if i in blink_at:
            e = replace(e, eye_closure_left=1.0, eye_closure_right=1.0)
        out.append(e)
    return out


def render_video(
    category: int, rng: np.random.Generator, frames: int, size=(256, 256)
) -> list[Rendered]:
    """``frames`` rendered frames of one video of ``category`` (1, 2 or 3), annotated in the
    ``300vw`` scheme."""
    if category not in MOTION:
        raise ValueError(f"300VW category must be 1, 2 or 3, got {category}")
    m = MOTION[category]
    domain = get_domain(f"300vw-{category}")
    h, w = size
    identity = Identity.sample(rng, domain.identity_spread)
    style0 = Style.sample(rng, domain.light_spread, domain.makeup_p)
    fx0 = sample_effects(domain, rng)
    fx0 = replace(fx0, blur=0.0, motion=(0.0, 0.0))
    base_pose = sample_pose(domain, rng)
    base_pose = Pose(0.5 * base_pose.yaw, 0.5 * base_pose.pitch, 0.5 * base_pose.roll)
    yaw = np.clip(base_pose.yaw + _smooth_series(rng, frames, 2 * m.yaw_amp, m.freq), -75, 75)
    pitch = np.clip(base_pose.pitch + _smooth_series(rng, frames, 2 * m.pitch_amp, m.freq), -35, 35)
    roll = np.clip(base_pose.roll + _smooth_series(rng, frames, 2 * m.roll_amp, m.freq), -40, 40)
    dx = _smooth_series(rng, frames, 2 * m.drift * w, m.freq)
    dy = _smooth_series(rng, frames, m.drift * h, m.freq)
    exprs = _expressions(rng, frames, domain.expression_strength)
    gain = np.ones(frames)
    light_turn = np.zeros(frames)
    if m.light_change:
        gain = 1.0 + _smooth_series(rng, frames, 0.7, (0.005, 0.02))
        light_turn = _smooth_series(rng, frames, 2.0, (0.005, 0.02))
    occl_window = (frames, frames)
    if m.occlusion:
        a = int(rng.integers(0, max(1, frames // 2)))
        occl_window = (a, a + int(rng.integers(frames // 4 + 1, frames // 2 + 2)))
    side = float(rng.uniform(*domain.face_frac)) * min(h, w)
    distance = float(rng.uniform(6.0, 12.0))
    background = render_background(rng, h, w, domain.clutter)
    acc_seed = int(rng.integers(2**31))
    occluders = {"hand_or_object": 1.0} if m.occlusion else {}

    faces = [Face(identity, e) for e in exprs]
    poses = [Pose(float(a), float(b), float(c)) for a, b, c in zip(yaw, pitch, roll)]
    cam0 = fit_camera(faces[0], Pose(), size, side, (w / 2, h / 2), distance)
    cams = [
        replace(cam0, cx=cam0.cx + float(dx[i]), cy=cam0.cy + float(dy[i])) for i in range(frames)
    ]
    nose = np.array(
        [project(f.point("nose_tip")[None], p, c)[0] for f, p, c in zip(faces, poses, cams)]
    )

    out = []
    for i in range(frames):
        ang = light_turn[i]
        ld = np.asarray(style0.light_dir)
        rot = np.array([[np.cos(ang), 0, np.sin(ang)], [0, 1, 0], [-np.sin(ang), 0, np.cos(ang)]])
        style = replace(style0, light_dir=tuple(rot @ ld))
        motion = (0.0, 0.0)
        if m.motion_blur:
            lo, hi = max(i - 1, 0), min(i + 1, frames - 1)
            velocity = (nose[hi] - nose[lo]) / max(hi - lo, 1)  # pixels per frame
            motion = (float(0.5 * velocity[0]), float(0.5 * velocity[1]))  # half-frame exposure
        fx = Effects(
            gain=float(fx0.gain * gain[i]),
            gamma=fx0.gamma,
            cast=fx0.cast,
            noise=fx0.noise,
            blur=0.0,
            motion=motion,
            jpeg=fx0.jpeg,
        )
        occ = occluders if occl_window[0] <= i < occl_window[1] else {}
        scene = _Scene(faces[i], poses[i], cams[i], style, fx, occ, acc_seed)
        out.append(render_scene(scene, background, ("300vw",), rng))
    return out


def nose_speed(rendered: list[Rendered], scheme: str = "300vw") -> float:
    """Mean nose-tip displacement in pixels per frame of a rendered video."""
    k = get_scheme(scheme).index("nose_tip")
    pts = np.array([r.landmarks[scheme][k] for r in rendered])
    if len(pts) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).mean())
