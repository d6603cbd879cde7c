"""Availability, explained: pick a calendar, a service and a day; a timeline of the day shows
the opening hours, bookings, blocked time, buffers and Google events, the times that remain, and
why every other stretch cannot be booked.

The answer is the availability issue's: `server.domain.schedules.availability(..., explain=True)`
and `server.domain.availability.describe` / `describe_age`, the functions behind
`GET /api/v1/availability?explain=true`. They are looked up when the page is asked for, so this
page works wherever that module is part of the build and says so (501) where it is not."""

from __future__ import annotations

import datetime as dt
import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from flask import Blueprint, request
from werkzeug.wrappers import Response

from server.admin.timeline import Chart, lay_out
from server.admin.web import page, signed_in
from server.sync.freshness import freshness_of
from server.api.common import runtime
from server.domain.businesses import get_business
from server.domain.calendars import list_calendars
from server.domain.services import list_services
from server.domain.timeutil import to_local
from server.errors import InvalidError

# What each kind of stretch is called on the page (kinds of server/domain/availability.py).
KIND_NAMES = {"open": "Open", "outside_hours": "Closed", "notice": "Too soon",
              "horizon": "Too far ahead", "booking": "Booking", "buffer": "Buffer",
              "blocked_time": "Blocked time", "google_event": "Google event",
              "microsoft_event": "Outlook event", "ics_event": "calendar link event",
              "caldav_event": "CalDAV event"}


@dataclass(frozen=True)
class Stretch:
    start: dt.datetime  # local
    end: dt.datetime
    kind: str
    name: str
    why: str


@dataclass(frozen=True)
class DayExplained:
    timezone: str
    stretches: list[Stretch]
    slots: list[dt.datetime]
    google: str  # "Google calendar primary, synced 12 s ago", or ""
    warnings: list[str]
    chart: Chart
    # each external source blocking the calendar: "Google calendar primary: ok, last read ..."
    sources: list[str] = field(default_factory=list)


def _modules() -> tuple[ModuleType, ModuleType] | None:
    try:
        return (importlib.import_module("server.domain.schedules"),
                importlib.import_module("server.domain.availability"))
    except ImportError:
        return None


def _int(value: str, field: str) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise InvalidError(f"choose a {field} from the list", field=field)
    return int(value)


def explain_day(session: Any, config: Any, business_id: int, calendar_id: int, service_id: int,
                day: dt.date, now: dt.datetime) -> DayExplained | None:
    found = _modules()
    if found is None:
        return None
    schedules, availability = found
    _, [answer] = schedules.availability(
        session, business_id, [calendar_id], service_id, day, day + dt.timedelta(days=1), now,
        config.availability, explain=True, titles=True,
        freshness=freshness_of(session, business_id, [calendar_id], now, config))
    tzid = answer.timezone
    schedule = answer.schedule
    day_start, day_end = schedule.start, schedule.end
    stretches = [Stretch(to_local(max(opens, day_start), tzid), to_local(min(closes, day_end),
                                                                          tzid),
                         "open", KIND_NAMES["open"], "opening hours")
                 for opens, closes in schedule.open if closes > day_start and opens < day_end]
    for reason in answer.unavailable or []:
        start, end = max(reason.start, day_start), min(reason.end, day_end)
        if end > start:
            stretches.append(Stretch(to_local(start, tzid), to_local(end, tzid), reason.kind,
                                     KIND_NAMES.get(reason.kind, reason.kind),
                                     availability.describe(reason, tzid)))
    stretches.sort(key=lambda s: (s.start, s.kind != "open", s.end))
    google = ""
    if schedule.google_calendar is not None:
        google = (f"Google calendar {schedule.google_calendar}, "
                  f"{availability.describe_age(schedule.synced_at, now)}")
    slots = list(answer.slots)
    sources = [f"{source.label} calendar {source.remote_calendar}: "
               f"{source.state.replace('_', ' ')}, {source.reason}"
               for source in getattr(answer, "sources", [])]
    return DayExplained(tzid, stretches, slots, google, list(schedule.warnings),
                        lay_out(stretches, slots, day), sources)


def register(bp: Blueprint) -> None:
    @bp.get("/availability")
    def availability() -> Response:
        rt = runtime()
        me = signed_in()
        args = request.args
        calendar_id = _int(args.get("calendar", ""), "calendar")
        service_id = _int(args.get("service", ""), "service")
        now = rt.clock.now()
        with rt.db.read() as session:
            business = get_business(session, me.business_id)
            calendars = list_calendars(session, me.business_id, active_only=True)
            services = list_services(session, me.business_id)
            try:
                day = dt.date.fromisoformat(args["day"]) if args.get("day") else \
                    to_local(now, business.timezone).date()
            except ValueError:
                raise InvalidError(f"'{args['day']}' is not a date; pick one as YYYY-MM-DD",
                                   field="day") from None
            available = _modules() is not None
            result = None
            if available and calendar_id is not None and service_id is not None:
                result = explain_day(session, rt.config, me.business_id, calendar_id,
                                     service_id, day, now)
        return page("availability.html", 200 if available else 501, calendars=calendars,
                    services=services, calendar_id=calendar_id, service_id=service_id, day=day,
                    result=result, available=available)
