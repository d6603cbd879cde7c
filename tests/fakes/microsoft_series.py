"""Recurring series in the fake Graph: `patternedRecurrence` checked as strictly as Graph does
for the shapes it documents, and a series master expanded into its occurrences (type
"occurrence", `seriesMasterId`, their own ids and times) within a calendarView window, in the
series' time zone, at most MAX_OCCURRENCES per read."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule as du
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from .microsoft_errors import GraphError

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
TYPES = {"daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly",
         "relativeYearly"}
MAX_OCCURRENCES = 2000
UTC = dt.timezone.utc


def zone_of(name: Any) -> dt.tzinfo:
    """The fake takes UTC and Windows time zone names (what Graph takes on every method)."""
    if name in ("UTC", "Etc/UTC"):
        return UTC
    if isinstance(name, str) and name in WINDOWS_TO_OLSON:
        return ZoneInfo(WINDOWS_TO_OLSON[name])
    raise GraphError(400, "ErrorTimeZoneNotSupportedException",
                     f"A valid TimeZone value must be specified: {name!r}")


def _bad(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRecurrence", message)


def validate(recurrence: Any, start_local: dt.date) -> None:
    """A patternedRecurrence as Graph checks it (its range starting on the event's day)."""
    if recurrence is None:
        return
    if not isinstance(recurrence, dict) or set(recurrence) != {"pattern", "range"}:
        raise _bad("recurrence has a pattern and a range")
    pattern, span = recurrence["pattern"], recurrence["range"]
    if not isinstance(pattern, dict) or pattern.get("type") not in TYPES:
        raise _bad("pattern.type is unknown")
    kind = pattern["type"]
    known = {"type", "interval", "daysOfWeek", "dayOfMonth", "month", "index", "firstDayOfWeek"}
    if set(pattern) - known:
        raise _bad(f"unknown pattern properties {sorted(set(pattern) - known)}")
    if not isinstance(pattern.get("interval"), int) or not 1 <= pattern["interval"] <= 99:
        raise _bad("pattern.interval must be 1..99")
    days = pattern.get("daysOfWeek")
    if kind in ("weekly", "relativeMonthly", "relativeYearly"):
        if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
            raise _bad(f"{kind} needs daysOfWeek")
    if kind.startswith("absolute") and not (isinstance(pattern.get("dayOfMonth"), int)
                                            and 1 <= pattern["dayOfMonth"] <= 31):
        raise _bad(f"{kind} needs dayOfMonth 1..31")
    if kind.endswith("Yearly") and not (isinstance(pattern.get("month"), int)
                                        and 1 <= pattern["month"] <= 12):
        raise _bad(f"{kind} needs month 1..12")
    if kind.startswith("relative") and pattern.get("index", "first") not in INDEX:
        raise _bad("index must be first..fourth or last")
    if pattern.get("firstDayOfWeek", "sunday") not in DAYS:
        raise _bad("firstDayOfWeek must be a weekday")
    if not isinstance(span, dict) or span.get("type") not in ("endDate", "noEnd", "numbered"):
        raise _bad("range.type must be endDate, noEnd or numbered")
    try:
        first = dt.date.fromisoformat(str(span.get("startDate")))
        last = dt.date.fromisoformat(str(span["endDate"])) if span["type"] == "endDate" \
            else None
    except (KeyError, ValueError):
        raise _bad("range dates are yyyy-MM-dd; endDate is required for endDate") from None
    if first != start_local:
        raise _bad("range.startDate must be the day of the event's start")
    if last is not None and last < first:
        raise _bad("range.endDate is before its startDate")
    if span["type"] == "numbered" and not (isinstance(span.get("numberOfOccurrences"), int)
                                           and span["numberOfOccurrences"] >= 1):
        raise _bad("numbered needs numberOfOccurrences")
    if "recurrenceTimeZone" in span:
        zone_of(span["recurrenceTimeZone"])


def _rule(pattern: dict[str, Any], span: dict[str, Any], start: dt.datetime) -> du.rrule:
    kind = pattern["type"]
    weekdays = [du.weekdays[DAYS.index(d)] for d in pattern.get("daysOfWeek", [])]
    options: dict[str, Any] = {"dtstart": start, "interval": pattern["interval"],
                               "wkst": DAYS.index(pattern.get("firstDayOfWeek", "sunday"))}
    if span["type"] == "numbered":
        options["count"] = span["numberOfOccurrences"]
    elif span["type"] == "endDate":
        options["until"] = dt.datetime.combine(dt.date.fromisoformat(span["endDate"]),
                                               dt.time(23, 59, 59))
    if kind == "daily":
        return du.rrule(du.DAILY, **options)
    if kind == "weekly":
        return du.rrule(du.WEEKLY, byweekday=weekdays, **options)
    if kind.endswith("Yearly"):
        options["bymonth"] = pattern["month"]
    freq = du.YEARLY if kind.endswith("Yearly") else du.MONTHLY
    if kind.startswith("absolute"):
        return du.rrule(freq, bymonthday=pattern["dayOfMonth"], **options)
    return du.rrule(freq, byweekday=weekdays, bysetpos=INDEX[pattern.get("index", "first")],
                    **options)


def occurrences(data: dict[str, Any], low: dt.datetime, high: dt.datetime
                ) -> list[tuple[dt.datetime, dt.datetime]]:
    """(start, end) in UTC of a series' occurrences overlapping [low, high)."""
    zone = zone_of(data["start"]["timeZone"])
    start = dt.datetime.fromisoformat(data["start"]["dateTime"].rstrip("Z")[:19])
    end = dt.datetime.fromisoformat(data["end"]["dateTime"].rstrip("Z")[:19])
    length = end - start
    rule = _rule(data["recurrence"]["pattern"], data["recurrence"]["range"], start)
    found = []
    for number, local in enumerate(rule):
        if number >= MAX_OCCURRENCES:
            break
        begin = local.replace(tzinfo=zone).astimezone(UTC)
        finish = (local + length).replace(tzinfo=zone).astimezone(UTC)
        if begin >= high:
            break
        if finish > low:
            found.append((begin, finish))
    return found
