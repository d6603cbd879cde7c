"""Bookings: create, move, cancel, delete. Each writer locks the calendar, checks for overlaps and
writes in one transaction, appending to the calendar's journal."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, joinedload

from server.config import AvailabilityConfig
from server.db.models import BlockedTime, Booking, Calendar, Client, RenderedItem, Service
from server.db.scope import business_beside
from server.domain import journal
from server.domain.booking_rules import refuse_unbookable
from server.domain.calendars import get_calendar, lock_calendar, lock_calendars
from server.domain.clients import get_client
from server.domain.conflicts import refuse_overlaps
from server.domain.services import get_service
from server.domain.timeutil import day_start, normalise, to_local
from server.errors import ConflictError, InvalidError, NotFoundError

STATUSES = ("confirmed", "cancelled")
SOURCES = ("staff", "online")
MAX_LENGTH = dt.timedelta(days=14)
MAX_DAYS = 14  # an all-day booking covers at most this many local days


def new_uid() -> str:
    """A stable UID for a calendar item: random, never derived from client data."""
    return str(uuid.uuid4())


def widen_span(calendar: Calendar, start: dt.datetime, end: dt.datetime) -> None:
    calendar.max_span_seconds = max(calendar.max_span_seconds, int((end - start).total_seconds()))


def forget_rendered(session: Session, item: Booking | BlockedTime, kind: str) -> None:
    """Drop a deleted item's rendered texts (the render cache has no foreign key to cascade)."""
    session.execute(delete(RenderedItem).where(RenderedItem.kind == kind,
                                               RenderedItem.item_id == item.id,
                                               RenderedItem.business_id == item.business_id))


def get_booking(session: Session, business_id: int, booking_id: int) -> Booking:
    booking = session.execute(select(Booking).where(Booking.id == booking_id,
                                                    Booking.business_id == business_id)
                              .options(joinedload(Booking.client.and_(
                                           Client.business_id == business_id)),
                                       joinedload(Booking.service.and_(
                                           Service.business_id == business_id)))
                              .execution_options(populate_existing=True)).scalar_one_or_none()
    if booking is None or booking.business_id != business_id:
        raise NotFoundError(f"booking {booking_id} does not exist in business {business_id}")
    return booking


def _times(calendar: Calendar, start: dt.datetime, end: dt.datetime | None,
           duration: dt.timedelta) -> tuple[dt.datetime, dt.datetime, dt.datetime, dt.datetime]:
    if isinstance(start, dt.date) and not isinstance(start, dt.datetime) or \
            isinstance(end, dt.date) and not isinstance(end, dt.datetime):
        raise InvalidError("a timed booking takes date-times; set all_day for dates",
                           field="start")
    start_utc, start_local = normalise(start, calendar.timezone)
    if end is None:
        end_utc = start_utc + duration
        end_local = to_local(end_utc, calendar.timezone)
    else:
        end_utc, end_local = normalise(end, calendar.timezone)
    if end_utc <= start_utc:
        raise InvalidError("end must be after start", field="end")
    if end_utc - start_utc > MAX_LENGTH:
        raise InvalidError("a booking lasts at most 14 days", field="end")
    return start_utc, end_utc, start_local, end_local


def _days(calendar: Calendar, start: dt.date | dt.datetime, end: dt.date | dt.datetime | None,
          days: int) -> tuple[dt.datetime, dt.datetime, dt.datetime, dt.datetime]:
    """The times of an all-day booking: whole local days, [start, end) (end exclusive; it
    defaults to `days` days after start), from the first instant of the first day to the first
    instant of the end day."""
    if isinstance(start, dt.datetime) or isinstance(end, dt.datetime):
        raise InvalidError("an all-day booking takes dates (YYYY-MM-DD), end exclusive",
                           field="start")
    last = end if end is not None else start + dt.timedelta(days=days)
    if last <= start:
        raise InvalidError("end must be after start (the end date is exclusive)", field="end")
    if (last - start).days > MAX_DAYS:
        raise InvalidError(f"an all-day booking covers at most {MAX_DAYS} days", field="end")
    tzid = calendar.timezone
    return (day_start(start, tzid), day_start(last, tzid),
            dt.datetime.combine(start, dt.time()), dt.datetime.combine(last, dt.time()))


