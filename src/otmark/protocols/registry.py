"""Named evaluation protocols, as data.

Each :class:`ProtocolSpec` says which dataset and split are evaluated (the split names of
:mod:`otmark.datasets`: WFLW's attribute subsets are the splits ``test_pose``..., 300VW's test
categories the splits ``test1``/``test2``/``test3``), which scheme the model predicts (its
training scheme), whether only exactly shared points are scored, and which synthetic
perturbation is applied. Scoring happens in the common space of the model's and the
dataset's schemes (:mod:`otmark.protocols.scoring`).

Choices (documented in docs and the README):

* ``occlusion-medium|large`` run on the **300W full validation set** (common + challenge, 689
  images): the paper's Table 6 reports them "validated on 300W", which in the paper means the
  full validation set (300W-Test is always named as such).
* ``blur-medium|large`` run on 300VW test category 3 (split ``test3``, the paper's "300VW-S3")
  with a 300W/300VW-scheme model.
* ``--data-root`` is the root of the evaluated dataset in its official layout (the folder that
  ``otmark.datasets.load(dataset, root, split)`` reads).
* Cross-dataset protocols score all common points (``strict=False``; 300W -> WFLW: all 68
  points, 8 eyelid points approximate); the normaliser is the common space's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from otmark.registry import UnknownNameError
from otmark.schemes import canonical_name, common_points, get_scheme


@dataclass(frozen=True)
class ProtocolSpec:
    """One evaluation protocol.

    Attributes:
        name: registry key.
        dataset: dataset reader name (``otmark.datasets.load``).
        split: split name of that reader.
        model_scheme: scheme the evaluated model predicts (its training scheme).
        strict: score only the points both schemes share exactly.
        perturbation: ``None``, ``"occlusion"`` or ``"blur"``.
        level: perturbation level (``"medium"`` / ``"large"``).
        seed: protocol seed (per-sample seeds derive from it and the sample id).
        description: one line for ``otmark evaluate --list``.
    """

    name: str
    dataset: str
    split: str
    model_scheme: str
    strict: bool = False
    perturbation: str | None = None
    level: str | None = None
    seed: int = 0
    description: str = field(default="", compare=False)


WFLW_ATTRIBUTES = ("pose", "expression", "illumination", "makeup", "occlusion", "blur")
#: protocol suffix -> 300VW split (test categories 1, 2, 3)
_300VW_SPLITS = {"s1": "test1", "s2": "test2", "s3": "test3"}


def _specs() -> list[ProtocolSpec]:
    s: list[ProtocolSpec] = [
        ProtocolSpec("300w-common", "300w", "common", "300w", description="300W common subset"),
        ProtocolSpec("300w-challenge", "300w", "challenge", "300w", description="300W iBUG"),
        ProtocolSpec("300w-full", "300w", "full", "300w", description="300W common+challenge"),
        ProtocolSpec("300w-test", "300w", "test", "300w", description="300W-Test (indoor+outdoor)"),
        ProtocolSpec("wflw", "wflw", "test", "wflw", description="WFLW test set"),
        ProtocolSpec("cofw", "cofw", "test", "cofw", description="COFW test set"),
        ProtocolSpec("aflw-full", "aflw", "full", "aflw", description="AFLW full test set"),
        ProtocolSpec("aflw-frontal", "aflw", "frontal", "aflw", description="AFLW frontal"),
        ProtocolSpec("cofw-aflw", "aflw", "full", "cofw", description="COFW model on AFLW-full"),
        ProtocolSpec(
            "cofw-aflw-frontal", "aflw", "frontal", "cofw", description="COFW model on AFLW-frontal"
        ),
        ProtocolSpec("300w-wflw", "wflw", "test", "300w", description="300W model on WFLW test"),
        ProtocolSpec(
            "300w-300vw", "300vw", "test", "300w", description="300W model on 300VW S1+S2+S3"
        ),
        ProtocolSpec(
            "wflw-300vw", "300vw", "test", "wflw", description="WFLW model on 300VW S1+S2+S3"
        ),
    ]
    for attr in WFLW_ATTRIBUTES:
        s.append(
            ProtocolSpec(
                f"wflw-{attr}",
                "wflw",
                f"test_{attr}",
                "wflw",
                description=f"WFLW test, {attr} subset",
            )
        )
    for short, split in _300VW_SPLITS.items():
        s.append(
            ProtocolSpec(f"300vw-{short}", "300vw", split, "300vw", description=f"300VW {short}")
        )
        s.append(
            ProtocolSpec(
                f"300w-300vw-{short}",
                "300vw",
                split,
                "300w",
                description=f"300W model on 300VW {short}",
            )
        )
        s.append(
            ProtocolSpec(
                f"wflw-300vw-{short}",
                "300vw",
                split,
                "wflw",
                description=f"WFLW model on 300VW {short}",
            )
        )
    for level in ("medium", "large"):
        s.append(
            ProtocolSpec(
                f"occlusion-{level}",
                "300w",
                "full",
                "300w",
                perturbation="occlusion",
                level=level,
                description=f"300W full with {level} synthetic elliptic occlusion",
            )
        )
        s.append(
            ProtocolSpec(
                f"blur-{level}",
                "300vw",
                "test3",
                "300vw",
                perturbation="blur",
                level=level,
                description=f"300VW S3 with {level} synthetic motion blur",
            )
        )
    return s


#: protocol name -> spec
PROTOCOLS: dict[str, ProtocolSpec] = {p.name: p for p in _specs()}


def get_protocol_spec(name: str) -> ProtocolSpec:
    """The spec called ``name`` (case-insensitive; :class:`otmark.registry.UnknownNameError`
    listing the known protocols)."""
    key = name.strip().lower()
    if key not in PROTOCOLS:
        raise UnknownNameError("protocol", name, sorted(PROTOCOLS))
    return PROTOCOLS[key]


def same_points(a: str, b: str) -> bool:
    """Whether schemes ``a`` and ``b`` are the same points (one scheme, or two names of one
    annotation such as ``300w`` and ``300vw``, the iBUG 68 points)."""
    if canonical_name(a) == canonical_name(b):
        return True
    ka, kb = get_scheme(a).num_points, get_scheme(b).num_points
    if ka != kb:
        return False
    cp = common_points(a, b, strict=True)
    eye = np.eye(ka)
    return bool(
        cp.keep.all()
        and cp.matrix_a.shape == eye.shape
        and np.allclose(cp.matrix_a, eye)
        and np.allclose(cp.matrix_b, eye)
    )


def protocols_for(spec: ProtocolSpec, scheme: str) -> list[str]:
    """The protocols that score a model of ``scheme`` on what ``spec`` scores (same dataset,
    split and perturbation), e.g. ``300w-wflw`` for ``wflw`` and a 300W model."""
    return [
        p.name
        for p in PROTOCOLS.values()
        if (p.dataset, p.split, p.perturbation, p.level, p.strict)
        == (spec.dataset, spec.split, spec.perturbation, spec.level, spec.strict)
        and same_points(p.model_scheme, scheme)
    ]


def check_model_scheme(spec: ProtocolSpec, scheme: str, what: str = "the model") -> None:
    """``ValueError`` unless ``scheme`` (the predictions') is the protocol's model scheme (or
    the same points); the message names the protocol that scores such a model, if any.

    ``what`` names the predictions in the message (e.g. ``"p.json"``).
    """
    if same_points(scheme, spec.model_scheme):
        return
    k, k_spec = get_scheme(scheme).num_points, get_scheme(spec.model_scheme).num_points
    other = protocols_for(spec, scheme)
    if other:
        hint = f"; use --protocol {other[0]} (a {scheme} model on {spec.dataset} {spec.split})"
    else:
        own = sorted(p.name for p in PROTOCOLS.values() if same_points(p.model_scheme, scheme))
        hint = (
            f"; no protocol scores a {scheme} model on {spec.dataset} {spec.split} "
            f"(protocols for {scheme} models: {', '.join(own) or 'none'})"
        )
    raise ValueError(
        f"protocol {spec.name} scores {spec.model_scheme} predictions ({k_spec} points); "
        f"{what} is in scheme {scheme} ({k} points){hint}"
    )
