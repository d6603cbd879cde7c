"""RFC 5545 VTIMEZONE components for the tzdata zones, valid from 1 January of a given year on,
forever, and readable by simple parsers.

The observances are derived from the zone itself: its UTC-offset changes are found by scanning
`utcoffset()` (daily samples, then bisection to the second) from `first_year` until the last 28
years show nothing but the same yearly pattern again and again, which is the zone's POSIX TZ
footer rule that zoneinfo applies forever after the last explicit transition.  Changes of the
same shape in consecutive years (same month, day rule such as the last Sunday (BYDAY=-1SU), the
2nd Sunday (2SU) or the Saturday of the 24th-30th, wall-clock time, offsets, name and kind)
become one observance with a yearly RRULE: with UNTIL when the run ends, without when it is the
zone's final rule.  A day rule whose seven days reach into the next month (Africa/Cairo: 24:00
on October's last Thursday, the Friday of Oct 26-Nov 1) becomes two complementary RRULEs, one a
month.  Changes that do not repeat (runs of fewer than three years) become observances with a
DTSTART and single-value RDATE lines (one value a line, never comma-separated: vobject keeps the
first value of a multi-value RDATE only).  Were a zone still irregular in 2400 (none is), its
observances would end there: its last offset would then be taken to last forever.

Why not `Timezone.from_tzinfo(zone, first, last)`: it covers only [first, last] and writes
multi-value RDATEs, so vobject (Radicale's parser, which also keeps the first VTIMEZONE it saw
for a TZID for the life of the process) and clients expanding repeating items beyond the range
get wrong offsets.

Readers differ on UNTIL: RFC 5545 says it is UTC, dateutil's tzical (used by vobject and by
icalendar's `to_tz`) compares its digits with local wall-clock times.  Each UNTIL here is the
later of the two readings of the run's last change, so both readers stop after it, and both are
about a year before the next change the rule would make.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard, vRecur

from server.domain.timeutil import zone

UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1)
_DAY = 86_400
# The Gregorian weekday pattern repeats every 28 years (within a century): a run of yearly
# changes that spans 28 years without a break has shown every date its weekday rule can take.
_CYCLE = 28
_MIN_YEAR, _MAX_YEAR = 1800, 2400
# The scan reaches at least this far: tzdata has explicit (irregular) predictions to 2086.
_SCAN_FLOOR_YEAR = 2038
# Runs shorter than this are written as RDATEs (one line each) rather than an RRULE observance.
_MIN_RULE_YEARS = 3
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@dataclass(frozen=True)
class _State:
    """What a zone says at an instant."""
    offset: dt.timedelta
    dst: dt.timedelta
    name: str


@dataclass(frozen=True)
class _Change:
    """A change of state at `at` (UTC seconds since the epoch)."""
    at: int
    before: _State
    after: _State

    @property
    def wall(self) -> dt.datetime:
        """Local wall-clock time of the change in the offset before it (DTSTART, RDATE)."""
        return _EPOCH + dt.timedelta(seconds=self.at) + self.before.offset

    @property
    def daylight(self) -> bool:
        """DAYLIGHT or STANDARD. Zones with negative DST in tzdata's main format (Europe/Dublin:
        winter is GMT with dst -1h) are labelled as in its rearguard format: summer is DAYLIGHT."""
        return self.after.dst > dt.timedelta(0) or (
            self.after.dst == dt.timedelta(0) and self.before.dst < dt.timedelta(0))

    @property
    def signature(self) -> tuple[dt.time, dt.timedelta, dt.timedelta, str, bool]:
        """Everything but the date that changes of one yearly rule share."""
        return (self.wall.time(), self.before.offset, self.after.offset, self.after.name,
                self.daylight)


# A yearly day rule: ("last", month, weekday); ("ge", month, weekday, D): the weekday in the
# seven days from D of the month on, which may reach into the next month; ("day", month, day).
_Shape = tuple[str, int, int] | tuple[str, int, int, int]


def _month_length(month: int, year: int = 2001) -> int:
    return calendar.monthrange(year, month)[1]


def _shapes(day: dt.date) -> frozenset[_Shape]:
    """Every yearly rule that picks `day` in its year."""
    weekday = day.weekday()
    shapes: set[_Shape] = set()
    for back in range(7):
        first = day - dt.timedelta(days=back)
        if first.month == 2 and first.day + 6 > 28 or first.month == 12 and first.day > 25:
            continue  # seven days that end in March or in the next year: length varies
        shapes.add(("ge", first.month, weekday, first.day))
    if day.day > _month_length(day.month, day.year) - 7:
        shapes.add(("last", day.month, weekday))
    if day.month != 2 or day.day <= 28:
        shapes.add(("day", day.month, day.day))
    return frozenset(shapes)


def _splits(shape: _Shape) -> bool:
    return shape[0] == "ge" and shape[3] + 6 > _month_length(shape[1])  # type: ignore[misc]


def _preference(shape: _Shape) -> tuple[int, int, int]:
    kind, month = shape[0], shape[1]
    if kind == "last":
        return (0, month, 0)
    if kind == "day":
        return (2, month, shape[2])
    first = shape[3]  # type: ignore[misc]
    if _splits(shape):
        return (4, month, first)
    return (1 if first in (1, 8, 15, 22) else 3, month, first)


def _rules(shape: _Shape) -> list[dict[str, object]]:
    """The BYMONTH/BYDAY/BYMONTHDAY parts of a day rule: two rules (one a month) when its seven
    days reach into the next month (Africa/Cairo: the Friday after October's last Thursday)."""
    kind, month = shape[0], shape[1]
    if kind == "last":
        return [{"BYMONTH": [month], "BYDAY": [f"-1{_WEEKDAYS[shape[2]]}"]}]
    if kind == "day":
        return [{"BYMONTH": [month], "BYMONTHDAY": [shape[2]]}]
    weekday, first = _WEEKDAYS[shape[2]], shape[3]  # type: ignore[misc]
    if first in (1, 8, 15, 22):
        return [{"BYMONTH": [month], "BYDAY": [f"{(first - 1) // 7 + 1}{weekday}"]}]
    length = _month_length(month)
    if first + 6 <= length:
        return [{"BYMONTH": [month], "BYDAY": [weekday],
                 "BYMONTHDAY": list(range(first, first + 7))}]
    return [{"BYMONTH": [month], "BYDAY": [weekday],
             "BYMONTHDAY": list(range(first, length + 1))},
            {"BYMONTH": [month + 1], "BYDAY": [weekday],
             "BYMONTHDAY": list(range(1, first + 7 - length))}]


@dataclass
class _Run:
    """Changes of one signature in consecutive years that one day rule picks."""
    signature: tuple[object, ...]
    changes: list[_Change]
    shapes: frozenset[_Shape]

    @property
    def first_year(self) -> int:
        return self.changes[0].wall.year

    @property
    def last_year(self) -> int:
        return self.changes[-1].wall.year


def _state(tz: dt.tzinfo, at: int) -> _State:
    moment = dt.datetime.fromtimestamp(at, tz)
    offset, dst, name = moment.utcoffset(), moment.dst(), moment.tzname()
    assert offset is not None and dst is not None and name is not None
    return _State(offset, dst, name)


def _scan(tz: dt.tzinfo, start: int, end: int) -> list[_Change]:
    """Changes of state in (start, end]: daily samples, each change located to the second by
    bisection (several changes within one day are found one after another)."""
    changes: list[_Change] = []
    at, state = start, _state(tz, start)
    while at < end:
        step_end = min(at + _DAY, end)
        later = _state(tz, step_end)
        if later == state:
            at = step_end
            continue
        low, high = at, step_end  # state at low == state, at high differs
        while high - low > 1:
            middle = (low + high) // 2
            if _state(tz, middle) == state:
                low = middle
            else:
                high = middle
        after = _state(tz, high)
        changes.append(_Change(high, state, after))
        at, state = high, after
    return changes


def _timestamp(year: int) -> int:
    return int((dt.datetime(year, 1, 1) - _EPOCH).total_seconds())


def _runs(changes: list[_Change]) -> list[_Run]:
    """Changes grouped greedily: a change joins a run of its signature that reached the year
    before if one day rule still picks every day of the run."""
    runs: list[_Run] = []
    for change in changes:
        signature, shapes = change.signature, _shapes(change.wall.date())
        for run in runs:
            if run.signature == signature and run.last_year == change.wall.year - 1 \
                    and run.shapes & shapes:
                run.changes.append(change)
                run.shapes &= shapes
                break
        else:
            runs.append(_Run(signature, [change], shapes))
    return runs


def _stable(changes: list[_Change], runs: list[_Run], end_year: int) -> bool:
    """Whether every change of the last 28 scanned years belongs to a run spanning them all."""
    spanning = {id(change) for run in runs
                if run.last_year == end_year - 1 and run.first_year <= end_year - _CYCLE
                for change in run.changes}
    return all(id(change) in spanning for change in changes
               if change.wall.year >= end_year - _CYCLE)


@dataclass(frozen=True)
class _Observance:
    """One STANDARD or DAYLIGHT component, in plain values."""
    daylight: bool
    start: dt.datetime
    offset_from: dt.timedelta
    offset_to: dt.timedelta
    name: str
    rule: tuple[tuple[str, object], ...] | None = None
    rdates: tuple[dt.datetime, ...] = ()


def _until(change: _Change) -> dt.datetime:
    """UNTIL for a run whose last change is `change`: the later of its UTC time and its local
    wall-clock time written as UTC, so that RFC 5545 readers (UTC) and dateutil's tzical (wall
    time) both include it, and both exclude next year's."""
    wall, utc = change.wall, _EPOCH + dt.timedelta(seconds=change.at)
    return max(wall, utc).replace(tzinfo=UTC)


@lru_cache(maxsize=1024)
def _observances(tzid: str, first_year: int) -> tuple[_Observance, ...]:
    tz = zone(tzid)
    anchor = int(dt.datetime(first_year, 1, 1, tzinfo=tz).timestamp())
    scanned = anchor - 366 * _DAY
    changes = _scan(tz, scanned, anchor)
    prior = changes[-1:]  # the change in force on 1 January, if it was within a year
    end_year = max(first_year, _SCAN_FLOOR_YEAR) + _CYCLE
    changes = prior + _scan(tz, anchor, _timestamp(end_year + 1))
    scanned_to = _timestamp(end_year + 1)
    while True:
        in_range = [change for change in changes if change.wall.year < end_year]
        runs = _runs(in_range)
        if _stable(in_range, runs, end_year) or end_year >= _MAX_YEAR:
            break
        end_year += _CYCLE
        changes += _scan(tz, scanned_to, _timestamp(end_year + 1))
        scanned_to = _timestamp(end_year + 1)

    result: list[tuple[int, _Observance]] = []
    single: dict[tuple[dt.timedelta, dt.timedelta, str, bool], list[_Change]] = {}
    if not prior:
        state = _state(tz, anchor)
        start = dt.datetime(first_year, 1, 1)
        result.append((anchor, _Observance(state.dst > dt.timedelta(0), start, state.offset,
                                           state.offset, state.name)))
    for run in runs:
        final = run.last_year == end_year - 1 and len(run.changes) >= _CYCLE
        if not final and len(run.changes) < _MIN_RULE_YEARS:
            for change in run.changes:
                single.setdefault((change.before.offset, change.after.offset,
                                   change.after.name, change.daylight), []).append(change)
            continue
        shape = min(run.shapes, key=_preference)
        for parts in _rules(shape):
            month = parts["BYMONTH"][0]  # type: ignore[index]
            mine = [change for change in run.changes if change.wall.month == month]
            if not mine:
                continue
            first = mine[0]
            rule: dict[str, object] = {"FREQ": "YEARLY", **parts}
            if not final:
                rule["UNTIL"] = _until(run.changes[-1])
            result.append((first.at, _Observance(first.daylight, first.wall,
                                                 first.before.offset, first.after.offset,
                                                 first.after.name, tuple(rule.items()))))
    for (offset_from, offset_to, name, daylight), group in single.items():
        group.sort(key=lambda change: change.at)
        result.append((group[0].at, _Observance(daylight, group[0].wall, offset_from, offset_to,
                                                name, rdates=tuple(c.wall for c in group[1:]))))
    result.sort(key=lambda item: (item[0], item[1].daylight))
    return tuple(observance for _, observance in result)


def build_vtimezone(tzid: str, first_year: int) -> Timezone:
    """A VTIMEZONE for the tzdata zone `tzid` that gives its offset correctly for every instant
    from 1 January of `first_year` (local time) on, forever. Unknown zones raise the
    InvalidError of `server.domain.timeutil.zone`.

    Pass one `first_year` for every use of a TZID (1970, say): vobject keeps the first
    VTIMEZONE it reads for a TZID for the life of the process, and, reading times before the
    first observance as the first STANDARD's offset, takes a text for a zone at +00:00 in
    winter (Europe/London) that starts after 2000 for UTC (its `tzinfo_eq` compares 2000-2020)
    and then uses pytz's zone of that name instead."""
    if not _MIN_YEAR <= first_year <= _MAX_YEAR:
        raise ValueError(f"first_year must be within {_MIN_YEAR}..{_MAX_YEAR}, not {first_year}")
    timezone = Timezone()
    timezone.add("tzid", tzid)
    for observance in _observances(tzid, first_year):
        component = TimezoneDaylight() if observance.daylight else TimezoneStandard()
        component.add("dtstart", observance.start)
        component.add("tzoffsetfrom", observance.offset_from)
        component.add("tzoffsetto", observance.offset_to)
        component.add("tzname", observance.name)
        if observance.rule is not None:
            component.add("rrule", vRecur(dict(observance.rule)))
        for rdate in observance.rdates:
            component.add("rdate", rdate)
        timezone.add_component(component)
    return timezone


@lru_cache(maxsize=512)
def vtimezone_text(tzid: str, first_year: int) -> str:
    """`build_vtimezone` as iCalendar text ("BEGIN:VTIMEZONE ... END:VTIMEZONE\\r\\n")."""
    return build_vtimezone(tzid, first_year).to_ical().decode("utf-8")
