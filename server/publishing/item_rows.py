"""The queries of publishing: bookings and blocked time as column rows joined with the render
cache (rendered_items), by range, UID or id, and the cache's upsert."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
from typing import Any

from sqlalchemy import (Select, Text, and_, bindparam, case, cast, column, func, literal, or_, select,
                        union_all)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from server.db import Database
from server.db.models import BlockedTime, Booking, Calendar, Client, RenderedItem, Service
from server.db.scope import business_beside
from server.errors import BookingCalError
from server.publishing import text_spool
from server.publishing.ical import RENDER_VERSION

log = logging.getLogger(__name__)


def cached(kind: str, model: Any, profile: str) -> Any:
    return and_(RenderedItem.kind == kind, RenderedItem.item_id == model.id,
                RenderedItem.profile == profile, RenderedItem.business_id == model.business_id,
                RenderedItem.seq == model.seq, RenderedItem.version == RENDER_VERSION)


PUBLISHED = Booking.status == "confirmed"  # the bookings a calendar shows


def booking_rows(profile: str, *columns: Any) -> Select[Any]:
    """Bookings' columns with their cached text (NULL when it must be rendered)."""
    return (select(*columns, RenderedItem.text)
            .outerjoin(RenderedItem, cached("booking", Booking, profile))
            .where(PUBLISHED))


def booking_seqs() -> Select[int, int]:
    """Bookings' (id, seq) without their cached text: PostgreSQL's feed cursor, whose chunks
    read their texts by `stored_texts`."""
    return select(Booking.id, Booking.seq).where(PUBLISHED)


def blocked_seqs() -> Select[int, int]:
    return select(BlockedTime.id, BlockedTime.seq)


def stored_texts(session: Any, business_id: int, kind: str, profile: str,
                 seqs: dict[int, int]) -> dict[int, str]:
    """The stored texts of the items `seqs` (id -> seq) that are current (same seq and render
    version): one primary-key read for a chunk of items. PostgreSQL's feed reads them so
    instead of joining rendered_items inside its server-side cursor: the render fills
    rendered_items while that cursor is open, and a join planned on an empty table then
    re-read every row written since for each item (a first render of 10k items took 10 s)."""
    if not seqs:
        return {}
    rows = session.execute(
        select(RenderedItem.item_id, RenderedItem.seq, RenderedItem.text).where(
            RenderedItem.kind == kind, RenderedItem.item_id.in_(list(seqs)),
            RenderedItem.profile == profile, business_beside(RenderedItem, business_id),
            RenderedItem.version == RENDER_VERSION))
    return {item_id: text for item_id, seq, text in rows if seqs.get(item_id) == seq}


def blocked_rows(profile: str, *columns: Any) -> Select[Any]:
    return select(*columns, RenderedItem.text).outerjoin(
        RenderedItem, cached("blocked", BlockedTime, profile))


BOOKING_COLUMNS = (Booking.id, Booking.calendar_id, Booking.uid, Booking.seq, Booking.tzid,
                   Booking.start_utc, Booking.end_utc, Booking.start_local, Booking.updated_at)


BLOCKED_COLUMNS = (BlockedTime.id, BlockedTime.calendar_id, BlockedTime.uid, BlockedTime.seq,
                   BlockedTime.tzid, BlockedTime.start_utc, BlockedTime.end_utc,
                   BlockedTime.series_end_utc, BlockedTime.repeats, BlockedTime.start_local,
                   BlockedTime.updated_at)


