"""Repeating rules (RRULE) of blocked time: checked against RFC 5545 before they are stored, and
expanded only within the range asked for, under hard caps, whatever a database holds.

Every expansion is bounded three ways. The rule's start is moved forward, by whole periods of
its INTERVAL, to just before the range, so the cost does not grow with the series' age. The
whole frame is then moved by whole 400-year Gregorian cycles (dates and weekdays repeat
exactly) to just below year 9999, where dateutil stops iterating, so a rule whose filters match
no day for centuries still ends within 400 years of periods. And at most MAX_INSTANCES
occurrences are taken per expansion. A stored rule that no longer passes `validate` counts as its
first occurrence only (logged once), so an old database cannot hang a request either."""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Iterator

from dateutil import rrule as du

from server.errors import InvalidError

log = logging.getLogger(__name__)

FREQUENCIES = {"HOURLY": du.HOURLY, "DAILY": du.DAILY, "WEEKLY": du.WEEKLY,
               "MONTHLY": du.MONTHLY, "YEARLY": du.YEARLY}
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
MAX_COUNT = 5000
MAX_INTERVAL = 1000
MAX_YEARLY_INTERVAL = 100
# A COUNT or UNTIL series ends, and any series first occurs, within this many years of its start.
MAX_SERIES_YEARS = 100
MAX_INSTANCES = 10_000  # occurrences taken by one expansion
CYCLE_YEARS = 400  # the Gregorian calendar repeats exactly (146097 days = 20871 weeks)
LAST_YEAR = dt.MAXYEAR

_NUMBER = re.compile(r"[+-]?\d{1,4}")
_DAY = re.compile(r"([+-]?)(\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)")
_UNTIL = re.compile(r"(\d{8})(?:T(\d{6})(Z?))?")


class ExpansionLimitError(InvalidError):
    """A range holds more occurrences of one rule than one expansion takes."""


@dataclass(frozen=True)
class Rule:
    """A parsed, checked RRULE value (the `text` is what is stored)."""

    text: str
    freq: int
    interval: int
    count: int | None
    until: dt.datetime | None  # naive local time, or aware UTC
    until_is_date: bool
    by: dict[str, tuple[int, ...]]
    byday: tuple[tuple[int, int], ...]  # (weekday 0=MO, ordinal or 0)
    wkst: int


def _refuse(message: str) -> InvalidError:
    return InvalidError(f"not a valid RRULE: {message}", field="rrule")


def _numbers(name: str, value: str, low: int, high: int, signed: bool) -> tuple[int, ...]:
    found = []
    for item in value.split(","):
        if not _NUMBER.fullmatch(item):
            raise _refuse(f"{name} takes a comma-separated list of numbers, found {item!r}")
        number = int(item)
        if not low <= abs(number) <= high or (number < 0 and not signed):
            span = f"±{low}..{high}" if signed else f"{low}..{high}"
            raise _refuse(f"{name} values lie in {span}, found {item!r}")
        found.append(number)
    return tuple(found)


def _byday(value: str, freq: int, has_weekno: bool) -> tuple[tuple[int, int], ...]:
    found = []
    for item in value.split(","):
        match = _DAY.fullmatch(item)
        if not match:
            raise _refuse(f"BYDAY takes weekdays such as MO or -1FR, found {item!r}")
        sign, digits, day = match.groups()
        ordinal = int(digits) if digits else 0
        if sign and not digits:
            raise _refuse(f"BYDAY: a sign needs a number, found {item!r}")
        if ordinal:
            if freq not in (du.MONTHLY, du.YEARLY) or freq == du.YEARLY and has_weekno:
                raise _refuse(f"BYDAY={item}: a numbered weekday needs FREQ=MONTHLY or "
                              "FREQ=YEARLY (without BYWEEKNO)")
            limit = 5 if freq == du.MONTHLY else 53
            if ordinal > limit:
                raise _refuse(f"BYDAY={item}: the number lies in ±1..{limit} with this FREQ")
        found.append((WEEKDAYS.index(day), -ordinal if sign == "-" else ordinal))
    return tuple(found)


