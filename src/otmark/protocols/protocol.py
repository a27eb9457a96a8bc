"""A protocol bound to its samples: perturbed inputs and a scorer.

:class:`Protocol` holds the samples of a :class:`ProtocolSpec` (images stay on disk until
asked for) and exposes

* :meth:`Protocol.box` -- the face box given to the model. ``box_source="landmarks"`` (default,
  the HRNet convention that training uses by default, ``otmark.transforms`` ``crop_from``): the
  integer-aligned tight box of the ground-truth landmarks; ``"box"``: the dataset's face box,
  falling back to the landmarks when a sample has none;
* :meth:`Protocol.input_image` -- the (possibly perturbed) input image of sample ``i``:
  occlusion seeded by ``(spec.seed, sample.id)`` inside the tight ground-truth box (whatever
  ``box_source`` is, so every model sees the same occluder); motion blur from the ground-truth
  landmarks of the neighbouring annotated frames of the same video;
* :meth:`Protocol.score` -- predictions in the model's scheme -> per-landmark normalised errors
  in the common space.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from otmark import datasets
from otmark.datasets.records import Sample
from otmark.perturb import blur_frame, blur_reference_index, occlude, random_ellipse, sample_seed
from otmark.protocols.registry import ProtocolSpec, check_model_scheme, get_protocol_spec
from otmark.protocols.scoring import score
from otmark.transforms.crop import tight_box

#: where the face box given to the model comes from
BOX_SOURCES = ("landmarks", "box")


def video_position(sample: Sample) -> tuple[str, int] | None:
    """``(video key, 0-based frame index)`` of a video-frame sample, else None.

    The video is the image file for samples read from a video (``sample.image.frame`` set and
    no container ``member``), or ``attributes["video"]`` with ``attributes["frame"]`` for
    extracted frames.
    """
    if sample.image.frame is not None and getattr(sample.image, "member", None) is None:
        return str(sample.image.path), int(sample.image.frame)
    if "video" in sample.attributes and "frame" in sample.attributes:
        return str(sample.attributes["video"]), int(sample.attributes["frame"])
    return None


def neighbours(samples: Sequence[Sample]) -> list[tuple[int, int, int]]:
    """For each sample, ``(index of previous, index of next, frames between them)``.

    Previous/next are the nearest annotated frames of the same video before/after it (the
    sample itself at either end, giving a one-sided difference; ``(i, i, 0)`` for a single
    frame). Raises ``ValueError`` naming the sample when it is not a video frame.
    """
    pos = []
    for s in samples:
        p = video_position(s)
        if p is None:
            raise ValueError(f"sample {s.id!r}: blur protocols need video frames")
        pos.append(p)
    by_video: dict[str, list[tuple[int, int]]] = {}
    for i, (video, frame) in enumerate(pos):
        by_video.setdefault(video, []).append((frame, i))
    out: list[tuple[int, int, int]] = [(0, 0, 0)] * len(samples)
    for frames in by_video.values():
        frames.sort()
        for r, (frame, i) in enumerate(frames):
            prev_f, prev_i = frames[r - 1] if r > 0 else (frame, i)
            next_f, next_i = frames[r + 1] if r + 1 < len(frames) else (frame, i)
            out[i] = (prev_i, next_i, next_f - prev_f)
    return out


class Protocol:
    """A :class:`ProtocolSpec` bound to its samples (the dataset split it names).

    Args:
        spec: the protocol.
        samples: the evaluated samples.
        box_source: ``"landmarks"`` or ``"box"`` (see the module docstring).
    """

    def __init__(
        self, spec: ProtocolSpec, samples: Sequence[Sample], box_source: str = "landmarks"
    ):
        if box_source not in BOX_SOURCES:
            raise ValueError(f"box_source must be one of {BOX_SOURCES}, got {box_source!r}")
        self.spec = spec
        self.box_source = box_source
        self.samples = list(samples)
        if not self.samples:
            raise ValueError(f"protocol {spec.name}: no samples to evaluate")
        ids = [s.id for s in self.samples]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"protocol {spec.name}: duplicate sample id {dup!r}")
        self._neighbours = neighbours(self.samples) if spec.perturbation == "blur" else None
        self._nose = (
            blur_reference_index(self.samples[0].scheme) if spec.perturbation == "blur" else None
        )

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.samples]

    def box(self, i: int) -> np.ndarray:
        """``(4,)`` face box ``x0, y0, x1, y1`` given to the model for sample ``i``."""
        s = self.samples[i]
        if self.box_source == "box" and s.box is not None:
            return np.asarray(s.box, dtype=np.float64).reshape(4)
        return tight_box(s.landmarks)

    def occlusion_box(self, i: int) -> np.ndarray:
        """``(4,)`` tight ground-truth box the occluder is drawn in (model independent)."""
        return tight_box(self.samples[i].landmarks)

    def perturbation_params(self, i: int) -> dict:
        """What is applied to sample ``i`` (JSON-ready): ellipse, or blur neighbours."""
        if self.spec.perturbation == "occlusion":
            seed = sample_seed(self.spec.seed, self.samples[i].id)
            ellipse = random_ellipse(self.occlusion_box(i), self.spec.level, seed)
            return {"occlusion": ellipse.to_dict()}
        if self.spec.perturbation == "blur":
            p, n, apart = self._neighbours[i]
            return {
                "blur": {
                    "prev": self.samples[p].id,
                    "next": self.samples[n].id,
                    "frames_apart": apart,
                }
            }
        return {}

    def input_image(self, i: int) -> np.ndarray:
        """The model's input for sample ``i``: ``(H, W, 3)`` uint8 RGB, perturbed if required."""
        s = self.samples[i]
        image = s.load_image()
        if self.spec.perturbation == "occlusion":
            seed = sample_seed(self.spec.seed, s.id)
            image, _ = occlude(image, self.occlusion_box(i), self.spec.level, seed)
        elif self.spec.perturbation == "blur":
            p, n, apart = self._neighbours[i]
            if apart > 0:
                image = blur_frame(
                    image,
                    self.samples[p].landmarks,
                    self.samples[n].landmarks,
                    self.spec.level,
                    self._nose,
                    frames_apart=apart,
                )
        return image

    def check_scheme(self, scheme: str, what: str = "the model") -> None:
        """``ValueError`` when predictions in ``scheme`` are not what this protocol scores (a
        model of another scheme has its own cross-dataset protocol, named in the message;
        :func:`otmark.protocols.registry.check_model_scheme`)."""
        check_model_scheme(self.spec, scheme, what)

    def score(self, pred: np.ndarray, pred_scheme: str | None = None) -> tuple[np.ndarray, str]:
        """``pred (N, K_model, 2)`` aligned with :attr:`samples` -> ``(errors (N, K_c), space)``.

        ``pred_scheme`` defaults to the protocol's model scheme; another scheme is refused
        (:meth:`check_scheme`): a cross-dataset evaluation is its own protocol.
        """
        scheme = pred_scheme or self.spec.model_scheme
        self.check_scheme(scheme)
        return score(pred, scheme, self.samples, self.spec.strict)


def load_samples(
    spec: ProtocolSpec, data_root: str | os.PathLike, on_error: str = "raise"
) -> list[Sample]:
    """Read the dataset split of ``spec`` under ``data_root`` (the dataset's root folder)."""
    return list(datasets.load(spec.dataset, Path(data_root), spec.split, on_error=on_error))


def build_protocol(
    name: str | ProtocolSpec,
    data_root: str | os.PathLike,
    on_error: str = "raise",
    box_source: str = "landmarks",
) -> Protocol:
    """The protocol ``name`` on the data under ``data_root``."""
    spec = name if isinstance(name, ProtocolSpec) else get_protocol_spec(name)
    return Protocol(spec, load_samples(spec, data_root, on_error), box_source=box_source)
