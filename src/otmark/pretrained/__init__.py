"""The packaged model: a landmark model trained only on generated faces, shipped with otmark.

``--checkpoint pretrained`` (and ``Detector.from_checkpoint("pretrained")``,
``otmark.models.load_model_from_checkpoint("pretrained")``) names it; every checkpoint reader
goes through :func:`resolve_checkpoint`. :func:`package_checkpoint` builds it from a training
checkpoint; ``otmark pretrain`` reproduces the whole recipe (see ``docs/real_faces.md``).
Importing this package does not import torch (only :mod:`otmark.pretrained.package` does).
"""

from otmark.checkpoint_names import (
    MANIFEST_NAME,
    PACKAGED_MODELS,
    PRETRAINED,
    PRETRAINED_FAST,
    WEIGHTS_ENV,
    CorruptWeights,
    PretrainedNotInstalled,
    package_weights_dir,
    read_manifest,
    resolve_checkpoint,
    sha256_file,
    verified_weights,
    weights_dir,
)

__all__ = [
    "MANIFEST_NAME",
    "PACKAGED_MODELS",
    "PRETRAINED",
    "PRETRAINED_FAST",
    "WEIGHTS_ENV",
    "CorruptWeights",
    "PretrainedNotInstalled",
    "load_packaged",
    "package_checkpoint",
    "package_weights_dir",
    "read_manifest",
    "resolve_checkpoint",
    "sha256_file",
    "verified_weights",
    "weights_dir",
]


def __getattr__(name: str):
    if name in ("package_checkpoint", "load_packaged"):
        from otmark.pretrained import package  # lazy: importing otmark.pretrained skips torch

        return getattr(package, name)
    raise AttributeError(f"module 'otmark.pretrained' has no attribute {name!r}")
