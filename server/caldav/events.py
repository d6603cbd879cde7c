"""A CalDAV calendar object (one resource: an event, or a repeating event with its changed
occurrences) in the mirror's vocabulary (server/domain/mirrored.py, server/domain/blocking.py).

Repeating events are expanded with `recurring-ical-events` over the read window only, at most
MAX_OCCURRENCES per resource. TRANSP:TRANSPARENT -> transparent; STATUS:CANCELLED (of the event
or of one occurrence) -> not listed; STATUS:TENTATIVE -> tentative; the owner's own PARTSTAT
(an ATTENDEE with one of the account owner's addresses, server/caldav/owner.py) ->
self_response (DECLINED never blocks); X-MICROSOFT-CDO-BUSYSTATUS:OOF -> out of office,
FREE -> transparent; all-day dates cover midnight to midnight in the business's zone; floating
times are the business's wall time; TZIDs resolve through the object's own VTIMEZONE
(icalendar does). CLASS:PRIVATE or CONFIDENTIAL events keep no title.

A resource whose events carry our mark (X-BOOKINGCAL-ITEM, server/caldav/copies.py) is ours:
never expanded nor mirrored."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import icalendar
import recurring_ical_events

from server.caldav import owner as owner_address
from server.caldav.copies import MARK, tag_of
from server.domain import mirrored
from server.domain.timeutil import zone as tz

log = logging.getLogger(__name__)
UTC = dt.timezone.utc
MAX_OCCURRENCES = 1000  # per resource and read window
MAX_SUMMARY = 1000
ANSWERS = {"DECLINED": "declined", "TENTATIVE": "tentative", "ACCEPTED": "accepted",
           "NEEDS-ACTION": "needsAction"}


@dataclass(frozen=True)
class Parsed:
    """What one resource holds: our mark's item reference, or its occurrences."""

    tag: str | None = None
    events: list[mirrored.RemoteEvent] = field(default_factory=list)
    unreadable: bool = False
    uid: str | None = None  # of our copy (its first name's stem, whatever the resource's name)