def item_union(booking_where: Any, blocked_where: Any) -> Any:
    """Bookings and blocked time as one UNION ALL of the same columns (kind, id, calendar_id,
    uid, seq, tzid, start_utc, end_utc, start_local, updated_at, cached text); a booking and
    blocked time never share a UID."""
    def cached(kind: str, model: Any) -> Any:
        return and_(RenderedItem.kind == kind, RenderedItem.item_id == model.id,
                    RenderedItem.profile == bindparam("profile"),
                    RenderedItem.business_id == model.business_id,
                    RenderedItem.seq == model.seq,
                    RenderedItem.version == bindparam("version"))

    booking = (select(literal("booking").label("kind"), Booking.id, Booking.calendar_id,
                      Booking.uid, Booking.seq, Booking.tzid, Booking.start_utc,
                      Booking.end_utc.label("end_utc"), Booking.start_local,
                      Booking.updated_at, RenderedItem.text)
               .outerjoin(RenderedItem, cached("booking", Booking))
               .where(Booking.status == "confirmed", *booking_where))
    blocked = (select(literal("blocked").label("kind"), BlockedTime.id,
                      BlockedTime.calendar_id, BlockedTime.uid, BlockedTime.seq,
                      BlockedTime.tzid, BlockedTime.start_utc,
                      case((BlockedTime.repeats, BlockedTime.series_end_utc),
                           else_=BlockedTime.end_utc).label("end_utc"),
                      BlockedTime.start_local, BlockedTime.updated_at, RenderedItem.text)
               .outerjoin(RenderedItem, cached("blocked", BlockedTime))
               .where(*blocked_where))
    # The union's columns carry the first select's types (the bookings' columns).
    return select(union_all(booking, blocked).subquery())


@functools.cache
def by_uid_statement() -> Any:
    """Built once (building a statement costs more than running it): the item with its
    cached text, by UID within a calendar (and its business)."""
    return item_union(
        (Booking.uid == bindparam("uid"), Booking.business_id == bindparam("business_id"),
         Booking.calendar_id == bindparam("calendar_id")),
        (BlockedTime.uid == bindparam("uid"), BlockedTime.business_id == bindparam("business_id"),
         BlockedTime.calendar_id == bindparam("calendar_id")))


@functools.cache
def by_uids_statement() -> Any:
    """Items with their cached texts by UIDs (`uids`, expanding) of a business (any of its
    calendars): the unique (uid, business_id) keys."""
    uids: Any = bindparam("uids", expanding=True)
    return item_union((Booking.uid.in_(uids), Booking.business_id == bindparam("business_id")),
                      (BlockedTime.uid.in_(uids),
                       BlockedTime.business_id == bindparam("business_id")))


@functools.cache
def booking_facts() -> Any:
    """What a booking's rendering needs, by id (`ids`, expanding), as plain columns."""
    return (select(Booking.id, Booking.business_id, Booking.seq, Booking.uid,
                   Booking.start_local, Booking.end_local, Booking.start_utc, Booking.end_utc,
                   Booking.tzid, Booking.revision,
                   Booking.created_at, Booking.updated_at, Service.name, Calendar.name,
                   Client.name, Client.email, Client.phone, Client.address, Client.notes,
                   Booking.location, Booking.notes, Booking.all_day)
            .join(Service, and_(Service.id == Booking.service_id,
                                Service.business_id == Booking.business_id))
            .join(Calendar, and_(Calendar.id == Booking.calendar_id,
                                 Calendar.business_id == Booking.business_id))
            .outerjoin(Client, and_(Client.id == Booking.client_id,
                                    Client.business_id == Booking.business_id))
            .where(business_beside(Booking, bindparam("business_id")),
                   Booking.id.in_(bindparam("ids", expanding=True))))


@functools.cache
def blocked_facts() -> Any:
    return select(BlockedTime.id, BlockedTime.business_id, BlockedTime.seq, BlockedTime.uid,
                  BlockedTime.title, BlockedTime.all_day, BlockedTime.start_local,
                  BlockedTime.end_local, BlockedTime.tzid, BlockedTime.rrule, BlockedTime.exdates,
                  BlockedTime.revision, BlockedTime.created_at, BlockedTime.updated_at
                  ).where(business_beside(BlockedTime, bindparam("business_id")),
                          BlockedTime.id.in_(bindparam("ids", expanding=True)))


