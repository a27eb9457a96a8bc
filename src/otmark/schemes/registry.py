"""Scheme registry: :data:`SCHEMES` and :func:`get_scheme`."""

from __future__ import annotations

from otmark.registry import UnknownNameError
from otmark.schemes.definitions import build_all
from otmark.schemes.scheme import LandmarkScheme

_REGISTRY: dict[str, LandmarkScheme] = build_all()

#: registry names, in a fixed order
SCHEMES: tuple[str, ...] = tuple(_REGISTRY)

#: accepted aliases (case-insensitive): point counts and dataset spellings
ALIASES: dict[str, str] = {
    "68": "300w",
    "w300": "300w",
    "ibug68": "300w",
    "98": "wflw",
    "29": "cofw",
    "19": "aflw",
    "vw300": "300vw",
}


def canonical_name(name: str | LandmarkScheme) -> str:
    """Registry name of a scheme given by name, alias or :class:`LandmarkScheme`."""
    if isinstance(name, LandmarkScheme):
        return name.name
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise UnknownNameError("landmark scheme", name, SCHEMES)
    return key


def get_scheme(name: str | LandmarkScheme) -> LandmarkScheme:
    """The :class:`LandmarkScheme` called ``name`` (a registry name or an alias such as ``"68"``).

    Raises :class:`otmark.registry.UnknownNameError` (a ``KeyError``) listing the known schemes.
    """
    if isinstance(name, LandmarkScheme):
        return name
    return _REGISTRY[canonical_name(name)]
