"""Name registries: one exception type for an unknown name, with a did-you-mean hint.

Every registry of otmark (models, losses, datasets, schemes, decoders, protocols, synthetic
datasets and domains, benchmark datasets) is a plain dict; :func:`lookup` reads it and raises
:class:`UnknownNameError` for a name it lacks.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TypeVar

V = TypeVar("V")


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``valid`` to ``name``, else ``""``."""
    hint = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1)
    return f"; did you mean {hint[0]!r}?" if hint else ""


class UnknownNameError(KeyError, ValueError):
    """A name missing from a registry.

    A subclass of both ``KeyError`` and ``ValueError``, so ``except KeyError`` and
    ``except ValueError`` clauses both catch it. The message reads
    ``unknown <what> '<name>'; valid: a, b, c; did you mean 'b'?``.

    Attributes:
        what: the kind of name (``"model"``, ``"loss"``, ...).
        name: the name asked for.
        valid: the registered names.
    """

    def __init__(self, what: str, name: object, valid: Iterable[str]) -> None:
        self.what = what
        self.name = name
        self.valid = tuple(str(v) for v in valid)
        self.message = (
            f"unknown {what} {name!r}; valid: {', '.join(self.valid)}"
            f"{did_you_mean(str(name), self.valid)}"
        )
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


def lookup(registry: Mapping[str, V], name: str, what: str) -> V:
    """``registry[name]``, or :class:`UnknownNameError` naming ``what`` and the valid names."""
    try:
        return registry[name]
    except (KeyError, TypeError):
        raise UnknownNameError(what, name, sorted(registry)) from None
