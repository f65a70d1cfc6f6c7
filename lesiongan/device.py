"""Where a run computes: the torch device, and how many CPU threads it may take.

Training, inference, evaluation and the speed measurements all choose their device here, so
'auto', a missing GPU and a busy CPU mean the same thing to each of them.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch

from .errors import LesionGANError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' is CUDA when a usable GPU is there, else the CPU; asking for a missing GPU is an error."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise LesionGANError(f"device {name!r} asked, but no usable CUDA GPU is available; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError as error:
        raise LesionGANError(f"unknown device {name!r} (use auto, cpu or cuda)") from error


def busy_cores(samples: int = 5, interval_s: float = 0.01) -> float | None:
    """How many cores other work keeps busy now: runnable tasks in /proc/loadavg besides this
    reader, the median of a few samples; None where the kernel does not say (not Linux).

    The instantaneous count, not the load average: the average still holds this process's
    own previous run for a minute and would make back-to-back runs starve themselves.
    """
    counts = []
    for index in range(samples):
        try:
            with open("/proc/loadavg", encoding="ascii") as handle:
                counts.append(int(handle.read().split()[3].split("/")[0]) - 1)
        except (OSError, ValueError, IndexError):
            return None
        if index + 1 < samples:
            time.sleep(interval_s)
    return float(np.median(counts))


def cpu_threads() -> int:
    """Torch threads for a CPU run: the process's setting, lowered to the cores that are idle.

    On cores busy with other work every extra OpenMP thread waits at each layer's barrier
    for a descheduled sibling: on 2 shared cores (load 4) a training step took 32 s with 2
    threads and 0.6 s with 1 (docs/speed.md).
    """
    current = torch.get_num_threads()
    busy = busy_cores()
    if busy is None:
        return current
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(current, cores - int(busy)))
