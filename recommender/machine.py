"""What this process may use of the machine it runs on, without importing torch: the bot
sizes its worker lanes with it and training its threads and their wait policy."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """How many cores this process may run on (its CPU affinity, not the machine's size:
    a container or `taskset` may allow fewer)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on this platform
        return max(1, os.cpu_count() or 1)


def prefer_sleeping_threads() -> None:
    """Make training threads that wait for each other sleep instead of spinning.

    When other work holds a core, a spinning thread burns the time slices the thread it
    waits for needs: 10 epochs took 112-176 s with 2 spinning threads and 7.5 s with 2
    sleeping ones on the same busy machine. OpenMP reads this once, when torch loads, so
    it must run before the first torch import; an explicit OMP_WAIT_POLICY in the
    environment wins.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