def _until(value: str) -> tuple[dt.datetime, bool]:
    match = _UNTIL.fullmatch(value)
    if not match:
        raise _refuse(f"UNTIL takes YYYYMMDD, YYYYMMDDTHHMMSS or YYYYMMDDTHHMMSSZ, found "
                      f"{value!r}")
    day, time, utc = match.groups()
    try:
        parsed = dt.datetime.strptime(day + (time or "000000"), "%Y%m%d%H%M%S")
    except ValueError:
        raise _refuse(f"UNTIL is not a real date and time: {value!r}") from None
    return (parsed.replace(tzinfo=dt.timezone.utc) if utc else parsed), time is None


@lru_cache(maxsize=4096)
def parse(text: str) -> Rule:
    """The rule of an RRULE value ("FREQ=WEEKLY;BYDAY=MO", an "RRULE:" prefix is dropped),
    checked against RFC 5545 and our limits; InvalidError names the offending part."""
    value = text.strip()
    if value[:6].upper() == "RRULE:":
        value = value[6:]
    if any(c in value for c in "\r\n:") or not value:
        raise _refuse("give one RRULE value, such as 'FREQ=WEEKLY;BYDAY=MO'")
    parts: dict[str, str] = {}
    for part in value.split(";"):
        if not part:
            continue
        name, sep, item = part.partition("=")
        name = name.strip().upper()
        if not sep or not item:
            raise _refuse(f"each part is NAME=VALUE, found {part!r}")
        if name in parts:
            raise _refuse(f"{name} is given twice")
        parts[name] = item.strip().upper()
    freq_name = parts.pop("FREQ", None)
    if freq_name is None:
        raise _refuse("FREQ is missing; give one RRULE value, such as 'FREQ=WEEKLY;BYDAY=MO'")
    if freq_name in ("SECONDLY", "MINUTELY"):
        raise _refuse(f"FREQ={freq_name} is refused: blocked time repeats hourly at most")
    if freq_name not in FREQUENCIES:
        raise _refuse(f"FREQ={freq_name} is unknown; use HOURLY, DAILY, WEEKLY, MONTHLY or "
                      "YEARLY")
    freq = FREQUENCIES[freq_name]
    interval_limit = MAX_YEARLY_INTERVAL if freq == du.YEARLY else MAX_INTERVAL
    interval = _numbers("INTERVAL", parts.pop("INTERVAL", "1"), 1, interval_limit, False)
    if len(interval) != 1:
        raise _refuse("INTERVAL takes one number")
    count: int | None = None
    if "COUNT" in parts:
        counts = _numbers("COUNT", parts.pop("COUNT"), 1, MAX_COUNT, False)
        if len(counts) != 1:
            raise _refuse("COUNT takes one number")
        count = counts[0]
    until, until_is_date = (None, False)
    if "UNTIL" in parts:
        if count is not None:
            raise _refuse("give COUNT or UNTIL, not both")
        until, until_is_date = _until(parts.pop("UNTIL"))
    by: dict[str, tuple[int, ...]] = {}
    for name, unit, high in (("BYSECOND", "second", 60), ("BYMINUTE", "minute", 59)):
        # Occurrences start at the minute and second of the start: one value, which `_check`
        # holds to the start's own (clients write it out: python-caldav's tasks, Thunderbird).
        if name in parts:
            by[name] = _numbers(name, parts.pop(name), 0, high, False)
            if len(by[name]) != 1:
                raise _refuse(f"{name} with several values is refused: occurrences start at "
                              f"the {unit} of the start")
    ranges = {"BYHOUR": (0, 23, False), "BYMONTHDAY": (1, 31, True),
              "BYYEARDAY": (1, 366, True), "BYWEEKNO": (1, 53, True), "BYMONTH": (1, 12, False),
              "BYSETPOS": (1, 366, True)}
    for name, (low, high, signed) in ranges.items():
        if name in parts:
            by[name] = _numbers(name, parts.pop(name), low, high, signed)
    if "BYMONTHDAY" in by and freq == du.WEEKLY:
        raise _refuse("BYMONTHDAY cannot be used with FREQ=WEEKLY")
    if "BYYEARDAY" in by and freq in (du.DAILY, du.WEEKLY, du.MONTHLY):
        raise _refuse("BYYEARDAY needs FREQ=YEARLY or HOURLY")
    if "BYWEEKNO" in by and freq != du.YEARLY:
        raise _refuse("BYWEEKNO needs FREQ=YEARLY")
    byday = _byday(parts.pop("BYDAY"), freq, "BYWEEKNO" in by) if "BYDAY" in parts else ()
    if "BYSETPOS" in by and not (set(by) - {"BYSETPOS"} or byday):
        raise _refuse("BYSETPOS needs another BY... part (e.g. BYDAY)")
    wkst = 0
    if "WKST" in parts:
        day = parts.pop("WKST")
        if day not in WEEKDAYS:
            raise _refuse(f"WKST takes a weekday such as MO, found {day!r}")
        wkst = WEEKDAYS.index(day)
    if parts:
        raise _refuse(f"unknown part {sorted(parts)[0]}; RFC 5545 parts are FREQ, INTERVAL, "
                      "COUNT, UNTIL, BYHOUR, BYDAY, BYMONTHDAY, BYYEARDAY, BYWEEKNO, BYMONTH, "
                      "BYSETPOS and WKST")
    return Rule(value, freq, interval[0], count, until, until_is_date, by, byday, wkst)


