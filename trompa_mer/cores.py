"""The cores this process may use: the default of every parallel step the caller leaves unsized."""

import os


def available_cores() -> int:
    """Cores in this process's CPU affinity (a container's or taskset's limit, not the machine's)."""
    return len(os.sched_getaffinity(0))
