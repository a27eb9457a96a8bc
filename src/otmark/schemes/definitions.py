"""Point names, regions, flip pairs and normalisers of every scheme (data, with sources).

Sources (see ``docs/conventions.md`` §1, §3 and §4): point orders of iBUG-68 (300W/300VW), WFLW-98,
COFW-29 and AFLW-19; flip pairs from HRNet-Facial-Landmark-Detection ``MATCHED_PARTS`` (identical
to mmpose's metainfo), converted to 0-based; NME normalisers from HRNet ``compute_nme`` / mmpose.

``right``/``left`` in point and region names are the subject's sides (see ``scheme.py``).

The ``17`` scheme is the paper's 17-landmark format (Yan et al., Table 8: "a subset of the 68
landmark format ... similar to the AFLW annotation except the eye centers"). The paper does not
list its indices; otmark takes it as a **selection** of iBUG-68 in AFLW-19 order without the two
eye centres:

====  ==================  ======  ====  ==================  ======
 17   name                68 idx   17   name                68 idx
====  ==================  ======  ====  ==================  ======
 0    right_brow_outer     17      9    left_eye_outer       45
 1    right_brow_centre    19      10   right_nose_wing      31
 2    right_brow_inner     21      11   nose_tip             30
 3    left_brow_inner      22      12   left_nose_wing       35
 4    left_brow_centre     24      13   right_mouth_corner   48
 5    left_brow_outer      26      14   mouth_centre         66
 6    right_eye_outer      36      15   left_mouth_corner    54
 7    right_eye_inner      39      16   chin                 8
 8    left_eye_inner       42
====  ==================  ======  ====  ==================  ======

The mouth centre is the inner lower-lip midpoint 66 (a real annotated point; AFLW's mouth centre
is closest to it for a closed mouth). Its NME normaliser is the outer-eye-corner distance
(points 6 and 9 = 68's 36 and 45), as for the WFLW/300W models the paper evaluates on it.
"""

from __future__ import annotations

from otmark.schemes.scheme import BOX, INTEROCULAR, LandmarkScheme

#: the 68 -> 17 selection (see the module docstring); also used by ``conversions``
SUBSET_17_OF_68: tuple[int, ...] = (
    17,
    19,
    21,
    22,
    24,
    26,
    36,
    39,
    42,
    45,
    31,
    30,
    35,
    48,
    66,
    54,
    8,
)


def _contour(n_side: int) -> list[str]:
    """Face contour from the subject's right end, through the chin, to the left end."""
    right = [f"jaw_right_{i:02d}" for i in range(n_side)]
    left = [f"jaw_left_{i:02d}" for i in reversed(range(n_side))]
    return right + ["chin"] + left


def _mouth() -> list[str]:
    """The 20 iBUG mouth points (68: 48-67; WFLW: 76-95), same order in both schemes."""
    outer = [
        "right_mouth_corner",
        "right_upper_lip_outer",
        "right_upper_lip_peak",
        "upper_lip_top",
        "left_upper_lip_peak",
        "left_upper_lip_outer",
        "left_mouth_corner",
        "left_lower_lip_outer",
        "left_lower_lip_mid",
        "lower_lip_bottom",
        "right_lower_lip_mid",
        "right_lower_lip_outer",
    ]
    inner = [
        "right_mouth_inner_corner",
        "right_upper_lip_inner",
        "upper_lip_inner",
        "left_upper_lip_inner",
        "left_mouth_inner_corner",
        "left_lower_lip_inner",
        "lower_lip_inner",
        "right_lower_lip_inner",
    ]
    return outer + inner


_NOSE_LOWER = ["right_nose_wing", "right_nostril", "nose_bottom", "left_nostril", "left_nose_wing"]


def _range(a: int, b: int) -> tuple[int, ...]:
    return tuple(range(a, b))


