"""Failures that concern one remote calendar, not the whole connection: the calendar is gone
(404, e.g. deleted remotely), or the account may not read or write it (403 forbidden). They
are recorded on that calendar (its read state for reading, its calendar map for writing),
shown per calendar in status pages, the JSON API and the admin page, and cleared by its next
success, while the connection's other calendars keep syncing. Everything else (rate limits,
quota, a refused token, the provider unreachable) concerns the connection
(server/sync/engine.py). What each failure means in words is the adapter's (`describe`).

Writes to a calendar failing on its own back off exponentially (1 min, 2, 4, ... at most 1 h),
while the other calendars keep syncing every pass; a successful write or a settings change for
that calendar resets the backoff."""

from __future__ import annotations

import datetime as dt

from server.sync.backoff import STORED_FIRST, STORED_MAX, stored_backoff
from server.sync.errors import CALENDAR, SyncError, scope_of

FIRST_BACKOFF = STORED_FIRST
MAX_BACKOFF = STORED_MAX


def specific(error: SyncError) -> bool:
    """Whether `error` concerns the one calendar a call named."""
    return scope_of(error) == CALENDAR


def backoff(failures: int) -> dt.timedelta:
    """How long to wait before writing again to a calendar after `failures` failures in a row."""
    return stored_backoff(failures)


def backing_off(retry_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a calendar whose next write is due at `retry_at` is still waiting at `now`."""
    return retry_at is not None and retry_at > now


def retry_note(retry_at: dt.datetime | None, now: dt.datetime) -> str | None:
    """"retrying in N min" for a calendar still backing off, else None."""
    if not backing_off(retry_at, now):
        return None
    assert retry_at is not None
    minutes = -(-(retry_at - now) // dt.timedelta(minutes=1))  # rounded up
    return f"retrying in {minutes} min"
