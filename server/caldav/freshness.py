"""Before an online booking: make sure the CalDAV events that block the calendar are recent,
as server/google/freshness.py and server/microsoft/freshness.py do (same signature, same
notes); the live check of server/api/stale_policy.py for CalDAV sources.

For each CalDAV account whose calendar blocks the employee calendar, when the bridge last read
that remote calendar longer ago than the business's live-check age (server/api/stale_policy.py;
0 for a stale source under `recheck`), one incremental read of it runs through the engine's own read
path (sync-collection since the stored token, or the ctag and ETag listing of a server without
it; the changed events fetched and mirrored): one attempt per request, never a full read or a
window renewal (those, with their reconciliation, stay with the bridge), and every request
inside one deadline (the client's `deadline`), before the booking's transaction: no database
lock is held over the network. A refused password marks the connection as needing
reconnecting, as the bridge would. When the server cannot be asked, or the read would be more
than that, the returned note says why and that the mirrored events were used as they were."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError

from server.caldav import connections
from server.caldav.client import CalDAVClient
from server.caldav.provider import make_client
from server.caldav.pull import CalDAVLister
from server.db.models import Calendar, CalDAVCalendarMap, CalDAVConnection, CalDAVReadState
from server.db.scope import get_of
from server.domain.availability import describe_age
from server.errors import BookingCalError
from server.runtime import Runtime
from server.sync import health
from server.sync.errors import ReconnectError, RetryableError
from server.sync.reading import NotIncremental, read
from server.sync.tables import CALDAV, Tables

log = logging.getLogger(__name__)
MAX_PAGES = 1  # a CalDAV read is one page (its changed events fetched in chunks)


class _Lister(CalDAVLister):
    """The adapter's reading half on the booking's clock."""

    tables: Tables = CALDAV

    def __init__(self, now: dt.datetime) -> None:
        self.now = lambda: now


@dataclass(frozen=True)
class _Source:
    """One CalDAV calendar to read again, with what the read needs."""

    connection_id: int
    business_id: int
    remote: str
    credentials: str = field(default="", repr=False)  # never logged
    doubt: str | None = None  # why it cannot be read (then nothing else is set)
    age: str = ""


def recheck(runtime: Runtime, business_id: int, calendar_id: int, now: dt.datetime,
            timeout: float, max_age: float) -> str | None:
    """Read again every CalDAV calendar blocking `calendar_id` whose mirror is too old, all
    within `timeout` seconds. None when the mirror is current, else the doubts (joined)."""
    deadline = time.monotonic() + timeout
    doubts = [doubt for source in _stale_sources(runtime, business_id, calendar_id, now,
                                                 max_age)
              if (doubt := _freshen(runtime, source, now, timeout, deadline)) is not None]
    return "; ".join(doubts) or None


def _stale_sources(runtime: Runtime, business_id: int, calendar_id: int,
                   now: dt.datetime, limit: float) -> list[_Source]:
    """The CalDAV calendars blocking the calendar whose last read is older than `limit`."""
    found: list[_Source] = []
    with runtime.db.read() as session:
        calendar = get_of(session, Calendar, business_id, calendar_id)
        if calendar is None:
            return []  # the booking itself reports the unknown calendar
        rows = session.execute(
            select(CalDAVConnection, CalDAVCalendarMap.read_calendar, CalDAVReadState.synced_at)
            .join(CalDAVCalendarMap, CalDAVCalendarMap.connection_id == CalDAVConnection.id)
            .outerjoin(CalDAVReadState, (CalDAVReadState.connection_id == CalDAVConnection.id)
                       & (CalDAVReadState.google_calendar == CalDAVCalendarMap.read_calendar))
            .where(CalDAVConnection.business_id == business_id,
                   CalDAVCalendarMap.calendar_id == calendar_id,
                   CalDAVConnection.block_online_booking.is_(True),
                   or_(CalDAVConnection.direction == "both",
                       CalDAVConnection.direction == CALDAV.read_only))
            .order_by(CalDAVConnection.id)).all()
        for connection, remote, synced_at in rows:
            if synced_at is not None and (now - synced_at).total_seconds() <= limit:
                continue
            age = describe_age(synced_at, now)
            if connection.status == health.NEEDS_RECONNECT:
                found.append(_Source(connection.id, connection.business_id, remote, doubt=(
                    f"the CalDAV connection needs reconnecting; checked against the CalDAV "
                    f"events mirrored before ({age})")))
            elif connection.status == health.PAUSED and connection.paused_until is not None \
                    and connection.paused_until > now:
                found.append(_Source(connection.id, connection.business_id, remote, doubt=(
                    f"CalDAV sync is paused until {connection.paused_until:%H:%M} UTC; checked "
                    f"against the CalDAV events mirrored before ({age})")))
            else:
                found.append(_Source(connection.id, connection.business_id, remote, connections.credentials(
                    runtime.keyring, connection), age=age))
    return found


def _freshen(runtime: Runtime, source: _Source, now: dt.datetime, timeout: float,
             deadline: float) -> str | None:
    """One bounded incremental read of one remote calendar; None or the doubt."""
    if source.doubt is not None:
        return source.doubt
    before = f"checked against the CalDAV events mirrored before ({source.age})"
    client: CalDAVClient | None = None
    try:
        client = make_client(runtime, source.credentials)
        client.timeout, client.deadline = max(timeout, 0.1), deadline
        report = read(runtime.db, _Lister(now), client, source.connection_id, now,
                      rules=runtime.config.availability, only=source.remote,
                      max_pages=MAX_PAGES, attempts=1, business_id=source.business_id)
    except NotIncremental as exc:
        log.info("CalDAV read before an online booking left to the bridge: %s", exc.message)
        return f"CalDAV events were not refreshed ({exc.message}); {before}"
    except ReconnectError as exc:
        health.note(runtime.db, CalDAVConnection, source.connection_id, now, exc.message,
                    label="CalDAV", status=health.NEEDS_RECONNECT, business_id=source.business_id)
        log.info("CalDAV read before an online booking: the password was refused")
        return (f"the CalDAV server refused the password: the connection needs reconnecting "
                f"(an admin reconnects it); {before}")
    except RetryableError as exc:
        if exc.reason == "timeout":
            return f"the CalDAV server did not answer within {timeout:g} s; {before}"
        log.info("CalDAV read before an online booking failed: %s", exc.reason)
        return f"the CalDAV server could not be reached; {before}"
    except (BookingCalError, OSError, SQLAlchemyError) as exc:  # a bridge racing us too
        log.info("CalDAV read before an online booking failed: %s", type(exc).__name__)
        return f"reading the CalDAV calendar failed; {before}"
    finally:
        if client is not None:
            client.close()
    if report.failed:  # this calendar's own failure (gone, forbidden): recorded on it
        return f"reading the CalDAV calendar fails; {before}"
    return None
