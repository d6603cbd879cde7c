"""Load one calendar's `Schedule` for a window: opening hours (weekly and exceptions) as UTC
intervals, and everything busy — confirmed bookings, blocked time (repeating too) and, when the
business lets Google (or Microsoft) busy time block online booking, the blocking events the
bridge mirrored from the calendar's read calendar of each provider. Every read is an index range scan bounded by the window and the
longest item ever stored, so its cost does not grow with history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from server.config import AvailabilityConfig
from server.db.models import (
    Booking, CalDAVCalendarMap, CalDAVConnection, CalDAVMirroredEvent, CalDAVReadState, Calendar,
    GoogleCalendarMap, GoogleConnection, GoogleReadState, IcsMirroredEvent,
    IcsReadState, IcsSource, MicrosoftCalendarMap,
    MicrosoftConnection, MicrosoftMirroredEvent, MicrosoftReadState, MirroredEvent,
    OpeningException, OpeningHours, Service,
)
from server.db.scope import business_beside, in_calendar
from server.domain.availability import (
    BLOCKED, BOOKING, CALDAV, GOOGLE, ICS, MICROSOFT, Busy, FreeAllDay, Reason, Refused, Schedule,
    Span,
    free_all_day_warnings, refused, rules_for, slots, timeline,
)
from server.domain.calendars import get_calendar
from server.domain.conflicts import blocked_hits
from server.domain.services import get_service
from server.domain.timeutil import EARLIEST, LATEST, to_local, wall_to_utc, zone
from server.errors import InvalidError, NotFoundError

# Busy items are read this far around the window: a start near its edge reaches out by the
# service's length and buffers (at most a day each).
MARGIN = dt.timedelta(days=3)
DAY = dt.timedelta(days=1)


def day_window(tzid: str, first: dt.date, end: dt.date) -> Span:
    """UTC bounds of the local days [first, end) in `tzid`."""
    return (wall_to_utc(dt.datetime.combine(first, dt.time()), tzid),
            wall_to_utc(dt.datetime.combine(end, dt.time()), tzid))


def open_intervals(session: Session, calendar: Calendar, first: dt.date,
                   end: dt.date) -> list[Span]:
    """The calendar's opening hours on the local days [first, end), as merged UTC intervals."""
    weekly: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for row in session.execute(select(OpeningHours).where(
            in_calendar(OpeningHours, calendar))).scalars():
        weekly.setdefault(row.weekday, []).append((row.opens, row.closes))
    exceptions: dict[dt.date, list[tuple[dt.time, dt.time]]] = {}
    for item in session.execute(select(OpeningException).where(
            in_calendar(OpeningException, calendar), OpeningException.day >= first,
            OpeningException.day < end)).scalars():
        hours = exceptions.setdefault(item.day, [])
        if item.opens is not None and item.closes is not None:
            hours.append((item.opens, item.closes))
    spans: list[Span] = []
    day = first
    while day < end:
        for opens, closes in sorted(exceptions.get(day, weekly.get(day.weekday(), []))):
            low = wall_to_utc(dt.datetime.combine(day, opens), calendar.timezone)
            high = wall_to_utc(dt.datetime.combine(day, closes), calendar.timezone)
            if high <= low:
                continue
            if spans and spans[-1][1] >= low:  # adjoining intervals are one stretch
                spans[-1] = (spans[-1][0], max(spans[-1][1], high))
            else:
                spans.append((low, high))
        day += DAY
    return spans


def booking_items(session: Session, calendar: Calendar, start: dt.datetime,
                  end: dt.datetime) -> list[Busy]:
    span = dt.timedelta(seconds=calendar.max_span_seconds)
    rows = session.execute(
        select(Booking.id, Booking.start_utc, Booking.end_utc, Booking.occupied_start_utc,
               Booking.occupied_end_utc)
        .where(in_calendar(Booking, calendar), Booking.status == "confirmed",
               Booking.occupied_start_utc >= start - span, Booking.occupied_start_utc < end,
               Booking.occupied_end_utc > start))
    return [Busy(BOOKING, str(r.id), r.occupied_start_utc, r.occupied_end_utc,
                 core=(r.start_utc, r.end_utc)) for r in rows]


def blocked_items(session: Session, calendar: Calendar, start: dt.datetime,
                  end: dt.datetime) -> list[Busy]:
    return [Busy(BLOCKED, str(hit.id), hit.start, hit.end)
            for hit in blocked_hits(session, calendar, start, end)]


