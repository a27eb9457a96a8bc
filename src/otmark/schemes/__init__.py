"""Landmark schemes: the one source of truth for point counts, names, flip pairs, NME
normalisers and conversions between schemes.

>>> from otmark.schemes import get_scheme, convert
>>> get_scheme("300w").num_points
68
"""

from otmark.schemes.conversions import (
    TABLES,
    CommonPoints,
    ConversionTable,
    approximate_points,
    can_convert,
    common_points,
    conversion_matrix,
    convert,
)
from otmark.schemes.normalisers import normaliser
from otmark.schemes.registry import ALIASES, SCHEMES, canonical_name, get_scheme
from otmark.schemes.scheme import BOX, INTEROCULAR, LandmarkScheme, flip_landmarks

__all__ = [
    "ALIASES",
    "BOX",
    "INTEROCULAR",
    "SCHEMES",
    "TABLES",
    "CommonPoints",
    "ConversionTable",
    "LandmarkScheme",
    "approximate_points",
    "can_convert",
    "canonical_name",
    "common_points",
    "conversion_matrix",
    "convert",
    "flip_landmarks",
    "get_scheme",
    "normaliser",
]