# --- building dateutil rules -----------------------------------------------------------------

def _has_day_part(rule: Rule) -> bool:
    return bool(rule.byday or {"BYWEEKNO", "BYYEARDAY", "BYMONTHDAY"} & set(rule.by))


def _local_until(rule: Rule, tzid: str) -> dt.datetime | None:
    if rule.until is None:
        return None
    if rule.until.tzinfo is None:
        return rule.until
    from server.domain.timeutil import to_local  # timeutil imports this module
    return to_local(rule.until, tzid)


def _aligned_start(rule: Rule, start: dt.datetime, low: dt.datetime
                   ) -> tuple[dt.datetime, dict[str, object]]:
    """A start moved forward by whole INTERVAL periods to at most `low` (the occurrences from
    there on are the rule's own), with the defaults dateutil takes from the start made
    explicit (the moved start is a period's beginning, not an occurrence)."""
    keep: dict[str, object] = {}
    if rule.freq == du.HOURLY:
        step = dt.timedelta(hours=rule.interval)
        periods = (low - start) // step
        return (start + periods * step, keep) if periods >= 1 else (start, keep)
    keep = {"byhour": rule.by.get("BYHOUR", (start.hour,)), "byminute": (start.minute,),
            "bysecond": (start.second,)}
    if rule.freq == du.DAILY:
        periods = (low.date() - start.date()).days // rule.interval
        if periods < 1:
            return start, {}
        return dt.datetime.combine(start.date() + dt.timedelta(days=periods * rule.interval),
                                   dt.time()), keep
    if rule.freq == du.WEEKLY:
        week = start.date() - dt.timedelta(days=(start.weekday() - rule.wkst) % 7)
        periods = (low.date() - week).days // (7 * rule.interval)
        if periods < 1:
            return start, {}
        if not _has_day_part(rule):
            keep["byweekday"] = (start.weekday(),)
        return dt.datetime.combine(week + dt.timedelta(weeks=periods * rule.interval),
                                   dt.time()), keep
    if rule.freq == du.MONTHLY:
        first = start.year * 12 + start.month - 1
        periods = (low.year * 12 + low.month - 1 - first) // rule.interval
        if periods < 1:
            return start, {}
        if not _has_day_part(rule):
            keep["bymonthday"] = (start.day,)
        year, month = divmod(first + periods * rule.interval, 12)
        return dt.datetime(year, month + 1, 1), keep
    periods = (low.year - start.year) // rule.interval
    if periods < 1:
        return start, {}
    if not _has_day_part(rule):
        keep["bymonth"] = rule.by.get("BYMONTH", (start.month,))
        keep["bymonthday"] = (start.day,)
    return dt.datetime(start.year + periods * rule.interval, 1, 1), keep


