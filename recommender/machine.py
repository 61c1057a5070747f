"""What this process may use of the machine it runs on, without importing torch: the bot
sizes its worker lanes with it and training its threads."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """How many cores this process may run on (its CPU affinity, not the machine's size:
    a container or `taskset` may allow fewer)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on this platform
        return max(1, os.cpu_count() or 1)