def ibug68(name: str, description: str) -> LandmarkScheme:
    """iBUG 68-point scheme (300W, 300VW)."""
    names = (
        _contour(8)
        + [
            "right_brow_outer",
            "right_brow_outer_mid",
            "right_brow_top",
            "right_brow_inner_mid",
            "right_brow_inner",
            "left_brow_inner",
            "left_brow_inner_mid",
            "left_brow_top",
            "left_brow_outer_mid",
            "left_brow_outer",
        ]
        + ["nose_bridge_0", "nose_bridge_1", "nose_bridge_2", "nose_tip"]
        + _NOSE_LOWER
        + [
            "right_eye_outer",
            "right_eye_upper_outer",
            "right_eye_upper_inner",
            "right_eye_inner",
            "right_eye_lower_inner",
            "right_eye_lower_outer",
            "left_eye_inner",
            "left_eye_upper_inner",
            "left_eye_upper_outer",
            "left_eye_outer",
            "left_eye_lower_outer",
            "left_eye_lower_inner",
        ]
        + _mouth()
    )
    pairs = (
        [(i, 16 - i) for i in range(8)]
        + [(17, 26), (18, 25), (19, 24), (20, 23), (21, 22), (31, 35), (32, 34)]
        + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
        + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)]
    )
    regions = {
        "contour": _range(0, 17),
        "right_brow": _range(17, 22),
        "left_brow": _range(22, 27),
        "nose": _range(27, 36),
        "right_eye": _range(36, 42),
        "left_eye": _range(42, 48),
        "outer_lips": _range(48, 60),
        "inner_lips": _range(60, 68),
    }
    return LandmarkScheme(
        name=name,
        num_points=len(names),
        point_names=tuple(names),
        regions=regions,
        flip_pairs=tuple(pairs),
        normaliser_kind=INTEROCULAR,
        normaliser_indices=(36, 45),
        description=description,
    )


def wflw98() -> LandmarkScheme:
    """WFLW 98-point scheme."""
    brow_r = [f"right_brow_upper_{k}" for k in range(5)] + [
        f"right_brow_lower_{k}" for k in (3, 2, 1, 0)
    ]
    brow_l = [f"left_brow_upper_{k}" for k in (4, 3, 2, 1, 0)] + [
        f"left_brow_lower_{k}" for k in range(4)
    ]
    eye_r = [
        "right_eye_outer",
        "right_eye_upper_outer",
        "right_eye_upper_mid",
        "right_eye_upper_inner",
        "right_eye_inner",
        "right_eye_lower_inner",
        "right_eye_lower_mid",
        "right_eye_lower_outer",
    ]
    eye_l = [
        "left_eye_inner",
        "left_eye_upper_inner",
        "left_eye_upper_mid",
        "left_eye_upper_outer",
        "left_eye_outer",
        "left_eye_lower_outer",
        "left_eye_lower_mid",
        "left_eye_lower_inner",
    ]
    names = (
        _contour(16)
        + brow_r
        + brow_l
        + ["nose_bridge_0", "nose_bridge_1", "nose_bridge_2", "nose_tip"]
        + _NOSE_LOWER
        + eye_r
        + eye_l
        + _mouth()
        + ["right_pupil", "left_pupil"]
    )
    pairs = (
        [(i, 32 - i) for i in range(16)]
        + [(33, 46), (34, 45), (35, 44), (36, 43), (37, 42)]
        + [(38, 50), (39, 49), (40, 48), (41, 47), (55, 59), (56, 58)]
        + [(60, 72), (61, 71), (62, 70), (63, 69), (64, 68), (65, 75), (66, 74), (67, 73)]
        + [(76, 82), (77, 81), (78, 80), (83, 87), (84, 86), (88, 92), (89, 91), (93, 95)]
        + [(96, 97)]
    )
    regions = {
        "contour": _range(0, 33),
        "right_brow": _range(33, 42),
        "left_brow": _range(42, 51),
        "nose": _range(51, 60),
        "right_eye": _range(60, 68),
        "left_eye": _range(68, 76),
        "outer_lips": _range(76, 88),
        "inner_lips": _range(88, 96),
        "pupils": (96, 97),
    }
    return LandmarkScheme(
        name="wflw",
        num_points=len(names),
        point_names=tuple(names),
        regions=regions,
        flip_pairs=tuple(pairs),
        normaliser_kind=INTEROCULAR,
        normaliser_indices=(60, 72),
        description="WFLW 98 points (Wu et al. 2018); NME normalised by outer eye corners 60, 72",
    )


