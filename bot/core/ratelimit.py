"""Per-user flood control shared by every front end (prefix, slash, console)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable


class Cooldowns:
    """At most `rate` uses per `per` seconds for each key (a sliding window).

    `hit(key)` records a use and returns 0.0, or, when the key is over its budget, records
    nothing and returns how many seconds until the next use is allowed. `first_refusal(key)`
    says whether that refusal is the first in its window: only that one gets an answer,
    so twenty messages in a second get three answers and one "slow down", not twenty.
    """

    def __init__(self, rate: int, per: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.per = per
        self._clock = clock
        self._uses: dict[Hashable, deque[float]] = {}
        self._warned: dict[Hashable, float] = {}  # when each key was last told to slow down

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.per > 0

    def hit(self, key: Hashable) -> float:
        if not self.enabled:
            return 0.0
        now = self._clock()
        uses = self._uses.setdefault(key, deque())
        while uses and now - uses[0] >= self.per:
            uses.popleft()
        if len(uses) >= self.rate:
            return max(self.per - (now - uses[0]), 0.01)
        uses.append(now)
        if len(self._uses) > 10_000:  # forget idle users so memory stays bounded
            self._forget_idle(now)
        return 0.0

    def first_refusal(self, key: Hashable) -> bool:
        """True once per window for a key over its budget (tell it), then False (ignore)."""
        now = self._clock()
        warned = self._warned.get(key)
        if warned is not None and now - warned < self.per:
            return False
        self._warned[key] = now
        return True

    def reset(self, key: Hashable | None = None) -> None:
        if key is None:
            self._uses.clear()
            self._warned.clear()
        else:
            self._uses.pop(key, None)
            self._warned.pop(key, None)

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, uses in self._uses.items() if not uses or now - uses[-1] >= self.per]:
            del self._uses[key]
        for key in [k for k, when in self._warned.items() if now - when >= self.per]:
            del self._warned[key]
