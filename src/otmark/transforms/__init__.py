"""Crop, augmentation and training targets (image <-> crop <-> heatmap geometry).

See :mod:`otmark.transforms.crop` for the coordinate conventions.
"""

from otmark.transforms.augment import (
    AugmentConfig,
    AugmentParams,
    camera_effects,
    color_jitter,
    sample_augmentation,
)
from otmark.transforms.crop import (
    CONTEXT,
    apply_affine,
    centre_scale_from_box,
    centre_scale_from_landmarks,
    compose,
    crop_matrix,
    crop_to_heatmap_matrix,
    crop_to_image,
    heatmap_to_crop_matrix,
    heatmap_to_image,
    invert_affine,
    tight_box,
    unflip_landmarks,
    warp_image,
)
from otmark.transforms.dataset import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CropConfig,
    LandmarkDataset,
    crop_params,
    prepare_sample,
    to_tensor,
)
from otmark.transforms.targets import (
    heatmap_points,
    landmark_weights,
    make_targets,
    render_targets,
)

__all__ = [
    "CONTEXT",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "AugmentConfig",
    "AugmentParams",
    "CropConfig",
    "LandmarkDataset",
    "apply_affine",
    "centre_scale_from_box",
    "centre_scale_from_landmarks",
    "camera_effects",
    "color_jitter",
    "compose",
    "crop_matrix",
    "crop_params",
    "crop_to_heatmap_matrix",
    "crop_to_image",
    "heatmap_to_crop_matrix",
    "heatmap_points",
    "heatmap_to_image",
    "invert_affine",
    "landmark_weights",
    "make_targets",
    "prepare_sample",
    "render_targets",
    "sample_augmentation",
    "tight_box",
    "to_tensor",
    "unflip_landmarks",
    "warp_image",
]