def _instant(value: Any, zone: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # floating: the business's wall time
            return value.replace(tzinfo=tz(zone)).astimezone(UTC)
        return value.astimezone(UTC)
    return dt.datetime.combine(value, dt.time(), tzinfo=tz(zone)).astimezone(UTC)


def _self_response(event: Any, owner: frozenset[str]) -> str | None:
    attendees = event.get("ATTENDEE")
    if attendees is None or not owner:
        return None
    for attendee in attendees if isinstance(attendees, list) else [attendees]:
        if owner_address.normal(str(attendee)) in owner:
            return ANSWERS.get(str(attendee.params.get("PARTSTAT", "NEEDS-ACTION")).upper(),
                               "needsAction")
    return None


def _occurrence_id(name: str, event: Any, repeating: bool) -> str:
    if not repeating:
        return name
    marker = event.get("RECURRENCE-ID") or event.get("DTSTART")
    moment = marker.dt if marker is not None else None
    if isinstance(moment, dt.datetime):
        key = (moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") if moment.tzinfo
               else moment.strftime("%Y%m%dT%H%M%S"))
    elif isinstance(moment, dt.date):
        key = moment.strftime("%Y%m%d")
    else:
        key = "?"
    return f"{name}#{key}"


def _event(name: str, event: Any, repeating: bool, zone: str,
           owner: frozenset[str]) -> mirrored.RemoteEvent | None:
    if str(event.get("STATUS", "")).upper() == "CANCELLED":
        return None
    start_value = event.get("DTSTART")
    if start_value is None:
        return None
    start_raw = start_value.dt
    end_value = event.get("DTEND")
    if end_value is not None:
        end_raw = end_value.dt
    elif event.get("DURATION") is not None:
        end_raw = start_raw + event.get("DURATION").dt
    else:  # RFC 5545: a date lasts the day, a date-time is an instant
        end_raw = start_raw + dt.timedelta(days=1) if not isinstance(
            start_raw, dt.datetime) else start_raw
    all_day = not isinstance(start_raw, dt.datetime)
    start, end = _instant(start_raw, zone), _instant(end_raw, zone)
    busy = str(event.get("X-MICROSOFT-CDO-BUSYSTATUS", "")).upper()
    transparent = str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT" or busy == "FREE"
    status = "tentative" if str(event.get("STATUS", "")).upper() == "TENTATIVE" else "confirmed"
    answer = _self_response(event, owner)
    if busy == "TENTATIVE" and answer in (None, "accepted"):
        answer = "tentative"
    private = str(event.get("CLASS", "PUBLIC")).upper() in ("PRIVATE", "CONFIDENTIAL")
    return mirrored.RemoteEvent(
        event_id=_occurrence_id(name, event, repeating), start_utc=start,
        end_utc=max(end, start),
        start_date=start_raw if all_day else None,
        end_date=(end_raw if not isinstance(end_raw, dt.datetime) else end_raw.date())
        if all_day else None,
        summary="" if private else str(event.get("SUMMARY", ""))[:MAX_SUMMARY],
        recurring_event_id=name if repeating else None,
        transparency="transparent" if transparent else "opaque", status=status,
        event_type="outOfOffice" if busy == "OOF" else "default", self_response=answer)


def parse(name: str, text: bytes | str, *, zone: str, start: dt.datetime, end: dt.datetime,
          owner: frozenset[str] = frozenset()) -> Parsed:
    """The resource `name` (its iCalendar `text`) over [start, end): ours (its tag), or its
    occurrences in the mirror's vocabulary; unreadable text lists nothing."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError):
        return Parsed(unreadable=True)
    events = [c for c in calendar.walk("VEVENT")]
    for event in events:
        tag = tag_of(event.get(MARK))
        if tag is not None:
            uid = event.get("UID")
            return Parsed(tag=tag, uid=str(uid)[:512] if uid is not None else None)
    if not events:
        return Parsed()  # a VTODO or VJOURNAL: nothing to block
    repeating = len(events) > 1 or any(
        e.get("RRULE") is not None or e.get("RDATE") is not None for e in events)
    found: list[mirrored.RemoteEvent] = []
    try:
        if not repeating:
            single = _event(name, events[0], False, zone, owner)
            if single is not None and single.end_utc > start and single.start_utc < end:
                found.append(single)
            return Parsed(events=found)
        for occurrence in _bounded(calendar, start, end):
            parsed = _event(name, occurrence, True, zone, owner)
            if parsed is not None and parsed.end_utc > start and parsed.start_utc < end:
                found.append(parsed)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        log.info("a CalDAV event could not be expanded (%s); listed without it",
                 type(exc).__name__)
        return Parsed(unreadable=True)
    return Parsed(events=found)


def _bounded(calendar: Any, start: dt.datetime, end: dt.datetime) -> list[Any]:
    """The occurrences ending after `start` and starting before `end`, at most MAX_OCCURRENCES
    (an hourly rule stops there). Rules repeating by the second or minute, which no calendar
    app offers and whose expansion up to the window alone could cost minutes, are refused."""
    for event in calendar.walk("VEVENT"):
        rule = event.get("RRULE")
        for one in rule if isinstance(rule, list) else [rule] if rule is not None else []:
            if str((one.get("FREQ") or [""])[0]).upper() in ("SECONDLY", "MINUTELY"):
                raise ValueError("a rule repeating by the second or minute")
    found: list[Any] = []
    query = recurring_ical_events.of(calendar, skip_bad_series=True)
    for occurrence in query.after(start):
        begin = occurrence.get("DTSTART").dt
        moment = begin if isinstance(begin, dt.datetime) else dt.datetime.combine(
            begin, dt.time())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if moment >= end + dt.timedelta(days=1):
            break
        found.append(occurrence)
        if len(found) >= MAX_OCCURRENCES:
            log.info("a CalDAV repeating event has more than %d occurrences in the read "
                     "window; the rest are not read", MAX_OCCURRENCES)
            break
    return found