def _apply(session: Session, booking: Booking, calendar: Calendar, *,
           start: dt.datetime | dt.date, end: dt.datetime | dt.date | None, now: dt.datetime,
           rules: AvailabilityConfig | None, duration: dt.timedelta | None = None) -> None:
    """Set the times (end defaults to start + `duration`, else the service's duration; an
    all-day booking's to its own number of days, else one day), the occupied interval, and
    refuse overlaps; an online booking must also fit availability. An all-day booking occupies
    its whole local days, without the service's buffers (they would reach into the next
    day)."""
    service = booking.service
    if booking.all_day:
        if booking.source == "online":
            raise InvalidError("online bookings take a bookable time; all-day bookings are "
                               "made by staff (source \"staff\")", field="all_day")
        days = max(1, round(duration / dt.timedelta(days=1))) if duration else 1
        start_utc, end_utc, start_local, end_local = _days(calendar, start, end, days)
        buffer_before = buffer_after = dt.timedelta()
    else:
        start_utc, end_utc, start_local, end_local = _times(
            calendar, start, end,  # type: ignore[arg-type]
            duration or dt.timedelta(minutes=service.duration_minutes))
        buffer_before = dt.timedelta(minutes=service.buffer_before_minutes)
        buffer_after = dt.timedelta(minutes=service.buffer_after_minutes)
    booking.calendar_id = calendar.id
    booking.tzid = calendar.timezone
    booking.start_utc, booking.end_utc = start_utc, end_utc
    booking.start_local, booking.end_local = start_local, end_local
    booking.occupied_start_utc = start_utc - buffer_before
    booking.occupied_end_utc = end_utc + buffer_after
    if booking.status == "confirmed":
        # Not flushed first: on PostgreSQL the exclusion constraint would refuse a move before
        # these checks could name what it hits.
        with session.no_autoflush:
            refuse_overlaps(session, calendar, booking.occupied_start_utc,
                            booking.occupied_end_utc, exclude_booking=booking.id)
            if booking.source == "online":
                if rules is None:
                    raise MissingRulesError()
                refuse_unbookable(session, calendar, service, start_utc, end_utc, now, rules,
                                  exclude_booking=booking.id)
    widen_span(calendar, booking.occupied_start_utc, booking.occupied_end_utc)


def _check_enums(status: str | None, source: str | None) -> None:
    if status is not None and status not in STATUSES:
        raise InvalidError(f"status must be one of {', '.join(STATUSES)}", field="status")
    if source is not None and source not in SOURCES:
        raise InvalidError(f"source must be one of {', '.join(SOURCES)}", field="source")


def _journal(session: Session, calendar: Calendar, booking: Booking, now: dt.datetime,
             action: str | None = None, actor: str | None = None) -> None:
    action = action or ("put" if booking.status == "confirmed" else "delete")
    booking.seq = journal.record(session, calendar, "booking", booking.id, booking.uid, action,
                                 now, actor=actor)


class MissingRulesError(TypeError):
    """An online booking was made or moved without the configured `[availability]` rules: a
    caller's mistake (every caller passes runtime.config.availability), never a default."""

    def __init__(self) -> None:
        super().__init__("an online booking is checked against the configured [availability] "
                         "rules; pass rules=runtime.config.availability")


