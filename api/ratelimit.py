"""In-process sliding-window rate limits for the keyless write endpoints (visits, feedback).

Each :class:`RateLimiter` allows ``limit`` hits per ``window_seconds`` per key (a client address or a
station id). The state lives in the API process: with several worker processes each enforces its own
share, which is enough to stop a phone or a script from flooding one station's log.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence

#: keys kept at most; beyond it the least recently used are forgotten
MAX_KEYS = 100_000


class RateLimiter:
    """At most ``limit`` hits per ``window_seconds`` per key (thread-safe)."""

    def __init__(self, limit: int, window_seconds: float, *, clock: Callable[[], float] = time.monotonic):
        if limit < 1 or window_seconds <= 0:
            raise ValueError("limit must be ≥ 1 and window_seconds > 0")
        self.limit = int(limit)
        self.window = float(window_seconds)
        self._clock = clock
        self._hits: dict[Hashable, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: Hashable, now: float) -> deque[float]:
        hits = self._hits.pop(key, None) or deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        self._hits[key] = hits  # re-inserted: dict order is least recently used first
        return hits

    def wait_seconds(self, key: Hashable) -> float:
        """Seconds until ``key`` may hit again (0 when it may now)."""
        with self._lock:
            now = self._clock()
            hits = self._recent(key, now)
            return 0.0 if len(hits) < self.limit else hits[0] + self.window - now

    def record(self, key: Hashable) -> None:
        with self._lock:
            self._recent(key, self._clock()).append(self._clock())
            while len(self._hits) > MAX_KEYS:
                self._hits.pop(next(iter(self._hits)))


def admit(checks: Sequence[tuple[RateLimiter, Hashable]]) -> int:
    """Record one hit on every ``(limiter, key)`` when all allow it; else record nothing and return
    the ``Retry-After`` seconds (≥ 1) of the tightest one. Returns 0 when admitted."""
    wait = max((limiter.wait_seconds(key) for limiter, key in checks), default=0.0)
    if wait > 0:
        return max(1, math.ceil(wait))
    for limiter, key in checks:
        limiter.record(key)
    return 0
