"""Conversions between landmark schemes, stored as data tables.

A table maps a source scheme to a destination scheme: destination point ``i`` is the **mean of
the source points** ``rows[i]`` (a one-element row is a plain selection). Every table therefore
is a ``(K_dst, K_src)`` matrix whose rows sum to 1, and conversion is a matrix product, so it
commutes with any affine map of the image (flips, crops, scalings). Tables that are not listed
directly are **composed** along the shortest chain of tables (e.g. ``wflw -> aflw`` =
``wflw -> 300w -> aflw``).

Each table marks the destination points that are only approximately the same anatomical point
(``approximate``); a composed conversion marks a point approximate if any step does.

Tables (sources: ``docs/conventions.md`` §5):

- ``wflw -> 300w``: selection, the public ``WFLW_2_iBUG68`` list (jaw = every other contour
  point; brow upper edges; nose; eyes 60,61,63,64,65,67 / 68,69,71,72,73,75; mouth). The 8
  eyelid points are approximate (68 has 2 points per lid, 98 has 3).
- ``300w -> aflw``: derived from the point meanings; brow centres (19, 24: brow tops), eye
  centres (mean of the 6 eye points), mouth centre (mean of 62, 66) are approximate.
- ``cofw -> aflw``: derived from the point meanings (``docs/conventions.md`` §5); brow centres
  (mean of brow top and bottom), eye centres (pupils) and the mouth centre (mean of the
  inner-lip points 25, 26) are approximate.
- ``300w -> 17``: the selection that defines the 17 scheme (``definitions.SUBSET_17_OF_68``);
  exact.
- ``aflw -> 17``: AFLW without its eye centres; brow centres and mouth centre approximate (17
  takes 68's brow tops and inner lower-lip midpoint).
- ``300vw <-> 300w``: identity (same iBUG points).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from otmark.schemes.definitions import SUBSET_17_OF_68
from otmark.schemes.registry import SCHEMES, canonical_name, get_scheme
from otmark.schemes.scheme import LandmarkScheme


@dataclass(frozen=True)
class ConversionTable:
    """``dst[i] = mean(src[rows[i]])``; ``approximate``: destination indices that are only
    approximately the same anatomical point; ``source``: where the table comes from."""

    src: str
    dst: str
    rows: tuple[tuple[int, ...], ...]
    approximate: tuple[int, ...] = ()
    source: str = ""

    def matrix(self) -> np.ndarray:
        """``(K_dst, K_src)`` float64 averaging matrix (rows sum to 1)."""
        k_src = get_scheme(self.src).num_points
        m = np.zeros((len(self.rows), k_src))
        for i, row in enumerate(self.rows):
            m[i, list(row)] = 1.0 / len(row)
        return m


def _sel(*idx: int) -> tuple[tuple[int, ...], ...]:
    return tuple((i,) for i in idx)


_WFLW_TO_68 = (
    _sel(*range(0, 33, 2))
    + _sel(33, 34, 35, 36, 37, 42, 43, 44, 45, 46)
    + _sel(*range(51, 60))
    + _sel(60, 61, 63, 64, 65, 67, 68, 69, 71, 72, 73, 75)
    + _sel(*range(76, 96))
)

_68_TO_AFLW = (
    _sel(17, 19, 21, 22, 24, 26, 36)
    + (tuple(range(36, 42)),)
    + _sel(39, 42)
    + (tuple(range(42, 48)),)
    + _sel(45, 31, 30, 35, 48)
    + ((62, 66),)
    + _sel(54, 8)
)

_COFW_TO_AFLW = (
    _sel(0)
    + ((4, 5),)
    + _sel(2, 3)
    + ((6, 7),)
    + _sel(1, 8, 16, 10, 11, 17, 9, 18, 20, 19, 22)
    + ((25, 26),)
    + _sel(23, 28)
)

_AFLW_TO_17 = _sel(0, 1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18)

TABLES: dict[tuple[str, str], ConversionTable] = {
    (t.src, t.dst): t
    for t in (
        ConversionTable(
            "wflw",
            "300w",
            _WFLW_TO_68,
            approximate=(37, 38, 40, 41, 43, 44, 46, 47),
            source="WFLW_2_iBUG68 (public list); eyelids approximate",
        ),
        ConversionTable(
            "300w",
            "aflw",
            _68_TO_AFLW,
            approximate=(1, 4, 7, 10, 16),
            source="derived from point meanings (docs/conventions.md §5)",
        ),
        ConversionTable(
            "cofw",
            "aflw",
            _COFW_TO_AFLW,
            approximate=(1, 4, 7, 10, 16),
            source="derived from point meanings (docs/conventions.md §5)",
        ),
        ConversionTable("300w", "17", _sel(*SUBSET_17_OF_68), source="definition of the 17 scheme"),
        ConversionTable(
            "aflw",
            "17",
            _AFLW_TO_17,
            approximate=(1, 4, 14),
            source="AFLW-19 without eye centres; 17 uses 68's brow tops and point 66",
        ),
        ConversionTable("300vw", "300w", _sel(*range(68)), source="same iBUG points"),
        ConversionTable("300w", "300vw", _sel(*range(68)), source="same iBUG points"),
    )
}


def _path(src: str, dst: str) -> list[tuple[str, str]] | None:
    """Shortest chain of tables from ``src`` to ``dst`` (``[]`` if equal, ``None`` if none)."""
    if src == dst:
        return []
    prev: dict[str, str] = {src: src}
    queue = deque([src])
    while queue:
        node = queue.popleft()
        for a, b in TABLES:
            if a == node and b not in prev:
                prev[b] = node
                queue.append(b)
    if dst not in prev:
        return None
    chain = []
    node = dst
    while node != src:
        chain.append((prev[node], node))
        node = prev[node]
    return chain[::-1]


def can_convert(src: str | LandmarkScheme, dst: str | LandmarkScheme) -> bool:
    """Whether a (direct or composed) conversion ``src -> dst`` exists."""
    return _path(canonical_name(src), canonical_name(dst)) is not None


def _composed(src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    chain = _path(src, dst)
    if chain is None:
        raise ValueError(
            f"no conversion from scheme {src!r} to {dst!r}; "
            f"available: {', '.join(f'{a}->{b}' for a, b in TABLES)} (and compositions)"
        )
    k = get_scheme(src).num_points
    mat = np.eye(k)
    approx = np.zeros(k, dtype=bool)
    for step in chain:
        table = TABLES[step]
        t = table.matrix()
        approx = (t @ approx.astype(float)) > 0
        approx[list(table.approximate)] = True
        mat = t @ mat
    return mat, approx


def conversion_matrix(src: str | LandmarkScheme, dst: str | LandmarkScheme) -> np.ndarray:
    """``(K_dst, K_src)`` float64 matrix ``M`` with ``dst_landmarks = M @ src_landmarks``.

    Rows are non-negative and sum to 1. Raises ``ValueError`` if no conversion exists.
    """
    return _composed(canonical_name(src), canonical_name(dst))[0]


def approximate_points(src: str | LandmarkScheme, dst: str | LandmarkScheme) -> np.ndarray:
    """``(K_dst,)`` bool: destination points that are only approximately converted."""
    return _composed(canonical_name(src), canonical_name(dst))[1]


def apply_matrix(matrix: np.ndarray, landmarks):
    """``(..., K_src, 2) -> (..., K_dst, 2)`` for numpy arrays or torch tensors."""
    if isinstance(landmarks, np.ndarray) or not hasattr(landmarks, "new_tensor"):
        arr = np.asarray(landmarks)
        dtype = arr.dtype if arr.dtype.kind == "f" else np.float64
        return np.einsum("ij,...jc->...ic", matrix, arr).astype(dtype)
    m = landmarks.new_tensor(matrix)
    return m @ landmarks


def convert(landmarks, src: str | LandmarkScheme, dst: str | LandmarkScheme):
    """Convert landmarks between schemes.

    Args:
        landmarks: ``(..., K_src, 2)`` numpy array or torch tensor (float).
        src, dst: scheme names (or aliases / :class:`LandmarkScheme`).
    Returns:
        ``(..., K_dst, 2)`` of the input's type (numpy keeps a float input's dtype).
    Raises:
        ValueError: if the point count does not match ``src`` or no conversion exists.
    """
    s = get_scheme(src)
    if landmarks.shape[-2] != s.num_points:
        raise ValueError(
            f"convert: landmarks have {landmarks.shape[-2]} points, scheme {s.name} has "
            f"{s.num_points}"
        )
    return apply_matrix(conversion_matrix(src, dst), landmarks)


@dataclass(frozen=True)
class CommonPoints:
    """How two schemes are compared on the points they share.

    Attributes:
        space: scheme name of the common space.
        matrix_a: ``(K_c, K_a)`` conversion of scheme ``a`` into the common space.
        matrix_b: ``(K_c, K_b)`` conversion of scheme ``b``.
        keep: ``(K_c,)`` bool, the common points that are kept (all, or only the exactly
            shared points in strict mode); apply with :meth:`to_common_a` / :meth:`to_common_b`.
    """

    space: str
    matrix_a: np.ndarray
    matrix_b: np.ndarray
    keep: np.ndarray

    @property
    def num_points(self) -> int:
        return int(self.keep.sum())

    def to_common_a(self, landmarks):
        """``(..., K_a, 2) -> (..., K_kept, 2)``."""
        return apply_matrix(self.matrix_a[self.keep], landmarks)

    def to_common_b(self, landmarks):
        """``(..., K_b, 2) -> (..., K_kept, 2)``."""
        return apply_matrix(self.matrix_b[self.keep], landmarks)


def common_points(
    a: str | LandmarkScheme, b: str | LandmarkScheme, strict: bool = False
) -> CommonPoints:
    """The space on which predictions in scheme ``a`` and ground truth in ``b`` are compared.

    Semantics: the common space is the **richest scheme both convert into**: ``b`` if ``a -> b``
    exists, else ``a`` if ``b -> a`` exists (a conversion only ever loses points), otherwise
    the scheme with the most points reachable from both. Examples: 300w vs wflw -> 300w (68);
    cofw vs aflw -> aflw (19); 300w vs 17 -> 17; cofw vs 300w -> aflw (19); 300vw vs 300w ->
    300w (identity).

    ``strict=True`` keeps only the points whose conversion is exact from both sides (e.g. 300w vs
    wflw: 60 points, without the 8 eyelid points).

    Raises ``ValueError`` when the two schemes share no space.
    """
    na, nb = canonical_name(a), canonical_name(b)
    if _path(na, nb) is not None:
        space = nb
    elif _path(nb, na) is not None:
        space = na
    else:
        candidates = [s for s in SCHEMES if _path(na, s) is not None and _path(nb, s) is not None]
        if not candidates:
            raise ValueError(f"schemes {na!r} and {nb!r} share no common landmark space")
        space = max(candidates, key=lambda s: get_scheme(s).num_points)
    ma, approx_a = _composed(na, space)
    mb, approx_b = _composed(nb, space)
    keep = ~(approx_a | approx_b) if strict else np.ones(ma.shape[0], dtype=bool)
    return CommonPoints(space=space, matrix_a=ma, matrix_b=mb, keep=keep)
