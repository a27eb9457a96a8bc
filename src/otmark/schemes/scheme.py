"""The :class:`LandmarkScheme` record and the horizontal-flip helpers built on it.

Naming convention of points (all schemes): ``right``/``left`` are the **subject's** sides, so on a
frontal face the ``right_*`` points lie on the image's left half (smaller x). Horizontal flipping
therefore swaps every ``right_*`` point with the ``left_*`` point of the same remaining name, which
the tests check against the flip pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

#: normaliser kinds: distance between two landmarks, or the size of the face box
INTEROCULAR = "interocular"
BOX = "box"


@dataclass(frozen=True)
class LandmarkScheme:
    """One landmark annotation scheme (a fixed, ordered set of named facial points).

    Attributes:
        name: registry name (``otmark.schemes.SCHEMES``).
        num_points: ``K``, the number of landmarks.
        point_names: ``(K,)`` unique names, e.g. ``jaw_right_00``, ``right_brow_outer``.
        regions: region name -> point indices (each point in exactly one region).
        flip_pairs: 0-based index pairs swapped by a horizontal flip; unpaired points map to
            themselves.
        normaliser_kind: ``"interocular"`` (distance between ``normaliser_indices``) or ``"box"``
            (face box size, see :func:`otmark.schemes.normaliser`).
        normaliser_indices: the two outer-eye-corner indices for ``"interocular"``, else ``None``.
        description: one line on where the scheme comes from.
    """

    name: str
    num_points: int
    point_names: tuple[str, ...]
    regions: Mapping[str, tuple[int, ...]] = field(hash=False, compare=False)
    flip_pairs: tuple[tuple[int, int], ...]
    normaliser_kind: str
    normaliser_indices: tuple[int, int] | None
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "regions", MappingProxyType(dict(self.regions)))
        k = self.num_points
        if len(self.point_names) != k:
            raise ValueError(f"scheme {self.name}: {len(self.point_names)} names for {k} points")
        if len(set(self.point_names)) != k:
            raise ValueError(f"scheme {self.name}: point names are not unique")
        seen = [i for pair in self.flip_pairs for i in pair]
        if len(set(seen)) != len(seen) or any(not 0 <= i < k for i in seen):
            raise ValueError(f"scheme {self.name}: flip pairs overlap or are out of range")
        covered = sorted(i for idx in self.regions.values() for i in idx)
        if covered != list(range(k)):
            raise ValueError(f"scheme {self.name}: regions must cover every point exactly once")
        if self.normaliser_kind == INTEROCULAR:
            ni = self.normaliser_indices
            if ni is None or len(ni) != 2 or any(not 0 <= i < k for i in ni):
                raise ValueError(f"scheme {self.name}: bad normaliser indices {ni}")
        elif self.normaliser_kind != BOX:
            raise ValueError(f"scheme {self.name}: unknown normaliser kind {self.normaliser_kind}")

    @property
    def flip_permutation(self) -> np.ndarray:
        """``(K,)`` int64 ``perm`` with ``flipped[i] = mirrored[perm[i]]`` (an involution)."""
        perm = np.arange(self.num_points, dtype=np.int64)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def index(self, point_name: str) -> int:
        """Index of a point by name (``ValueError`` naming the scheme if absent)."""
        try:
            return self.point_names.index(point_name)
        except ValueError:
            raise ValueError(f"scheme {self.name} has no point named {point_name!r}") from None


def flip_landmarks(landmarks, scheme: LandmarkScheme, width: float):
    """Mirror landmarks horizontally in an image of ``width`` pixels and re-order them.

    With pixel centres at integers the image spans ``[-0.5, width - 0.5]``, so ``x -> width-1-x``.

    Args:
        landmarks: ``(..., K, 2)`` numpy array or torch tensor.
        scheme: the scheme of ``landmarks`` (its flip permutation is applied).
        width: image width in pixels.
    Returns:
        ``(..., K, 2)`` of the same type: point ``i`` of the result is the mirrored point
        ``flip_permutation[i]`` of the input.
    """
    perm = scheme.flip_permutation
    if landmarks.shape[-2] != scheme.num_points:
        raise ValueError(
            f"flip_landmarks: {landmarks.shape[-2]} points given for scheme {scheme.name} "
            f"({scheme.num_points} points)"
        )
    out = landmarks[..., perm, :]
    out = out.clone() if hasattr(out, "clone") else out.copy()
    out[..., 0] = (width - 1) - out[..., 0]
    return out
