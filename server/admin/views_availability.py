"""Availability, explained: pick a calendar, a service and a day; a timeline of the day shows
opening hours, bookings, blocked time, buffers and Google events, the slots that remain, and the
reason for every blocked stretch.

The explanation comes from `server.domain.availability.explain_day` (the availability issue),
expected as:

    explain_day(session, business_id, *, calendar_id, service_id, day: datetime.date)
        -> object with
           .timezone: str
           .stretches: list of objects with .start, .end (aware datetimes), .kind (one of
                       "open", "closed", "booking", "blocked", "buffer", "google") and .reason
           .slots: list of objects with .start, .end (aware datetimes)

While that module is missing the page says so (501) instead of guessing."""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any, Callable
from zoneinfo import ZoneInfo

from flask import Blueprint, request
from werkzeug.wrappers import Response

from server.admin.web import page, signed_in
from server.api.common import runtime
from server.domain.businesses import get_business
from server.domain.calendars import list_calendars
from server.domain.services import list_services
from server.errors import InvalidError

KINDS = ("open", "closed", "booking", "blocked", "buffer", "google")


def explainer() -> Callable[..., Any] | None:
    try:
        module = importlib.import_module("server.domain.availability")
    except ImportError:
        return None
    found: Callable[..., Any] | None = getattr(module, "explain_day", None)
    return found


def _int(value: str, field: str) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise InvalidError(f"choose a {field} from the list", field=field)
    return int(value)


def register(bp: Blueprint) -> None:
    @bp.get("/availability")
    def availability() -> Response:
        rt = runtime()
        me = signed_in()
        args = request.args
        calendar_id = _int(args.get("calendar", ""), "calendar")
        service_id = _int(args.get("service", ""), "service")
        explain = explainer()
        with rt.db.read() as session:
            business = get_business(session, me.business_id)
            calendars = list_calendars(session, me.business_id, active_only=True)
            services = list_services(session, me.business_id)
            today = rt.clock.now().astimezone(ZoneInfo(business.timezone)).date()
            try:
                day = dt.date.fromisoformat(args["day"]) if args.get("day") else today
            except ValueError:
                raise InvalidError(f"'{args['day']}' is not a date; pick one as YYYY-MM-DD",
                                   field="day") from None
            result = None
            if explain is not None and calendar_id is not None and service_id is not None:
                result = explain(session, me.business_id, calendar_id=calendar_id,
                                 service_id=service_id, day=day)
        return page("availability.html", 200 if explain is not None else 501,
                    calendars=calendars, services=services, calendar_id=calendar_id,
                    service_id=service_id, day=day, result=result, available=explain is not None,
                    kinds=KINDS)
