"""Before an online booking: make sure the Outlook events that block the calendar are recent,
as server/google/freshness.py does for Google (same signature, same notes).

When the bridge last read the calendar's Outlook calendar longer ago than
`availability.google_max_age_seconds` (the one stale-data limit, whatever the provider), one
bounded incremental `calendarView/delta` read of that Outlook calendar runs (a short timeout,
one attempt, at most MAX_PAGES pages, never a full read or a window renewal: those, with their
reconciliation, stay with the bridge), before the booking's transaction: no database lock is
held over the network. If Graph cannot be reached, or the read would be more than that, the
booking is checked against the events mirrored already, and the returned note says so."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from server.config import Config
from server.db import Database
from server.db.models import Calendar, MicrosoftCalendarMap, MicrosoftConnection
from server.db.models import MicrosoftReadState
from server.db.scope import get_of
from server.domain.availability import describe_age
from server.errors import BookingCalError
from server.keys import Keyring
from server.microsoft.graph import GraphClient
from server.microsoft.pull import MicrosoftLister
from server.runtime import Runtime
from server.sync.reading import NotIncremental, read
from server.sync.tables import MICROSOFT, Tables

log = logging.getLogger(__name__)
ClientFactory = Callable[[str, float], GraphClient]
MAX_PAGES = 2  # of up to pull.PAGE_SIZE changes each


class _Lister(MicrosoftLister):
    """The adapter's reading half on the booking's clock."""

    tables: Tables = MICROSOFT

    def __init__(self, now: dt.datetime) -> None:
        self.now = lambda: now


def recheck(runtime: Runtime, business_id: int, calendar_id: int, now: dt.datetime,
            timeout: float, max_age: float) -> str | None:
    """The live check of server/api/stale_policy.py: `freshen` bounded by `timeout`."""
    return freshen(runtime.config, runtime.db, runtime.keyring, business_id, calendar_id, now,
                   timeout=timeout, max_age=max_age)


def freshen(config: Config, db: Database, keyring: Keyring, business_id: int, calendar_id: int,
            now: dt.datetime, client_factory: ClientFactory | None = None,
            timeout: float | None = None, max_age: float | None = None) -> str | None:
    """Read the calendar's Outlook read calendar if its mirror is too old. Returns a note for
    the caller when the mirrored events had to be used as they were, else None."""
    with db.read() as session:
        calendar = get_of(session, Calendar, business_id, calendar_id)
        if calendar is None:
            return None  # the booking itself reports the unknown calendar
        found = session.execute(
            select(MicrosoftConnection, MicrosoftCalendarMap)
            .join(MicrosoftCalendarMap,
                  MicrosoftCalendarMap.connection_id == MicrosoftConnection.id)
            .where(MicrosoftConnection.business_id == business_id,
                   MicrosoftCalendarMap.calendar_id == calendar_id)).first()
        if found is None or not found[0].block_online_booking:
            return None
        connection, mapping = found
        state = session.execute(select(MicrosoftReadState).where(
            MicrosoftReadState.connection_id == connection.id,
            MicrosoftReadState.google_calendar == mapping.read_calendar)).scalar_one_or_none()
        synced_at = state.synced_at if state is not None else None
        age = describe_age(synced_at, now)
        limit = config.availability.google_max_age_seconds if max_age is None else max_age
        if synced_at is not None and (now - synced_at).total_seconds() <= limit:
            return None
        if connection.status == "needs_reconnect":
            return (f"the Microsoft connection needs reconnecting; checked against the Outlook "
                    f"events mirrored before ({age})")
        if connection.status == "paused" and connection.paused_until is not None \
                and connection.paused_until > now:
            return (f"Outlook sync is paused (Microsoft's limits) until "
                    f"{connection.paused_until:%H:%M} UTC; checked against the Outlook events "
                    f"mirrored before ({age})")
        connection_id, remote = connection.id, mapping.read_calendar
        token = keyring.decrypt(connection.refresh_token_encrypted)
    if timeout is None:
        timeout = config.availability.google_sync_timeout_seconds
    try:
        client = client_factory(token, timeout) if client_factory is not None else \
            GraphClient(config.microsoft, token, timeout=timeout)
        read(db, _Lister(now), client, connection_id, now, rules=config.availability,
             only=remote, max_pages=MAX_PAGES, attempts=1, business_id=business_id)
    except NotIncremental as exc:
        log.info("Outlook read before an online booking left to the bridge: %s", exc.message)
        return (f"Outlook events were not refreshed ({exc.message}); checked against the "
                f"Outlook events mirrored before ({age})")
    except (BookingCalError, OSError, SQLAlchemyError) as exc:  # a bridge racing us too
        log.info("Outlook read before an online booking failed: %s", type(exc).__name__)
        return (f"Microsoft could not be reached; checked against the Outlook events mirrored "
                f"before ({age})")
    return None
