"""What this worker runs jobs on, and whether a job's resources fit it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

import torch

from services.specs import ResourcesSpec


@dataclass(frozen=True)
class Device:
    """The accelerator a worker process uses."""

    kind: str  # cpu or cuda
    name: str
    memory_gb: float


@cache
def this_device() -> Device:
    """This process's device: the visible GPU if there is one, else the CPU and its RAM."""
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return Device("cuda", props.name, round(props.total_memory / 2**30, 1))
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return Device("cpu", f"{os.cpu_count()} CPU cores", round(ram / 2**30, 1))


def unfit(resources: ResourcesSpec | None, device: Device) -> str | None:
    """Why a job with these resources can't run on the device, or None if it can."""
    if resources is None:
        return None
    if resources.accelerator not in ("any", device.kind):
        return f"it needs {resources.accelerator}; this worker has {device.kind}"
    if resources.min_memory_gb is not None and resources.min_memory_gb > device.memory_gb:
        return (
            f"it needs {resources.min_memory_gb:g} GB; this worker's {device.kind} has "
            f"{device.memory_gb:g} GB"
        )
    return None
