"""A Microsoft connection's status per employee calendar, for the JSON API, the CLI and the
admin page: the Outlook calendars it writes to and reads, the changes waiting to be sent, the
last read, the last failure of that calendar alone and the items Outlook refused."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from server.db.models import Calendar, MicrosoftCalendarMap, MicrosoftConnection
from server.db.models import MicrosoftReadState
from server.db.scope import of_connection
from server.sync import calendar_errors, item_errors
from server.sync.backlog import Backlog, backlogs
from server.sync.tables import MICROSOFT


@dataclass(frozen=True)
class CalendarStatus:
    calendar_id: int
    name: str
    write_calendar: str
    read_calendar: str
    pending_changes: int
    synced_at: dt.datetime | None
    write_error: str | None = None
    write_error_at: dt.datetime | None = None
    read_error: str | None = None
    read_error_at: dt.datetime | None = None
    write_retry: str | None = None  # "retrying in N min" while this calendar's writes back off
    failing: tuple[item_errors.ItemError, ...] = ()


def calendar_status(session: Session, connection: MicrosoftConnection,
                    now: dt.datetime) -> list[CalendarStatus]:
    """One entry per employee calendar taking part, in a constant number of queries."""
    backlog = backlogs(session, now, [connection.id], tables=MICROSOFT,
                       business_id=connection.business_id).get(connection.id, Backlog())
    failing = item_errors.by_calendar(session, connection, now, tables=MICROSOFT)
    reads = {state.google_calendar: state for state in session.execute(
        select(MicrosoftReadState).where(
            of_connection(MicrosoftReadState, connection))).scalars()}
    found = []
    for row, calendar in session.execute(select(MicrosoftCalendarMap, Calendar).join(
            Calendar, and_(Calendar.business_id == MicrosoftCalendarMap.business_id,
                           Calendar.id == MicrosoftCalendarMap.calendar_id)).where(
            of_connection(MicrosoftCalendarMap, connection)).order_by(
            MicrosoftCalendarMap.calendar_id)):
        read = reads.get(row.read_calendar)
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
