"""Repeating blocked time as an Outlook series: the item's RRULE as Graph's
`patternedRecurrence`, and its wall-clock times in a Windows time zone Graph accepts on every
method (it takes only some IANA names), so occurrences keep their local hour across daylight
saving time as the item's do.

What Graph's patterns can say: DAILY, WEEKLY (BYDAY days), MONTHLY on one BYMONTHDAY or one
BYDAY with an ordinal (1st..4th, last), YEARLY likewise within one BYMONTH; COUNT, UNTIL or no
end; INTERVAL and WKST. Anything else (HOURLY, BYSETPOS, several month days, BYYEARDAY, ...)
and excluded dates (Graph takes exceptions only by deleting occurrences one by one) are not
sent: `unsupported` says why, and the item's write is recorded as failed with that reason."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule as du
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from server.domain import recurrence
from server.domain.timeutil import zone
from server.errors import InvalidError
from server.redaction import EventView

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
INDEX = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
UTC_NAMES = {"UTC", "Etc/UTC", "Etc/GMT", "GMT", "Z"}
SAMPLE_YEARS = 3  # a zone stands in for another when their offsets agree this long
_OLSON_TO_WINDOWS = {olson: windows for windows, olson in sorted(WINDOWS_TO_OLSON.items())}


@lru_cache(maxsize=256)
def windows_zone(tzid: str, year: int) -> str | None:
    """A Windows time zone name with the same UTC offsets as `tzid` from `year` on for
    SAMPLE_YEARS years (its own, when it is a zone's reference location), or None."""
    if tzid in UTC_NAMES:
        return "UTC"
    if tzid in _OLSON_TO_WINDOWS:
        return _OLSON_TO_WINDOWS[tzid]
    try:
        ours = ZoneInfo(tzid)
    except (ValueError, KeyError, OSError):
        return None
    start = dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc)
    samples = [start + dt.timedelta(hours=6 * n) for n in range(4 * 366 * SAMPLE_YEARS)]
    wanted = [moment.astimezone(ours).utcoffset() for moment in samples]
    for windows, olson in sorted(WINDOWS_TO_OLSON.items()):
        other = ZoneInfo(olson)
        if all(moment.astimezone(other).utcoffset() == offset
               for moment, offset in zip(samples, wanted)):
            return windows
    return None


def unsupported(view: EventView) -> str | None:
    """Why this repeating item cannot be an Outlook series, or None when it can."""
    try:
        _pattern(view)
    except InvalidError as exc:
        return exc.message
    return None


def series_fields(view: EventView) -> dict[str, Any]:
    """start, end and recurrence of the Outlook series of a repeating item (see
    `unsupported` first)."""
    windows = windows_zone(view.tzid, view.start_local.year)
    if windows is None:
        raise InvalidError(f"its time zone {view.tzid} has no Windows equivalent Outlook "
                           "takes")
    pattern, ends = _pattern(view)

    def local(moment: dt.datetime) -> dict[str, str]:
        if view.all_day:
            moment = dt.datetime.combine(moment.date(), dt.time())
        return {"dateTime": moment.replace(tzinfo=None).isoformat(timespec="seconds"),
                "timeZone": windows}

    return {"start": local(view.start_local), "end": local(view.end_local),
            "recurrence": {"pattern": pattern,
                           "range": {**ends, "startDate": view.start_local.date().isoformat(),
                                     "recurrenceTimeZone": windows}}}


def _pattern(view: EventView) -> tuple[dict[str, Any], dict[str, Any]]:
    assert view.rrule is not None
    if view.exdates:
        raise InvalidError("repeating blocked time with excluded dates is not sent to Outlook "
                           "(Outlook takes no exceptions with a series); it blocks booking here")
    rule = recurrence.parse(view.rrule)
    # BYMINUTE and BYSECOND of a stored rule are the start's own (recurrence._check): they
    # change nothing, so Outlook's pattern leaves them out.
    by = {name: values for name, values in rule.by.items()
          if name not in ("BYMINUTE", "BYSECOND")}
    extra = set(by) - {"BYMONTHDAY", "BYMONTH"}
    if rule.freq == du.HOURLY or extra:
        what = "FREQ=HOURLY" if rule.freq == du.HOURLY else ", ".join(sorted(extra))
        raise InvalidError(f"Outlook series cannot repeat by {what}; this blocked time blocks "
                           "booking here only")
    start = view.start_local
    pattern: dict[str, Any] = {"interval": rule.interval, "firstDayOfWeek": DAYS[rule.wkst]}
    days = [DAYS[day] for day, ordinal in rule.byday if ordinal == 0]
    ordinals = [(day, ordinal) for day, ordinal in rule.byday if ordinal != 0]
    month_days = by.get("BYMONTHDAY", ())
    months = by.get("BYMONTH", ())
    if rule.freq == du.DAILY and not rule.byday and not by:
        pattern["type"] = "daily"
    elif rule.freq == du.WEEKLY and not ordinals and not by:
        pattern.update(type="weekly", daysOfWeek=days or [DAYS[start.weekday()]])
    elif rule.freq in (du.MONTHLY, du.YEARLY) and len(months) <= 1 \
            and (rule.freq == du.YEARLY or not months):
        yearly = rule.freq == du.YEARLY
        if yearly:
            pattern["month"] = months[0] if months else start.month
        if not rule.byday and len(month_days) <= 1 and all(d > 0 for d in month_days):
            pattern.update(type="absoluteYearly" if yearly else "absoluteMonthly",
                           dayOfMonth=month_days[0] if month_days else start.day)
        elif not month_days and not days and len(ordinals) == 1 and ordinals[0][1] in INDEX:
            day, ordinal = ordinals[0]
            pattern.update(type="relativeYearly" if yearly else "relativeMonthly",
                           daysOfWeek=[DAYS[day]], index=INDEX[ordinal])
        else:
            raise InvalidError("Outlook series repeat monthly or yearly on one day of the "
                               "month or one weekday (1st to 4th, or last); this blocked time "
                               "blocks booking here only")
    else:
        raise InvalidError("Outlook series cannot repeat this way; this blocked time blocks "
                           "booking here only")
    if rule.count is not None:
        return pattern, {"type": "numbered", "numberOfOccurrences": rule.count}
    if rule.until is not None:
        until = rule.until if rule.until.tzinfo is None else \
            rule.until.astimezone(zone(view.tzid)).replace(tzinfo=None)
        last = until.date()
        if not rule.until_is_date and until.time() < start.time():
            last -= dt.timedelta(days=1)  # that day's occurrence starts after UNTIL
        return pattern, {"type": "endDate", "endDate": last.isoformat()}
    return pattern, {"type": "noEnd"}
