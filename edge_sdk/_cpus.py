"""How many CPUs this process may run on: what every ``auto`` choice between a thread and a process asks."""

from __future__ import annotations

import os

__all__ = ["usable_cpus"]


def usable_cpus() -> int:
    """The CPUs of this process's affinity mask (``taskset``, a container's cpuset), or all of them off Linux."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
