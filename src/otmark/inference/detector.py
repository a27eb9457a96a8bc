"""The landmark :class:`Detector`: face boxes in, landmarks in image coordinates out.

Pipeline per face box (functional core: :func:`crop_faces`, :func:`heatmaps_to_image`):

1. centre/scale from the box (training convention: box centre, ``1.25 * max side / 200``,
   :func:`otmark.transforms.centre_scale_from_box`), crop of side ``input_size`` with
   :func:`otmark.transforms.crop_matrix`, ImageNet normalisation;
2. the model maps the crops ``(B, 3, N, N)`` to heatmaps ``(B, K, M, M)`` (any *backend*: a torch
   module, an ONNX Runtime session, or a plain function in tests);
3. the codec's decoder (``get_max`` or ``get_bc``) gives heatmap coordinates ``(B, K, 2)``, mapped
   back through heatmap -> crop -> image with the exact inverse affine maps.

Flip test: each face is also cropped mirrored (the flipped crop matrix); its prediction is mapped
back through the inverse of that matrix (which undoes the mirror) and re-indexed with the
scheme's flip permutation, then the two predictions are averaged **in image coordinates**.
With pixel centres at integers the mirror ``u -> N - 1 - u`` of the crop is exactly the mirror
``h -> M - 1 - h`` of the heatmap, so no half-pixel shift is needed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from otmark.inference.boxes import validate_boxes
from otmark.inference.results import Face

#: a backend maps normalised crops ``(B, 3, N, N)`` float32 to heatmaps ``(B, K, M, M)``
Backend = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Codec:
    """How a model's heatmaps are read (stored in checkpoints and ONNX metadata).

    Attributes:
        input_size: crop side ``N`` in pixels.
        heatmap_size: heatmap side ``M``.
        decoder: ``"get_max"`` or ``"get_bc"``.
        softmax: for ``get_bc``: the outputs are logits (softmax before the barycenter), as for
            Wasserstein/JS/Soft-ArgMax-trained models; False for heatmap-L2 outputs.
        sigma: target Gaussian sigma in heatmap pixels (informative only at inference).
        context: factor applied to the face box side (HRNet: 1.25).
    """

    input_size: int
    heatmap_size: int
    decoder: str = "get_bc"
    softmax: bool = True
    sigma: float = 1.0
    context: float = 1.25

    def __post_init__(self) -> None:
        from otmark.heatmaps import DECODERS

        if self.decoder not in DECODERS:
            raise ValueError(f"unknown decoder {self.decoder!r}; valid: {sorted(DECODERS)}")
        if self.input_size <= 0 or self.heatmap_size <= 0 or self.context <= 0:
            raise ValueError("input_size, heatmap_size and context must be > 0")

    @classmethod
    def from_meta(cls, codec: Mapping[str, Any]) -> Codec:
        """Build from a checkpoint's/ONNX file's ``codec`` dict (unknown keys are ignored).

        A missing ``softmax`` defaults to ``decoder == "get_bc"`` unless the dict says the model
        was trained with a heatmap-L2 loss (``loss: "l2"``/``"mse"``).
        """
        c = dict(codec)
        missing = [k for k in ("input_size", "heatmap_size") if k not in c]
        if missing:
            raise ValueError(f"codec metadata lacks {missing}: {c}")
        decoder = str(c.get("decoder", "get_bc")).lower()
        softmax = c.get("softmax")
        if softmax is None:
            softmax = str(c.get("loss", "")).lower() not in ("l2", "mse", "heatmap_l2")
        return cls(
            input_size=_square_side(c["input_size"], "input_size"),
            heatmap_size=_square_side(c["heatmap_size"], "heatmap_size"),
            decoder=decoder,
            softmax=bool(softmax),
            sigma=float(c.get("sigma", 1.0)),
            context=float(c.get("context", 1.25)),
        )

    def to_meta(self) -> dict[str, Any]:
        """The plain dict :meth:`from_meta` reads."""
        return {
            "input_size": self.input_size,
            "heatmap_size": self.heatmap_size,
            "decoder": self.decoder,
            "softmax": self.softmax,
            "sigma": self.sigma,
            "context": self.context,
        }


def _square_side(value: Any, name: str) -> int:
    """A side length from ``N`` or ``[N, N]`` (the detector's crops are square)."""
    if isinstance(value, list | tuple):
        if len(value) != 2 or int(value[0]) != int(value[1]):
            raise ValueError(f"{name} {value} is not square; the detector needs square crops")
        value = value[0]
    return int(value)


def crop_faces(
    image: np.ndarray, boxes: np.ndarray, codec: Codec, flip: bool = False
) -> tuple[torch.Tensor, np.ndarray]:
    """Crop every face box out of ``image`` as the network expects it.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        boxes: ``(N, 4)`` face boxes ``x0, y0, x1, y1`` (training convention).
        codec: crop geometry.
        flip: mirror each crop horizontally.

    Returns:
        crops ``(N, 3, S, S)`` float32 (ImageNet-normalised) and ``(N, 2, 3)`` float64 crop ->
        image matrices (which undo the mirror when ``flip``).
    """
    from otmark.transforms import (
        centre_scale_from_box,
        crop_matrix,
        invert_affine,
        to_tensor,
        warp_image,
    )

    crops, inverses = [], []
    for box in validate_boxes(boxes):
        centre, scale = centre_scale_from_box(box, context=codec.context)
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
    codec: Codec,
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
    from otmark.heatmaps import decode
    from otmark.transforms import heatmap_to_image, unflip_landmarks

    if heatmaps.ndim != 4 or heatmaps.shape[-2:] != (codec.heatmap_size, codec.heatmap_size):
        raise ValueError(
            f"model output of shape {tuple(heatmaps.shape)}; the codec expects "
            f"(B, K, {codec.heatmap_size}, {codec.heatmap_size})"
        )
    hm = heatmaps.detach().float()
    pts = decode(hm, codec.decoder, softmax=codec.softmax).cpu().double().numpy()
    out = heatmap_to_image(pts, inverses, codec.input_size, codec.heatmap_size)
    if flip_permutation is not None:
        out = unflip_landmarks(out, flip_permutation)
    return out


class Detector:
    """Landmarks of faces in images, from a heatmap model.

    Args:
        backend: maps crops ``(B, 3, N, N)`` float32 to heatmaps ``(B, K, M, M)``.
        scheme: landmark scheme name (``otmark.schemes``); gives ``K`` and the flip permutation.
        codec: crop geometry and decoder.
        flip_test: average each prediction with the one of the mirrored crop.
        batch_size: crops per backend call.
        face_finder: called as ``face_finder(image) -> (N, 4)`` boxes when :meth:`predict` gets
            no boxes; defaults to ``make_face_finder("auto", all_faces=True)`` (dlib's HOG
            detector when installed, else OpenCV's Haar cascade; the chosen face first).
        device: where crops are sent before the backend call (``"cpu"``, ``"cuda"``...).
    """

    def __init__(
        self,
        backend: Backend,
        scheme: str,
        codec: Codec,
        flip_test: bool = False,
        batch_size: int = 16,
        face_finder: Callable[[np.ndarray], np.ndarray] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        from otmark.schemes import get_scheme

        self.backend = backend
        self.scheme = get_scheme(scheme)
        self.codec = codec
        self.flip_test = bool(flip_test)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self._face_finder = face_finder
        self.device = torch.device(device)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_model(
        cls,
        model: torch.nn.Module,
        scheme: str,
        codec: Codec | Mapping[str, Any],
        device: str | torch.device | None = None,
        **kwargs: Any,
    ) -> Detector:
        """Wrap a torch module (put in eval mode and moved to ``device``)."""
        dev = resolve_device(device)
        model = model.to(dev).eval()

        def backend(x: torch.Tensor) -> torch.Tensor:
            from otmark.models import final_output

            with torch.inference_mode():
                return final_output(model(x))

        c = codec if isinstance(codec, Codec) else Codec.from_meta(codec)
        return cls(backend, scheme, c, device=dev, **kwargs)

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike[str], device: str | torch.device | None = None, **kwargs: Any
    ) -> Detector:
        """Load a training checkpoint (``otmark.models.load_model_from_checkpoint``).

        The checkpoint's metadata gives the scheme and the codec.
        """
        from otmark.models import load_model_from_checkpoint

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: checkpoint does not exist")
        model, meta = load_model_from_checkpoint(path)
        scheme, codec = scheme_and_codec(meta, where=str(path))
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
        from otmark.inference.onnx import OnnxBackend, cuda_provider_available, read_onnx_meta

        path = Path(path)
        if meta is None:
            meta = read_onnx_meta(path)
        scheme, codec = scheme_and_codec(meta, where=str(path))
        if device is None:
            device = "cuda" if cuda_provider_available() else "cpu"
        backend = OnnxBackend(path, device=device)
        return cls(backend, scheme, codec, device="cpu", **kwargs)

    # ------------------------------------------------------------------ inference
    @property
    def num_landmarks(self) -> int:
        """``K``."""
        return self.scheme.num_points

    def find_faces(self, image: np.ndarray) -> np.ndarray:
        """Face boxes ``(N, 4)`` from the face finder (see ``face_finder``)."""
        if self._face_finder is None:
            from otmark.inference.finders import make_face_finder

            self._face_finder = make_face_finder("auto", all_faces=True)
        return validate_boxes(self._face_finder(image))

    def _run(self, crops: torch.Tensor) -> torch.Tensor:
        outs = []
        for i in range(0, crops.shape[0], self.batch_size):
            batch = crops[i : i + self.batch_size].to(self.device)
            out = self.backend(batch)
            if not isinstance(out, torch.Tensor):
                out = torch.as_tensor(np.asarray(out))
            outs.append(out)
        return torch.cat(outs) if outs else torch.zeros((0, self.num_landmarks, 1, 1))

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
            self.find_faces(im) if b is None else validate_boxes(b) for im, b in zip(imgs, given)
        ]
        counts = [len(b) for b in all_boxes]
        n, k = sum(counts), self.num_landmarks
        if n == 0:
            return [np.zeros((0, k, 2)) for _ in imgs]
        crops, inverses = [], []
        for flip in (False, True) if self.flip_test else (False,):
            for im, b in zip(imgs, all_boxes):
                if len(b):
                    c, inv = crop_faces(im, b, self.codec, flip=flip)
                    crops.append(c)
                    inverses.append(inv)
        heatmaps = self._run(torch.cat(crops))
        if heatmaps.shape[1] != k:
            raise ValueError(
                f"the model predicts {heatmaps.shape[1]} landmarks; scheme {self.scheme.name} "
                f"has {k}"
            )
        inv = np.concatenate(inverses)
        pts = heatmaps_to_image(heatmaps[:n], inv[:n], self.codec)
        if self.flip_test:
            perm = self.scheme.flip_permutation
            pts = (pts + heatmaps_to_image(heatmaps[n:], inv[n:], self.codec, perm)) / 2.0
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
        all_boxes = [
            self.find_faces(im) if b is None else validate_boxes(b) for im, b in zip(imgs, given)
        ]
        pts = self.predict_many(imgs, all_boxes)
        return [[Face(b, p) for b, p in zip(bs, ps)] for bs, ps in zip(all_boxes, pts)]


def _check_image(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {img.shape} {img.dtype}")
    return img


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` -> ``cuda`` when available, else ``cpu``; ``"cuda"`` without CUDA is an error."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device")
    return dev


def scheme_and_codec(meta: Mapping[str, Any], where: str) -> tuple[str, Codec]:
    """The ``scheme`` name and :class:`Codec` of a model's metadata dict.

    Raises ``ValueError`` naming ``where`` (the file) when a key is missing or invalid.
    """
    if "scheme" not in meta or "codec" not in meta:
        raise ValueError(f"{where}: model metadata needs 'scheme' and 'codec', has {sorted(meta)}")
    try:
        return str(meta["scheme"]), Codec.from_meta(meta["codec"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: bad codec metadata: {exc}") from None
