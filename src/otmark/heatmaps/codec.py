"""The heatmap codec: landmarks in crop pixels <-> heatmaps, in one object.

:class:`HeatmapCodec` holds everything that ties a model's heatmaps to crop coordinates: the
crop side ``N`` (``input_size``), the heatmap side ``M`` (stride ``N / M``), the target
Gaussian's ``sigma``, the ``decoder`` and whether the model's outputs are logits (``softmax``,
which follows from the training loss: ``otmark.losses.output_is_logits``). Training encodes
with it; training validation, ``otmark evaluate``, the study, the detector and its ONNX runtime
all decode with it (:meth:`HeatmapCodec.decode_to_image`); its :meth:`to_dict` is the ``codec``
entry of checkpoints and ONNX metadata.

Heatmap coordinate ``h`` is crop coordinate ``u = (h + 0.5) * stride - 0.5`` (pixel centres at
integers in both; the two maps cover the same square).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import torch

from otmark.heatmaps.decode import get_decoder
from otmark.heatmaps.render import render_targets

#: How :meth:`HeatmapCodec.from_dict` reads codec metadata that lacks ``decoder`` or
#: ``softmax`` (hand-written files, checkpoints and ONNX sidecars from before the codec stored
#: every field). Those files were written for the paper's recipe, a Wasserstein-trained model
#: (logit outputs) read with GET_BC, and are read as such. Not a second set of defaults: a codec
#: built in code, a config or a new checkpoint takes the :class:`HeatmapCodec` field defaults
#: and the loss's ``output_is_logits``; a missing ``sigma`` takes the field default.
LEGACY_METADATA: Mapping[str, Any] = MappingProxyType({"decoder": "get_bc", "softmax": True})


def heatmap_to_crop_matrix(input_size: int, heatmap_size: int) -> np.ndarray:
    """2x3 affine heatmap -> crop: ``u = (h + 0.5) * stride - 0.5``, ``stride = N / M``."""
    stride = input_size / heatmap_size
    off = 0.5 * stride - 0.5
    return np.array([[stride, 0.0, off], [0.0, stride, off]])


def crop_to_heatmap_matrix(input_size: int, heatmap_size: int) -> np.ndarray:
    """2x3 affine crop -> heatmap, the inverse of :func:`heatmap_to_crop_matrix`:
    ``h = (u + 0.5) / stride - 0.5``."""
    stride = input_size / heatmap_size
    off = 0.5 / stride - 0.5
    return np.array([[1.0 / stride, 0.0, off], [0.0, 1.0 / stride, off]])


def landmark_weights(heatmap_points, heatmap_size: int | tuple[int, int]) -> np.ndarray:
    """Per-landmark loss weights: 1 inside the heatmap, 0 outside it or when NaN.

    Args:
        heatmap_points: ``(..., K, 2)`` in heatmap pixels (the map covers
            ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``).
        heatmap_size: ``M`` or ``(H, W)``.

    Returns:
        ``(..., K)`` float32.
    """
    h, w = (heatmap_size, heatmap_size) if isinstance(heatmap_size, int) else heatmap_size
    p = np.asarray(heatmap_points, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        inside = (
            np.isfinite(p).all(axis=-1)
            & (p[..., 0] >= -0.5)
            & (p[..., 0] <= w - 0.5)
            & (p[..., 1] >= -0.5)
            & (p[..., 1] <= h - 0.5)
        )
    return inside.astype(np.float32)


def _square_side(value: Any, name: str) -> int:
    """A side length from ``N`` or ``[N, N]`` (crops and heatmaps are square)."""
    if isinstance(value, list | tuple):
        if len(value) != 2 or int(value[0]) != int(value[1]):
            raise ValueError(f"{name} {value} is not square; the codec needs square maps")
        value = value[0]
    return int(value)


@dataclass(frozen=True)
class HeatmapCodec:
    """Encode crop landmarks as target heatmaps and decode heatmaps to crop coordinates.

    The field defaults are the HRNet face recipe (``docs/conventions.md`` §6) with its
    heatmap-L2 loss, whose outputs are not logits, and the only defaults of these settings
    (metadata from older versions is read by the rule of :data:`LEGACY_METADATA`).

    Attributes:
        input_size: crop side ``N`` in pixels.
        heatmap_size: heatmap side ``M`` (the models output ``N / 4``).
        sigma: target Gaussian standard deviation, heatmap pixels.
        decoder: a name of :data:`otmark.heatmaps.DECODERS`: ``get_max`` (HRNet) or ``get_bc``
            (the barycenter, the paper's Eq. 6).
        softmax: the model outputs logits (``get_bc`` takes the barycenter of their softmax:
            Wasserstein-, JS- and Soft-ArgMax-trained models); False normalises the clamped
            map by its sum (heatmap-L2 outputs). Set from the loss, never by hand:
            ``otmark.losses.output_is_logits(name)``.
    """

    input_size: int = 256
    heatmap_size: int = 64
    sigma: float = 1.0
    decoder: str = "get_max"
    softmax: bool = False

    def __post_init__(self) -> None:
        get_decoder(self.decoder)
        for key in ("input_size", "heatmap_size", "sigma"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{key} = {value!r}: must be a finite number > 0")

    @property
    def stride(self) -> float:
        """Crop pixels per heatmap pixel, ``N / M``."""
        return self.input_size / self.heatmap_size

    # ------------------------------------------------------------------ geometry
    def to_heatmap(self, points) -> np.ndarray:
        """Crop coordinates ``(..., 2)`` -> heatmap coordinates ``(..., 2)`` float64."""
        m = crop_to_heatmap_matrix(self.input_size, self.heatmap_size)
        return np.asarray(points, dtype=np.float64) @ m[:, :2].T + m[:, 2]

    def to_crop(self, points: torch.Tensor) -> torch.Tensor:
        """Heatmap coordinates ``(..., 2)`` -> crop coordinates ``(..., 2)``, float64."""
        p = torch.as_tensor(points).double()
        return (p + 0.5) * self.stride - 0.5

    # ------------------------------------------------------------------ encode
    def encode_points(self, landmarks) -> tuple[np.ndarray, np.ndarray]:
        """Heatmap positions and loss weights of crop landmarks.

        Args:
            landmarks: ``(..., K, 2)`` crop pixel coordinates (NaN = not annotated).

        Returns:
            ``points (..., K, 2)`` float64 heatmap coordinates and ``weights (..., K)`` float32
            (0 for a landmark outside the heatmap or NaN, see :func:`landmark_weights`).
        """
        points = self.to_heatmap(landmarks)
        return points, landmark_weights(points, self.heatmap_size)

    def render(self, points: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Target heatmaps ``(B, K, M, M)`` float32 of heatmap positions ``(B, K, 2)`` and
        weights ``(B, K)``, on their device (weight-0 maps are zero)."""
        return render_targets(points, weights, self.heatmap_size, self.sigma)

    def encode(self, landmarks) -> torch.Tensor:
        """Target heatmaps of crop landmarks.

        Args:
            landmarks: ``(B, K, 2)`` crop pixel coordinates (NaN = not annotated).

        Returns:
            ``(B, K, M, M)`` float32 Gaussians of peak 1 (:func:`otmark.heatmaps.render_gaussian`,
            cut at 3 sigma); all-zero for landmarks outside the heatmap or NaN.
        """
        points, weights = self.encode_points(landmarks)
        return self.render(torch.from_numpy(points), torch.from_numpy(weights))

    # ------------------------------------------------------------------ decode
    def decode_heatmap(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """The decoder's heatmap coordinates ``(..., K, 2)`` of heatmaps ``(..., K, M, M)``."""
        return get_decoder(self.decoder)(heatmaps, softmax=self.softmax)

    def decode(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """Crop coordinates of the model's heatmaps.

        Args:
            heatmaps: ``(B, K, M, M)`` model outputs (logits when :attr:`softmax`).

        Returns:
            ``(B, K, 2)`` float64 crop pixel coordinates ``(x, y)``.
        """
        if heatmaps.ndim != 4 or heatmaps.shape[-2:] != (self.heatmap_size, self.heatmap_size):
            raise ValueError(
                f"model output of shape {tuple(heatmaps.shape)}; the codec expects "
                f"(B, K, {self.heatmap_size}, {self.heatmap_size})"
            )
        return self.to_crop(self.decode_heatmap(heatmaps.detach().float()))

    def decode_to_image(self, heatmaps: torch.Tensor, inverses) -> np.ndarray:
        """Image coordinates of the model's heatmaps: :meth:`decode`, then each crop's
        crop -> image affine map (how validation, evaluation and the detector all read a model).

        Args:
            heatmaps: ``(B, K, M, M)`` model outputs of ``B`` crops.
            inverses: ``(B, 2, 3)`` crop -> image matrices (the inverse of each crop's matrix;
                a mirrored crop's undoes the mirror but keeps the flipped landmark order).

        Returns:
            ``(B, K, 2)`` float64 image coordinates ``(x, y)``.
        """
        inv = np.asarray(inverses, dtype=np.float64)
        if inv.shape != (heatmaps.shape[0], 2, 3):
            raise ValueError(
                f"{heatmaps.shape[0]} heatmap sets need ({heatmaps.shape[0]}, 2, 3) crop -> "
                f"image matrices, got shape {inv.shape}"
            )
        crop = self.decode(heatmaps).cpu().numpy()
        return np.einsum("bkj,bij->bki", crop, inv[:, :, :2]) + inv[:, None, :, 2]

    # ------------------------------------------------------------------ metadata
    def to_dict(self) -> dict[str, Any]:
        """The plain dict stored as ``codec`` in checkpoints and ONNX metadata."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HeatmapCodec:
        """Read a checkpoint's or ONNX model's ``codec`` dict.

        ``input_size`` and ``heatmap_size`` are required (``N`` or ``[N, N]``); a missing
        ``sigma`` takes the field default; a missing ``decoder`` or ``softmax`` is read by the
        legacy rule (:data:`LEGACY_METADATA`); the decoder name is case-insensitive; other keys
        (e.g. ``crop_from``, ``context``) are ignored. A dict that names its training ``loss``
        but not ``softmax`` is refused: :func:`otmark.inference.codec_from_meta` reads it
        (``softmax`` from the loss).
        """
        c = dict(data)
        missing = [k for k in ("input_size", "heatmap_size") if k not in c]
        if missing:
            raise ValueError(f"codec metadata lacks {missing}: {c}")
        if "loss" in c and "softmax" not in c:
            raise ValueError(
                f"codec metadata names loss {c['loss']!r} but not softmax: read it with "
                "otmark.inference.codec_from_meta (softmax from the loss)"
            )
        legacy = {k: v for k, v in LEGACY_METADATA.items() if k not in c}
        c.update(legacy)
        kwargs: dict[str, Any] = {} if "sigma" not in c else {"sigma": float(c["sigma"])}
        return cls(
            input_size=_square_side(c["input_size"], "input_size"),
            heatmap_size=_square_side(c["heatmap_size"], "heatmap_size"),
            decoder=str(c["decoder"]).lower(),
            softmax=bool(c["softmax"]),
            **kwargs,
        )
