"""What each connection still has to send to its provider (the outbox's backlog), counted for
all connections (or some) in a constant number of queries: the engine asks every half second
which connections have work, and `google status` shows the figures per calendar.

Per employee calendar taking part: while its backfill runs, the future items without a copy
(at least 1, so an empty backfill still gets its pass that marks it done); after that, the
journal entries not yet sent, the copies waiting to be rewritten (a setting changed what they
show, or someone changed or deleted them remotely) and the items whose write failed on its own
(server/sync/item_errors.py), counted as `waiting` while they back off. Each provider's
rows are its own tables (server/sync/tables.py)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from server.db.models import BlockedTime, Booking, Calendar
from server.db.scope import business_beside
from server.sync.tables import GOOGLE, Tables


@dataclass
class Backlog:
    by_calendar: dict[int, int] = field(default_factory=dict)  # employee calendar id -> count
    stale_copies: int = 0  # included in by_calendar
    waiting: int = 0  # failed items backing off: pending, but nothing to do yet

    @property
    def total(self) -> int:
        return sum(self.by_calendar.values())

    @property
    def due(self) -> int:
        """What a pass could send now."""
        return self.total - self.waiting


Query = TypeVar("Query", bound=Select)  # type: ignore[type-arg]


def _only(query: Query, column: InstrumentedAttribute[int],
          ids: Collection[int] | None, business: Any = None,
          business_id: int | None = None) -> Query:
    """`query` of the connections `ids` (all: None), and of `business_id` when given (the
    equality on `business`, the business_id column of the query's first table)."""
    if business_id is not None:
        query = query.where(business == business_id)
    return query if ids is None else query.where(column.in_(ids))


def backlogs(session: Session, now: dt.datetime,
             connection_ids: Collection[int] | None = None,
             tables: Tables = GOOGLE, business_id: int | None = None) -> dict[int, Backlog]:
    """Backlog per connection of one provider (`tables`; every connection that sends, or
    those given): five queries whatever the number of connections and calendars. Each join
    is on business_id too (the rows of one business sit together on a cluster distributed by
    it, docs/scaling.md); `business_id`, when every connection given is of that business,
    names it in every query."""
    found: dict[int, Backlog] = defaultdict(Backlog)
    GoogleConnection, GoogleCalendarMap = tables.connection, tables.calendar_map
    GoogleCopy, GoogleWriteError = tables.copy, tables.write_error
    sending = GoogleConnection.direction != tables.read_only
    behind = _only(select(
        GoogleCalendarMap.connection_id, GoogleCalendarMap.calendar_id,
        Calendar.journal_seq - GoogleCalendarMap.sent_seq).join(
        Calendar, and_(Calendar.business_id == GoogleCalendarMap.business_id,
                       Calendar.id == GoogleCalendarMap.calendar_id)).join(
        GoogleConnection, and_(GoogleConnection.business_id == GoogleCalendarMap.business_id,
                               GoogleConnection.id == GoogleCalendarMap.connection_id)).where(
        sending, GoogleCalendarMap.backfilled.is_(True)),
        GoogleCalendarMap.connection_id, connection_ids, GoogleCalendarMap.business_id,
        business_id)
    unfinished: set[tuple[int, int]] = set()
    for connection_id, calendar_id, count in session.execute(behind):
        found[connection_id].by_calendar[calendar_id] = max(0, int(count))
    for kind, table, live in (
            ("booking", Booking, and_(Booking.status == "confirmed", Booking.end_utc > now)),
            ("blocked", BlockedTime, or_(BlockedTime.series_end_utc.is_(None),
                                         BlockedTime.series_end_utc > now))):
        copied = GoogleCopy.__table__.alias()
        missing = _only(select(
            GoogleCalendarMap.connection_id, GoogleCalendarMap.calendar_id,
            func.count(table.id)).join(
            GoogleConnection, and_(
                GoogleConnection.business_id == GoogleCalendarMap.business_id,
                GoogleConnection.id == GoogleCalendarMap.connection_id)).outerjoin(
            table, and_(business_beside(table, GoogleCalendarMap.business_id),
                        table.calendar_id == GoogleCalendarMap.calendar_id, live)).outerjoin(
            copied, and_(business_beside(copied.c, GoogleCalendarMap.business_id),
                         copied.c.connection_id == GoogleCalendarMap.connection_id,
                         copied.c.kind == kind, copied.c.item_id == table.id,
                         copied.c.deleted.is_(False))).where(
            sending, GoogleCalendarMap.backfilled.is_(False), copied.c.id.is_(None)).group_by(
            GoogleCalendarMap.connection_id, GoogleCalendarMap.calendar_id),
            GoogleCalendarMap.connection_id, connection_ids, GoogleCalendarMap.business_id,
            business_id)
        for connection_id, calendar_id, count in session.execute(missing):
            calendars = found[connection_id].by_calendar
            calendars[calendar_id] = calendars.get(calendar_id, 0) + int(count)
            unfinished.add((connection_id, calendar_id))
    for connection_id, calendar_id in unfinished:  # an unfinished backfill is never "done"
        calendars = found[connection_id].by_calendar
        calendars[calendar_id] = max(1, calendars[calendar_id])
    # Copies to rewrite count for the calendar they belong to: a settings change that rewrites
    # every copy shows as that many pending per calendar, not 0.
    stale = _only(select(GoogleCopy.connection_id, GoogleCopy.calendar_id, func.count()).join(
        GoogleConnection, and_(GoogleConnection.business_id == GoogleCopy.business_id,
                               GoogleConnection.id == GoogleCopy.connection_id)).where(
        sending, GoogleCopy.deleted.is_(False),
        or_(GoogleCopy.sent_seq < 0, GoogleCopy.sent_version != GoogleConnection.copy_version))
        .group_by(GoogleCopy.connection_id, GoogleCopy.calendar_id), GoogleCopy.connection_id,
        connection_ids, GoogleCopy.business_id, business_id)
    for connection_id, calendar_id, count in session.execute(stale):
        backlog = found[connection_id]
        backlog.stale_copies += int(count)
        backlog.by_calendar[calendar_id] = backlog.by_calendar.get(calendar_id, 0) + int(count)
    failing = _only(select(
        GoogleWriteError.connection_id, GoogleWriteError.calendar_id,
        func.count(), func.sum(case((GoogleWriteError.retry_at > now, 1), else_=0))).join(
        GoogleConnection, and_(GoogleConnection.business_id == GoogleWriteError.business_id,
                               GoogleConnection.id == GoogleWriteError.connection_id)).where(
        sending).group_by(GoogleWriteError.connection_id, GoogleWriteError.calendar_id),
        GoogleWriteError.connection_id, connection_ids, GoogleWriteError.business_id,
        business_id)
    for connection_id, calendar_id, count, later in session.execute(failing):
        backlog = found[connection_id]
        backlog.by_calendar[calendar_id] = backlog.by_calendar.get(calendar_id, 0) + int(count)
        backlog.waiting += int(later or 0)
    return dict(found)
