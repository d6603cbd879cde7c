"""A day of availability as a readable table (`bookingcal availability`): every offered start
time, bookable or refused and why, the unavailable intervals, Google freshness and warnings."""

from __future__ import annotations

import datetime as dt

from server.db.models import Service
from server.domain.availability import Reason, describe, describe_age
from server.domain.schedules import Answer
from server.domain.timeutil import zone


def _why(reasons: tuple[Reason, ...] | list[Reason], tzid: str) -> str:
    return "; ".join(describe(reason, tzid) for reason in reasons)


def render_day(answer: Answer, calendar_name: str, service: Service, day: dt.date,
               now: dt.datetime) -> list[str]:
    """Lines of text for one calendar's day; `answer` must have been computed with explain."""
    tz = zone(answer.timezone)
    schedule = answer.schedule
    lines = [f"{calendar_name} (calendar {answer.calendar_id}), {service.name} "
             f"({service.duration_minutes} min, buffers {service.buffer_before_minutes}/"
             f"{service.buffer_after_minutes} min), {day}, {answer.timezone}"]
    if schedule.google_calendar is not None:
        lines.append(f"Google busy time blocks booking: {schedule.google_calendar}, "
                     f"{describe_age(schedule.synced_at, now)}")
    for source in answer.sources:
        lines.append(f"{source.label} source {source.remote_calendar}: {source.state}, "
                     f"{source.reason}")
    starts: list[tuple[dt.datetime, str, str]] = [(slot, "bookable", "") for slot in answer.slots]
    for run in answer.refused or []:
        starts.append((run.first, "refused", _why(run.reasons, answer.timezone)))
        if run.last != run.first:
            starts.append((run.last, "refused", "(same) until here"))
    lines.append("")
    lines.append(f"{'START':<14}{'STATUS':<10}WHY")
    if not starts:
        lines.append("(no opening hours this day)")
    for moment, status, why in sorted(starts, key=lambda item: item[0]):
        local = moment.astimezone(tz)
        lines.append(f"{local:%H:%M} {local:%z}   {status:<10}{why}".rstrip())
    lines.append("")
    lines.append("UNAVAILABLE")
    for reason in answer.unavailable or []:
        lines.append(_why([reason], answer.timezone))
    for warning in schedule.warnings:
        lines.append(f"warning: {warning}")
    return lines