def cofw29() -> LandmarkScheme:
    """COFW 29-point scheme (even index = subject's right of a pair)."""
    names = [
        "right_brow_outer",
        "left_brow_outer",
        "right_brow_inner",
        "left_brow_inner",
        "right_brow_top",
        "right_brow_bottom",
        "left_brow_top",
        "left_brow_bottom",
        "right_eye_outer",
        "left_eye_outer",
        "right_eye_inner",
        "left_eye_inner",
        "right_eye_upper",
        "right_eye_lower",
        "left_eye_upper",
        "left_eye_lower",
        "right_pupil",
        "left_pupil",
        "right_nose_wing",
        "left_nose_wing",
        "nose_tip",
        "nose_bottom",
        "right_mouth_corner",
        "left_mouth_corner",
        "upper_lip_top",
        "upper_lip_inner",
        "lower_lip_inner",
        "lower_lip_bottom",
        "chin",
    ]
    pairs = [(0, 1), (2, 3), (4, 6), (5, 7), (8, 9), (10, 11), (12, 14), (13, 15), (16, 17)]
    pairs += [(18, 19), (22, 23)]
    regions = {
        "right_brow": (0, 2, 4, 5),
        "left_brow": (1, 3, 6, 7),
        "right_eye": (8, 10, 12, 13, 16),
        "left_eye": (9, 11, 14, 15, 17),
        "nose": (18, 19, 20, 21),
        "mouth": (22, 23, 24, 25, 26, 27),
        "contour": (28,),
    }
    return LandmarkScheme(
        name="cofw",
        num_points=len(names),
        point_names=tuple(names),
        regions=regions,
        flip_pairs=tuple(pairs),
        normaliser_kind=INTEROCULAR,
        normaliser_indices=(8, 9),
        description="COFW 29 points (Burgos-Artizzu et al. 2013); NME by outer eye corners 8, 9",
    )


def aflw19() -> LandmarkScheme:
    """AFLW 19-point scheme (AFLW's 21 without the ears); NME normalised by the box size."""
    names = [
        "right_brow_outer",
        "right_brow_centre",
        "right_brow_inner",
        "left_brow_inner",
        "left_brow_centre",
        "left_brow_outer",
        "right_eye_outer",
        "right_eye_centre",
        "right_eye_inner",
        "left_eye_inner",
        "left_eye_centre",
        "left_eye_outer",
        "right_nose_wing",
        "nose_tip",
        "left_nose_wing",
        "right_mouth_corner",
        "mouth_centre",
        "left_mouth_corner",
        "chin",
    ]
    pairs = [(0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9), (12, 14), (15, 17)]
    regions = {
        "right_brow": (0, 1, 2),
        "left_brow": (3, 4, 5),
        "right_eye": (6, 7, 8),
        "left_eye": (9, 10, 11),
        "nose": (12, 13, 14),
        "mouth": (15, 16, 17),
        "contour": (18,),
    }
    return LandmarkScheme(
        name="aflw",
        num_points=len(names),
        point_names=tuple(names),
        regions=regions,
        flip_pairs=tuple(pairs),
        normaliser_kind=BOX,
        normaliser_indices=None,
        description="AFLW 19 points (Koestinger et al. 2011, without ears); NME by box_size",
    )


def paper17() -> LandmarkScheme:
    """The paper's 17 points: a selection of iBUG-68 (see the module docstring)."""
    base = ibug68("300w", "")
    names = [base.point_names[i] for i in SUBSET_17_OF_68]
    # rename to the AFLW-like meaning where the 68 name is less telling
    rename = {"right_brow_top": "right_brow_centre", "left_brow_top": "left_brow_centre"}
    rename["lower_lip_inner"] = "mouth_centre"
    names = [rename.get(n, n) for n in names]
    pairs = [(0, 5), (1, 4), (2, 3), (6, 9), (7, 8), (10, 12), (13, 15)]
    regions = {
        "right_brow": (0, 1, 2),
        "left_brow": (3, 4, 5),
        "right_eye": (6, 7),
        "left_eye": (8, 9),
        "nose": (10, 11, 12),
        "mouth": (13, 14, 15),
        "contour": (16,),
    }
    return LandmarkScheme(
        name="17",
        num_points=len(names),
        point_names=tuple(names),
        regions=regions,
        flip_pairs=tuple(pairs),
        normaliser_kind=INTEROCULAR,
        normaliser_indices=(6, 9),
        description="the paper's 17-point subset of iBUG-68 (Table 8); NME by outer eye corners",
    )


def build_all() -> dict[str, LandmarkScheme]:
    """Every scheme, keyed by registry name (built once by ``registry``)."""
    return {
        "300w": ibug68("300w", "iBUG 68 points (300W); NME normalised by outer eye corners 36, 45"),
        "wflw": wflw98(),
        "cofw": cofw29(),
        "aflw": aflw19(),
        "300vw": ibug68("300vw", "iBUG 68 points (300VW, same meaning as 300W); NME by 36, 45"),
        "17": paper17(),
    }
