"""Failures that concern one Google calendar, not the whole connection: the calendar is gone
(404, e.g. deleted in Google), or the account may not read or write it (403 forbidden). They
are recorded on that calendar (GoogleReadState for reading, GoogleCalendarMap for writing),
shown per calendar in `google status`, the JSON API and the admin page, and cleared by its next
success, while the connection's other calendars keep syncing. Everything else (rate limits,
quota, a refused token, Google unreachable) concerns the connection (server/sync/engine.py).

Writes to a calendar failing on its own back off exponentially (1 min, 2, 4, ... at most 1 h),
while the other calendars keep syncing every pass; a successful write or a settings change for
that calendar resets the backoff."""

from __future__ import annotations

import datetime as dt

from server.sync.errors import CALENDAR, SyncError, scope_of


def specific(error: SyncError) -> bool:
    """Whether `error` concerns the one calendar a call named (server/sync/errors.py)."""
    return scope_of(error) == CALENDAR


def describe(error: SyncError, google_calendar: str, *, writing: bool) -> str:
    """What went wrong with `google_calendar`, and what to change."""
    if error.status == 404:
        return (f"Google calendar {google_calendar} was not found ({error.message}): it was "
                "deleted or is not shared with the connected account; choose another calendar "
                "in the Google settings or share it with the account")
    if error.status == 403:
        access = "make changes to events" if writing else "see all event details"
        return (f"the connected account may not {'write to' if writing else 'read'} Google "
                f"calendar {google_calendar} ({error.message}): give it \"{access}\" access "
                "in Google Calendar or choose another calendar in the Google settings")
    return f"Google calendar {google_calendar}: {error.message}"


FIRST_BACKOFF = dt.timedelta(minutes=1)
MAX_BACKOFF = dt.timedelta(hours=1)


def backoff(failures: int) -> dt.timedelta:
    """How long to wait before writing again to a calendar after `failures` failures in a row."""
    return min(FIRST_BACKOFF * 2 ** min(max(failures, 1) - 1, 16), MAX_BACKOFF)


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