def _years_after(value: dt.datetime, years: int) -> dt.datetime:
    """`years` later (capped below year 9999), 29 February becoming the 28th."""
    year = min(value.year + years, LAST_YEAR - 1)
    day = 28 if value.month == 2 and value.day == 29 else value.day
    return value.replace(year=year, day=day)


def _shift(value: dt.datetime, years: int) -> dt.datetime:
    return value.replace(year=value.year + years) if years else value


def _build(rule: Rule, start: dt.datetime, until: dt.datetime | None, count: int | None,
           extra: dict[str, object]) -> du.rrule:
    kwargs: dict[str, object] = {
        "dtstart": start, "interval": rule.interval, "wkst": rule.wkst, "count": count,
        "until": until, "bymonth": rule.by.get("BYMONTH"),
        "bymonthday": rule.by.get("BYMONTHDAY"), "byyearday": rule.by.get("BYYEARDAY"),
        "byweekno": rule.by.get("BYWEEKNO"), "bysetpos": rule.by.get("BYSETPOS"),
        "byhour": rule.by.get("BYHOUR"),
        "byweekday": tuple(du.weekday(day, ordinal or None) for day, ordinal in rule.byday)
        or None}
    kwargs.update(extra)
    try:
        return du.rrule(rule.freq, **kwargs)  # type: ignore[arg-type]
    except (ValueError, IndexError, OverflowError) as exc:
        raise _refuse(f"it matches no time: {exc}") from None


def _between(rule: Rule, start: dt.datetime, tzid: str, low: dt.datetime,
             high: dt.datetime, limit: int) -> Iterator[dt.datetime]:
    """Local start times of the occurrences in [low, high] (naive local times), in order."""
    until = _local_until(rule, tzid)
    if until is not None and until < high:
        high = until
    if high < start or high < low:
        return
    extra: dict[str, object] = {}
    first = start
    if rule.count is None and low > start:
        first, extra = _aligned_start(rule, start, low)
    years = (LAST_YEAR - high.year) // CYCLE_YEARS * CYCLE_YEARS
    shifted_high = _shift(high, years)
    found = _build(rule, _shift(first, years), shifted_high if rule.count is None else None,
                   rule.count, extra)
    shifted_low = _shift(low, years)
    taken = 0
    for occurrence in found:
        if occurrence > shifted_high:
            return
        if occurrence >= shifted_low:
            taken += 1
            if taken > limit:
                raise ExpansionLimitError(
                    f"RRULE: more than {limit} occurrences in one range; ask for a shorter "
                    "range or repeat less often", field="rrule")
            yield _shift(occurrence, -years)


# --- what the rest of the code calls -----------------------------------------------------------

def validate(text: str, start: dt.datetime, tzid: str) -> str:
    """The stored form of a rule for a series starting at `start` (naive local time in `tzid`):
    parsed, checked, and proven to occur, and to end when bounded, within MAX_SERIES_YEARS.
    Proving that a rule never occurs walks up to a few centuries of days (a second or two), so
    the answer is remembered: a writer checks first, before it takes any lock."""
    rule, problem = _check(text, start, tzid)
    if rule is None:
        raise InvalidError(problem, field="rrule")
    return rule.text