def create_booking(session: Session, business_id: int, *, calendar_id: int, service_id: int,
                   start: dt.datetime | dt.date, now: dt.datetime,
                   end: dt.datetime | dt.date | None = None, all_day: bool = False,
                   client_id: int | None = None, status: str = "confirmed",
                   source: str = "staff", location: str | None = None,
                   notes: str | None = None,
                   rules: AvailabilityConfig | None = None) -> Booking:
    """Create a booking; `start`/`end` are aware instants or naive local times in the calendar's
    zone; `end` defaults to start plus the service's duration. An `all_day` booking takes
    dates instead (end exclusive, one day by default). An online booking must fit the
    availability `rules` (hours, notice, horizon, blocking Google events): the configured
    `[availability]` (runtime.config.availability), which its callers pass; there is no
    built-in default (MissingRulesError when an online booking comes without them)."""
    _check_enums(status, source)
    calendar = lock_calendar(session, business_id, calendar_id)
    if not calendar.active:
        raise ConflictError(f"calendar {calendar_id} is inactive; activate it to book")
    service = get_service(session, business_id, service_id)
    client = get_client(session, business_id, client_id) if client_id is not None else None
    if client is not None and client.erased_at is not None:
        raise ConflictError(f"client {client_id} was erased; create a new client")
    booking = Booking(business_id=business_id, uid=new_uid(), status=status, source=source,
                      location=location, notes=notes, revision=0, created_at=now,
                      all_day=all_day,
                      updated_at=now, client_id=client_id)
    booking.service = service
    booking.client = client
    _apply(session, booking, calendar, start=start, end=end, now=now, rules=rules)
    session.add(booking)
    session.flush()
    _journal(session, calendar, booking, now)
    return booking


def update_booking(session: Session, business_id: int, booking_id: int, *, now: dt.datetime,
                   calendar_id: int | None = None, service_id: int | None = None,
                   start: dt.datetime | dt.date | None = None,
                   end: dt.datetime | dt.date | None = None, all_day: bool | None = None,
                   client_id: int | None = None, status: str | None = None,
                   source: str | None = None, location: str | None = None,
                   notes: str | None = None, clear: frozenset[str] = frozenset(),
                   rules: AvailabilityConfig | None = None,
                   actor: str | None = None) -> Booking:
    """Move or change a booking. Moving to another calendar leaves a tombstone on the old one.
    `clear` names optional fields to set to null (client_id, location, notes). Turning a booking
    all-day (or back) needs a new start of the right kind (a date, or a date-time). `actor`
    names a writable CalDAV account that made the change (the journal keeps it). Moving or
    confirming an online booking checks it against `rules`, the configured `[availability]`
    (no built-in default: MissingRulesError without them); a cancel or a note needs none."""
    _check_enums(status, source)
    current = get_booking(session, business_id, booking_id)
    target_id = calendar_id if calendar_id is not None else current.calendar_id
    calendars = lock_calendars(session, business_id, {current.calendar_id, target_id})
    booking = get_booking(session, business_id, booking_id)  # re-read under the lock
    target = calendars[target_id]
    old = calendars[booking.calendar_id]
    if target_id != booking.calendar_id and not target.active:
        raise ConflictError(f"calendar {target_id} is inactive; activate it to book")
    if service_id is not None:
        booking.service = get_service(session, business_id, service_id)
        booking.service_id = service_id
    if client_id is not None:
        client = get_client(session, business_id, client_id)
        if client.erased_at is not None:
            raise ConflictError(f"client {client_id} was erased; create a new client")
        booking.client_id, booking.client = client_id, client
    for field in clear:
        setattr(booking, field, None)
        if field == "client_id":
            booking.client = None
    if location is not None:
        booking.location = location
    if notes is not None:
        booking.notes = notes
    if source is not None:
        booking.source = source
    if status is not None:
        booking.status = status
    if all_day is not None and all_day != booking.all_day:
        if start is None:
            raise InvalidError("changing all_day needs a new start (a date for an all-day "
                               "booking, a date-time for a timed one)", field="start")
        booking.all_day = all_day
    moved = any(v is not None for v in (calendar_id, service_id, start, end))
    if moved or status == "confirmed":
        # Without a new end or service, a move keeps the booking's own length (an all-day one
        # its number of days; turned all-day or timed, the default length).
        kept_kind = all_day is None or start is None
        if booking.all_day:
            keep: dt.timedelta | None = (booking.end_local - booking.start_local) \
                if kept_kind else None
            current_start: dt.datetime | dt.date = booking.start_local.date()
        else:
            keep = booking.end_utc - booking.start_utc \
                if service_id is None and kept_kind else None
            current_start = booking.start_utc
        _apply(session, booking, target, start=start or current_start, end=end,
               duration=keep, now=now, rules=rules)
    booking.revision += 1
    booking.updated_at = now
    if old.id != target.id:
        journal.record(session, old, "booking", booking.id, booking.uid, "delete", now,
                       actor=actor)
    _journal(session, target, booking, now, actor=actor)
    return booking


