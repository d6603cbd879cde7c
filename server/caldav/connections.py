"""A business's CalDAV accounts: storing one (the app password encrypted, like every other
secret), its settings, which employee calendars take part with which of its calendars (each
employee calendar with at most one CalDAV account), and forgetting it. Changing what the copies
show bumps `copy_version` (every copy is rewritten)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.caldav import former_rows, intervals, owner
from server.caldav.discovery import Account
from server.config import CalDAVConfig
from server.db.models import (
    CalDAVCalendarMap, CalDAVConnection, CalDAVMirroredEvent, CalDAVReadState,
)
from server.db.scope import get_of
from server.domain import blocking, mirrored
from server.domain.calendars import get_calendar
from server.errors import ConflictError, InvalidError, NotFoundError
from server.keys import Keyring

DIRECTIONS = ("both", "to_caldav", "from_caldav")


@dataclass(frozen=True)
class CalendarChoice:
    calendar_id: int
    write_calendar: str  # a calendar collection's URL (from discovery)
    read_calendar: str | None = None  # defaults to write_calendar


def credentials(keyring: Keyring, connection: CalDAVConnection) -> str:
    """What the adapter's client needs, as one string (never logged): with the owner's
    calendar user addresses (server/caldav/owner.py)."""
    return json.dumps({"home": connection.home_url, "user": connection.username,
                       "password": keyring.decrypt(connection.password_encrypted),
                       "addresses": owner.load(connection.addresses)})


def get_connection(session: Session, business_id: int, connection_id: int) -> CalDAVConnection:
    found = get_of(session, CalDAVConnection, business_id, connection_id)
    if found is None:
        raise NotFoundError(f"no CalDAV account {connection_id} is connected")
    return found


def list_connections(session: Session, business_id: int) -> list[CalDAVConnection]:
    return list(session.execute(select(CalDAVConnection).where(
        CalDAVConnection.business_id == business_id).order_by(CalDAVConnection.id)).scalars())


def connect(session: Session, keyring: Keyring, business_id: int, *, server_url: str,
            username: str, password: str, account: Account, now: dt.datetime,
            label: str = "", direction: str = "both") -> CalDAVConnection:
    """Store a new account (discovered first), or renew the password of the same account
    (same calendar home and user) that needs reconnecting: its settings, copies and positions
    stay. The calendar user addresses discovery found are stored (renewed) with it."""
    if direction not in DIRECTIONS:
        raise InvalidError(f"direction must be one of {', '.join(DIRECTIONS)}",
                           field="direction")
    for existing in list_connections(session, business_id):
        if (existing.home_url, existing.username) == (account.home_url, username):
            if existing.status != "needs_reconnect" and \
                    keyring.decrypt(existing.password_encrypted) == password:
                raise ConflictError("this CalDAV account is connected already")
            existing.password_encrypted = keyring.encrypt(password)
            existing.addresses = owner.stored(account.addresses or [])
            existing.status, existing.last_error, existing.updated_at = "connected", None, now
            return existing
    connection = CalDAVConnection(
        business_id=business_id, label=label.strip()[:200] or username[:200],
        server_url=server_url.strip()[:1024], home_url=account.home_url[:1024],
        username=username, password_encrypted=keyring.encrypt(password),
        addresses=owner.stored(account.addresses or []), status="connected",
        direction=direction, hide_client_details=False, block_online_booking=True,
        reminders=False, block_out_of_office=True, block_tentative=True, block_all_day=True,
        copy_version=1, created_at=now, updated_at=now)
    session.add(connection)
    session.flush()
    return connection


def reconnect(session: Session, keyring: Keyring, business_id: int, connection_id: int, *,
              password: str, account: Account, now: dt.datetime) -> CalDAVConnection:
    """A new app password for an account (after "needs reconnecting"), found by discovery with
    it: the same account renewed as `connect` renews it, its settings and copies kept."""
    connection = get_connection(session, business_id, connection_id)
    if account.home_url != connection.home_url:
        raise InvalidError("this password opens a different calendar home than the account's; "
                           "connect it as a new account instead", field="password")
    renewed = connect(session, keyring, business_id, server_url=connection.server_url,
                      username=connection.username, password=password, account=account,
                      now=now)
    assert renewed.id == connection.id
    return renewed


def request_read(session: Session, business_id: int, connection_id: int) -> int:
    """Have the bridge read every calendar of the account at its next pass, whatever the poll
    interval; how many calendars it will read."""
    get_connection(session, business_id, connection_id)
    states = list(session.execute(select(CalDAVReadState).where(
        CalDAVReadState.connection_id == connection_id)).scalars())
    for state in states:
        state.pull_requested = True
    return len(states)


def reads(connection: CalDAVConnection) -> bool:
    """Whether the bridge reads the account's calendars."""
    return connection.direction != "to_caldav" or connection.block_online_booking


