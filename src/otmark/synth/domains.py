"""Per-dataset parameter distributions (the "domains" of the generated datasets).

A :class:`Domain` says how poses, expressions, lighting, occluders, camera effects and framing
are drawn. The registry :data:`DOMAINS` holds one per generated dataset (and split flavour):

==================  ===========================================================================
domain              character
==================  ===========================================================================
``300w``            moderate poses (yaw sd 18, max 45), moderate expressions, clean light, few
                    occluders: 300W train / common / test (pose and expression ranges
                    calibrated on real annotations, docs/synth.md)
``300w-outdoor``    300W test "outdoor": as ``300w`` with stronger, coloured light
``300w-challenge``  iBUG-like: larger poses (yaw sd 35, max 70), stronger light and blur
``wflw``            harder: large pose, expression, illumination, make-up-like colour shifts,
                    occlusion, blur (WFLW's six attributes)
``cofw``            heavy occlusion (hands, objects, hats, sunglasses), moderate pose
``aflw``            extreme poses (yaw uniform in +-75), wide pitch/roll
``300vw-1/2/3``     video categories (see :mod:`otmark.synth.video`): 1 = calm, 2 = lighting
                    changes, 3 = fast motion, occlusion and motion blur
==================  ===========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from otmark.registry import lookup
from otmark.synth.camera import Pose
from otmark.synth.effects import Effects


@dataclass(frozen=True)
class Domain:
    """Distributions of one generated dataset (angles in degrees, sizes as image fractions)."""

    name: str
    yaw_sd: float = 15.0
    yaw_max: float = 40.0
    yaw_uniform: bool = False
    pitch_sd: float = 8.0
    pitch_max: float = 20.0
    roll_sd: float = 7.0
    roll_max: float = 25.0
    identity_spread: float = 1.0
    expression_p: float = 0.5
    expression_strength: float = 0.5
    light_spread: float = 0.3
    cast_spread: float = 0.0
    gain_range: tuple[float, float] = (0.9, 1.1)
    makeup_p: float = 0.05
    occluders: dict[str, float] = field(default_factory=dict)
    blur_p: float = 0.1
    blur_max: float = 1.0
    motion_p: float = 0.0
    motion_max: float = 0.0
    noise_max: float = 3.0
    jpeg_range: tuple[int, int] = (80, 98)
    clutter: float = 0.4
    face_frac: tuple[float, float] = (0.5, 0.64)  # face-box side / image side
    offset: float = 0.06  # max shift of the landmark-box centre / image side


def _trunc_normal(rng: np.random.Generator, sd: float, lim: float) -> float:
    return float(np.clip(rng.normal(0.0, sd), -lim, lim))


def sample_pose(domain: Domain, rng: np.random.Generator) -> Pose:
    """A head pose from the domain's distribution."""
    if domain.yaw_uniform:
        yaw = float(rng.uniform(-domain.yaw_max, domain.yaw_max))
    else:
        yaw = _trunc_normal(rng, domain.yaw_sd, domain.yaw_max)
    return Pose(
        yaw=yaw,
        pitch=_trunc_normal(rng, domain.pitch_sd, domain.pitch_max),
        roll=_trunc_normal(rng, domain.roll_sd, domain.roll_max),
    )


def sample_effects(domain: Domain, rng: np.random.Generator) -> Effects:
    """Camera effects (exposure, colour cast, noise, blur, motion blur, JPEG)."""
    blur = float(rng.uniform(0.5, domain.blur_max)) if rng.random() < domain.blur_p else 0.0
    motion = (0.0, 0.0)
    if rng.random() < domain.motion_p:
        ang = rng.uniform(0, 2 * np.pi)
        length = rng.uniform(2.0, max(domain.motion_max, 2.0))
        motion = (float(length * np.cos(ang)), float(length * np.sin(ang)))
    cast = tuple(float(c) for c in 1.0 + rng.uniform(-1, 1, 3) * domain.cast_spread)
    lo, hi = domain.jpeg_range
    return Effects(
        gain=float(rng.uniform(*domain.gain_range)),
        gamma=float(rng.uniform(0.85, 1.15)),
        cast=cast,
        noise=float(rng.uniform(0.0, domain.noise_max)),
        blur=blur,
        motion=motion,
        jpeg=int(rng.integers(lo, hi + 1)),
    )


