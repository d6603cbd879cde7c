"""How often a CalDAV connection's calendars are read: its own interval, else
caldav.poll_seconds, always within caldav.min/max_poll_seconds (bounds lowered or raised after
a connection was given its interval apply at once). Kept apart from the adapter so that the
sync health views (server/sync/sources.py) judge a source's freshness by it without importing
the engine."""

from __future__ import annotations

import datetime as dt

from server.config import CalDAVConfig
from server.errors import InvalidError

DEFAULT = 0  # asked for as a connection's interval: back to caldav.poll_seconds


def poll_interval(settings: CalDAVConfig, own: int | None) -> dt.timedelta:
    """Time between two reads of a connection whose own interval is `own` (None: none)."""
    wanted = own or settings.poll_seconds
    return dt.timedelta(seconds=min(max(wanted, settings.min_poll_seconds),
                                    settings.max_poll_seconds))


def checked(settings: CalDAVConfig, asked: int) -> int | None:
    """The interval to store for a connection when `asked` (DEFAULT: none of its own); an
    InvalidError naming the bounds when it is outside them."""
    if asked == DEFAULT:
        return None
    if not settings.min_poll_seconds <= asked <= settings.max_poll_seconds:
        raise InvalidError(f"poll_seconds must be from {settings.min_poll_seconds} to "
                           f"{settings.max_poll_seconds} seconds (caldav.min_poll_seconds and "
                           f"caldav.max_poll_seconds), or {DEFAULT} for the default "
                           f"({settings.poll_seconds})", field="poll_seconds")
    return asked
