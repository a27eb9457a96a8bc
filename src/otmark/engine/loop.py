"""One training epoch, prediction and validation metrics: plain functions."""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from otmark.engine.builders import scheme_of
from otmark.engine.distributed import (
    DistInfo,
    any_flag,
    gather_objects,
    iterate_on_all_ranks,
    raise_on_any_rank,
)
from otmark.engine.precision import check_grad_scaler
from otmark.engine.spikes import AdaptiveClip, SpikeGuard
from otmark.heatmaps.codec import HeatmapCodec
from otmark.metrics import landmark_errors, summary
from otmark.models import as_stack_list, final_output
from otmark.schemes import normaliser
from otmark.transforms import render_targets


@dataclass
class EpochResult:
    """What :func:`train_one_epoch` did: summed loss over ``images`` local samples, the number
    of optimisation ``steps``, wall ``seconds`` and whether it stopped early (``interrupted``)."""

    loss_sum: float = 0.0
    images: int = 0
    steps: int = 0
    seconds: float = 0.0
    interrupted: bool = False


def autocast_context(device: torch.device, amp_dtype: torch.dtype | None):
    """``torch.autocast`` for the device, or a no-op when ``amp_dtype`` is None."""
    if amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=amp_dtype)


def batch_loss(
    model,
    loss_fn,
    batch: dict,
    device,
    amp_dtype=None,
    channels_last: bool = False,
    target_spec: tuple[int, float] | None = None,
):
    """Forward one batch and return the loss summed over the model's output stacks.

    Models with intermediate supervision return a list of ``(B, K, h, w)`` heatmaps in training
    mode; the loss of each stack is computed in float32 and summed. Without ``target`` in the
    batch the targets are rendered on ``device`` from ``target_points`` with
    ``target_spec = (heatmap_size, sigma)``.
    """
    images = batch["image"].to(device, non_blocking=True)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    weight = batch["weight"].to(device, non_blocking=True)
    if "target" in batch:
        target = batch["target"].to(device, non_blocking=True)
    else:
        if target_spec is None:
            raise ValueError("batch has no 'target': pass target_spec=(heatmap_size, sigma)")
        points = batch["target_points"].to(device, non_blocking=True)
        target = render_targets(points, weight, *target_spec)
    with autocast_context(device, amp_dtype):
        outputs = as_stack_list(model(images))
    total = None
    for out in outputs:
        if out.shape[-2:] != target.shape[-2:]:
            raise ValueError(
                f"the model outputs {tuple(out.shape[-2:])} heatmaps but the targets are "
                f"{tuple(target.shape[-2:])}: set codec.heatmap_size to match the model"
            )
        term = loss_fn(out.float(), target, weight)
        total = term if total is None else total + term
    return total


def _never() -> bool:
    return False


@dataclass
class StepSettings:
    """How every optimizer step of :func:`train_one_epoch` runs: under autocast to
    ``amp_dtype`` (None: float32), through the fp16 gradient ``scaler``, on channels-last
    inputs, and with a per-step ``scheduler`` stepped after it (None: none); gradients
    clipped to the global norm ``grad_clip_norm`` (None: not clipped); a step whose loss the
    ``spike_guard`` calls a spike is skipped (no update; the scheduler still steps);
    ``adaptive_clip`` also bounds the norm by a multiple of the recent norms' median."""

    amp_dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None
    channels_last: bool = False
    scheduler: object = None
    grad_clip_norm: float | None = None
    spike_guard: SpikeGuard | None = None
    adaptive_clip: AdaptiveClip | None = None


@dataclass
class EpochHooks:
    """What :func:`train_one_epoch` calls: ``on_step(result)`` after every completed step
    (periodic checkpoints), then ``should_stop()`` (all processes agree through an
    all-reduce; True ends the epoch early with ``interrupted=True``); ``progress`` shows a tqdm
    bar labelled ``desc`` (rank 0, on a terminal)."""

    should_stop: Callable[[], bool] = _never
    on_step: Callable[[EpochResult], None] | None = None
    progress: bool = False
    desc: str = "train"


