"""GET /api/v1/availability: bookable start times of a service on one or several calendars.

Without an API key (the public booking page) it answers times only, for active calendars and
services, never what blocks them. With the host key or the business's key, `explain=true` adds
why every other time cannot be booked, Google event titles included (both keys belong to the
business's administration), how fresh the mirrored Google events are, and warnings."""

from __future__ import annotations

import datetime as dt

from flask import Response, g
from flask_openapi3 import APIBlueprint

from server.api.schemas.availability import (
    AvailabilityOut, AvailabilityQuery, CalendarAvailabilityOut, ExplainOut, GoogleFreshnessOut,
    ReasonOut, RefusedOut, SourceOut,
)
from server.api.auth import Caller
from server.api.common import reply, responses, runtime, tag
from server.domain.availability import Reason, describe_age
from server.domain.schedules import LATEST, Answer, availability
from server.domain.timeutil import zone
from server.errors import UnauthorizedError
from server.sync.freshness import SourceHealth, freshness_of

bp = APIBlueprint("availability", __name__, url_prefix="/api/v1",
                  abp_tags=[tag("availability", "Bookable times")])
# Endpoints answered without an API key (app.py skips authentication for them).
PUBLIC_ENDPOINTS = frozenset({"availability.get_availability"})


def _reason(reason: Reason, tz: dt.tzinfo) -> ReasonOut:
    return ReasonOut(type=reason.kind, start=reason.start.astimezone(tz),
                     end=reason.end.astimezone(tz),
                     id=reason.ref, cause=reason.cause, google_calendar=reason.google_calendar,
                     title=reason.title)


def _source(source: SourceHealth, now: dt.datetime, keyed: bool) -> SourceOut:
    synced = source.synced_at
    return SourceOut(
        provider=source.provider, calendar=source.remote_calendar if keyed else None,
        synced_at=synced,
        age_seconds=int((now - synced).total_seconds()) if synced is not None else None,
        state=source.state, reason=source.reason, error=source.error if keyed else None)


def _explain(answer: Answer, now: dt.datetime) -> ExplainOut:
    tz = zone(answer.timezone)
    schedule = answer.schedule
    google = None
    if schedule.google_calendar is not None:
        synced = schedule.synced_at
        google = GoogleFreshnessOut(
            google_calendar=schedule.google_calendar, synced_at=synced,
            age_seconds=int((now - synced).total_seconds()) if synced is not None else None,
            text=describe_age(synced, now))
    return ExplainOut(
        unavailable=[_reason(r, tz) for r in answer.unavailable or []],
        refused=[RefusedOut(first=run.first.astimezone(tz), last=run.last.astimezone(tz),
                            reasons=[_reason(r, tz) for r in run.reasons])
                 for run in answer.refused or []],
        google=google, warnings=schedule.warnings)


@bp.get("/availability", responses=responses(AvailabilityOut))
def get_availability(query: AvailabilityQuery) -> Response:
    """Bookable start times (local, with offset) of a service on one or several calendars,
    for the local days [start, end). Public without a key; `explain=true` needs a key."""
    rt = runtime()
    who: Caller | None = g.caller
    if who is not None:
        who.require_business(query.business_id)
    elif query.explain:
        raise UnauthorizedError("explain=true needs the host key or the business's API key")
    end = query.end or min(query.start, LATEST) + dt.timedelta(days=1)  # no date overflow
    now = rt.clock.now()
    with rt.db.read() as session:
        service, answers = availability(
            session, query.business_id, query.calendar_id, query.service_id, query.start, end,
            now, rt.config.availability, explain=query.explain, titles=who is not None,
            public=who is None, freshness=freshness_of(
                session, query.business_id, query.calendar_id, now, rt.config))
        return reply(AvailabilityOut(
            service_id=service.id, duration_minutes=service.duration_minutes,
            start=query.start, end=end,
            calendars=[CalendarAvailabilityOut(
                calendar_id=a.calendar_id, timezone=a.timezone, slots=a.slots,
                sources=[_source(s, now, who is not None) for s in a.sources], hidden=a.hidden,
                explain=_explain(a, now) if query.explain else None) for a in answers]))
