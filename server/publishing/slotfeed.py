"""A `slots` link's open times: the bookable start times of its service on its calendars, from
the availability engine (server/domain/schedules.py: opening hours, bookings, blocked time,
Google busy time, notice and horizon), as an ICS feed of TRANSP:TRANSPARENT events "Available:
<service>" (GET /feeds/<token>.ics) and as JSON (GET /feeds/<token>.json).

Nothing of a booking or blocked time leaves: only the open times, the service's name and the
calendars' (employees') names. The window is the business's today and the next days, at most
SLOT_DAYS and within the availability limits (`max_range_days`, `max_calendar_days` divided
among the link's calendars), so one request costs a bounded availability computation. The body
is a function of the slots alone (DTSTAMP is the link's last change, UIDs are derived from the
link, calendar and start), and its strong ETag is the body's digest: it changes exactly when
the slots do, as bookings, blocked time, hours or Google busy time change or time moves on."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy.orm import Session

from server.config import AvailabilityConfig
from server.db.models import Service
from server.domain.availability import candidates, rules_for
from server.domain.schedules import Freshness, availability
from server.domain.timeutil import zone
from server.publishing.feedstate import FeedState
from server.publishing.ical import calendar_shell, content_line
from server.publishing.slotcache import first_change

SLOT_DAYS = 31
Slot = tuple[dt.datetime, dt.datetime]


@dataclass(frozen=True)
class CalendarSlots:
    calendar_id: int
    name: str
    timezone: str
    slots: list[Slot]  # aware, in the calendar's zone


@dataclass(frozen=True)
class OpenSlots:
    service_name: str
    duration_minutes: int
    first: dt.date
    end: dt.date  # exclusive
    calendars: list[CalendarSlots]
    # The first instant from which the time alone may change these slots (exclusive; see
    # server/publishing/slotcache.py): a start closer than the notice, one within the horizon, midnight.
    until: dt.datetime | None = None


def slot_days(calendar_count: int, defaults: AvailabilityConfig) -> int:
    """How many days a slots answer covers: SLOT_DAYS within the availability limits."""
    per_calendar = defaults.max_calendar_days // max(1, calendar_count)
    return max(1, min(SLOT_DAYS, defaults.max_range_days, per_calendar))


def open_slots(session: Session, state: FeedState, now: dt.datetime,
               defaults: AvailabilityConfig, freshness: Freshness | None = None
               ) -> OpenSlots | None:
    """The link's open slots from the business's today on; None when its service is gone.
    With `freshness`, the business's stale-data policy applies ("hide": no slot of a
    calendar whose blocking source is not ok), as on the booking page."""
    link = state.link
    assert link is not None
    service = session.get(Service, link.service_id) if link.service_id is not None else None
    if service is None or service.business_id != link.business_id:
        return None
    calendars = state.calendars
    first, end = slot_window(state, now, defaults)
    tz = zone(state.business_timezone)
    until = dt.datetime.combine(first + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    found: list[CalendarSlots] = []
    if service.active and calendars:
        _, answers = availability(session, link.business_id, [c.id for c in calendars],
                                  service.id, first, end, now, defaults,
                                  freshness=freshness)
        length = dt.timedelta(minutes=service.duration_minutes)
        names = {c.id: c.name for c in calendars}
        found = [CalendarSlots(a.calendar_id, names[a.calendar_id], a.timezone,
                               [(start, start + length) for start in a.slots])
                 for a in answers]
        rules = rules_for(service, defaults)
        until = first_change([moment for a in answers
                              for moment in candidates(a.schedule, rules)],
                             rules.notice, rules.horizon, now, until)
    return OpenSlots(service.name, service.duration_minutes, first, end, found, until)


def slot_window(state: FeedState, now: dt.datetime, defaults: AvailabilityConfig
                ) -> tuple[dt.date, dt.date]:
    """The local days [first, end) a slots answer covers: the business's today on."""
    first = now.astimezone(zone(state.business_timezone)).date()
    return first, first + dt.timedelta(days=slot_days(len(state.calendars), defaults))


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _uid(link_id: int, calendar_id: int, start: dt.datetime) -> str:
    key = f"{link_id}:{calendar_id}:{_utc(start)}"
    return hashlib.sha256(key.encode()).hexdigest()[:32] + "@bookingcal"


def render_slots_ics(slots: OpenSlots, state: FeedState, refresh: dt.timedelta) -> str:
    """The VCALENDAR of open slots: one TRANSP:TRANSPARENT event per slot, in UTC; with more
    than one calendar, the summary names the employee."""
    link = state.link
    assert link is not None
    several = len(slots.calendars) > 1
    name = f"{state.business_name} – Available: {slots.service_name}"
    head, tail = calendar_shell(name, state.business_timezone, refresh)
    stamp = _utc(link.updated_at)
    parts = [head]
    for calendar in slots.calendars:
        summary = f"Available: {slots.service_name}" + (f" – {calendar.name}" if several else "")
        summary_line = content_line("SUMMARY", summary)
        for start, end in calendar.slots:
            parts.append("\r\n".join((
                "BEGIN:VEVENT", summary_line, f"DTSTART:{_utc(start)}", f"DTEND:{_utc(end)}",
                f"DTSTAMP:{stamp}", f"UID:{_uid(link.id, calendar.calendar_id, start)}",
                "TRANSP:TRANSPARENT", "END:VEVENT", "")))
    parts.append(tail)
    return "".join(parts)


def render_slots_json(slots: OpenSlots) -> str:
    """The same slots as JSON: local times with their offset, per calendar."""
    return json.dumps({
        "service": slots.service_name, "duration_minutes": slots.duration_minutes,
        "from": slots.first.isoformat(), "until": slots.end.isoformat(),
        "calendars": [{"name": c.name, "timezone": c.timezone,
                       "slots": [{"start": s.isoformat(), "end": e.isoformat()}
                                 for s, e in c.slots]} for c in slots.calendars]},
        ensure_ascii=False, separators=(",", ":"))


def body_etag(body: bytes) -> str:
    """A strong ETag that is the body's own digest."""
    return '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