def train_one_epoch(
    model: torch.nn.Module,
    loader,
    loss_fn: Callable,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    *,
    steps: StepSettings | None = None,
    hooks: EpochHooks | None = None,
    info: DistInfo | None = None,
    result: EpochResult | None = None,
) -> EpochResult:
    """Train over ``loader`` once (the caller sets the epoch on its sampler and dataset), each
    step as ``steps`` says (:class:`StepSettings`), calling ``hooks`` (:class:`EpochHooks`).

    ``result`` (optional) is updated in place, so that a caller still knows how many steps were
    done when an exception escapes (its counts cover the completed optimizer steps only).
    """
    info = info or DistInfo(device=device)
    steps, hooks = steps or StepSettings(), hooks or EpochHooks()
    check_grad_scaler(steps.amp_dtype, steps.scaler)
    model.train()
    result = result if result is not None else EpochResult()
    bar = _progress_bar(hooks, info, loader)
    t0 = time.perf_counter()
    codec = getattr(loader.dataset, "codec", None)
    spec = (codec.heatmap_size, codec.sigma) if codec is not None else None
    amp, cl = steps.amp_dtype, steps.channels_last
    for batch in iterate_on_all_ranks(loader, info):  # a rank-local error raises on every rank
        with raise_on_any_rank(info, f"step {result.steps}"):
            loss = batch_loss(model, loss_fn, batch, device, amp, cl, spec)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss {loss.item()} at step {result.steps}")
        guard = steps.spike_guard
        skip = guard is not None and any_flag(guard.check(float(loss.detach())), info)
        if skip:  # no update: drop the graph, keep the step's place in the schedule
            optimizer.zero_grad(set_to_none=True)
        else:
            optimizer_step(loss, optimizer, steps.scaler, steps.grad_clip_norm, steps.adaptive_clip)
        n = int(batch["image"].shape[0])
        result.loss_sum += float(loss.detach()) * n
        result.images += n
        result.steps += 1
        result.seconds = time.perf_counter() - t0
        if steps.scheduler is not None:
            steps.scheduler.step()
        if bar is not None:
            rate = result.images * info.world / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix(loss=f"{result.loss_sum / result.images:.4g}", img_s=f"{rate:.1f}")
            bar.update(1)
        if hooks.on_step is not None:
            hooks.on_step(result)
        if any_flag(hooks.should_stop(), info):
            result.interrupted = True
            break
    if bar is not None:
        bar.close()
    result.seconds = time.perf_counter() - t0
    return result


def _progress_bar(hooks: EpochHooks, info: DistInfo, loader):
    """A tqdm bar over ``loader``'s batches when ``hooks.progress`` on rank 0 with a terminal
    on stderr, else None."""
    if not (hooks.progress and info.is_main and sys.stderr.isatty()):
        return None
    return tqdm(total=len(loader), desc=hooks.desc, dynamic_ncols=True, leave=False)


def optimizer_step(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scaler=None,
    grad_clip_norm: float | None = None,
    adaptive: AdaptiveClip | None = None,
) -> None:
    """Back-propagate ``loss`` and step ``optimizer`` (through the fp16 gradient ``scaler``
    when given): the one place where the engine's optimisers step. ``grad_clip_norm``: first
    scale the gradients of all the optimizer's parameters so that their global L2 norm is at
    most this (``torch.nn.utils.clip_grad_norm_``; with a scaler, on the unscaled gradients);
    ``adaptive``: at most its :meth:`~otmark.engine.spikes.AdaptiveClip.max_norm` too (the
    smaller bound applies), and the step's norm is recorded in it."""
    optimizer.zero_grad(set_to_none=True)
    clip = grad_clip_norm is not None or adaptive is not None
    if scaler is not None:
        scaler.scale(loss).backward()
        if clip:
            scaler.unscale_(optimizer)
            _clip(optimizer, grad_clip_norm, adaptive)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        if clip:
            _clip(optimizer, grad_clip_norm, adaptive)
        optimizer.step()


def _clip(optimizer, grad_clip_norm: float | None, adaptive: AdaptiveClip | None) -> None:
    bound = math.inf if grad_clip_norm is None else float(grad_clip_norm)
    if adaptive is not None:
        bound = min(bound, adaptive.max_norm())
    norm = clip_gradients(optimizer, bound)
    if adaptive is not None:
        adaptive.record(norm, bound)


