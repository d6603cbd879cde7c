"""Opening hours: a weekly schedule per calendar in its own time zone, with dated exceptions
(closed, or other hours)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from server.db.models import OpeningException, OpeningHours
from server.db.scope import business_beside
from server.domain.calendars import get_calendar, lock_calendar
from server.errors import InvalidError, NotFoundError


@dataclass(frozen=True)
class Interval:
    weekday: int
    opens: dt.time
    closes: dt.time


def _check_intervals(pairs: list[tuple[int, dt.time, dt.time]], what: str) -> None:
    by_day: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for day, opens, closes in pairs:
        if closes <= opens:
            raise InvalidError(f"{what}: closes ({closes:%H:%M}) must be after opens "
                               f"({opens:%H:%M})", field="closes")
        by_day.setdefault(day, []).append((opens, closes))
    for day, spans in by_day.items():
        spans.sort()
        for (_, first_close), (second_open, _) in zip(spans, spans[1:]):
            if second_open < first_close:
                raise InvalidError(f"{what}: intervals overlap on the same day", field="opens")


def get_weekly(session: Session, business_id: int, calendar_id: int) -> list[OpeningHours]:
    get_calendar(session, business_id, calendar_id)
    return list(session.execute(select(OpeningHours).where(
        business_beside(OpeningHours, business_id),
        OpeningHours.calendar_id == calendar_id).order_by(
        OpeningHours.weekday, OpeningHours.opens)).scalars())


def set_weekly(session: Session, business_id: int, calendar_id: int,
               intervals: list[Interval]) -> list[OpeningHours]:
    """Replace the calendar's weekly schedule."""
    lock_calendar(session, business_id, calendar_id)
    for item in intervals:
        if not 0 <= item.weekday <= 6:
            raise InvalidError("weekday is 0 (Monday) to 6 (Sunday)", field="weekday")
    _check_intervals([(i.weekday, i.opens, i.closes) for i in intervals], "opening hours")
    session.execute(delete(OpeningHours).where(business_beside(OpeningHours, business_id),
                                               OpeningHours.calendar_id == calendar_id))
    rows = [OpeningHours(business_id=business_id, calendar_id=calendar_id, weekday=i.weekday,
                         opens=i.opens, closes=i.closes) for i in intervals]
    session.add_all(rows)
    session.flush()
    return rows


def list_exceptions(session: Session, business_id: int, calendar_id: int, *,
                    start: dt.date | None = None, end: dt.date | None = None
                    ) -> list[OpeningException]:
    get_calendar(session, business_id, calendar_id)
    query = select(OpeningException).where(business_beside(OpeningException, business_id),
                                           OpeningException.calendar_id == calendar_id)
    if start is not None:
        query = query.where(OpeningException.day >= start)
    if end is not None:
        query = query.where(OpeningException.day < end)
    return list(session.execute(query.order_by(OpeningException.day, OpeningException.opens))
                .scalars())


def set_exception(session: Session, business_id: int, calendar_id: int, day: dt.date, *,
                  intervals: list[tuple[dt.time, dt.time]], note: str = ""
                  ) -> list[OpeningException]:
    """Set the hours of one date: no intervals means closed all day. Replaces earlier rows."""
    lock_calendar(session, business_id, calendar_id)
    _check_intervals([(0, o, c) for o, c in intervals], f"exception on {day}")
    session.execute(delete(OpeningException).where(business_beside(OpeningException, business_id),
                                                   OpeningException.calendar_id == calendar_id,
                                                   OpeningException.day == day))
    rows = [OpeningException(business_id=business_id, calendar_id=calendar_id, day=day,
                             opens=o, closes=c, note=note) for o, c in intervals] or [
        OpeningException(business_id=business_id, calendar_id=calendar_id, day=day, opens=None,
                         closes=None, note=note)]
    session.add_all(rows)
    session.flush()
    return rows


def delete_exception(session: Session, business_id: int, calendar_id: int,
                     day: dt.date) -> None:
    lock_calendar(session, business_id, calendar_id)
    result = session.execute(delete(OpeningException).where(
        business_beside(OpeningException, business_id),
        OpeningException.calendar_id == calendar_id, OpeningException.day == day))
    removed = cast(CursorResult[Any], result).rowcount
    if not removed:
        raise NotFoundError(f"calendar {calendar_id} has no exception on {day}")
