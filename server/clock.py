"""The clock, injected so that tests which depend on dates pass next year too."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware (UTC)."""


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)


class FixedClock:
    """A clock that stands still until moved; for tests and the demo's reproducible data."""

    def __init__(self, instant: dt.datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self.instant = instant.astimezone(dt.timezone.utc)

    def now(self) -> dt.datetime:
        return self.instant

    def advance(self, delta: dt.timedelta) -> None:
        self.instant += delta
