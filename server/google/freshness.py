"""Before an online booking: make sure the Google events that block the calendar are recent.

When the bridge last read the calendar's Google calendar longer ago than
`availability.google_max_age_seconds`, one bounded incremental sync of that Google calendar runs
(a short timeout, no retries, at most MAX_PAGES pages, never a full read: that and its
reconciliation stay with the bridge), before the booking's transaction: no database lock is held
over the network. If Google cannot be reached, or the sync would be more than that, the booking is
checked against the events mirrored already, and the returned note says so.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Callable

from sqlalchemy.exc import SQLAlchemyError

from server.config import Config
from server.db import Database
from server.db.models import Calendar
from server.db.scope import get_of
from server.domain import schedules
from server.domain.availability import describe_age
from server.errors import BookingCalError
from server.google.api import GoogleCalendarApi
from server.google.pull import NotIncremental, pull
from server.keys import Keyring
from server.runtime import Runtime

log = logging.getLogger(__name__)
ApiFactory = Callable[[str, float], GoogleCalendarApi]
MAX_PAGES = 2  # of up to 2,500 changes each


def recheck(runtime: Runtime, business_id: int, calendar_id: int, now: dt.datetime,
            timeout: float, max_age: float) -> str | None:
    """The live check of server/api/stale_policy.py: `freshen` bounded by `timeout`."""
    return freshen(runtime.config, runtime.db, runtime.keyring, business_id, calendar_id, now,
                   timeout=timeout, max_age=max_age)


def freshen(config: Config, db: Database, keyring: Keyring, business_id: int, calendar_id: int,
            now: dt.datetime, api_factory: ApiFactory | None = None,
            timeout: float | None = None, max_age: float | None = None) -> str | None:
    """Sync the calendar's Google read calendar if its mirror is too old. Returns a note for
    the caller when the mirrored events had to be used as they were, else None."""
    with db.read() as session:
        calendar = get_of(session, Calendar, business_id, calendar_id)
        if calendar is None:
            return None  # the booking itself reports the unknown calendar
        source = schedules.google_source(session, calendar)
        if source is None:
            return None
        connection, mapping = source
        state = schedules.read_state(session, connection, mapping.read_calendar)
        synced_at = state.synced_at if state is not None else None
        age = describe_age(synced_at, now)
        limit = config.availability.google_max_age_seconds if max_age is None else max_age
        if synced_at is not None and (now - synced_at).total_seconds() <= limit:
            return None
        if connection.status == "needs_reconnect":
            return (f"the Google connection needs reconnecting; checked against the Google "
                    f"events mirrored before ({age})")
        if connection.status == "paused" and connection.paused_until is not None \
                and connection.paused_until > now:
            return (f"Google sync is paused (quota) until {connection.paused_until:%H:%M} UTC; "
                    f"checked against the Google events mirrored before ({age})")
        connection_id, google_calendar = connection.id, mapping.read_calendar
        token = keyring.decrypt(connection.refresh_token_encrypted)
    if timeout is None:
        timeout = config.availability.google_sync_timeout_seconds
    try:
        api = api_factory(token, timeout) if api_factory is not None else GoogleCalendarApi(
            config.google, token, timeout=timeout, max_attempts=1)
        pull(db, api, connection_id, now, rules=config.availability, only=google_calendar,
             max_pages=MAX_PAGES, business_id=business_id)
    except NotIncremental as exc:
        log.info("Google sync before an online booking left to the bridge: %s", exc.message)
        return (f"Google events were not refreshed ({exc.message}); checked against the "
                f"Google events mirrored before ({age})")
    except (BookingCalError, OSError, SQLAlchemyError) as exc:  # a bridge racing us too
        log.info("Google sync before an online booking failed: %s", type(exc).__name__)
        return (f"Google could not be reached; checked against the Google events mirrored "
                f"before ({age})")
    return None