def google_source(session: Session, calendar: Calendar
                  ) -> tuple[GoogleConnection, GoogleCalendarMap] | None:
    """The business's connection and the calendar's mapping, when Google busy time blocks
    online booking for this calendar."""
    found = session.execute(
        select(GoogleConnection, GoogleCalendarMap)
        .join(GoogleCalendarMap, and_(
            GoogleCalendarMap.connection_id == GoogleConnection.id,
            business_beside(GoogleCalendarMap, GoogleConnection.business_id)))
        .where(GoogleConnection.business_id == calendar.business_id,
               GoogleCalendarMap.calendar_id == calendar.id)).first()
    if found is None or not found[0].block_online_booking:
        return None
    return found[0], found[1]


def read_state(session: Session, connection: GoogleConnection,
               google_calendar: str) -> GoogleReadState | None:
    return session.execute(select(GoogleReadState).where(
        business_beside(GoogleReadState, connection.business_id),
        GoogleReadState.connection_id == connection.id,
        GoogleReadState.google_calendar == google_calendar)).scalar_one_or_none()


def _mapped_busy(session: Session, calendar: Calendar, low: dt.datetime, high: dt.datetime,
                 titles: bool, warnings: list[str], kind: str, tables: tuple[Any, Any, Any, Any],
                 reconnect: str) -> list[Busy]:
    """The blocking events mirrored from the calendar's read calendar of a two-way provider
    (`tables`: its connection, calendar map, read state and mirrored event tables), when the
    business's connection lets them block online booking: a range scan bounded like
    google_events'. `reconnect` is the warning while the connection needs reconnecting."""
    connection_table, map_table, state_table, mirrored_table = tables
    found = session.execute(
        select(connection_table, map_table)
        .join(map_table, and_(map_table.connection_id == connection_table.id,
                              business_beside(map_table, connection_table.business_id)))
        .where(connection_table.business_id == calendar.business_id,
               map_table.calendar_id == calendar.id)).first()
    if found is None or not found[0].block_online_booking:
        return []
    connection, mapping = found
    remote = mapping.read_calendar
    if connection.status == "needs_reconnect":
        warnings.append(reconnect)
    state = session.execute(select(state_table).where(
        business_beside(state_table, connection.business_id),
        state_table.connection_id == connection.id,
        state_table.google_calendar == remote)).scalar_one_or_none()
    span = dt.timedelta(seconds=state.max_span_seconds if state is not None else 0) + DAY
    busy: list[Busy] = []
    for event in session.execute(select(mirrored_table).where(
            business_beside(mirrored_table, connection.business_id),
            mirrored_table.connection_id == connection.id,
            mirrored_table.google_calendar == remote,
            mirrored_table.blocks.is_(True),
            mirrored_table.start_utc >= low - span,
            mirrored_table.start_utc < high + DAY)).scalars():
        event_start, event_end = _event_span(event, calendar.timezone)
        if event_end > low and event_start < high:
            busy.append(Busy(kind, event.event_id, event_start, event_end,
                             google_calendar=remote, title=event.summary if titles else None,
                             all_day=event.all_day))
    return busy


def outlook_busy(session: Session, calendar: Calendar, low: dt.datetime, high: dt.datetime,
                 titles: bool, warnings: list[str]) -> list[Busy]:
    """The blocking events mirrored from the calendar's Outlook read calendar."""
    return _mapped_busy(
        session, calendar, low, high, titles, warnings, MICROSOFT,
        (MicrosoftConnection, MicrosoftCalendarMap, MicrosoftReadState, MicrosoftMirroredEvent),
        "the Microsoft connection needs reconnecting: Outlook events added since it stopped "
        "are not blocking; reconnect the Microsoft account")


def ics_busy(session: Session, calendar: Calendar, low: dt.datetime, high: dt.datetime,
             titles: bool, warnings: list[str]) -> list[Busy]:
    """The blocking events of the ICS URLs the calendar subscribes to (server/ics/): as they
    were at each source's last good read (a feed briefly down keeps blocking); a source whose
    last fetch failed adds a warning. A range scan per source, bounded like google_events'."""
    busy: list[Busy] = []
    for source, state in session.execute(
            select(IcsSource, IcsReadState)
            .join(IcsReadState, and_(IcsReadState.connection_id == IcsSource.id,
                                     business_beside(IcsReadState, IcsSource.business_id)))
            .where(IcsSource.business_id == calendar.business_id,
                   in_calendar(IcsSource, calendar)).order_by(IcsSource.id)).all():
        if not source.block_online_booking:
            continue
        if state.last_error or source.last_error:
            synced = f"{state.synced_at:%Y-%m-%d %H:%M} UTC" if state.synced_at else "never"
            warnings.append(f"the calendar link at {source.host} could not be read (last good "
                            f"copy: {synced}); its events as they were then keep blocking")
        span = dt.timedelta(seconds=state.max_span_seconds) + DAY
        for event in session.execute(select(IcsMirroredEvent).where(
                business_beside(IcsMirroredEvent, source.business_id),
                IcsMirroredEvent.connection_id == source.id,
                IcsMirroredEvent.google_calendar == state.google_calendar,
                IcsMirroredEvent.blocks.is_(True),
                IcsMirroredEvent.start_utc >= low - span,
                IcsMirroredEvent.start_utc < high + DAY)).scalars():
            event_start, event_end = _event_span(event, calendar.timezone)
            if event_end > low and event_start < high:
                busy.append(Busy(ICS, event.event_id, event_start, event_end,
                                 google_calendar=source.label or source.host,
                                 title=event.summary if titles else None,
                                 all_day=event.all_day))
    return busy