def clip_gradients(optimizer: torch.optim.Optimizer, max_norm: float) -> float:
    """Clip the gradients of ``optimizer``'s parameters to the global L2 norm ``max_norm``;
    returns the norm before clipping."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    return float(torch.nn.utils.clip_grad_norm_(params, max_norm))


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    loader,
    device: torch.device,
    *,
    codec: HeatmapCodec | None = None,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks in the original images for every item of ``loader``.

    ``codec`` reads the heatmaps (:meth:`otmark.heatmaps.HeatmapCodec.decode_to_image`, as
    ``otmark evaluate`` and the detector do); None takes ``loader.dataset.codec``, the codec that
    made the crops (the run's ``cfg.codec`` for an engine-built dataset).

    Returns:
        ``indices (N,)`` int64 (dataset positions) and ``landmarks (N, K, 2)`` float64 image
        coordinates (heatmap -> crop -> image through each item's ``inverse`` matrix).
    """
    codec = _loader_codec(loader, codec)
    model.eval()
    indices, preds = [], []
    for batch in loader:
        images = batch["image"].to(device, non_blocking=True)
        if images.shape[-2:] != (codec.input_size, codec.input_size):
            raise ValueError(
                f"crops of {tuple(images.shape[-2:])} px; the codec expects "
                f"{codec.input_size} x {codec.input_size}"
            )
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast_context(device, amp_dtype):
            heatmaps = final_output(model(images)).float()
        preds.append(codec.decode_to_image(heatmaps, batch["inverse"].numpy()))
        indices.append(np.asarray(batch["index"], dtype=np.int64))
    if not preds:
        return np.zeros(0, np.int64), np.zeros((0, 0, 2))
    return np.concatenate(indices), np.concatenate(preds)


def _loader_codec(loader, codec: HeatmapCodec | None) -> HeatmapCodec:
    """``codec``, else the codec of ``loader``'s dataset (a clear error when it has none)."""
    if codec is None:
        codec = getattr(loader.dataset, "codec", None)
    if not isinstance(codec, HeatmapCodec):
        raise ValueError(
            f"predict needs an otmark.heatmaps.HeatmapCodec: pass codec=, or a loader whose "
            f"dataset has one (got {type(codec).__name__})"
        )
    return codec


def gather_predictions(
    indices: np.ndarray, preds: np.ndarray, info: DistInfo
) -> tuple[np.ndarray, np.ndarray]:
    """Predictions of all processes, sorted by dataset index, duplicates removed."""
    parts = gather_objects((indices, preds), info)
    idx = np.concatenate([p[0] for p in parts if len(p[0])])
    lm = np.concatenate([p[1] for p in parts if len(p[0])])
    idx, first = np.unique(idx, return_index=True)
    return idx, lm[first]


def landmark_metrics(preds: np.ndarray, samples: list, scheme: str) -> dict[str, float]:
    """The paper's columns (``otmark.metrics.summary``, in percent) for predictions.

    Args:
        preds: ``(N, K, 2)`` image coordinates, in the order of ``samples``.
        samples: the ``N`` ground-truth ``Sample`` records.
        scheme: their landmark scheme (gives the NME normaliser).
    """
    gt = np.stack([np.asarray(s.landmarks, dtype=np.float64) for s in samples])
    sizes = [s.attributes.get("box_size") for s in samples]
    kwargs: dict = {}
    if all(v is not None for v in sizes):
        kwargs["box_sizes"] = np.asarray(sizes, dtype=np.float64)
    elif all(s.box is not None for s in samples):
        kwargs["boxes"] = np.stack([np.asarray(s.box, dtype=np.float64) for s in samples])
    norm = normaliser(gt, scheme, **kwargs)
    errors = landmark_errors(preds, gt, norm, ids=[s.id for s in samples])
    return summary(errors)


def evaluate(
    model: torch.nn.Module,
    loader,
    device: torch.device,
    *,
    codec: HeatmapCodec | None = None,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    info: DistInfo | None = None,
) -> dict[str, float] | None:
    """Predict on ``loader`` (each process its share), gather, and score on rank 0.

    ``codec`` reads the heatmaps (see :func:`predict`; None: ``loader.dataset.codec``).
    Returns the :func:`landmark_metrics` dict on rank 0 (``None`` on the other ranks).
    """
    info = info or DistInfo(device=device)
    idx, preds = predict(
        model, loader, device, codec=codec, amp_dtype=amp_dtype, channels_last=channels_last
    )
    idx, preds = gather_predictions(idx, preds, info)
    if not info.is_main:
        return None
    dataset = loader.dataset
    samples = [dataset.samples[i] for i in idx]
    return landmark_metrics(preds, samples, scheme_of(samples))
