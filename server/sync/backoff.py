"""Backoff maths, pure and unit-tested: per connection and side (reading, writing) in memory,
per remote calendar and per item as durations the engine stores on their rows."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Callable

from server.errors import BookingCalError
from server.sync.errors import SyncError

BACKOFF_BASE = 1.0  # seconds before the first retry of a failed read or write pass
BACKOFF_CAP = 60.0
STORED_FIRST = dt.timedelta(minutes=1)  # a calendar's or an item's first wait
STORED_MAX = dt.timedelta(hours=1)


def backoff_delay(attempt: int, retry_after: float | None, *, base: float = 1.0,
                  cap: float = 60.0, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): Retry-After when the provider
    gave one (capped), else exponential with full jitter, capped."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), cap)
    return min(cap, base * 2 ** (attempt - 1)) * (0.5 + rng() / 2)


def stored_backoff(failures: int, retry_after: float | None = None) -> dt.timedelta:
    """How long a calendar or an item waits after `failures` failures in a row: 1 min doubling
    up to 1 h (Retry-After, when given, is honoured up to the cap)."""
    wait = min(STORED_FIRST * 2 ** min(max(failures, 1) - 1, 16), STORED_MAX)
    if retry_after is not None:
        wait = max(wait, min(dt.timedelta(seconds=retry_after), STORED_MAX))
    return wait


@dataclass
class Backoff:
    """When each connection may read (or write) again after failing on a transient error:
    exponential with jitter, honouring Retry-After, capped. In memory: a restarted bridge
    tries at once."""

    failures: dict[int, int] = field(default_factory=dict)
    until: dict[int, dt.datetime] = field(default_factory=dict)

    def ready(self, connection_id: int, now: dt.datetime) -> bool:
        """Whether the connection's side may be tried at `now`."""
        until = self.until.get(connection_id)
        return until is None or until <= now

    def failed(self, connection_id: int, now: dt.datetime, error: BookingCalError) -> float:
        """Record one more failure; returns the seconds to wait."""
        count = self.failures.get(connection_id, 0) + 1
        self.failures[connection_id] = count
        retry_after = error.retry_after if isinstance(error, SyncError) else None
        wait = backoff_delay(count, retry_after, base=BACKOFF_BASE, cap=BACKOFF_CAP)
        self.until[connection_id] = now + dt.timedelta(seconds=wait)
        return wait

    def succeeded(self, connection_id: int) -> None:
        """Forget the connection's failures."""
        self.failures.pop(connection_id, None)
        self.until.pop(connection_id, None)