def caldav_busy(session: Session, calendar: Calendar, low: dt.datetime, high: dt.datetime,
                titles: bool, warnings: list[str]) -> list[Busy]:
    """The blocking events mirrored from the calendar's CalDAV read calendar."""
    return _mapped_busy(
        session, calendar, low, high, titles, warnings, CALDAV,
        (CalDAVConnection, CalDAVCalendarMap, CalDAVReadState, CalDAVMirroredEvent),
        "the CalDAV account needs reconnecting: its events added since it stopped are not "
        "blocking; reconnect it with a new app password")


def _event_span(event: MirroredEvent | MicrosoftMirroredEvent | IcsMirroredEvent
                | CalDAVMirroredEvent,
                tzid: str) -> Span:
    """An all-day event covers whole local days of the employee's calendar, every day it
    spans; a timed one its own instants."""
    if event.all_day and event.start_date is not None and event.end_date is not None:
        return day_window(tzid, event.start_date, max(event.end_date,
                                                      event.start_date + DAY))
    return event.start_utc, event.end_utc


def google_events(session: Session, business_id: int, connection_id: int, google_calendar: str,
                  span_seconds: int, start: dt.datetime, end: dt.datetime
                  ) -> list[MirroredEvent]:
    """Mirrored events of one Google calendar of one connection overlapping [start, end): an
    index range scan on (connection_id, google_calendar, start_utc) bounded by the calendar's
    longest event, whatever the other businesses hold. A day of padding covers all-day events,
    whose stored instants use the business's zone, not the employee's."""
    span = dt.timedelta(seconds=span_seconds) + DAY
    return list(session.execute(select(MirroredEvent).where(
        business_beside(MirroredEvent, business_id), MirroredEvent.connection_id == connection_id,
        MirroredEvent.google_calendar == google_calendar,
        MirroredEvent.start_utc >= start - span,
        MirroredEvent.start_utc < end + DAY)).scalars())


def load(session: Session, calendar: Calendar, first: dt.date, end: dt.date, *,
         titles: bool = False) -> Schedule:
    """The schedule of the local days [first, end). `titles`: include Google events' titles."""
    start, stop = day_window(calendar.timezone, first, end)
    low, high = start - MARGIN, stop + MARGIN
    busy = booking_items(session, calendar, low, high) + blocked_items(session, calendar, low,
                                                                      high)
    warnings: list[str] = []
    free: list[FreeAllDay] = []
    synced_at = None
    google_calendar = None
    source = google_source(session, calendar)
    if source is not None:
        connection, mapping = source
        google_calendar = mapping.read_calendar
        state = read_state(session, connection, google_calendar)
        synced_at = state.synced_at if state is not None else None
        if connection.status == "needs_reconnect":
            warnings.append("the Google connection needs reconnecting: Google events added "
                            "since it stopped are not blocking; reconnect the Google account")
        events = google_events(session, connection.business_id, connection.id, google_calendar,
                               state.max_span_seconds if state is not None else 0, low, high)
        for event in events:
            event_start, event_end = _event_span(event, calendar.timezone)
            if event_end <= low or event_start >= high:
                continue
            if event.blocks:
                busy.append(Busy(GOOGLE, event.event_id, event_start, event_end,
                                 google_calendar=google_calendar,
                                 title=event.summary if titles else None,
                                 all_day=event.all_day))
            elif event.all_day and event.transparency == "transparent" \
                    and event.status != "cancelled":
                days = _local_days(event, calendar.timezone, first, end)
                if days:
                    free.append(FreeAllDay(event.event_id, event.summary if titles else None,
                                           days))
    busy.extend(outlook_busy(session, calendar, low, high, titles, warnings))
    busy.extend(ics_busy(session, calendar, low, high, titles, warnings))
    busy.extend(caldav_busy(session, calendar, low, high, titles, warnings))
    return Schedule(calendar_id=calendar.id, timezone=calendar.timezone, start=start, end=stop,
                    open=open_intervals(session, calendar, first - DAY, end + DAY), busy=busy,
                    warnings=warnings, synced_at=synced_at, google_calendar=google_calendar,
                    free_all_day=free)


