"""A :class:`torch.utils.data.Dataset` of face crops, target heatmaps and inverse transforms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from otmark.heatmaps.codec import HeatmapCodec
from otmark.schemes import get_scheme
from otmark.transforms.augment import (
    AugmentConfig,
    AugmentParams,
    camera_effects,
    color_jitter,
    sample_augmentation,
)
from otmark.transforms.crop import (
    CONTEXT,
    SCALE_UNIT,
    apply_affine,
    centre_scale_from_box,
    centre_scale_from_landmarks,
    crop_matrix,
    invert_affine,
    warp_image,
)

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

#: how the crop's centre and scale are chosen: from the landmarks' tight box or the face box
CROP_SOURCES = ("landmarks", "box")


@dataclass(frozen=True)
class CropConfig:
    """How a sample's crop is placed (the heatmap geometry is the codec's,
    :class:`otmark.heatmaps.HeatmapCodec`).

    Attributes:
        crop_from: ``"landmarks"`` (HRNet: tight box of the ground truth) or ``"box"`` (the
            sample's face box, falling back to the landmarks when it has none).
        context: factor applied to the box side (:data:`otmark.transforms.crop.CONTEXT`).
    """

    crop_from: str = "landmarks"
    context: float = CONTEXT

    def __post_init__(self) -> None:
        if self.crop_from not in CROP_SOURCES:
            raise ValueError(f"crop_from must be one of {CROP_SOURCES}, got {self.crop_from!r}")
        if self.context <= 0:
            raise ValueError(f"context must be > 0, got {self.context}")


def crop_params(sample, crop_from: str = "landmarks", context: float = CONTEXT):
    """Centre ``(2,)`` and scale of a sample's crop (see :class:`CropConfig`)."""
    if crop_from == "box" and sample.box is not None:
        return centre_scale_from_box(sample.box, context=context)
    return centre_scale_from_landmarks(sample.landmarks, context=context)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 RGB -> ``(3, H, W)`` float32, ImageNet-normalised."""
    x = (image.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def prepare_sample(
    image: np.ndarray,
    landmarks: np.ndarray,
    centre: np.ndarray,
    scale: float,
    codec: HeatmapCodec,
    params: AugmentParams | None = None,
    flip_permutation: np.ndarray | None = None,
    render: bool = True,
) -> dict:
    """Crop, augment and encode one face (the functional core of :class:`LandmarkDataset`).

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        landmarks: ``(K, 2)`` image coordinates (NaN = not annotated).
        centre, scale: the un-augmented crop (context included; ``params.shift`` moves the
            centre by that many crop sides, ``200 * scale`` pixels).
        codec: crop side, heatmap side and target sigma.
        params: augmentation to apply, or None.
        flip_permutation: ``(K,)``, required when ``params.flip``.
        render: include the target heatmaps (False: only ``target_points``; the training
            engine then renders them on its device with :meth:`HeatmapCodec.render`).

    Returns:
        dict with ``image (3, N, N)`` float32, ``target (K, M, M)`` float32 (if ``render``),
        ``target_points (K, 2)`` float32 heatmap coordinates, ``weight (K,)`` float32,
        ``inverse (2, 3)`` float64 crop -> image matrix, ``flip`` bool tensor and
        ``crop_landmarks (K, 2)`` float64 (after the flip permutation).
    """
    p = params or AugmentParams()
    if p.flip and flip_permutation is None:
        raise ValueError("a flip needs the scheme's flip_permutation")
    centre = np.asarray(centre, dtype=np.float64) + np.asarray(p.shift) * scale * SCALE_UNIT
    m = crop_matrix(centre, scale * p.scale_factor, codec.input_size, p.rotation, p.flip)
    pixels = camera_effects(color_jitter(warp_image(image, m, codec.input_size), p), p)
    pts = apply_affine(landmarks, m)
    if p.flip:
        pts = pts[np.asarray(flip_permutation, dtype=np.int64)]
    hm_points, weight = codec.encode_points(pts)
    item = {
        "image": to_tensor(pixels),
        "target_points": torch.from_numpy(hm_points).to(torch.float32),
        "weight": torch.from_numpy(weight),
        "inverse": torch.from_numpy(invert_affine(m)),
        "flip": torch.tensor(bool(p.flip)),
        "crop_landmarks": torch.from_numpy(pts),
    }
    if render:
        points, w = item["target_points"][None], item["weight"][None]
        item["target"] = codec.render(points, w)[0]
    return item


class LandmarkDataset(torch.utils.data.Dataset):
    """Face crops with their Gaussian targets, for training (augmented) or evaluation.

    Each item is the dict of :func:`prepare_sample` plus ``landmarks (K, 2)`` float64 (ground
    truth in the original image, slot order of the scheme) and ``index`` (int, position in
    ``samples``). The augmentation of item ``i`` is drawn from
    ``numpy.random.default_rng([seed, epoch, i])``: call :meth:`set_epoch` before each epoch.
    The result does not depend on workers or iteration order.

    Args:
        samples: ``otmark.datasets.Sample`` records (one scheme).
        codec: crop side, heatmap side and target sigma (:class:`otmark.heatmaps.HeatmapCodec`;
            default: the HRNet face recipe's).
        augment: augmentation ranges, or None for evaluation (no augmentation).
        flip_permutation: ``(K,)``; looked up with ``otmark.schemes.get_scheme(scheme)`` when
            None and flips are enabled.
        seed: base seed of the augmentation.
        render_targets: include ``target`` heatmaps in the items (False leaves the rendering
            to the consumer, e.g. on the GPU; ``target_points`` and ``weight`` are always there).
        crop: where the crop is placed (:class:`CropConfig`; default from the landmarks with
            the HRNet context).
    """

    def __init__(
        self,
        samples: Sequence,
        codec: HeatmapCodec | None = None,
        augment: AugmentConfig | None = None,
        flip_permutation: np.ndarray | None = None,
        seed: int = 0,
        render_targets: bool = True,
        crop: CropConfig | None = None,
    ) -> None:
        self.samples = list(samples)
        self.render_targets = bool(render_targets)
        self.codec = codec or HeatmapCodec()
        if not isinstance(self.codec, HeatmapCodec):
            raise TypeError(
                f"codec must be an otmark.heatmaps.HeatmapCodec, got {type(codec).__name__} "
                f"(the crop placement goes in crop=CropConfig(crop_from, context))"
            )
        self.crop = crop or CropConfig()
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0
        if flip_permutation is None and augment is not None and augment.flip_prob > 0:
            flip_permutation = self._scheme_flip_permutation()
        self.flip_permutation = (
            None if flip_permutation is None else np.asarray(flip_permutation, dtype=np.int64)
        )

    def _scheme_flip_permutation(self) -> np.ndarray | None:
        if not self.samples:
            return None
        return np.asarray(get_scheme(self.samples[0].scheme).flip_permutation, dtype=np.int64)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def params(self, index: int) -> AugmentParams | None:
        """The augmentation of item ``index`` in the current epoch (None without augmentation)."""
        if self.augment is None:
            return None
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        return sample_augmentation(rng, self.augment)

    def __getitem__(self, index: int) -> dict:
        sample = self.samples[index]
        landmarks = np.asarray(sample.landmarks, dtype=np.float64)
        centre, scale = crop_params(sample, self.crop.crop_from, self.crop.context)
        try:
            image = sample.load_image()
        except (OSError, ValueError) as exc:
            raise type(exc)(f"sample {index} ({sample.id or sample.image}): {exc}") from exc
        item = prepare_sample(
            image,
            landmarks,
            centre,
            scale,
            self.codec,
            self.params(index),
            self.flip_permutation,
            render=self.render_targets,
        )
        item["landmarks"] = torch.from_numpy(landmarks)
        item["index"] = int(index)
        return item
