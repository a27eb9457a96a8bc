"""Reading otmark's own JSON documents: a JSON object tagged with a ``"format"`` name."""

from __future__ import annotations

import json
import os
from pathlib import Path


def read_json_document(path: str | os.PathLike[str], format_name: str) -> dict:
    """The JSON object in ``path`` whose ``"format"`` field is ``format_name``.

    Raises ``ValueError`` naming the file when it is not valid JSON (with the line), not an
    object, or of another format.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(doc, dict) or doc.get("format") != format_name:
        raise ValueError(f"{path}: not an {format_name} file")
    return doc
