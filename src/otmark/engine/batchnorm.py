"""BatchNorm running statistics re-estimated from training batches (precise BN).

At a high learning rate the BatchNorm layers' running averages (momentum 0.1) lag the weights:
the model in eval mode then reads far worse than the same weights on batch statistics (vanilla
L2 at 5e-3: validation NME 94 % in eval mode against 5.5 % on batch statistics at the same
step, ``benchmarks/stability_probe.py``). :func:`recalibrate_batchnorm` replaces the running
averages with the cumulative average over a few training batches of the current weights, so
that a validation (and the final model) reads the weights, not the lag. Called before every
validation of a per-step run when ``train.bn_recalibrate`` > 0
(:meth:`otmark.engine.fitting.Trainer.validate_now`).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from otmark.engine.loop import autocast_context


def recalibrate_batchnorm(
    model: torch.nn.Module,
    loader: Iterable[dict],
    device: torch.device,
    num_batches: int,
    channels_last: bool = False,
    amp_dtype: torch.dtype | None = None,
) -> int:
    """Reset the running statistics of every BatchNorm layer of ``model`` and re-estimate them
    as the average over the first ``num_batches`` batches of ``loader`` (``batch["image"]``
    ``(B, 3, H, W)``), forwarded in training mode without gradients. The weights, the layers'
    momenta and the model's mode are left as they were.

    Returns:
        the number of batches used (0: no BatchNorm layer, or ``num_batches`` 0).
    """
    bns = [
        m
        for m in model.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    if not bns or num_batches <= 0:
        return 0
    was_training = model.training
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
    model.train()
    used = 0
    try:
        with torch.no_grad():
            for batch in loader:
                images = batch["image"].to(device, non_blocking=True)
                if channels_last:
                    images = images.contiguous(memory_format=torch.channels_last)
                with autocast_context(device, amp_dtype):
                    model(images)
                used += 1
                if used >= num_batches:
                    break
    finally:
        for m, momentum in zip(bns, momenta, strict=True):
            m.momentum = momentum
        model.train(was_training)
    return used
