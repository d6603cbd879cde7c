"""Lean column queries for the fast path: what an item's <response> needs without its text
(kind, id, UID, sequence, last change), in the order Radicale's own path lists the items.
ETags come from `publish.item_etag`, never from content, so nothing is rendered here.

On SQLite the rows come straight from the driver's cursor (no per-row conversion) unless a
datetime is wanted; PostgreSQL keeps the server-side cursor of `yield_per`. Either way rows are
read in chunks and never held whole."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from server.db.models import BlockedTime, Booking, Calendar

CHUNK = 2000
UIDS_PER_QUERY = 500


@dataclass(frozen=True)
class Row:
    kind: str  # "booking" or "blocked"
    item_id: int
    uid: str
    seq: int
    updated: dt.datetime | None  # only when asked for


def _columns(model: Any, modified: bool) -> tuple[Any, ...]:
    base = (model.id, model.uid, model.seq)
    return (*base, model.updated_at) if modified else base


def _bookings(calendar_id: int, modified: bool) -> Select[Any]:
    return select(*_columns(Booking, modified)).where(Booking.calendar_id == calendar_id,
                                                      Booking.status == "confirmed")


def _blocked(calendar_id: int, modified: bool) -> Select[Any]:
    return select(*_columns(BlockedTime, modified)).where(
        BlockedTime.calendar_id == calendar_id)


def _rows(session: Session, kind: str, query: Select[Any], modified: bool) -> Iterator[Row]:
    connection = session.connection()
    if connection.dialect.name == "sqlite" and not modified:
        result = connection.execute(query)
        try:
            while chunk := result.cursor.fetchmany(CHUNK):
                for item_id, uid, seq in chunk:
                    yield Row(kind, item_id, uid, seq, None)
        finally:
            result.close()
        return
    result = connection.execute(query.execution_options(yield_per=CHUNK))
    try:
        for part in result.partitions(CHUNK):
            for r in part:
                yield Row(kind, r[0], r[1], r[2], r[3] if modified else None)
    finally:
        result.close()


def listing(session: Session, calendar: Calendar, modified: bool) -> Iterator[Row]:
    """Every item of a calendar in the order of a Depth-1 PROPFIND through Radicale (the
    storage's `get_all`: bookings by start, then blocked time by start)."""
    yield from _rows(session, "booking", _bookings(calendar.id, modified)
                     .order_by(Booking.start_utc, Booking.id), modified)
    yield from _rows(session, "blocked", _blocked(calendar.id, modified)
                     .order_by(BlockedTime.start_utc, BlockedTime.id), modified)


def members(session: Session, calendar: Calendar, modified: bool) -> Iterator[Row]:
    """Every item in the order of an empty-token sync (the storage's `sync`: bookings by id,
    then blocked time by id)."""
    yield from _rows(session, "booking", _bookings(calendar.id, modified)
                     .order_by(Booking.id), modified)
    yield from _rows(session, "blocked", _blocked(calendar.id, modified)
                     .order_by(BlockedTime.id), modified)


def by_uids(session: Session, calendar: Calendar, uids: Sequence[str],
            modified: bool) -> dict[str, Row]:
    """The calendar's shown items among `uids` (what the storage's `get_multi` finds)."""
    found: dict[str, Row] = {}
    wanted = list(dict.fromkeys(uids))
    for start in range(0, len(wanted), UIDS_PER_QUERY):
        part = wanted[start:start + UIDS_PER_QUERY]
        for kind, query in (("booking", _bookings(calendar.id, modified)
                             .where(Booking.uid.in_(part))),
                            ("blocked", _blocked(calendar.id, modified)
                             .where(BlockedTime.uid.in_(part)))):
            for row in _rows(session, kind, query, modified):
                found[row.uid] = row
    return found
