"""Optimal transport between 2-D histograms: the solver behind the Wasserstein loss.

``wasserstein2d`` is the entry point; :mod:`otmark.ot.sinkhorn` documents the algorithm.
"""

from otmark.ot.kernels import KernelCache
from otmark.ot.sinkhorn import (
    DEFAULT_EPS,
    SinkhornOptions,
    SinkhornResult,
    eps_schedule,
    host_flags,
    sinkhorn2d,
)
from otmark.ot.wasserstein import FORMS, VALUES, wasserstein2d

__all__ = [
    "DEFAULT_EPS",
    "FORMS",
    "VALUES",
    "KernelCache",
    "SinkhornOptions",
    "SinkhornResult",
    "eps_schedule",
    "host_flags",
    "sinkhorn2d",
    "wasserstein2d",
]
