"""An ICS feed's events in the mirror's vocabulary (server/domain/mirrored.py): repeating
events expanded with `recurring-ical-events` over the blocking window, bounded; times in the
feed's own VTIMEZONEs, floating times in the business's zone; the blocking facts mapped onto
the one policy (server/domain/blocking.py):

- `TRANSP:TRANSPARENT` is free; `X-MICROSOFT-CDO-BUSYSTATUS` (Outlook) overrides it: FREE is
  free, TENTATIVE is a tentative answer, OOF is out of office, WORKINGELSEWHERE never blocks,
  BUSY is busy;
- `STATUS:CANCELLED` events (and cancelled occurrences) are left out; `STATUS:TENTATIVE` is a
  tentative answer (the business's "tentative blocks" choice decides);
- all-day events (DATE starts) keep their dates: the business's "all-day blocks" choice
  decides, and they cover whole local days of the employee's calendar."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import icalendar
import recurring_ical_events

from server.domain.mirrored import RemoteEvent
from server.domain.timeutil import zone as zone_of

UTC = dt.timezone.utc
# Occurrences looked at per feed, kept or not, at most this many times max_instances: a
# series of a minute-by-minute rule cannot keep the expansion running for long.
SCAN_FACTOR = 5
ID_LIMIT = 900
SERIES_LIMIT = 3000  # occurrences of one repeating event kept at most (and max_instances / 4)
COUNT_LIMIT = 100_000  # a rule's COUNT above this is lowered (its later occurrences left out)
EXPAND_SECONDS = 60.0  # the whole expansion of one feed, at most (a busy machine)
# Rules whose every period is the same length: a start long ago may be moved forward by whole
# intervals without changing which occurrences fall in the window.
STEPS = {"SECONDLY": dt.timedelta(seconds=1), "MINUTELY": dt.timedelta(minutes=1),
         "HOURLY": dt.timedelta(hours=1), "DAILY": dt.timedelta(days=1),
         "WEEKLY": dt.timedelta(weeks=1)}


@dataclass
class Bounds:
    """What `_bounded` decided for one repeating event."""

    cut: bool = False  # occurrences may have been left out
    skip: bool = False  # the rule cannot be expanded safely: the series is left out
    period: dt.timedelta = dt.timedelta(days=1)  # the rule's step, for the first window


def _bounded(component: Any, start: dt.datetime) -> Bounds:
    """Make a repeating event cheap to expand from `start` on, the same occurrences in the
    window: a rule of fixed periods without COUNT that began long ago starts again a whole
    number of intervals later, just before the window (its DTEND moved alike), so the
    expansion does not walk every minute since 2000; a COUNT above COUNT_LIMIT is lowered; an
    INTERVAL below 1 (on which dateutil loops for ever) or absurdly large leaves the series
    out."""
    rule = component.get("RRULE")
    if rule is None:
        return Bounds()
    if isinstance(rule, list):
        return Bounds(cut=True, skip=True)  # several RRULEs: not expanded (RFC 5545 says one)
    try:
        every = int((rule.get("INTERVAL") or [1])[0])
    except (TypeError, ValueError):
        return Bounds(cut=True, skip=True)
    if not 1 <= every <= 100_000:
        return Bounds(cut=True, skip=True)
    step = STEPS.get(str((rule.get("FREQ") or [""])[0]).upper())
    period = step * every if step is not None else dt.timedelta(days=1)
    count = rule.get("COUNT")
    if count:
        if int(count[0]) > COUNT_LIMIT:
            rule["COUNT"] = [COUNT_LIMIT]
            return Bounds(cut=True, period=period)
        return Bounds(period=period)
    first = component.get("DTSTART")
    if step is None or first is None:
        return Bounds(period=period)
    begins = first.dt
    if isinstance(begins, dt.datetime):
        here = start.astimezone(begins.tzinfo) if begins.tzinfo is not None \
            else start.replace(tzinfo=None)
    else:
        here = start.date()  # type: ignore[assignment]
    gap = here - begins - _length(component) - dt.timedelta(days=2)
    if gap > period:
        shift = period * (gap // period)
        first.dt = begins + shift
        ends = component.get("DTEND")
        if ends is not None:
            ends.dt = ends.dt + shift
    return Bounds(period=period)


def _length(component: Any) -> dt.timedelta:
    ends, begins = component.get("DTEND"), component.get("DTSTART")
    try:
        if ends is not None:
            return max(dt.timedelta(0), ends.dt - begins.dt)
        if component.get("DURATION") is not None:
            return max(dt.timedelta(0), component.get("DURATION").dt)
    except TypeError:
        pass
    return dt.timedelta(days=1)


def _expand(query: Any, start: dt.datetime, end: dt.datetime,
            period: dt.timedelta) -> Iterator[Any]:
    """The occurrences of one series overlapping [start, end), in order of start, as
    components built one at a time (the caller stops when it has enough): asked for window by
    window (a day first, longer while they are few, shorter while many), so a dense series is
    not walked again from its start for every few minutes of the window. The windows are
    recurring-ical-events' own occurrence lists, as its `after()` walks them."""
    # The first window holds about 200 steps of the rule (a day at most), so a rule by the
    # second does not build a day of occurrences at once.
    low, seen = start, set()
    span = max(min(dt.timedelta(days=1), period * 200), dt.timedelta(minutes=5))
    while low < end:
        high = min(end, low + span)
        batch = query._occurrences_between(query.to_datetime(low), query.to_datetime(high))
        batch.sort()
        for occurrence in batch:
            if occurrence.id not in seen:
                seen.add(occurrence.id)
                yield occurrence.as_component(query.keep_recurrence_attributes)
        span = span * 2 if len(batch) < 200 else max(span / 2, dt.timedelta(minutes=5))
        low = high


