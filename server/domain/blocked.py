"""Blocked time: an employee's personal busy time, optionally repeating (RRULE in local time,
with excluded dates). It may not overlap a confirmed booking; blocked times may overlap each
other."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import BlockedTime, Calendar
from server.db.scope import get_of, reread
from server.domain import journal
from server.domain.bookings import MAX_LENGTH, forget_rendered, new_uid, widen_span
from server.domain.calendars import get_calendar, lock_calendar
from server.domain.conflicts import bookings_hit_by_series
from server.domain.timeutil import normalise, series_end, to_utc, validate_rrule
from server.errors import ConflictError, InvalidError, NotFoundError


def get_blocked(session: Session, business_id: int, blocked_id: int) -> BlockedTime:
    item = get_of(session, BlockedTime, business_id, blocked_id)
    if item is None:
        raise NotFoundError(f"blocked time {blocked_id} does not exist in business {business_id}")
    return item


def list_blocked(session: Session, business_id: int, calendar_id: int | None = None
                 ) -> list[BlockedTime]:
    query = select(BlockedTime).where(BlockedTime.business_id == business_id)
    if calendar_id is not None:
        query = query.where(BlockedTime.calendar_id == calendar_id)
    return list(session.execute(query.order_by(BlockedTime.start_utc, BlockedTime.id)).scalars())


def _set_times(item: BlockedTime, calendar: Calendar, start: dt.datetime | dt.date,
               end: dt.datetime | dt.date, all_day: bool, rrule: str | None,
               exdates: list[dt.datetime | dt.date]) -> None:
    tzid = calendar.timezone
    if all_day:
        if isinstance(start, dt.datetime) or isinstance(end, dt.datetime):
            raise InvalidError("all-day blocked time takes dates (YYYY-MM-DD), end exclusive",
                               field="start")
        start_local = dt.datetime.combine(start, dt.time())
        end_local = dt.datetime.combine(end, dt.time())
        start_utc, end_utc = to_utc(start_local, tzid), to_utc(end_local, tzid)
    else:
        if not isinstance(start, dt.datetime) or not isinstance(end, dt.datetime):
            raise InvalidError("timed blocked time takes date-times; set all_day for dates",
                               field="start")
        start_utc, start_local = normalise(start, tzid)
        end_utc, end_local = normalise(end, tzid)
    if end_utc <= start_utc:
        raise InvalidError("end must be after start", field="end")
    if end_utc - start_utc > MAX_LENGTH and not all_day:
        raise InvalidError("timed blocked time lasts at most 14 days; use all_day", field="end")
    item.all_day, item.tzid = all_day, tzid
    item.start_local, item.end_local = start_local, end_local
    item.start_utc, item.end_utc = start_utc, end_utc
    excluded = []
    for value in exdates:
        local = value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time())
        if local.tzinfo is not None:
            local = normalise(local, tzid)[1]
        excluded.append(local.isoformat())
    item.exdates = json.dumps(sorted(set(excluded)))
    if rrule:
        item.rrule = validate_rrule(rrule, start_local, tzid)
        item.repeats = True
        item.series_end_utc = series_end(item.rrule, start_local, end_local - start_local, tzid)
    else:
        item.rrule, item.repeats, item.series_end_utc = None, False, end_utc


def _start_local(start: dt.datetime | dt.date, all_day: bool, tzid: str) -> dt.datetime | None:
    """The local start `_set_times` will use, or None when it will refuse the types anyway."""
    if all_day:
        return None if isinstance(start, dt.datetime) else dt.datetime.combine(start, dt.time())
    return normalise(start, tzid)[1] if isinstance(start, dt.datetime) else None


def check_rule_first(session: Session, business_id: int, *, calendar_id: int | None = None,
                     blocked_id: int | None = None, start: dt.datetime | dt.date | None = None,
                     all_day: bool | None = None, rrule: str | None = None,
                     clear_rrule: bool = False) -> None:
    """Check the RRULE a create (calendar_id) or an update (blocked_id) will store, in a read
    transaction before the writing one: proving a hostile rule wrong may take a second or two,
    which must not be spent holding the calendar's lock (on SQLite, the database's). The
    writing pass finds the answer remembered (recurrence.validate)."""
    if blocked_id is not None:
        item = get_blocked(session, business_id, blocked_id)
        calendar = get_calendar(session, business_id, item.calendar_id)
        rule = None if clear_rrule else (rrule or item.rrule)
        use_all_day = item.all_day if all_day is None else all_day
        if start is None:
            start = item.start_local.date() if item.all_day else item.start_local
    else:
        assert calendar_id is not None and start is not None
        calendar = get_calendar(session, business_id, calendar_id)
        rule, use_all_day = rrule, bool(all_day)
    if not rule:
        return
    start_local = _start_local(start, use_all_day, calendar.timezone)
    if start_local is not None:
        validate_rrule(rule, start_local, calendar.timezone)


def refuse_booked(session: Session, calendar: Calendar, item: BlockedTime) -> None:
    hits = bookings_hit_by_series(session, calendar, item)
    if hits:
        raise ConflictError(
            "the blocked time overlaps " + ", ".join(h.describe(calendar.timezone)
                                                     for h in hits[:5])
            + (f" and {len(hits) - 5} more" if len(hits) > 5 else "")
            + "; move or cancel those bookings first",
            conflicts=[h.as_dict() for h in hits])


def create_blocked(session: Session, business_id: int, *, calendar_id: int,
                   start: dt.datetime | dt.date, end: dt.datetime | dt.date, now: dt.datetime,
                   title: str = "Blocked", all_day: bool = False, rrule: str | None = None,
                   exdates: list[dt.datetime | dt.date] | None = None) -> BlockedTime:
    calendar = lock_calendar(session, business_id, calendar_id)
    item = BlockedTime(business_id=business_id, calendar_id=calendar_id, uid=new_uid(),
                       title=title, revision=0, created_at=now, updated_at=now)
    _set_times(item, calendar, start, end, all_day, rrule, exdates or [])
    refuse_booked(session, calendar, item)
    if not item.repeats:
        widen_span(calendar, item.start_utc, item.end_utc)
    session.add(item)
    session.flush()
    item.seq = journal.record(session, calendar, "blocked", item.id, item.uid, "put", now)
    return item


def update_blocked(session: Session, business_id: int, blocked_id: int, *, now: dt.datetime,
                   start: dt.datetime | dt.date | None = None,
                   end: dt.datetime | dt.date | None = None, title: str | None = None,
                   all_day: bool | None = None, rrule: str | None = None,
                   exdates: list[dt.datetime | dt.date] | None = None,
                   clear_rrule: bool = False) -> BlockedTime:
    item = get_blocked(session, business_id, blocked_id)
    calendar = lock_calendar(session, business_id, item.calendar_id)
    if not reread(session, item):
        raise NotFoundError(f"blocked time {blocked_id} does not exist in business {business_id}")
    use_all_day = item.all_day if all_day is None else all_day
    current_start: dt.datetime | dt.date = item.start_local.date() if item.all_day \
        else item.start_local
    current_end: dt.datetime | dt.date = item.end_local.date() if item.all_day \
        else item.end_local
    rule = None if clear_rrule else (rrule or item.rrule)
    current_exdates: list[dt.datetime | dt.date] = [dt.datetime.fromisoformat(v)
                                                    for v in json.loads(item.exdates)]
    _set_times(item, calendar, start if start is not None else current_start,
               end if end is not None else current_end, use_all_day, rule,
               exdates if exdates is not None else current_exdates)
    if title is not None:
        item.title = title
    refuse_booked(session, calendar, item)
    if not item.repeats:
        widen_span(calendar, item.start_utc, item.end_utc)
    item.revision += 1
    item.updated_at = now
    item.seq = journal.record(session, calendar, "blocked", item.id, item.uid, "put", now)
    return item


def delete_blocked(session: Session, business_id: int, blocked_id: int,
                   now: dt.datetime) -> None:
    item = get_blocked(session, business_id, blocked_id)
    calendar = lock_calendar(session, business_id, item.calendar_id)
    journal.record(session, calendar, "blocked", item.id, item.uid, "delete", now)
    forget_rendered(session, item, "blocked")
    session.delete(item)
