"""What this machine can hold: memory and cores, checked before anything large is allocated.

A hostile or mistaken input (a header claiming 10^9 voxels, a model file asking for 10^9
residual blocks, a batch of 100 000 slices) must end in a clear error, not in the kernel
killing the process after it took all the memory. Callers estimate the bytes they are
about to allocate and ask `check_memory` first.
"""

from __future__ import annotations

import os
import resource

from .errors import LesionGANError

GiB = 1 << 30


class MemoryLimitError(LesionGANError):
    """A request that would need more memory than this machine (or its limits) grants."""


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _process_status(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def available_memory() -> int | None:
    """Bytes this process may still allocate: the machine's available memory, lowered by an
    address-space or data limit (ulimit -v, prlimit --as / --data) less what is in use.
    None where the system does not say."""
    candidates = []
    available = _meminfo_available()
    if available is not None:
        candidates.append(available)
    for limit_kind, field in ((resource.RLIMIT_AS, "VmSize"), (resource.RLIMIT_DATA, "VmData")):
        soft, _ = resource.getrlimit(limit_kind)
        used = _process_status(field)
        if soft != resource.RLIM_INFINITY and used is not None:
            candidates.append(max(0, soft - used))
    return min(candidates) if candidates else None


def format_bytes(count: float) -> str:
    for unit, size in (("GiB", GiB), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} bytes"


def check_memory(needed: float, what: str) -> None:
    """Raise MemoryLimitError when `what` needs more than the memory available now."""
    available = available_memory()
    if available is not None and needed > available:
        raise MemoryLimitError(f"{what} needs about {format_bytes(needed)} of memory, but only "
                               f"{format_bytes(available)} is available; nothing was allocated")


def core_count() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def cap_threads(requested: int) -> int:
    """A thread count no larger than the cores: more only wait for each other."""
    return max(1, min(int(requested), core_count()))
