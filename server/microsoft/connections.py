"""A business's Microsoft connection: storing it (the refresh token encrypted, like Google's),
its settings, and which employee calendars take part with which Outlook calendars. Changing
what the copies show bumps `copy_version` (every copy is rewritten)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.db.models import (
    MicrosoftCalendarMap, MicrosoftConnection, MicrosoftMirroredEvent, MicrosoftReadState,
)
from server.domain import blocking, mirrored
from server.domain.calendars import get_calendar
from server.errors import ConflictError, InvalidError, NotFoundError
from server.keys import Keyring

DIRECTIONS = ("both", "to_microsoft", "from_microsoft")


@dataclass(frozen=True)
class CalendarChoice:
    calendar_id: int
    write_calendar: str  # an Outlook calendar id (GET /me/calendars)
    read_calendar: str | None = None  # defaults to write_calendar


def get_connection(session: Session, business_id: int) -> MicrosoftConnection:
    found = session.execute(select(MicrosoftConnection).where(
        MicrosoftConnection.business_id == business_id)).scalar_one_or_none()
    if found is None:
        raise NotFoundError("no Microsoft account is connected; connect one first")
    return found


def connect(session: Session, keyring: Keyring, business_id: int, refresh_token: str,
            now: dt.datetime, account_email: str = "", scopes: str = "") -> MicrosoftConnection:
    """Store a new connection, or renew the token of one that needs reconnecting (its
    settings, copies and positions stay: what was made meanwhile is sent now)."""
    existing = session.execute(select(MicrosoftConnection).where(
        MicrosoftConnection.business_id == business_id)).scalar_one_or_none()
    if existing is not None:
        if existing.status != "needs_reconnect":
            raise ConflictError("a Microsoft account is connected already; disconnect it first")
        existing.refresh_token_encrypted = keyring.encrypt(refresh_token)
        existing.status, existing.last_error, existing.updated_at = "connected", None, now
        if account_email:
            existing.account_email = account_email
        return existing
    connection = MicrosoftConnection(
        business_id=business_id, refresh_token_encrypted=keyring.encrypt(refresh_token),
        scopes=scopes, account_email=account_email, status="connected", direction="both",
        hide_client_details=False, block_online_booking=False, reminders=False,
        copy_version=1, created_at=now, updated_at=now)
    session.add(connection)
    session.flush()
    return connection


def reads(connection: MicrosoftConnection) -> bool:
    """Whether the bridge reads the connection's Outlook calendars."""
    return connection.direction != "to_microsoft" or connection.block_online_booking


def update_settings(session: Session, business_id: int, *, now: dt.datetime,
                    direction: str | None = None, hide_client_details: bool | None = None,
                    block_online_booking: bool | None = None,
                    calendars: list[CalendarChoice] | None = None,
                    block_out_of_office: bool | None = None, block_tentative: bool | None = None,
                    block_all_day: bool | None = None) -> MicrosoftConnection:
    connection = get_connection(session, business_id)
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
        _recompute(session, connection)
    if calendars is not None:
        _set_calendars(session, connection, calendars)
    connection.updated_at = now
    return connection


def _recompute(session: Session, connection: MicrosoftConnection) -> None:
    policy = blocking.BlockingPolicy.of(connection)
    for row in session.execute(select(MicrosoftMirroredEvent).where(
            MicrosoftMirroredEvent.connection_id == connection.id)).scalars():
        row.blocks = mirrored.blocks_row(row, policy)


def _set_calendars(session: Session, connection: MicrosoftConnection,
                   choices: list[CalendarChoice]) -> None:
    ids = [choice.calendar_id for choice in choices]
    if len(set(ids)) != len(ids):
        raise InvalidError("each calendar may be chosen once", field="calendars")
    for choice in choices:
        get_calendar(session, connection.business_id, choice.calendar_id)
        if not choice.write_calendar or len(choice.write_calendar) > 1024:
            raise InvalidError("write_calendar must name an Outlook calendar id",
                               field="calendars")
    existing = {m.calendar_id: m for m in session.execute(select(MicrosoftCalendarMap).where(
        MicrosoftCalendarMap.connection_id == connection.id)).scalars()}
    for calendar_id, old in existing.items():
        if calendar_id not in ids:
            session.delete(old)
    for choice in choices:
        read = choice.read_calendar or choice.write_calendar
        row = existing.get(choice.calendar_id)
        if row is None:
            session.add(MicrosoftCalendarMap(
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
    session.execute(delete(MicrosoftReadState).where(
        MicrosoftReadState.connection_id == connection.id,
        MicrosoftReadState.google_calendar.not_in(wanted or {""})))
    for remote in wanted:
        if session.execute(select(MicrosoftReadState.id).where(
                MicrosoftReadState.connection_id == connection.id,
                MicrosoftReadState.google_calendar == remote)).first() is None:
            session.add(MicrosoftReadState(business_id=connection.business_id,
                                            connection_id=connection.id, google_calendar=remote))
