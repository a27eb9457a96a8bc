"""Seeded synthetic perturbations for robustness protocols: occlusion and motion blur."""

from otmark.perturb.blur import (
    BLUR_LEVELS,
    apply_motion,
    blur_frame,
    blur_reference_index,
    motion_blur,
    motion_kernel,
    neighbour_indices,
)
from otmark.perturb.occlusion import (
    OCCLUSION_LEVELS,
    Ellipse,
    draw_ellipse,
    occlude,
    random_ellipse,
)
from otmark.perturb.seeding import sample_rng, sample_seed

__all__ = [
    "BLUR_LEVELS",
    "OCCLUSION_LEVELS",
    "Ellipse",
    "apply_motion",
    "blur_frame",
    "blur_reference_index",
    "draw_ellipse",
    "motion_blur",
    "motion_kernel",
    "neighbour_indices",
    "occlude",
    "random_ellipse",
    "sample_rng",
    "sample_seed",
]