def _by_series(calendar: icalendar.Calendar, start: dt.datetime, end: dt.datetime,
               truncated: list[bool]) -> Iterator[Iterable[Any]]:
    """The feed's events, one iterable per UID: a single event as it is, a repeating one
    (with its overridden occurrences) expanded lazily from `start` on, in order of start, by
    recurring-ical-events over a calendar holding it and the feed's VTIMEZONEs (bounded:
    `_bounded`; `truncated` gets True when occurrences were left out)."""
    zones = [component for component in calendar.subcomponents
             if component.name == "VTIMEZONE"]
    groups: dict[str, list[Any]] = {}
    for component in calendar.walk("VEVENT"):
        groups.setdefault(_text(component, "UID") or f"#{len(groups)}", []).append(component)
    for components in groups.values():
        if len(components) == 1 and all(components[0].get(name) is None
                                        for name in ("RRULE", "RDATE", "RECURRENCE-ID")):
            yield components
            continue
        single = icalendar.Calendar()
        bounds = Bounds()
        for component in zones:
            single.add_component(component)
        for component in components:
            if component.get("RECURRENCE-ID") is None:
                bounds = _bounded(component, start)
            single.add_component(component)
        if bounds.cut:
            truncated.append(True)
        if bounds.skip:
            continue
        yield _expand(recurring_ical_events.of(single, components=["VEVENT"]), start, end,
                      bounds.period)


class FeedError(ValueError):
    """The body is not a calendar that can be read; the message says what it is."""


@dataclass(frozen=True)
class Feed:
    """The events of a feed over the window, and what the feed says about itself."""

    events: list[RemoteEvent]
    refresh_seconds: int | None = None  # REFRESH-INTERVAL or X-PUBLISHED-TTL
    truncated: bool = False  # more occurrences than allowed: the latest were left out


def _duration_seconds(value: Any) -> int | None:
    try:
        decoded = icalendar.vDDDTypes.from_ical(str(value))
    except (ValueError, TypeError):
        return None
    if isinstance(decoded, dt.timedelta) and decoded.total_seconds() > 0:
        return int(decoded.total_seconds())
    return None


def refresh_of(calendar: icalendar.Calendar) -> int | None:
    """The refresh interval the feed asks for (RFC 7986 REFRESH-INTERVAL, else Outlook's
    X-PUBLISHED-TTL), in seconds."""
    for name in ("REFRESH-INTERVAL", "X-PUBLISHED-TTL"):
        value = calendar.get(name)
        if value is not None:
            seconds = _duration_seconds(value.to_ical().decode() if hasattr(value, "to_ical")
                                        else value)
            if seconds is not None:
                return seconds
    return None


def _text(component: Any, name: str) -> str:
    value = component.get(name)
    return str(value).strip() if value is not None else ""


