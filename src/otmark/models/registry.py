"""The model registry: ``create_model(name, num_landmarks, coordconv=False, **kw)``.

Every model maps ImageNet-normalised images ``(B, 3, H, W)`` to heatmap logits
``(B, K, H/4, W/4)`` (a list of them in training mode for Hourglass and CPN, see
:mod:`otmark.models.outputs`). ``mobilenet_v2`` is the small fast model
(:mod:`otmark.models.mobilenet`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

from otmark.models.coordconv import convert_to_coordconv
from otmark.models.cpn import CPN
from otmark.models.hourglass import StackedHourglass
from otmark.models.hrnet import HRNet
from otmark.models.mobilenet import MobileNetLandmarks
from otmark.models.simple_baseline import SimpleBaseline
from otmark.registry import lookup

#: name -> factory ``(num_landmarks, **kw) -> nn.Module``
MODELS: dict[str, Callable[..., nn.Module]] = {
    "hrnet_w18": partial(HRNet, width=18),
    "hrnet_tiny": partial(
        HRNet, width=4, stem_width=8, num_blocks=1, num_modules=(1, 1, 1), layer1_blocks=1
    ),
    "hourglass2": partial(StackedHourglass, num_stacks=2),
    "hourglass4": partial(StackedHourglass, num_stacks=4),
    "simple_baseline_r18": partial(SimpleBaseline, depth=18),
    "simple_baseline_r50": partial(SimpleBaseline, depth=50),
    "cpn": partial(CPN, depth=50),
    "cpn_r18": partial(CPN, depth=18),
    # the fast model of ``pretrained-fast`` (about 1.4 M parameters at width 1)
    "mobilenet_v2": MobileNetLandmarks,
}

#: per-family keyword arguments that shrink a model to a few thousand parameters (tests, CI)
_TINY: dict[str, dict] = {
    "hrnet": dict(width=4, stem_width=8, num_blocks=1, num_modules=(1, 1, 1), layer1_blocks=1),
    "hourglass": dict(channels=8, depth=2),
    "simple_baseline": dict(base_width=4, deconv_channels=8, blocks=(1, 1, 1, 1)),
    "cpn": dict(base_width=4, channels=8, blocks=(1, 1, 1, 1)),
    "mobilenet": dict(width=0.25, head_channels=32),
}


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(MODELS)


def tiny_kwargs(name: str) -> dict:
    """Keyword arguments for ``create_model(name, K, **tiny_kwargs(name))`` that build a tiny
    version of the same architecture (a fresh dict; for tests and CPU smoke runs)."""
    _check_name(name)
    for family, kw in _TINY.items():
        if name.startswith(family):
            return dict(kw) if name != "hrnet_tiny" else {}
    return {}


def _check_name(name: str) -> None:
    lookup(MODELS, name, "model")


def create_model(name: str, num_landmarks: int, coordconv: bool = False, **kwargs) -> nn.Module:
    """Build a registered model.

    Args:
        name: one of :func:`list_models`.
        num_landmarks: ``K``, the number of heatmaps.
        coordconv: replace every convolution by a CoordConv
            (:func:`otmark.models.coordconv.convert_to_coordconv`).
        **kwargs: architecture options of the family (e.g. ``width`` for HRNet, ``channels``
            for Hourglass, ``base_width`` for the ResNet-based models).

    Returns:
        ``nn.Module`` mapping ``(B, 3, H, W)`` to ``(B, K, H/4, W/4)`` heatmap logits.
    """
    _check_name(name)
    if int(num_landmarks) < 1:
        raise ValueError(f"num_landmarks must be >= 1, got {num_landmarks}")
    model = MODELS[name](int(num_landmarks), **kwargs)
    if coordconv:
        convert_to_coordconv(model)
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (elements) of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