DOMAINS: dict[str, Domain] = {
    d.name: d
    for d in (
        Domain("300w", yaw_sd=18.0, yaw_max=45.0, expression_p=0.7, expression_strength=0.6),
        Domain(
            "300w-outdoor",
            yaw_sd=18.0,
            yaw_max=45.0,
            expression_p=0.7,
            expression_strength=0.6,
            light_spread=0.7,
            gain_range=(0.75, 1.25),
            noise_max=5.0,
            clutter=0.6,
        ),
        Domain(
            "300w-challenge",
            yaw_sd=35.0,
            yaw_max=70.0,
            pitch_sd=14.0,
            pitch_max=30.0,
            roll_sd=15.0,
            roll_max=35.0,
            expression_p=0.7,
            expression_strength=0.8,
            light_spread=0.8,
            gain_range=(0.6, 1.3),
            occluders={"glasses": 0.1, "hand_or_object": 0.15},
            blur_p=0.35,
            blur_max=2.0,
            noise_max=8.0,
            jpeg_range=(40, 90),
            clutter=0.7,
        ),
        Domain(
            "wflw",
            yaw_sd=32.0,
            yaw_max=75.0,
            pitch_sd=14.0,
            pitch_max=35.0,
            roll_sd=16.0,
            roll_max=40.0,
            expression_p=0.7,
            expression_strength=1.0,
            light_spread=1.0,
            cast_spread=0.17,
            gain_range=(0.5, 1.4),
            makeup_p=0.2,
            occluders={"glasses": 0.2, "hat": 0.15, "hand_or_object": 0.3},
            blur_p=0.3,
            blur_max=3.0,
            motion_p=0.1,
            motion_max=8.0,
            noise_max=10.0,
            jpeg_range=(35, 95),
            clutter=0.8,
            face_frac=(0.44, 0.66),
            offset=0.08,
        ),
        Domain(
            "cofw",
            yaw_sd=20.0,
            yaw_max=50.0,
            pitch_sd=10.0,
            pitch_max=25.0,
            roll_sd=10.0,
            roll_max=30.0,
            expression_p=0.6,
            expression_strength=0.7,
            light_spread=0.6,
            gain_range=(0.7, 1.2),
            occluders={"glasses": 0.35, "hat": 0.3, "hand_or_object": 1.5},
            blur_p=0.2,
            blur_max=1.5,
            noise_max=6.0,
            clutter=0.7,
        ),
        Domain(
            "aflw",
            yaw_max=75.0,
            yaw_uniform=True,
            pitch_sd=15.0,
            pitch_max=35.0,
            roll_sd=15.0,
            roll_max=40.0,
            expression_p=0.5,
            expression_strength=0.7,
            light_spread=0.7,
            gain_range=(0.7, 1.3),
            occluders={"glasses": 0.15, "hand_or_object": 0.1},
            blur_p=0.25,
            blur_max=2.0,
            noise_max=8.0,
            jpeg_range=(50, 95),
            clutter=0.6,
        ),
        Domain("300vw-1", yaw_sd=20.0, yaw_max=45.0, expression_p=1.0, expression_strength=0.6),
        Domain(
            "300vw-2",
            yaw_sd=25.0,
            yaw_max=55.0,
            expression_p=1.0,
            expression_strength=0.8,
            light_spread=0.9,
            gain_range=(0.5, 1.3),
            noise_max=6.0,
            jpeg_range=(50, 90),
            clutter=0.6,
        ),
        Domain(
            "300vw-3",
            yaw_sd=30.0,
            yaw_max=65.0,
            pitch_sd=12.0,
            pitch_max=30.0,
            roll_sd=12.0,
            roll_max=30.0,
            expression_p=1.0,
            expression_strength=1.0,
            light_spread=0.9,
            gain_range=(0.5, 1.3),
            occluders={"hand_or_object": 0.5, "glasses": 0.2},
            noise_max=10.0,
            jpeg_range=(40, 85),
            clutter=0.8,
        ),
    )
}


def get_domain(name: str) -> Domain:
    """The :class:`Domain` called ``name`` (:class:`otmark.registry.UnknownNameError`, a
    ``KeyError``, listing the known ones)."""
    return lookup(DOMAINS, name, "synth domain")