def _instant(value: Any, tzid: str) -> dt.datetime:
    """A DATE-TIME as UTC; a floating one read in the business's zone `tzid`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone_of(tzid))
    return value.astimezone(UTC)


def _midnight(day: dt.date, tzid: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), zone_of(tzid)).astimezone(UTC)


def _event_id(uid: str, suffix: str | None) -> str:
    raw = uid if suffix is None else f"{uid}/{suffix}"
    if len(raw) <= ID_LIMIT:
        return raw
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def _facts(component: Any) -> dict[str, Any]:
    """The blocking facts of one event in the mirror's vocabulary."""
    transparency = "transparent" if _text(component, "TRANSP").upper() == "TRANSPARENT" \
        else "opaque"
    event_type, self_response = "default", None
    busy = _text(component, "X-MICROSOFT-CDO-BUSYSTATUS").upper()
    if busy == "FREE":
        transparency = "transparent"
    elif busy == "BUSY":
        transparency = "opaque"
    elif busy == "TENTATIVE":
        transparency, self_response = "opaque", "tentative"
    elif busy == "OOF":
        transparency, event_type = "opaque", "outOfOffice"
    elif busy == "WORKINGELSEWHERE":
        event_type = "workingLocation"
    if _text(component, "STATUS").upper() == "TENTATIVE":
        self_response = "tentative"
    return {"transparency": transparency, "event_type": event_type,
            "self_response": self_response}


def _span(component: Any, tzid: str) -> tuple[dt.datetime, dt.datetime, dt.date | None,
                                                dt.date | None] | None:
    """(start, end, start date, end date) of one occurrence; dates only for all-day ones."""
    start_prop = component.get("DTSTART")
    if start_prop is None:
        return None
    start = start_prop.dt
    end_prop = component.get("DTEND")
    if end_prop is not None:
        end = end_prop.dt
    elif component.get("DURATION") is not None:
        end = start + component.get("DURATION").dt
    else:
        end = start + dt.timedelta(days=1) if not isinstance(start, dt.datetime) else start
    if not isinstance(start, dt.datetime):
        last = end if not isinstance(end, dt.datetime) else end.date()
        last = max(last, start + dt.timedelta(days=1))
        return _midnight(start, tzid), _midnight(last, tzid), start, last
    if not isinstance(end, dt.datetime):
        end = dt.datetime.combine(end, dt.time(), start.tzinfo)
    low, high = _instant(start, tzid), _instant(end, tzid)
    return low, max(low, high), None, None


# The properties of an event that the mirror or the expansion reads; the parser is given no
# other (a published Outlook calendar's descriptions, attendees, alarms and X-MS-OLK lines are
# most of its bytes, and icalendar's parsing costs per property).
EVENT_PROPERTIES = frozenset({
    "UID", "DTSTART", "DTEND", "DURATION", "SUMMARY", "STATUS", "TRANSP",
    "X-MICROSOFT-CDO-BUSYSTATUS", "RRULE", "RDATE", "EXDATE", "EXRULE", "RECURRENCE-ID",
    "SEQUENCE"})


_NAME = re.compile(r"([^;:]+)[;:]")  # a content line's name, before its parameters or value
_MARKS = frozenset("BbEe")  # the first letters of BEGIN: and END:


def trim(text: str) -> str:
    """`text` with, inside each VEVENT, only the properties in EVENT_PROPERTIES (folded
    lines kept with their property) and no nested component (VALARM); everything outside
    events (the calendar's properties, VTIMEZONEs) as it is. One pass over the lines, which
    looks for BEGIN/END only on lines starting with their letters (a published Outlook
    calendar is mostly lines of events that are dropped)."""
    kept: list[str] = []
    keep = kept.append
    name_of = _NAME.match
    depth = 0  # 0: outside events; 1: in a VEVENT; 2+: in a component inside one
    keeping = True
    for line in text.splitlines():
        first = line[:1]
        if first == " " or first == "\t":
            if keeping:
                keep(line)
            continue
        if depth == 0:
            keeping = True
            if first in _MARKS and line[:20].upper().rstrip() == "BEGIN:VEVENT":
                depth = 1
            keep(line)
            continue
        if first in _MARKS:
            upper = line[:6].upper()
            if upper.startswith("BEGIN:"):
                depth += 1
                keeping = False
                continue
            if upper.startswith("END:"):
                depth -= 1
                keeping = depth == 0
                if keeping:
                    keep(line)
                continue
        if depth > 1:
            keeping = False
            continue
        name = name_of(line)
        keeping = name is not None and name.group(1).upper() in EVENT_PROPERTIES
        if keeping:
            keep(line)
    return "\r\n".join(kept) + "\r\n"