def before(instant: dt.datetime, span: dt.timedelta) -> dt.datetime:
    """`instant - span`, or the earliest instant when a client's range starts near year 1."""
    try:
        return instant - span
    except OverflowError:
        return dt.datetime.min.replace(tzinfo=dt.timezone.utc)


def booking_range(business_id: int, calendar: Any, span: dt.timedelta, start: dt.datetime,
                   end: dt.datetime) -> tuple[Any, ...]:
    return (business_beside(Booking, business_id), Booking.calendar_id == calendar.id,
            Booking.start_utc >= before(start, span),
            Booking.start_utc < end, Booking.end_utc > start)


def blocked_range(business_id: int, calendar: Any, span: dt.timedelta, start: dt.datetime,
                   end: dt.datetime) -> tuple[Any, ...]:
    return (business_beside(BlockedTime, business_id), BlockedTime.calendar_id == calendar.id,
            or_(and_(BlockedTime.repeats.is_(False),
                     BlockedTime.start_utc >= before(start, span),
                     BlockedTime.start_utc < end, BlockedTime.end_utc > start),
                and_(BlockedTime.repeats.is_(True), BlockedTime.start_utc < end,
                     or_(BlockedTime.series_end_utc.is_(None),
                         BlockedTime.series_end_utc > start))))


_RENDERED_COLUMNS = text_spool.COLUMNS
_RENDERED_KEY = ["kind", "item_id", "profile", "business_id"]
STORE_CHUNK = 1000  # texts per transaction of the render cache's upsert


@functools.cache
def _upsert(is_sqlite: bool) -> Any:
    """The render cache's upsert. SQLite: one statement sent with a list of rows (executemany;
    the rows are local, a statement costs microseconds). PostgreSQL: one statement per chunk,
    its rows one JSON document the server unpacks (json_to_recordset), so that a chunk is one
    round trip and one parameter: executemany's per-row protocol work, or arrays of texts
    escaped element by element in Python, cost 0.9-1.3 s for 10k items (json.dumps is C)."""
    table = RenderedItem.__table__
    if is_sqlite:
        statement: Any = sqlite.insert(RenderedItem)
    else:
        rows = func.json_to_recordset(cast(bindparam("rows", type_=Text), postgresql.JSON)
                                      ).table_valued(
            *[column(name, table.c[name].type) for name in _RENDERED_COLUMNS]
        ).render_derived(with_types=True)
        statement = postgresql.insert(RenderedItem).from_select(
            list(_RENDERED_COLUMNS), select(*[rows.c[name] for name in _RENDERED_COLUMNS]))
    return statement.on_conflict_do_update(
        index_elements=_RENDERED_KEY,
        set_={"seq": statement.excluded.seq, "version": statement.excluded.version,
              "text": statement.excluded.text})


def store_rendered(db: Database, rows: list[dict[str, Any]]) -> bool:
    """Upsert rendered texts (dicts of the table's columns), 1,000 to a transaction, each
    transaction's rows in key order (two renders saving the same items take their row locks
    in the same order; a key given twice is stored once, its last text). Best effort: False
    when the database refused (busy, a concurrent writer), which only costs a re-render."""
    upsert = _upsert(db.is_sqlite)
    try:
        for start in range(0, len(rows), STORE_CHUNK):
            keyed = {tuple(row[name] for name in _RENDERED_KEY): row
                     for row in rows[start:start + STORE_CHUNK]}
            chunk = [keyed[key] for key in sorted(keyed)]
            with db.write() as session:
                if db.is_sqlite:
                    session.connection().execute(upsert, chunk)
                else:
                    document = json.dumps([{name: row[name] for name in _RENDERED_COLUMNS}
                                           for row in chunk], ensure_ascii=False)
                    session.connection().execute(upsert, {"rows": document})
    except (BookingCalError, SQLAlchemyError) as exc:
        log.info("rendered text not cached this time: %s", type(exc).__name__)
        return False
    return True