def update_settings(session: Session, business_id: int, connection_id: int, *,
                    now: dt.datetime, direction: str | None = None,
                    hide_client_details: bool | None = None,
                    block_online_booking: bool | None = None,
                    calendars: list[CalendarChoice] | None = None,
                    block_out_of_office: bool | None = None,
                    block_tentative: bool | None = None,
                    block_all_day: bool | None = None, poll_seconds: int | None = None,
                    settings: CalDAVConfig | None = None) -> CalDAVConnection:
    """Change what is given (None: unchanged). `poll_seconds` (checked against `settings`,
    [caldav]): the connection's own interval between reads, 0 for caldav.poll_seconds."""
    connection = get_connection(session, business_id, connection_id)
    if poll_seconds is not None:
        connection.poll_seconds = intervals.checked(settings or CalDAVConfig(), poll_seconds)
    if direction is not None:
        if direction not in DIRECTIONS:
            raise InvalidError(f"direction must be one of {', '.join(DIRECTIONS)}",
                               field="direction")
        connection.direction = direction
    if hide_client_details is not None and hide_client_details != connection.hide_client_details:
        connection.hide_client_details = hide_client_details
        connection.copy_version += 1
    if block_online_booking is not None:
        connection.block_online_booking = block_online_booking
    policy = blocking.BlockingPolicy.of(connection)
    if block_out_of_office is not None:
        connection.block_out_of_office = block_out_of_office
    if block_tentative is not None:
        connection.block_tentative = block_tentative
    if block_all_day is not None:
        connection.block_all_day = block_all_day
    if blocking.BlockingPolicy.of(connection) != policy:
        new = blocking.BlockingPolicy.of(connection)
        for row in session.execute(select(CalDAVMirroredEvent).where(
                CalDAVMirroredEvent.connection_id == connection.id)).scalars():
            row.blocks = mirrored.blocks_row(row, new)
    if calendars is not None:
        _set_calendars(session, connection, calendars)
    connection.updated_at = now
    return connection


def _inside(connection: CalDAVConnection, url: str) -> bool:
    """Whether a calendar URL lies in the account's calendar home (copies and reads never go
    anywhere else with its password)."""
    return url.startswith(connection.home_url.rstrip("/") + "/") and len(url) <= 1024


def _set_calendars(session: Session, connection: CalDAVConnection,
                   choices: list[CalendarChoice]) -> None:
    ids = [choice.calendar_id for choice in choices]
    if len(set(ids)) != len(ids):
        raise InvalidError("each calendar may be chosen once", field="calendars")
    for choice in choices:
        get_calendar(session, connection.business_id, choice.calendar_id)
        for url in (choice.write_calendar, choice.read_calendar or choice.write_calendar):
            if not _inside(connection, url):
                raise InvalidError("a CalDAV calendar must be one of the account's calendars "
                                   "(`bookingcal caldav calendars` lists them)",
                                   field="calendars")
        taken = session.execute(select(CalDAVCalendarMap.connection_id).where(
            CalDAVCalendarMap.calendar_id == choice.calendar_id,
            CalDAVCalendarMap.connection_id != connection.id)).first()
        if taken is not None:
            raise ConflictError(f"calendar {choice.calendar_id} takes part with another "
                                "CalDAV account already; remove it there first")
    existing = {m.calendar_id: m for m in session.execute(select(CalDAVCalendarMap).where(
        CalDAVCalendarMap.connection_id == connection.id)).scalars()}
    for calendar_id, old in existing.items():
        if calendar_id not in ids:
            session.delete(old)
    for choice in choices:
        read = choice.read_calendar or choice.write_calendar
        row = existing.get(choice.calendar_id)
        if row is None:
            session.add(CalDAVCalendarMap(
                business_id=connection.business_id, connection_id=connection.id, calendar_id=choice.calendar_id,
                write_calendar=choice.write_calendar, read_calendar=read, sent_seq=0,
                backfilled=False))
        elif (row.write_calendar, row.read_calendar) != (choice.write_calendar, read):
            row.write_calendar, row.read_calendar = choice.write_calendar, read
            row.sent_seq, row.backfilled = 0, False
            row.last_error = row.last_error_at = row.retry_at = None
            row.failures = 0
    session.flush()
    wanted = {choice.read_calendar or choice.write_calendar for choice in choices}
    session.execute(delete(CalDAVMirroredEvent).where(
        CalDAVMirroredEvent.connection_id == connection.id,
        CalDAVMirroredEvent.google_calendar.not_in(wanted or {""})))
    session.execute(delete(CalDAVReadState).where(
        CalDAVReadState.connection_id == connection.id,
        CalDAVReadState.google_calendar.not_in(wanted or {""})))
    for remote in wanted:
        if session.execute(select(CalDAVReadState.id).where(
                CalDAVReadState.connection_id == connection.id,
                CalDAVReadState.google_calendar == remote)).first() is None:
            session.add(CalDAVReadState(business_id=connection.business_id,
                                         connection_id=connection.id, google_calendar=remote))


def disconnect(session: Session, business_id: int, connection_id: int, *, secret: bytes,
               now: dt.datetime) -> None:
    """Forget the account: its password, maps, read states, mirrored events and the record of
    our copies (cascades). The copies stay in the remote calendar: server/caldav/disconnect.py
    deletes them first (unless the admin keeps them). The row's id is remembered under the
    account (server/caldav/former_rows.py; `secret`: copies.key_secret), so that copies it
    kept under names of the former scheme are adopted when the account is connected again."""
    connection = get_connection(session, business_id, connection_id)
    former_rows.remember(session, secret, connection, now)
    session.delete(connection)
