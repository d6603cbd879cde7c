"""Counting failures per client address in a sliding window (per process). For link tokens
(192 random bits) it only slows down a sprayer of unknown tokens: valid tokens are served
whatever the count, since feed fetchers share their addresses among many subscribers."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Callable


class FailureLimiter:
    def __init__(self, limit: int, window_seconds: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        stamps = self._failures.setdefault(key, deque())
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        return stamps

    def blocked(self, key: str) -> bool:
        with self._lock:
            stamps = self._recent(key, self.clock())
            if not stamps:
                self._failures.pop(key, None)
            return len(stamps) >= self.limit

    def retry_after(self, key: str) -> int:
        """Whole seconds until the oldest counted failure of `key` leaves the window."""
        with self._lock:
            stamps = self._recent(key, self.clock())
            if not stamps:
                return 0
            return max(1, math.ceil(stamps[0] + self.window - self.clock()))

    def failed(self, key: str) -> None:
        with self._lock:
            now = self.clock()
            self._recent(key, now).append(now)
            if len(self._failures) > 100_000:  # bound memory under a spray of addresses
                self._failures.clear()
