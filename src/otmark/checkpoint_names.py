"""Where the packaged model lives and how the name ``pretrained`` resolves (no torch import).

The packaged model is two files in one folder, the *weights folder*:

- ``manifest.json``: the model's description (:data:`MANIFEST_FORMAT`): ``weights`` (the file
  name of the weights), ``sha256`` and ``bytes`` of that file, ``model_name``, ``model_kwargs``,
  ``scheme``, ``codec`` (:meth:`otmark.heatmaps.HeatmapCodec.to_dict` plus the crop
  ``context``), ``dtype``, ``recipe`` and ``data`` (how it was trained, on what), ``source``
  (the training checkpoint it came from) and optionally ``label_adaptation``;
- the weights file: a ``torch.save`` dict in the checkpoint format of
  :mod:`otmark.models.checkpoint` whose floating-point tensors are float16
  (:func:`otmark.pretrained.package.package_checkpoint` writes both).

Several packaged models may share the weights folder, each under its own file names
(:data:`PACKAGED_MODELS`): ``pretrained`` (HRNetV2-W18: ``manifest.json``,
``otmark_pretrained.pt``) and ``pretrained-fast`` (the small fast model
``mobilenet_v2``: ``manifest_fast.json``, ``otmark_pretrained_fast.pt``).

The weights folder is, in order: the ``weights_dir`` argument, the ``OTMARK_WEIGHTS_DIR``
environment variable, the ``otmark/weights/`` folder of the installed package. A checkpoint
argument ``pretrained`` (:data:`PRETRAINED`) or ``pretrained-fast`` (:data:`PRETRAINED_FAST`)
names that packaged model; a folder holding a packaged manifest names the packaged model in that
folder (``manifest.json`` first); anything else is a checkpoint path. The weights' sha256 is
checked against the manifest before torch reads them.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the checkpoint name of the packaged model
PRETRAINED = "pretrained"
#: environment variable that overrides the packaged weights folder
WEIGHTS_ENV = "OTMARK_WEIGHTS_DIR"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "otmark-packaged-model-1"
#: how to build the packaged model (quoted by the not-installed error)
BUILD_HINT = (
    "build it with `otmark pretrain --out runs/pretrained --install` (hours on a CPU), "
    "or pass a checkpoint file"
)


#: the checkpoint name of the packaged small fast model
PRETRAINED_FAST = "pretrained-fast"


@dataclass(frozen=True)
class PackagedModel:
    """One packaged model: its checkpoint ``name``, the file names of its ``manifest`` and
    ``weights`` in the weights folder, its packaged training ``config`` (a file of
    ``otmark/configs/pretrained/``) and ``build``, the sentence saying how to build it."""

    name: str
    manifest: str
    weights: str
    config: str
    build: str


#: checkpoint name -> packaged model (the first is the default of ``otmark detect``)
PACKAGED_MODELS: dict[str, PackagedModel] = {
    PRETRAINED: PackagedModel(
        PRETRAINED, MANIFEST_NAME, "otmark_pretrained.pt", "pretrained_300w.yaml", BUILD_HINT
    ),
    PRETRAINED_FAST: PackagedModel(
        PRETRAINED_FAST,
        "manifest_fast.json",
        "otmark_pretrained_fast.pt",
        "pretrained_fast.yaml",
        "build it with `otmark pretrain --model fast --out runs/pretrained-fast --install` "
        "(an hour or more of a machine), or pass a checkpoint file",
    ),
}


def packaged_model(name: str = PRETRAINED) -> PackagedModel:
    """The :data:`PACKAGED_MODELS` entry ``name``; ``KeyError`` listing the names otherwise."""
    try:
        return PACKAGED_MODELS[name]
    except KeyError:
        raise KeyError(
            f"no packaged model {name!r}; packaged models: {', '.join(PACKAGED_MODELS)}"
        ) from None


class PretrainedNotInstalled(FileNotFoundError):
    """The packaged model is not in this installation (no manifest in the weights folder)."""


class CorruptWeights(ValueError):
    """A packaged manifest or weights file is unreadable or does not match its sha256."""


def package_weights_dir() -> Path:
    """The ``otmark/weights/`` folder of the installed package."""
    return Path(str(importlib.resources.files("otmark") / "weights"))


def weights_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The weights folder: ``override``, else ``$OTMARK_WEIGHTS_DIR``, else the package's."""
    if override is not None:
        return Path(override)
    env = os.environ.get(WEIGHTS_ENV)
    return Path(env) if env else package_weights_dir()


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_manifest(
    folder: str | os.PathLike[str] | None = None, name: str = PRETRAINED
) -> dict[str, Any]:
    """The manifest of the packaged model ``name`` in ``folder`` (default :func:`weights_dir`).

    Raises :class:`PretrainedNotInstalled` when the folder has no manifest and
    :class:`CorruptWeights` naming the file when it is not a valid manifest.
    """
    entry = packaged_model(name)
    folder = weights_dir(folder)
    path = folder / entry.manifest
    if not path.is_file():
        raise PretrainedNotInstalled(
            f"the packaged model ({name!r}) is not in this installation "
            f"(no {entry.manifest} in {folder}); {entry.build}"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptWeights(f"{path}: not a readable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise CorruptWeights(f"{path}: not an otmark manifest (format {MANIFEST_FORMAT!r})")
    for key in ("weights", "sha256"):
        if not isinstance(manifest.get(key), str):
            raise CorruptWeights(f"{path}: manifest lacks {key!r}")
    if Path(manifest["weights"]).name != manifest["weights"]:
        raise CorruptWeights(f"{path}: 'weights' must be a file name in the same folder")
    return manifest


def verified_weights(folder: str | os.PathLike[str] | None = None, name: str = PRETRAINED) -> Path:
    """The weights file of the packaged model ``name`` in ``folder``, after checking its sha256.

    Raises :class:`PretrainedNotInstalled` (no manifest, or the weights file is missing) or
    :class:`CorruptWeights` (sha256 mismatch), each naming the file.
    """
    entry = packaged_model(name)
    folder = weights_dir(folder)
    manifest = read_manifest(folder, name)
    path = folder / manifest["weights"]
    if not path.is_file():
        raise PretrainedNotInstalled(
            f"{path}: the packaged model's weights file is missing (named by "
            f"{folder / entry.manifest}); {entry.build}"
        )
    digest = sha256_file(path)
    if digest != manifest["sha256"]:
        raise CorruptWeights(
            f"{path}: packaged weights are corrupt (sha256 {digest[:12]}..., the manifest "
            f"says {manifest['sha256'][:12]}...); reinstall otmark or rebuild the weights"
        )
    return path


def resolve_checkpoint(
    name_or_path: str | os.PathLike[str], weights_dir: str | os.PathLike[str] | None = None
) -> Path:
    """The checkpoint file named by ``name_or_path``.

    ``pretrained`` / ``pretrained-fast`` (a :data:`PACKAGED_MODELS` name) -> that packaged
    model's verified weights file (:func:`verified_weights`); a folder with a packaged manifest
    -> the verified weights of the first packaged model found there; anything else ->
    ``Path(name_or_path)`` unchanged (its existence is checked by the reader).
    """
    if str(name_or_path) in PACKAGED_MODELS:
        return verified_weights(weights_dir, str(name_or_path))
    path = Path(name_or_path)
    if path.is_dir():
        for entry in PACKAGED_MODELS.values():
            if (path / entry.manifest).is_file():
                return verified_weights(path, entry.name)
    return path
