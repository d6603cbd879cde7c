"""Wall-clock time in a zone, UTC instants, and repeating rules. Zones are read from the tzdata
package that setup.cfg installs, never from the host, so every machine of a deployment agrees."""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

from server.domain import recurrence
from server.errors import InvalidError

# Dates accepted from users lie in [EARLIEST, LATEST): near the ends of the calendar, adding a
# duration, a buffer or a time zone offset would overflow.
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(9000, 1, 1)

UTC = dt.timezone.utc


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """Every zone the tzdata package holds."""
    return frozenset(resources.files("tzdata").joinpath("zones").read_text("ascii").split())


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name` from the tzdata package, or an InvalidError naming it."""
    if name not in zone_names():
        raise InvalidError(f"unknown time zone {name!r}; use an IANA name such as "
                           "'Europe/Copenhagen'", field="timezone")
    source = resources.files("tzdata.zoneinfo").joinpath(*name.split("/"))
    with source.open("rb") as handle:
        return ZoneInfo.from_file(handle, key=name)


def to_utc(local: dt.datetime, tzid: str) -> dt.datetime:
    """The instant of a naive local wall-clock time in `tzid`. A time skipped by a DST change
    is an error; an ambiguous one (clocks going back) means its first occurrence."""
    tz = zone(tzid)
    aware = local.replace(tzinfo=tz, fold=0)
    round_trip = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if round_trip != local.replace(tzinfo=None, fold=0):
        raise InvalidError(f"{local.isoformat(timespec='minutes')} does not exist in {tzid} "
                           "(the clocks skip it); choose another time", field="start")
    return aware.astimezone(UTC)


def to_local(instant: dt.datetime, tzid: str) -> dt.datetime:
    """Naive wall-clock time of an aware instant in `tzid`."""
    return instant.astimezone(zone(tzid)).replace(tzinfo=None)


def day_start(day: dt.date, tzid: str) -> dt.datetime:
    """The first instant of a local day in `tzid` (midnight; where the clocks skip midnight, the
    moment they jump; where midnight repeats, its first occurrence)."""
    return dt.datetime.combine(day, dt.time(), tzinfo=zone(tzid)).astimezone(UTC)


def normalise(value: dt.datetime, tzid: str) -> tuple[dt.datetime, dt.datetime]:
    """(utc, local) for an input that is either aware or naive local time in `tzid`."""
    if value.tzinfo is None:
        return to_utc(value, tzid), value
    utc = value.astimezone(UTC)
    return utc, to_local(utc, tzid)


def validate_rrule(rule: str, start_local: dt.datetime, tzid: str = "UTC") -> str:
    """The rule's value ("FREQ=WEEKLY;BYDAY=MO"), checked (server/domain/recurrence.py); an
    "RRULE:" prefix is dropped. `tzid` only matters for an UNTIL given in UTC."""
    return recurrence.validate(rule, start_local, tzid)


def series_end(rule: str, start_local: dt.datetime, duration: dt.timedelta,
               tzid: str) -> dt.datetime | None:
    """UTC end of a rule's last occurrence (with UNTIL, of an occurrence starting at UNTIL: an
    upper bound found without walking the series), or None if it repeats forever."""
    last = recurrence.last_start(rule, start_local, tzid)
    return None if last is None else _instant(last + duration, tzid)


def _instant(local: dt.datetime, tzid: str) -> dt.datetime:
    """Like to_utc, but a time skipped by DST is moved forward by the gap instead of refused (an
    occurrence of a repeating rule may land in it): read with the offset before the change."""
    return local.replace(tzinfo=zone(tzid), fold=0).astimezone(UTC)


def wall_to_utc(local: dt.datetime, tzid: str) -> dt.datetime:
    """The instant of a local wall-clock time that never fails: a time skipped by DST moves
    forward by the gap, an ambiguous one is its first occurrence (opening hours, day bounds)."""
    return _instant(local, tzid)


def occurrences(rule: str | None, exdates_json: str, start_local: dt.datetime,
                end_local: dt.datetime, tzid: str, window_start: dt.datetime,
                window_end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """UTC (start, end) of every occurrence that overlaps [window_start, window_end)."""
    duration = end_local - start_local
    if not rule:
        start, end = _instant(start_local, tzid), _instant(end_local, tzid)
        return [(start, end)] if start < window_end and end > window_start else []
    excluded = {dt.datetime.fromisoformat(item) for item in json.loads(exdates_json or "[]")}
    # Local bounds padded by a day cover every zone offset; exact filtering happens in UTC.
    low = to_local(window_start, tzid) - duration - dt.timedelta(days=1)
    high = to_local(window_end, tzid) + dt.timedelta(days=1)
    found = []
    for occurrence in recurrence.starts_between(rule, start_local, tzid, low, high):
        if occurrence in excluded:
            continue
        start, end = _instant(occurrence, tzid), _instant(occurrence + duration, tzid)
        if start < window_end and end > window_start:
            found.append((start, end))
    return found


def ago(then: dt.datetime | None, now: dt.datetime) -> str:
    """How long ago, for people: "12 s ago", "5 min ago", "3 h ago", "2 days ago", "never"."""
    if then is None:
        return "never"
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"
