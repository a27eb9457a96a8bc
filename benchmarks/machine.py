"""What every benchmark's JSON records about the machine it ran on."""

from __future__ import annotations

import os
import platform

import torch


def machine_info(load_before: tuple[float, float, float]) -> dict:
    """Platform, cores, torch version and the load average before (``load_before``, from
    ``os.getloadavg()`` at the start) and after the measurement: timings are only comparable
    within one run on one quiet machine."""
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "torch": torch.__version__,
    }
