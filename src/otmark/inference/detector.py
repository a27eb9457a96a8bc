"""The landmark :class:`Detector`: face boxes in, landmarks in image coordinates out.

Pipeline per face box (functional core: :func:`crop_faces`, :func:`heatmaps_to_image`):

1. centre/scale from the box (training convention: box centre, ``context * max side / 200``
   with the crop module's ``CONTEXT`` = 1.25, :func:`otmark.transforms.centre_scale_from_box`),
   crop of side ``input_size`` with
   :func:`otmark.transforms.crop_matrix`, ImageNet normalisation;
2. the model maps the crops ``(B, 3, N, N)`` to heatmaps ``(B, K, M, M)`` (any *backend*: a torch
   module, an ONNX Runtime session, or a plain function in tests);
3. the codec (:class:`otmark.heatmaps.HeatmapCodec`: ``get_max`` or ``get_bc``, softmax for
   logits) gives crop coordinates ``(B, K, 2)``, mapped back to the image with the exact
   inverse affine maps.

Flip test: each face is also cropped mirrored (the flipped crop matrix); its prediction is mapped
back through the inverse of that matrix (which undoes the mirror) and re-indexed with the
scheme's flip permutation, then the two predictions are averaged **in image coordinates**.
With pixel centres at integers the mirror ``u -> N - 1 - u`` of the crop is exactly the mirror
``h -> M - 1 - h`` of the heatmap, so no half-pixel shift is needed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from otmark.checkpoint_names import resolve_checkpoint
from otmark.device import resolve_device
from otmark.heatmaps.codec import HeatmapCodec
from otmark.inference.boxes import check_face_boxes, validate_boxes
from otmark.inference.finders import make_face_finder
from otmark.inference.label_adapt import PointOffsets
from otmark.inference.onnx import OnnxBackend, cuda_provider_available, read_onnx_meta
from otmark.inference.recrop import (
    DEFAULT_PASSES,
    Placements,
    crop_placed,
    refine,
    rotation_limit,
)
from otmark.inference.results import Face
from otmark.inference.sources import check_image
from otmark.losses import output_is_logits
from otmark.models import final_output, load_model_from_checkpoint
from otmark.models.fuse import prepare_for_inference
from otmark.schemes import get_scheme
from otmark.transforms import (
    centre_scale_from_box,
    crop_matrix,
    invert_affine,
    to_tensor,
    unflip_landmarks,
    warp_image,
)
from otmark.transforms.crop import CONTEXT

#: a backend maps normalised crops ``(B, 3, N, N)`` float32 to heatmaps ``(B, K, M, M)``
Backend = Callable[[torch.Tensor], torch.Tensor]


def codec_from_meta(codec: Mapping[str, Any]) -> HeatmapCodec:
    """The :class:`~otmark.heatmaps.HeatmapCodec` of a checkpoint's or ONNX model's ``codec``
    dict (:meth:`HeatmapCodec.from_dict`, which reads what older versions wrote by the rule of
    :data:`otmark.heatmaps.LEGACY_METADATA`). A dict that names its training ``loss`` takes
    ``softmax`` from that loss (:func:`otmark.losses.output_is_logits`); one whose stored
    ``softmax`` disagrees with its loss is refused."""
    c = dict(codec)
    if "loss" in c:
        logits = output_is_logits(str(c["loss"]).lower())
        if "softmax" in c and bool(c["softmax"]) != logits:
            raise ValueError(
                f"codec softmax {c['softmax']!r} disagrees with loss {c['loss']!r}, whose "
                f"outputs are {'logits' if logits else 'not logits'}"
            )
        c["softmax"] = logits
    return HeatmapCodec.from_dict(c)


def meta_context(codec: Mapping[str, Any]) -> float:
    """The crop context of a ``codec`` dict (its ``context`` key, else
    :data:`otmark.transforms.crop.CONTEXT`)."""
    return float(codec.get("context", CONTEXT))


def adaptation_from_meta(meta: Mapping[str, Any]) -> Callable[[np.ndarray], np.ndarray] | None:
    """The label adaptation of a model's metadata (its ``label_adaptation`` entry,
    :class:`otmark.inference.label_adapt.PointOffsets`), or None."""
    entry = meta.get("label_adaptation")
    if entry is None:
        return None
    return PointOffsets.from_dict(entry)


def crop_faces(
    image: np.ndarray,
    boxes: np.ndarray,
    codec: HeatmapCodec,
    flip: bool = False,
    context: float = CONTEXT,
) -> tuple[torch.Tensor, np.ndarray]:
    """Crop every face box out of ``image`` as the network expects it.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        boxes: ``(N, 4)`` face boxes ``x0, y0, x1, y1`` (training convention).
        codec: gives the crop side.
        flip: mirror each crop horizontally.
        context: factor applied to the box side.

    Returns:
        crops ``(N, 3, S, S)`` float32 (ImageNet-normalised) and ``(N, 2, 3)`` float64 crop ->
        image matrices (which undo the mirror when ``flip``).
    """
    crops, inverses = [], []
    for box in validate_boxes(boxes):
        centre, scale = centre_scale_from_box(box, context=context)
        m = crop_matrix(centre, scale, codec.input_size, flip=flip)
        crops.append(to_tensor(warp_image(image, m, codec.input_size)))
        inverses.append(invert_affine(m))
    s = codec.input_size
    if not crops:
        return torch.zeros((0, 3, s, s)), np.zeros((0, 2, 3))
    return torch.stack(crops), np.stack(inverses)


def heatmaps_to_image(
    heatmaps: torch.Tensor,
    inverses: np.ndarray,
    codec: HeatmapCodec,
    flip_permutation: np.ndarray | None = None,
) -> np.ndarray:
    """Decode heatmaps and map the points back to the image.

    Args:
        heatmaps: ``(B, K, M, M)``.
        inverses: ``(B, 2, 3)`` crop -> image matrices.
        codec: decoder and geometry.
        flip_permutation: ``(K,)`` when the crops were mirrored: points go back to their slots.

    Returns:
        ``(B, K, 2)`` float64 image coordinates.
    """
    points = codec.decode_to_image(heatmaps, inverses)
    if flip_permutation is None:
        return points
    return unflip_landmarks(points, flip_permutation)


class Detector:
    """Landmarks of faces in images, from a heatmap model.

    Args:
        backend: maps crops ``(B, 3, N, N)`` float32 to heatmaps ``(B, K, M, M)``.
        scheme: landmark scheme name (``otmark.schemes``); gives ``K`` and the flip permutation.
        codec: crop side, heatmap side, decoder and softmax.
        flip_test: average each prediction with the one of the mirrored crop.
        batch_size: crops per backend call.
        face_finder: called as ``face_finder(image) -> (N, 4)`` boxes when :meth:`predict` gets
            no boxes; defaults to ``make_face_finder("auto", all_faces=True)`` (dlib's HOG
            detector when installed, else OpenCV's Haar cascade; the chosen face first).
        device: where crops are sent before the backend call (``"cpu"``, ``"cuda"``...).
        context: factor applied to the face box side (the training crops' context).
        adapt: maps decoded points ``(N, K, 2)`` to adapted ones (a label adaptation,
            :class:`otmark.inference.label_adapt.PointOffsets`); None = unchanged.
        passes: predictions per face at most: the first from the face box, then re-crops from
            the predicted landmarks with the training crop rule until the crop stops moving
            (:func:`otmark.inference.recrop.refine`); 1 = the box crop only.
        max_roll: faces whose eyes roll more than this (degrees) are re-cropped turned upright;
            None = never turned (:func:`otmark.inference.recrop.crop_from_landmarks`);
            :meth:`from_checkpoint` sets the training augmentation's rotation
            (:func:`otmark.inference.recrop.rotation_limit`).
    """

    def __init__(
        self,
        backend: Backend,
        scheme: str,
        codec: HeatmapCodec,
        flip_test: bool = False,
        batch_size: int = 16,
        face_finder: Callable[[np.ndarray], np.ndarray] | None = None,
        device: str | torch.device = "cpu",
        context: float = CONTEXT,
        adapt: Callable[[np.ndarray], np.ndarray] | None = None,
        passes: int = DEFAULT_PASSES,
        max_roll: float | None = 30.0,
    ) -> None:
        self.backend = backend
        self.scheme = get_scheme(scheme)
        self.codec = codec
        self.flip_test = bool(flip_test)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self._face_finder = face_finder
        self.device = torch.device(device)
        if context <= 0:
            raise ValueError(f"context must be > 0, got {context}")
        self.context = float(context)
        self.adapt = adapt
        if passes < 1:
            raise ValueError(f"passes must be >= 1, got {passes}")
        self.passes = int(passes)
        self.max_roll = None if max_roll is None else float(max_roll)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_model(
        cls,
        model: torch.nn.Module,
        scheme: str,
        codec: HeatmapCodec | Mapping[str, Any],
        device: str | torch.device | None = None,
        **kwargs: Any,
    ) -> Detector:
        """Wrap a torch module (put in eval mode and moved to ``device``).

        ``codec`` may be a metadata dict (:func:`codec_from_meta`; its ``context`` key, when
        present, sets the crop context).
        """
        dev = resolve_device(device)
        model = prepare_for_inference(model.to(dev).eval())  # the fast model: BatchNorm folded

        def backend(x: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return final_output(model(x))

        if not isinstance(codec, HeatmapCodec):
            kwargs.setdefault("context", meta_context(codec))
            codec = codec_from_meta(codec)
        return cls(backend, scheme, codec, device=dev, **kwargs)

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike[str], device: str | torch.device | None = None, **kwargs: Any
    ) -> Detector:
        """Load a training checkpoint (``otmark.models.load_model_from_checkpoint``).

        ``path`` may be ``pretrained``: the packaged model (:mod:`otmark.pretrained`). The
        checkpoint's metadata gives the scheme and the codec.
        """
        path = resolve_checkpoint(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: checkpoint does not exist")
        model, meta = load_model_from_checkpoint(path)
        scheme, codec = scheme_and_codec(meta, where=str(path))
        kwargs.setdefault("context", meta_context(meta["codec"]))
        kwargs.setdefault("adapt", adaptation_from_meta(meta))
        kwargs.setdefault("max_roll", rotation_limit(meta))
        return cls.from_model(model, scheme, codec, device=device, **kwargs)

    @classmethod
    def from_onnx(
        cls,
        path: str | os.PathLike[str],
        meta: Mapping[str, Any] | None = None,
        device: str | torch.device | None = None,
        **kwargs: Any,
    ) -> Detector:
        """Load an ONNX model run by ONNX Runtime.

        ``meta`` (with ``scheme`` and ``codec``) defaults to the model's own metadata (see
        :func:`otmark.inference.onnx.read_onnx_meta`). ``device=None`` uses ONNX Runtime's CUDA
        provider when it is installed, else the CPU.
        """
        path = Path(path)
        if meta is None:
            meta = read_onnx_meta(path)
        scheme, codec = scheme_and_codec(meta, where=str(path))
        if device is None:
            device = "cuda" if cuda_provider_available() else "cpu"
        backend = OnnxBackend(path, device=device)
        backend.check_metadata(codec, scheme)  # the graph agrees with the metadata
        kwargs.setdefault("context", meta_context(meta["codec"]))
        kwargs.setdefault("adapt", adaptation_from_meta(meta))
        kwargs.setdefault("max_roll", rotation_limit(meta))
        return cls(backend, scheme, codec, device="cpu", **kwargs)

    # ------------------------------------------------------------------ inference
    @property
    def num_landmarks(self) -> int:
        """``K``."""
        return self.scheme.num_points

    @property
    def face_finder(self) -> Callable[[np.ndarray], np.ndarray]:
        """The face finder (``face_finder``; the default one is made on first use)."""
        if self._face_finder is None:
            self._face_finder = make_face_finder("auto", all_faces=True)
        return self._face_finder

    def find_faces(self, image: np.ndarray) -> np.ndarray:
        """Face boxes ``(N, 4)`` from the face finder (see ``face_finder``)."""
        return self.find_faces_chosen(image)[0]

    def find_faces_chosen(self, image: np.ndarray) -> tuple[np.ndarray, str | None]:
        """Face boxes ``(N, 4)`` from the face finder and the rule that chose the first one
        (:data:`otmark.inference.finders.RULES`; None without faces or for a plain callable)."""
        if self._face_finder is None:
            self._face_finder = make_face_finder("auto", all_faces=True)
        if hasattr(self._face_finder, "find"):
            found = self._face_finder.find(image)
            return validate_boxes(found.boxes), found.chosen_by
        return validate_boxes(self._face_finder(image)), None

    def _run(self, crops: torch.Tensor) -> torch.Tensor:
        outs = []
        for i in range(0, crops.shape[0], self.batch_size):
            batch = crops[i : i + self.batch_size].to(self.device)
            out = self.backend(batch)
            if not isinstance(out, torch.Tensor):
                out = torch.as_tensor(np.asarray(out))
            outs.append(out)
        return torch.cat(outs) if outs else torch.zeros((0, self.num_landmarks, 1, 1))

    def heatmaps_placed(
        self, imgs: Sequence[np.ndarray], owner: np.ndarray, placed: Placements
    ) -> tuple[torch.Tensor, np.ndarray]:
        """The model's heatmaps of ``M`` faces cropped at ``placed``, in one backend pass;
        face ``j`` lies in ``imgs[owner[j]]`` (``owner`` sorted).

        Returns:
            heatmaps ``(F * M, K, H, W)`` and their crop -> image matrices ``(F * M, 2, 3)``:
            ``F = 2`` with the flip test (the ``M`` mirrored crops after the ``M`` plain ones),
            else 1. ``ValueError`` when the model's landmark count is not the scheme's.
        """
        crops, inverses = [], []
        for flip in (False, True) if self.flip_test else (False,):
            for i in np.unique(owner):
                sel = owner == i
                c, inv = crop_placed(imgs[i], placed.subset(sel), self.codec.input_size, flip)
                crops.append(c)
                inverses.append(inv)
        heatmaps = self._run(torch.cat(crops))
        k = self.num_landmarks
        if heatmaps.shape[1] != k:
            raise ValueError(
                f"the model predicts {heatmaps.shape[1]} landmarks; scheme {self.scheme.name} "
                f"has {k}"
            )
        return heatmaps, np.concatenate(inverses)

    def _predict_placed(
        self, imgs: Sequence[np.ndarray], owner: np.ndarray, placed: Placements
    ) -> np.ndarray:
        """Landmarks ``(M, K, 2)`` (before ``adapt``) of ``M`` faces cropped at ``placed``;
        face ``j`` lies in ``imgs[owner[j]]`` (``owner`` sorted)."""
        n = len(placed)
        heatmaps, inv = self.heatmaps_placed(imgs, owner, placed)
        pts = heatmaps_to_image(heatmaps[:n], inv[:n], self.codec)
        if self.flip_test:
            perm = self.scheme.flip_permutation
            pts = (pts + heatmaps_to_image(heatmaps[n:], inv[n:], self.codec, perm)) / 2.0
        return pts

    def predict(self, image: np.ndarray, boxes: np.ndarray | None = None) -> np.ndarray:
        """Landmarks of each face.

        Args:
            image: ``(H, W, 3)`` uint8 RGB.
            boxes: ``(N, 4)`` face boxes ``x0, y0, x1, y1`` (training convention), or None to
                find them with the face finder.

        Returns:
            ``(N, K, 2)`` float64 image coordinates (pixel centres at integers).
        """
        return self.predict_many([image], [boxes])[0]

    def predict_many(
        self,
        images: Sequence[np.ndarray],
        boxes: Sequence[np.ndarray | None] | None = None,
    ) -> list[np.ndarray]:
        """Landmarks of the faces of several images, their crops sharing backend batches.

        Args:
            images: ``I`` images ``(H_i, W_i, 3)`` uint8 RGB.
            boxes: ``I`` box arrays ``(N_i, 4)`` (None entries, or None for all: face finder).

        Returns:
            ``I`` arrays ``(N_i, K, 2)`` of image coordinates.
        """
        imgs = [_check_image(im) for im in images]
        given = [None] * len(imgs) if boxes is None else list(boxes)
        if len(given) != len(imgs):
            raise ValueError(f"{len(imgs)} images but {len(given)} box arrays")
        all_boxes = [
            self.find_faces(im) if b is None else check_face_boxes(b, im)
            for im, b in zip(imgs, given)
        ]
        counts = [len(b) for b in all_boxes]
        n, k = sum(counts), self.num_landmarks
        if n == 0:
            return [np.zeros((0, k, 2)) for _ in imgs]
        owner = np.repeat(np.arange(len(imgs)), counts)
        start = Placements.from_boxes(np.concatenate(all_boxes), self.context)
        pts = self._predict_placed(imgs, owner, start)
        if self.passes > 1:  # re-crop from the landmarks as in training (recrop.py)
            pts = refine(
                lambda idx, placed: self._predict_placed(imgs, owner[idx], placed),
                pts,
                start,
                self.scheme,
                passes=self.passes,
                context=self.context,
                max_roll=self.max_roll,
            ).landmarks
        if self.adapt is not None:
            pts = self.adapt(pts)
        return np.split(pts, np.cumsum(counts)[:-1])

    def detect(self, image: np.ndarray, boxes: np.ndarray | None = None) -> list[Face]:
        """Like :meth:`predict`, but returns :class:`Face` records (box and landmarks)."""
        return self.detect_many([image], [boxes])[0]

    def detect_many(
        self,
        images: Sequence[np.ndarray],
        boxes: Sequence[np.ndarray | None] | None = None,
    ) -> list[list[Face]]:
        """Like :meth:`predict_many`, but returns :class:`Face` records per image."""
        imgs = [_check_image(im) for im in images]
        given = [None] * len(imgs) if boxes is None else list(boxes)
        if len(given) != len(imgs):
            raise ValueError(f"{len(imgs)} images but {len(given)} box arrays")
        found = [
            self.find_faces_chosen(im) if b is None else (check_face_boxes(b, im), None)
            for im, b in zip(imgs, given)
        ]
        all_boxes = [bs for bs, _ in found]
        pts = self.predict_many(imgs, all_boxes)
        return [
            [Face(b, p, chosen_by=rule if j == 0 else None) for j, (b, p) in enumerate(zip(bs, ps))]
            for (bs, rule), ps in zip(found, pts)
        ]

    def predict_batch(
        self,
        images: Sequence[np.ndarray] | np.ndarray,
        boxes: Sequence[np.ndarray | None] | None = None,
    ) -> list[np.ndarray]:
        """Landmarks of all the faces of many images, run together in backend batches of
        ``batch_size`` crops (the faces of different images share batches).

        Args:
            images: ``I`` images ``(H_i, W_i, 3)`` uint8 RGB, or one ``(I, H, W, 3)`` array.
            boxes: ``I`` box arrays ``(N_i, 4)``; None entries (or None for all): the face
                finder.

        Returns:
            ``I`` arrays ``(N_i, K, 2)`` of image coordinates (:meth:`predict_many`).
        """
        if isinstance(images, np.ndarray) and images.ndim == 4:
            images = list(images)
        return self.predict_many(images, boxes)


def _check_image(image: np.ndarray) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 image with pixels (``otmark detect``'s check and message)."""
    return check_image(image, min_size=False)


def scheme_and_codec(meta: Mapping[str, Any], where: str) -> tuple[str, HeatmapCodec]:
    """The ``scheme`` name and :class:`~otmark.heatmaps.HeatmapCodec` of a model's metadata.

    Raises ``ValueError`` naming ``where`` (the file) when a key is missing or invalid.
    """
    if "scheme" not in meta or "codec" not in meta:
        raise ValueError(f"{where}: model metadata needs 'scheme' and 'codec', has {sorted(meta)}")
    try:
        return str(meta["scheme"]), codec_from_meta(meta["codec"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: bad codec metadata: {exc}") from None
