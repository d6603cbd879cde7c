"""A business's Google connection: its settings, which employee calendars take part and which
Google calendars they use, and its status. Changing a setting that changes what the copies show
bumps `copy_version`, so the bridge rewrites the copies already in Google."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from server.db.models import Calendar, GoogleCalendarMap, GoogleConnection, GoogleReadState
from server.db.scope import get_of, of_connection
from server.domain import blocking, mirrored
from server.domain.calendars import get_calendar
from server.sync import calendar_errors, item_errors
from server.sync.backlog import Backlog, backlogs
from server.errors import InvalidError, NotFoundError

DIRECTIONS = ("both", "to_google", "from_google")


@dataclass(frozen=True)
class CalendarChoice:
    calendar_id: int
    write_calendar: str = "primary"
    read_calendar: str | None = None  # defaults to write_calendar


def get_connection(session: Session, business_id: int) -> GoogleConnection:
    connection = session.execute(select(GoogleConnection).where(
        GoogleConnection.business_id == business_id)).scalar_one_or_none()
    if connection is None:
        raise NotFoundError(f"business {business_id} has no Google account connected")
    return connection


def calendar_maps(session: Session, connection: GoogleConnection) -> list[GoogleCalendarMap]:
    """The connection's calendar maps (of its business), by employee calendar."""
    return list(session.execute(select(GoogleCalendarMap).where(
        of_connection(GoogleCalendarMap, connection)).order_by(
        GoogleCalendarMap.calendar_id)).scalars())


def update_settings(session: Session, business_id: int, *, now: dt.datetime,
                    direction: str | None = None, hide_client_details: bool | None = None,
                    block_online_booking: bool | None = None, reminders: bool | None = None,
                    calendars: list[CalendarChoice] | None = None,
                    block_out_of_office: bool | None = None, block_tentative: bool | None = None,
                    block_all_day: bool | None = None) -> GoogleConnection:
    connection = get_connection(session, business_id)
    if direction is not None:
        if direction not in DIRECTIONS:
            raise InvalidError(f"direction must be one of {', '.join(DIRECTIONS)}",
                               field="direction")
        connection.direction = direction
    rewrite = False
    if hide_client_details is not None and hide_client_details != connection.hide_client_details:
        connection.hide_client_details, rewrite = hide_client_details, True
    if reminders is not None and reminders != connection.reminders:
        connection.reminders, rewrite = reminders, True
    if block_online_booking is not None:
        connection.block_online_booking = block_online_booking
    if rewrite:
        connection.copy_version += 1
    policy = blocking.BlockingPolicy.of(connection)
    if block_out_of_office is not None:
        connection.block_out_of_office = block_out_of_office
    if block_tentative is not None:
        connection.block_tentative = block_tentative
    if block_all_day is not None:
        connection.block_all_day = block_all_day
    if blocking.BlockingPolicy.of(connection) != policy:
        mirrored.recompute_blocking(session, connection.id,
                                    blocking.BlockingPolicy.of(connection))
    if calendars is not None:
        _set_calendars(session, connection, calendars)
    if not reads(connection):  # an error reading a calendar no longer read is not shown
        session.execute(update(GoogleReadState).where(
            GoogleReadState.connection_id == connection.id).values(
            last_error=None, last_error_at=None))
    connection.updated_at = now
    return connection


def reads(connection: GoogleConnection) -> bool:
    """Whether the bridge reads the connection's Google calendars: to show their events, or
    to block online booking with their busy times whatever the direction."""
    return connection.direction != "to_google" or connection.block_online_booking


def _set_calendars(session: Session, connection: GoogleConnection,
                   choices: list[CalendarChoice]) -> None:
    ids = [choice.calendar_id for choice in choices]
    if len(set(ids)) != len(ids):
        raise InvalidError("each calendar may be chosen once", field="calendars")
    for choice in choices:
        get_calendar(session, connection.business_id, choice.calendar_id)
        if not choice.write_calendar or len(choice.write_calendar) > 1024:
            raise InvalidError("write_calendar must name a Google calendar id",
                               field="calendars")
    existing = {m.calendar_id: m for m in calendar_maps(session, connection)}
    for calendar_id, old in existing.items():
        if calendar_id not in ids:
            session.delete(old)  # the bridge deletes its copies of items no longer mapped
    for choice in choices:
        read = choice.read_calendar or choice.write_calendar
        row = existing.get(choice.calendar_id)
        if row is None:
            session.add(GoogleCalendarMap(business_id=connection.business_id,
                                          connection_id=connection.id,
                                          calendar_id=choice.calendar_id,
                                          write_calendar=choice.write_calendar,
                                          read_calendar=read, sent_seq=0, backfilled=False))
        elif (row.write_calendar, row.read_calendar) != (choice.write_calendar, read):
            row.write_calendar, row.read_calendar = choice.write_calendar, read
            row.sent_seq, row.backfilled = 0, False  # copies move: send everything again
            # A new Google calendar: the old one's error and backoff no longer apply.
            row.last_error = row.last_error_at = row.retry_at = None
            row.failures = 0
    session.flush()
    wanted = {m.read_calendar for m in calendar_maps(session, connection)}
    session.execute(delete(GoogleReadState).where(
        GoogleReadState.connection_id == connection.id,
        GoogleReadState.google_calendar.not_in(wanted or {""})))
    for google_calendar in wanted:
        if session.execute(select(GoogleReadState.id).where(
                GoogleReadState.connection_id == connection.id,
                GoogleReadState.google_calendar == google_calendar)).first() is None:
            session.add(GoogleReadState(business_id=connection.business_id,
                                        connection_id=connection.id,
                                        google_calendar=google_calendar))


@dataclass(frozen=True)
class CalendarStatus:
    calendar_id: int
    name: str
    write_calendar: str
    read_calendar: str
    pending_changes: int
    synced_at: dt.datetime | None
    # The last failure of this calendar alone (server/sync/calendar_errors.py), if any.
    write_error: str | None = None
    write_error_at: dt.datetime | None = None
    read_error: str | None = None
    read_error_at: dt.datetime | None = None
    # "retrying in N min" while writes to this calendar back off after failing on their own.
    write_retry: str | None = None
    # Bookings and blocked times whose write Google refused (server/sync/item_errors.py).
    failing: tuple[item_errors.ItemError, ...] = ()


def calendar_status(session: Session, connection: GoogleConnection,
                    now: dt.datetime) -> list[CalendarStatus]:
    found = []
    backlog = backlogs(session, now, [connection.id], business_id=connection.business_id).get(
        connection.id, Backlog())
    failing = item_errors.by_calendar(session, connection, now)
    for row in calendar_maps(session, connection):
        calendar = get_of(session, Calendar, connection.business_id, row.calendar_id)
        if calendar is None:
            continue
        read = session.execute(select(GoogleReadState).where(
            of_connection(GoogleReadState, connection),
            GoogleReadState.google_calendar == row.read_calendar)).scalar_one_or_none()
        found.append(CalendarStatus(
            calendar_id=calendar.id, name=calendar.name, write_calendar=row.write_calendar,
            read_calendar=row.read_calendar,
            pending_changes=backlog.by_calendar.get(calendar.id, 0),
            synced_at=read.synced_at if read is not None else None,
            write_error=row.last_error, write_error_at=row.last_error_at,
            read_error=read.last_error if read is not None else None,
            read_error_at=read.last_error_at if read is not None else None,
            write_retry=calendar_errors.retry_note(row.retry_at, now),
            failing=tuple(failing.get(calendar.id, ()))))
    return found