def read(body: bytes, *, tzid: str, start: dt.datetime, end: dt.datetime,
         max_instances: int, whole: bool = False) -> Feed:
    """The events of the ICS `body` that overlap [start, end), at most `max_instances`.
    Only the properties read are parsed (`trim`); `whole`: every one (the bench's baseline,
    the tests' comparison)."""
    text = body.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text[:200].upper().startswith("BEGIN:VCALENDAR"):
        shown = "an HTML page" if text[:200].lower().lstrip().startswith(("<!doctype", "<html")) \
            else "not iCalendar data"
        raise FeedError(f"the address returned {shown}, not a calendar: check that it is the "
                        "calendar's ICS (iCal) link")
    try:
        calendar = icalendar.Calendar.from_ical(text if whole else trim(text))
        if isinstance(calendar, list):
            calendar = calendar[0]
    except Exception as exc:  # noqa: BLE001 - any parser failure is the feed's, not ours
        raise FeedError(f"the calendar could not be read: {str(exc)[:200]}") from None
    counts: dict[str, int] = {}
    events: list[RemoteEvent] = []
    cut: list[bool] = []
    # One series may take a quarter of the feed's allowance at most: a minute-by-minute rule
    # cannot crowd out the other events.
    series_cap = min(SERIES_LIMIT, max(1, max_instances // 4))
    scanned = 0
    deadline = time.monotonic() + EXPAND_SECONDS
    try:
        for occurrences in _by_series(calendar, start, end, cut):
            kept = 0
            for occurrence in occurrences:
                scanned += 1
                if time.monotonic() > deadline:
                    raise FeedError(f"the calendar's repeating events take longer than "
                                    f"{EXPAND_SECONDS:g} s to expand; simplify them")
                span = _span(occurrence, tzid)
                if span is None:
                    continue
                low, high, first_day, last_day = span
                if low >= end:
                    break
                if kept >= series_cap or len(events) >= max_instances \
                        or scanned > max_instances * SCAN_FACTOR:
                    cut.append(True)
                    break
                if _text(occurrence, "STATUS").upper() == "CANCELLED" or high <= start:
                    continue
                events.append(_event(occurrence, low, high, first_day, last_day, counts))
                kept += 1
            if scanned > max_instances * SCAN_FACTOR:
                cut.append(True)
                break
    except FeedError:
        raise
    except Exception as exc:  # noqa: BLE001 - recurring-ical-events and icalendar raise many
        # kinds on odd input (InvalidCalendar, BadRuleStringFormat, OverflowError, ...): all
        # of them mean this feed cannot be expanded; the bridge must go on with the others.
        raise FeedError(f"the calendar's repeating events could not be expanded: "
                        f"{str(exc)[:200]}") from None
    truncated = bool(cut)
    return Feed(events, refresh_of(calendar), truncated)


def _event(occurrence: Any, low: dt.datetime, high: dt.datetime, first_day: dt.date | None,
           last_day: dt.date | None, counts: dict[str, int]) -> RemoteEvent:
    uid = _text(occurrence, "UID") or "no-uid-" + hashlib.sha256(
        f"{low.isoformat()}|{_text(occurrence, 'SUMMARY')}".encode()).hexdigest()[:16]
    repeating = any(occurrence.get(name) is not None
                    for name in ("RRULE", "RDATE", "RECURRENCE-ID"))
    seen = counts.get(uid, 0)
    counts[uid] = seen + 1
    suffix = None
    if repeating or seen:
        suffix = first_day.isoformat() if first_day is not None \
            else low.strftime("%Y%m%dT%H%M%SZ")
        if seen and not repeating:
            suffix += f"#{seen}"
    return RemoteEvent(
        event_id=_event_id(uid, suffix), start_utc=low, end_utc=high, start_date=first_day,
        end_date=last_day, summary=_text(occurrence, "SUMMARY"),
        recurring_event_id=_event_id(uid, None) if repeating else None, **_facts(occurrence))
