"""Helpers for models with intermediate supervision (Hourglass, CPN).

Such models return a list of heatmap tensors ``(B, K, h, w)`` in training mode (the last one is
the final prediction) and one tensor in eval mode; the others always return one tensor.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor


def as_stack_list(output: Tensor | Sequence[Tensor]) -> list[Tensor]:
    """A model output as a list of heatmap tensors, last = final prediction.

    A single tensor ``(B, K, h, w)`` becomes ``[tensor]``; a list/tuple is returned as a list.
    The training engine sums the loss over this list.
    """
    if isinstance(output, Tensor):
        return [output]
    if isinstance(output, list | tuple) and output and all(isinstance(t, Tensor) for t in output):
        return list(output)
    raise TypeError(
        f"expected a tensor or a non-empty list of tensors, got {type(output).__name__}"
    )


def final_output(output: Tensor | Sequence[Tensor]) -> Tensor:
    """The final prediction ``(B, K, h, w)`` of a model output (the last stack)."""
    return as_stack_list(output)[-1]
