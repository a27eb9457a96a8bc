"""The otmark metadata of an ONNX model: what the detector needs (``scheme`` and ``codec``).

Written by :func:`otmark.export.export_onnx`, read by ``Detector.from_onnx``. It is looked up,
in order:

1. in the ONNX model's ``metadata_props``: a key ``otmark`` holding a JSON object
   ``{"scheme": ..., "codec": {...}}`` (``codec``: :meth:`otmark.heatmaps.HeatmapCodec.to_dict`),
   or separate keys ``scheme`` and ``codec`` (JSON);
2. in a sidecar JSON file next to the model: ``MODEL.onnx.json``, then ``MODEL.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: the metadata_props key holding the JSON metadata
META_KEY = "otmark"


def sidecar_paths(path: str | os.PathLike[str]) -> list[Path]:
    """Candidate sidecar metadata files of an ONNX model (``X.onnx.json``, ``X.json``)."""
    p = Path(path)
    return [p.with_name(p.name + ".json"), p.with_suffix(".json")]


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: invalid JSON metadata ({exc.msg})") from None


def read_onnx_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``{"scheme", "codec", ...}`` metadata of an ONNX model (see the module docstring).

    Raises ``FileNotFoundError``/``ValueError`` naming the file when it is missing, unreadable
    or carries no metadata.
    """
    import onnx  # lazy: optional extra [onnx]

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: ONNX model does not exist")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and others
        raise ValueError(f"{p}: not a readable ONNX model ({exc})") from None
    props = {prop.key: prop.value for prop in model.metadata_props}
    if META_KEY in props:
        meta = _parse_json(props[META_KEY], f"{p} (metadata_props[{META_KEY!r}])")
        if isinstance(meta, Mapping):
            return dict(meta)
    if "scheme" in props and "codec" in props:
        codec = _parse_json(props["codec"], f"{p} (metadata_props['codec'])")
        return {"scheme": props["scheme"], "codec": codec}
    for side in sidecar_paths(p):
        if side.is_file():
            meta = _parse_json(side.read_text(encoding="utf-8"), str(side))
            if not isinstance(meta, Mapping):
                raise ValueError(f"{side}: metadata must be a JSON object")
            return dict(meta)
    raise ValueError(
        f"{p}: no otmark metadata (metadata_props key {META_KEY!r} or a sidecar "
        f"{sidecar_paths(p)[0].name}); pass scheme and codec explicitly"
    )


def write_onnx_meta(model, meta: Mapping[str, Any]) -> None:
    """Store ``meta`` (JSON-serialisable) in an in-memory ``onnx.ModelProto``'s metadata_props."""
    text = json.dumps(dict(meta), sort_keys=True)
    for prop in model.metadata_props:
        if prop.key == META_KEY:
            prop.value = text
            return
    entry = model.metadata_props.add()
    entry.key, entry.value = META_KEY, text
