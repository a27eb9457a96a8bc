"""Mixed precision: the one place that maps ``train.amp`` to an autocast dtype and says when
a ``GradScaler`` is needed. Used by the training engine, the study's training runs and
``benchmarks/train_step.py``.

Rules (``train.amp``):

- ``none``: full precision (float32).
- ``bf16``: bfloat16 autocast (CPU or CUDA). On a GPU without native bf16 it warns (it runs,
  emulated, slower than fp16).
- ``fp16``: float16 autocast, CUDA only, always with a ``GradScaler`` (fp16 gradients underflow
  without loss scaling).
- ``auto``: on CUDA bf16 where the GPU computes it natively (``torch.cuda.is_bf16_supported``
  without emulation: Ampere and newer), else fp16 + ``GradScaler``; on a CPU bf16 where it has
  AMX tiles or AVX512-BF16, else full precision; full precision on other devices.
"""

from __future__ import annotations

import inspect
import warnings

import torch

from otmark.engine.config_files import ConfigError

AMP_SETTINGS = ("auto", "none", "bf16", "fp16")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AMX tiles or AVX512-BF16)."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def cuda_has_native_bf16(device: torch.device | None = None) -> bool:
    """Whether the CUDA device computes bf16 natively (not emulated: compute capability 8.0+)."""
    check = torch.cuda.is_bf16_supported
    if "including_emulation" in inspect.signature(check).parameters:
        return bool(check(including_emulation=False))
    return bool(check())


def amp_dtype_for(setting: str, device: torch.device) -> torch.dtype | None:
    """``train.amp`` setting -> autocast dtype on ``device`` (None = full precision).

    See the module docstring for the rules. Raises ``ConfigError`` for ``fp16`` off CUDA and
    for an unknown setting.
    """
    device = torch.device(device)
    if setting not in AMP_SETTINGS:
        raise ConfigError(f"train.amp must be one of {list(AMP_SETTINGS)}, got {setting!r}")
    if setting == "none":
        return None
    if setting == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if cuda_has_native_bf16(device) else torch.float16
        if device.type == "cpu" and cpu_has_native_bf16():
            return torch.bfloat16
        return None
    if setting == "fp16":
        if device.type != "cuda":
            raise ConfigError(
                f"train.amp=fp16 needs a CUDA device, got {device} (use bf16 or none)"
            )
        return torch.float16
    if device.type == "cuda" and not cuda_has_native_bf16(device):
        warnings.warn(
            f"train.amp=bf16 on {device}, a GPU without native bf16: it is emulated and slow; "
            "train.amp=auto picks fp16 with a GradScaler there",
            stacklevel=2,
        )
    return torch.bfloat16


def needs_grad_scaler(dtype: torch.dtype | None, device: torch.device | None = None) -> bool:
    """Whether training in autocast ``dtype`` needs loss scaling: float16 (its 5 exponent bits
    flush small gradients to zero); bf16 and float32 have float32's exponent range."""
    return dtype == torch.float16


def make_grad_scaler(dtype: torch.dtype | None, device: torch.device):
    """A ``torch.amp.GradScaler`` for ``device`` when :func:`needs_grad_scaler`, else None."""
    if not needs_grad_scaler(dtype, device):
        return None
    return torch.amp.GradScaler(torch.device(device).type)


def check_grad_scaler(dtype: torch.dtype | None, scaler) -> None:
    """Refuse float16 training without a ``GradScaler`` (``ValueError``)."""
    if needs_grad_scaler(dtype) and scaler is None:
        raise ValueError(
            "float16 autocast needs a GradScaler: pass scaler=make_grad_scaler(dtype, device) "
            "(otmark.engine.precision)"
        )