def _local_days(event: MirroredEvent, tzid: str, first: dt.date,
                end: dt.date) -> tuple[dt.date, ...]:
    """The local days of [first, end) an all-day event covers (its end date is exclusive)."""
    low = event.start_date or to_local(event.start_utc, tzid).date()
    high = max(event.end_date or low + DAY, low + DAY)
    days = []
    day = max(low, first)
    while day < min(high, end):
        days.append(day)
        day += DAY
    return tuple(days)


class Source(Protocol):
    """An external source blocking a calendar, as freshness views describe it
    (server/sync/freshness.py's SourceHealth)."""

    @property
    def ok(self) -> bool: ...

    def warning(self) -> str: ...


@dataclass(frozen=True)
class Freshness:
    """The sources blocking each calendar and whether the business hides the times of a
    calendar whose source is not ok; loaded by server/sync/freshness.py (`freshness_of`)."""

    by_calendar: Mapping[int, Sequence[Any]]
    hide: bool = False


@dataclass(frozen=True)
class Answer:
    """One calendar's availability, and with `explain` its explanation."""

    calendar_id: int
    timezone: str
    slots: list[dt.datetime]  # aware, in the calendar's zone
    schedule: Schedule
    unavailable: list[Reason] | None = None
    refused: list[Refused] | None = None
    # Each external source blocking the calendar, with its freshness (server/sync/freshness.py)
    sources: Sequence[Any] = field(default_factory=list)
    hidden: bool = False  # no slot offered: a source is not ok and the policy is "hide"


def availability(session: Session, business_id: int, calendar_ids: list[int], service_id: int,
                 first: dt.date, end: dt.date, now: dt.datetime, defaults: AvailabilityConfig,
                 *, explain: bool = False, titles: bool = False,
                 public: bool = False, freshness: Freshness | None = None
                 ) -> tuple[Service, list[Answer]]:
    """Availability of a service on several calendars over the local days [first, end).
    `public`: only active calendars and services exist (the public booking page). With
    `freshness`, each answer carries the sources blocking its calendar, and the business's
    stale-data policy applies: "hide" offers no slot of a calendar whose source is not ok;
    the others warn."""
    if first < EARLIEST or end > LATEST:
        raise InvalidError(f"ask for days between {EARLIEST} and {LATEST}",
                           field="end" if EARLIEST <= first < LATEST else "start")
    if end <= first:
        raise InvalidError("end must be after start (end is the day after the last one)",
                           field="end")
    if (end - first).days > defaults.max_range_days:
        raise InvalidError(f"ask for at most {defaults.max_range_days} days at once "
                           "(availability.max_range_days)", field="end")
    asked = len(set(calendar_ids)) * (end - first).days
    if asked > defaults.max_calendar_days:
        raise InvalidError(f"ask for at most {defaults.max_calendar_days} calendar-days at once "
                           f"(calendars x days; this asks for {asked}): fewer calendars or "
                           "a shorter range (availability.max_calendar_days)", field="end")
    service = get_service(session, business_id, service_id)
    if public and not service.active:
        raise NotFoundError(f"service {service_id} does not exist in business {business_id}")
    rules = rules_for(service, defaults)
    answers = []
    fresh = freshness.by_calendar if freshness is not None else {}
    for calendar_id in dict.fromkeys(calendar_ids):
        calendar = get_calendar(session, business_id, calendar_id)
        if public and not calendar.active:
            raise NotFoundError(f"calendar {calendar_id} does not exist in business "
                                f"{business_id}")
        schedule = load(session, calendar, first, end, titles=titles)
        tz = zone(calendar.timezone)
        found = [moment.astimezone(tz) for moment in slots(schedule, rules, now)]
        schedule.warnings.extend(free_all_day_warnings(schedule, found))
        sources = list(fresh.get(calendar.id, []))
        troubled: list[Source] = [source for source in sources if not source.ok]
        schedule.warnings.extend(source.warning() for source in troubled)
        hidden = freshness is not None and freshness.hide and bool(troubled) and bool(found)
        if hidden:
            found = []
            schedule.warnings.append("no times are offered on this calendar until its busy "
                                     "time is read again (the business's stale-data policy "
                                     "is 'hide')")
        answers.append(Answer(calendar.id, calendar.timezone, found, schedule,
                              timeline(schedule, rules, now) if explain else None,
                              refused(schedule, rules, now) if explain else None,
                              sources, hidden))
    return service, answers
