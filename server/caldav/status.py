"""What a business's CalDAV accounts look like now, for the CLI, the JSON API and the admin
page alike: each account's health, last error and poll interval, and per employee calendar
where it writes and reads, how it is read (sync tokens or polling), its pending changes and
its last errors, and each booking or blocked time whose copy keeps failing, with what to do."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from server.caldav import connections, intervals, pull
from server.config import CalDAVConfig
from server.db.models import (
    CalDAVCalendarMap, CalDAVConnection, CalDAVReadState, Calendar,
)
from server.db.scope import of_connection
from server.sync import item_errors
from server.sync.backlog import backlogs
from server.sync.tables import CALDAV


@dataclass(frozen=True)
class CalendarStatus:
    calendar_id: int
    name: str
    write_calendar: str
    read_calendar: str
    read_mode: str  # "sync-collection", "polling (no sync-collection)" or "not read yet"
    synced_at: dt.datetime | None
    write_error: str | None
    read_error: str | None
    failing_items: int
    # What went wrong with each failing item, and when it is tried again (in words).
    item_errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AccountStatus:
    id: int
    label: str
    server_url: str
    home_url: str
    username: str
    status: str
    direction: str
    block_online_booking: bool
    block_out_of_office: bool
    block_tentative: bool
    block_all_day: bool
    hide_client_details: bool
    last_sync_at: dt.datetime | None
    last_error: str | None
    pending_changes: int
    poll_seconds: int  # the interval its calendars are read at (its own or the default)
    own_poll_seconds: int | None  # its own interval; None: caldav.poll_seconds
    calendars: list[CalendarStatus] = field(default_factory=list)


def _mode(token: str | None, poll_seconds: int) -> str:
    decoded = pull.decode_cursor(token or "")
    if decoded is None:
        return "not read yet"
    if decoded[1] == pull.SYNC:
        return "sync-collection"
    return (f"the server does not support sync-collection; polling every "
            f"{max(1, poll_seconds // 60)} minutes")


def accounts(session: Session, business_id: int, now: dt.datetime,
             settings: CalDAVConfig, only: int | None = None) -> list[AccountStatus]:
    """Every CalDAV account of the business (a handful of queries per account), or only the
    one numbered `only` (NotFoundError when the business has none of that number)."""
    rows = connections.list_connections(session, business_id) if only is None else [
        connections.get_connection(session, business_id, only)]
    pending = backlogs(session, now, [row.id for row in rows], tables=CALDAV,
                       business_id=business_id) if rows else {}
    found: list[AccountStatus] = []
    for row in rows:
        poll_seconds = int(intervals.poll_interval(settings, row.poll_seconds).total_seconds())
        found.append(AccountStatus(
            id=row.id, label=row.label, server_url=row.server_url, home_url=row.home_url,
            username=row.username, status=row.status, direction=row.direction,
            block_online_booking=row.block_online_booking,
            block_out_of_office=row.block_out_of_office, block_tentative=row.block_tentative,
            block_all_day=row.block_all_day,
            hide_client_details=row.hide_client_details, last_sync_at=row.last_sync_at,
            last_error=row.last_error,
            pending_changes=pending[row.id].total if row.id in pending else 0,
            poll_seconds=poll_seconds, own_poll_seconds=row.poll_seconds,
            calendars=_calendars(session, row, poll_seconds, now)))
    return found


def _calendars(session: Session, row: CalDAVConnection, poll_seconds: int,
               now: dt.datetime) -> list[CalendarStatus]:
    states = {state.google_calendar: state for state in session.execute(
        select(CalDAVReadState).where(of_connection(CalDAVReadState, row))).scalars()}
    failing = item_errors.by_calendar(session, row, now, CALDAV)
    found: list[CalendarStatus] = []
    for mapping, name in session.execute(
            select(CalDAVCalendarMap, Calendar.name)
            .join(Calendar, and_(Calendar.business_id == CalDAVCalendarMap.business_id,
                                 Calendar.id == CalDAVCalendarMap.calendar_id))
            .where(of_connection(CalDAVCalendarMap, row))
            .order_by(CalDAVCalendarMap.calendar_id)):
        state = states.get(mapping.read_calendar)
        found.append(CalendarStatus(
            calendar_id=mapping.calendar_id, name=name, write_calendar=mapping.write_calendar,
            read_calendar=mapping.read_calendar,
            read_mode=_mode(state.sync_token if state else None, poll_seconds),
            synced_at=state.synced_at if state else None, write_error=mapping.last_error,
            read_error=state.last_error if state else None,
            failing_items=len(failing.get(mapping.calendar_id, [])),
            item_errors=[f"{item.kind} {item.item_id}: {item.error} ({item.retry})"
                         for item in failing.get(mapping.calendar_id, [])]))
    return found