def cancel_booking(session: Session, business_id: int, booking_id: int,
                   now: dt.datetime) -> Booking:
    """Cancel: the booking stays in the database but leaves every calendar view."""
    return update_booking(session, business_id, booking_id, now=now, status="cancelled")


def delete_booking(session: Session, business_id: int, booking_id: int,
                   now: dt.datetime) -> None:
    booking = get_booking(session, business_id, booking_id)
    calendar = lock_calendar(session, business_id, booking.calendar_id)
    journal.record(session, calendar, "booking", booking.id, booking.uid, "delete", now)
    forget_rendered(session, booking, "booking")
    session.delete(booking)


@dataclass(frozen=True)
class Page:
    items: list[Booking]
    next_cursor: tuple[dt.datetime, int] | None


def list_bookings(session: Session, business_id: int, *, start: dt.datetime,
                  end: dt.datetime, calendar_id: int | None = None,
                  client_id: int | None = None, status: str | None = None, limit: int = 100,
                  after: tuple[dt.datetime, int] | None = None) -> Page:
    """Bookings overlapping [start, end), in start order, one page at a time. The lower bound on
    start_utc (the range start minus the calendar's longest span) keeps this an index range
    scan: listing a week costs the same in a calendar of 1k or 100k bookings."""
    _check_enums(status, None)
    if end <= start:
        raise InvalidError("the range's end must be after its start", field="end")
    if calendar_id is not None:
        spans = [get_calendar(session, business_id, calendar_id,
                              include_deleted=True).max_span_seconds]
    else:
        spans = list(session.execute(select(Calendar.max_span_seconds)
                                     .where(Calendar.business_id == business_id)).scalars())
    span = dt.timedelta(seconds=max(spans, default=0))
    query = (select(Booking).options(
                 joinedload(Booking.client.and_(Client.business_id == business_id)),
                 joinedload(Booking.service.and_(Service.business_id == business_id)))
             .where(Booking.start_utc >= start - span, Booking.start_utc < end,
                    Booking.end_utc > start)
             .order_by(Booking.start_utc, Booking.id).limit(limit + 1))
    # One calendar (already checked to be the business's): its own index, not the business's,
    # which SQLite would otherwise pick without statistics and filter every calendar's rows.
    if calendar_id is not None:
        query = query.where(business_beside(Booking, business_id),
                            Booking.calendar_id == calendar_id)
    else:
        query = query.where(Booking.business_id == business_id)
    if client_id is not None:
        query = query.where(Booking.client_id == client_id)
    if status is not None:
        query = query.where(Booking.status == status)
    if after is not None:
        query = query.where((Booking.start_utc > after[0])
                            | ((Booking.start_utc == after[0]) & (Booking.id > after[1])))
    items = list(session.execute(query).scalars().unique())
    if len(items) > limit:
        items = items[:limit]
        return Page(items, (items[-1].start_utc, items[-1].id))
    return Page(items, None)