@lru_cache(maxsize=4096)
def _check(text: str, start: dt.datetime, tzid: str) -> tuple[Rule | None, str]:
    try:
        rule = parse(text)
        for name, unit, own in (("BYMINUTE", "minute", start.minute),
                                ("BYSECOND", "second", start.second)):
            if rule.by.get(name, (own,)) != (own,):
                raise _refuse(f"{name}={rule.by[name][0]} is refused: occurrences start at the "
                              f"{unit} of the start ({own})")
        until = _local_until(rule, tzid)
        limit = _years_after(start, MAX_SERIES_YEARS)
        if until is not None:
            if until < start:
                raise _refuse("UNTIL lies before the start")
            if until > limit:
                raise _refuse(f"UNTIL lies more than {MAX_SERIES_YEARS} years after the start; "
                              "leave it out to repeat forever")
        found = _between(rule, start, tzid, start, limit, MAX_COUNT)
        if not _some_day(rule, start, tzid, limit) or next(found, None) is None:
            raise _refuse(f"it never occurs within {MAX_SERIES_YEARS} years of the start "
                          "(check BYMONTH, BYMONTHDAY, BYDAY and INTERVAL against the start)")
        if rule.count is not None and 1 + sum(1 for _ in found) < rule.count:
            raise _refuse(f"COUNT={rule.count} runs beyond {MAX_SERIES_YEARS} years; lower "
                          "COUNT or leave it out to repeat forever")
    except InvalidError as exc:
        return None, exc.message
    return rule, ""


def _some_day(rule: Rule, start: dt.datetime, tzid: str, limit: dt.datetime) -> bool:
    """Whether an HOURLY rule's day filters accept any day before `limit`: a daily walk, a
    twentieth of the hourly one, that refutes the usual impossible rules quickly."""
    if rule.freq != du.HOURLY or not (rule.byday or {"BYMONTH", "BYMONTHDAY", "BYYEARDAY"}
                                      & set(rule.by)):
        return True
    days = replace(rule, freq=du.DAILY, interval=1, count=None, until=None,
                   by={k: v for k, v in rule.by.items() if k not in ("BYHOUR", "BYSETPOS")})
    midnight = dt.datetime.combine(start.date(), dt.time())
    return next(_between(days, midnight, tzid, midnight, limit, 1), None) is not None


@lru_cache(maxsize=4096)
def _stored(text: str, start: dt.datetime, tzid: str) -> Rule | None:
    rule, problem = _check(text, start, tzid)
    if rule is None:
        log.warning("a stored RRULE fails its checks and counts as one occurrence until it is "
                    "edited: %s", problem)
    return rule


def stored_rule(text: str | None, start: dt.datetime, tzid: str) -> str | None:
    """The stored rule if it still passes `validate`, else None (one occurrence only): what
    renderers and the Google copy send, so no reader elsewhere expands a hostile rule."""
    if not text:
        return None
    return text if _stored(text, start, tzid) is not None else None


def starts_between(text: str | None, start: dt.datetime, tzid: str, low: dt.datetime,
                   high: dt.datetime, limit: int = MAX_INSTANCES) -> list[dt.datetime]:
    """Local start times of a series' occurrences in [low, high] (naive local times in `tzid`).
    No rule, or a stored one that fails its checks, gives the start alone."""
    rule = _stored(text, start, tzid) if text else None
    if rule is None:
        return [start] if low <= start <= high else []
    return list(_between(rule, start, tzid, low, high, limit))


def last_start(text: str, start: dt.datetime, tzid: str) -> dt.datetime | None:
    """The latest start of a bounded series (exact with COUNT, UNTIL itself as an upper bound
    with UNTIL), or None when it repeats forever."""
    rule = _stored(text, start, tzid)
    if rule is None:
        return start
    if rule.count is not None:
        limit = _years_after(start, MAX_SERIES_YEARS)
        found = list(_between(rule, start, tzid, start, limit, MAX_COUNT))
        return found[-1] if found else start
    until = _local_until(rule, tzid)
    return None if until is None else max(until, start)
