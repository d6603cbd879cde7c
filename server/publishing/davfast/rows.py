"""Lean column queries for the fast path: what an item's <response> needs without its text
(kind, id, UID, sequence, last change), in the order Radicale's own path lists the items.
ETags come from `publish.item_etag` (its `etag_maker`), never from content, so nothing is
rendered here.

Rows come in chunks of plain tuples (id, uid, seq[, updated]) tagged with their kind: on
SQLite straight from the driver's cursor unless a datetime is wanted (no per-row conversion);
PostgreSQL keeps the server-side cursor of `yield_per`. A calendar is never held whole."""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from server.db.models import BlockedTime, Booking, Calendar
from server.db.scope import in_calendar

CHUNK = 2000
UIDS_PER_QUERY = 500
# (id, uid, seq) or (id, uid, seq, updated)
Row = tuple[Any, ...]
Chunk = tuple[str, Sequence[Row]]  # (kind, rows)


def _columns(model: Any, modified: bool) -> tuple[Any, ...]:
    base = (model.id, model.uid, model.seq)
    return (*base, model.updated_at) if modified else base


def _bookings(calendar: Calendar, modified: bool) -> Select[Any]:
    return select(*_columns(Booking, modified)).where(in_calendar(Booking, calendar),
                                                      Booking.status == "confirmed")


def _blocked(calendar: Calendar, modified: bool) -> Select[Any]:
    return select(*_columns(BlockedTime, modified)).where(in_calendar(BlockedTime, calendar))


def _chunks(session: Session, kind: str, query: Select[Any], modified: bool
            ) -> Iterator[Chunk]:
    connection = session.connection()
    if connection.dialect.name == "sqlite" and not modified:
        result = connection.execute(query)
        try:
            while chunk := result.cursor.fetchmany(CHUNK):
                yield kind, chunk
        finally:
            result.close()
        return
    result = connection.execute(query.execution_options(yield_per=CHUNK))
    try:
        for part in result.partitions(CHUNK):
            yield kind, [tuple(r) for r in part]
    finally:
        result.close()


def listing(session: Session, calendar: Calendar, modified: bool) -> Iterator[Chunk]:
    """Every item of a calendar in the order of a Depth-1 PROPFIND through Radicale (the
    storage's `get_all`: bookings by start, then blocked time by start)."""
    yield from _chunks(session, "booking", _bookings(calendar, modified)
                       .order_by(Booking.start_utc, Booking.id), modified)
    yield from _chunks(session, "blocked", _blocked(calendar, modified)
                       .order_by(BlockedTime.start_utc, BlockedTime.id), modified)


def members(session: Session, calendar: Calendar) -> Iterator[Chunk]:
    """Every item in the order of an empty-token sync (the storage's `sync`: bookings by id,
    then blocked time by id)."""
    yield from _chunks(session, "booking", _bookings(calendar, False)
                       .order_by(Booking.id), False)
    yield from _chunks(session, "blocked", _blocked(calendar, False)
                       .order_by(BlockedTime.id), False)


def _by_uid(model: Any, business_id: int, uids: list[str]) -> Select[Any]:
    """By the unique (uid, business_id) key."""
    columns: tuple[Any, ...] = (model.id, model.uid, model.seq, model.calendar_id)
    return select(*columns).where(model.uid.in_(uids), model.business_id == business_id)


def by_uids(session: Session, calendar: Calendar, uids: Sequence[str]
            ) -> dict[str, tuple[str, Row]]:
    """uid -> (kind, row) of the calendar's shown items among `uids` (what the storage's
    `get_multi` finds). By the unique uid index alone: with the calendar in the condition the
    planner may walk the calendar's index instead; the calendar is checked on the rows found."""
    found: dict[str, tuple[str, Row]] = {}
    wanted = list(dict.fromkeys(uids))
    for start in range(0, len(wanted), UIDS_PER_QUERY):
        part = wanted[start:start + UIDS_PER_QUERY]
        queries = (("booking", _by_uid(Booking, calendar.business_id, part)
                    .where(Booking.status == "confirmed")),
                   ("blocked", _by_uid(BlockedTime, calendar.business_id, part)))
        for kind, query in queries:
            for _, chunk in _chunks(session, kind, query, False):
                for item_id, uid, seq, calendar_id in chunk:
                    if calendar_id == calendar.id:
                        found[uid] = (kind, (item_id, uid, seq))
    return found
