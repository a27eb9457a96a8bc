"""Reading otmark's own JSON documents: a JSON object tagged with a ``"format"`` name."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_json(path: str | os.PathLike[str]) -> Any:
    """The JSON value in the UTF-8 file ``path``.

    Raises ``ValueError`` naming the file and the line when it is not valid JSON.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None


def read_json_document(path: str | os.PathLike[str], format_name: str) -> dict:
    """The JSON object in ``path`` whose ``"format"`` field is ``format_name``.

    Raises ``ValueError`` naming the file when it is not valid JSON (with the line), not an
    object, or of another format.
    """
    path = Path(path)
    doc = read_json(path)
    if not isinstance(doc, dict) or doc.get("format") != format_name:
        raise ValueError(f"{path}: not an {format_name} file")
    return doc
