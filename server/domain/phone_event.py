"""What a phone sent in a CalDAV PUT to a writable account: the iCalendar text read and checked
before anything is written. Every refusal is a PutRefused with the HTTP status, the CalDAV
precondition it breaks and a short reason that never echoes the client's text.

Accepted: one VCALENDAR holding VEVENTs of one UID (the master and, optionally, overridden
instances) and the VTIMEZONEs they use. Times are UTC, floating (the calendar's zone), dates
(all day) or local with a TZID that is an IANA zone (a /mozilla.org/-style prefix is dropped).
A repeating rule must pass server/domain/recurrence.py (its COUNT, INTERVAL and year caps).
Overridden instances (RECURRENCE-ID) and RDATEs are read as `instances` at their own times (at
most MAX_INSTANCES in all); the master's occurrences they replace are `replaced`. Without DTEND
an event lasts per RFC 5545: DURATION, else a day (a date) or no time at all (a date-time: it
takes no time and blocks nothing). The text is kept as sent."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import icalendar

from server.domain import resource_names
from server.domain.recurrence import ExpansionLimitError
from server.domain.timeutil import EARLIEST, LATEST, normalise, validate_rrule, zone_names
from server.errors import InvalidError

MAX_COMPONENTS = 200  # VEVENTs or VTODOs (a master and its overridden instances) in one resource
MAX_INSTANCES = 100  # overridden instances and RDATEs: each is stored and blocks on its own
# UIDs of the instances stored for an event's overrides and RDATEs; a phone may not use them.
INSTANCE_PREFIX = "bc-instance-"


class PutRefused(Exception):
    """A PUT body that is refused: `status` ("400 Bad Request", "403 Forbidden"), the CalDAV
    precondition element (e.g. "C:valid-calendar-data") and a reason for people."""

    def __init__(self, status: str, precondition: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.precondition = precondition
        self.reason = reason


def _bad(reason: str, precondition: str = "C:valid-calendar-data") -> PutRefused:
    return PutRefused("400 Bad Request", precondition, reason)


def is_instance_uid(uid: str) -> bool:
    """Whether `uid` names an instance stored for an override or RDATE (not a phone's item)."""
    return uid.startswith(INSTANCE_PREFIX)


@dataclass(frozen=True)
class Instance:
    """An overridden instance or an RDATE of a phone's event, at its own times. `key` names it
    within its event (stable across PUTs)."""

    key: str
    summary: str
    all_day: bool
    tzid: str
    start_local: dt.datetime
    end_local: dt.datetime
    start_utc: dt.datetime
    end_utc: dt.datetime
    transparency: str
    status: str
    zero_length: bool = False


@dataclass(frozen=True)
class PhoneEvent:
    """The facts of a phone's event that the booking system uses; `text` is kept as sent."""

    uid: str
    summary: str
    description: str | None
    location: str | None
    all_day: bool
    tzid: str
    start_local: dt.datetime
    end_local: dt.datetime
    start_utc: dt.datetime
    end_utc: dt.datetime
    rrule: str | None
    exdates: tuple[dt.datetime, ...]  # local wall-clock starts in `tzid`
    transparency: str  # "opaque" or "transparent"
    status: str  # "confirmed", "tentative" or "cancelled"
    overrides: int  # VEVENTs with a RECURRENCE-ID
    text: str
    alarms: str = ""  # the master's VALARM components, as iCalendar text
    instances: tuple[Instance, ...] = ()  # overridden instances and RDATEs
    replaced: tuple[dt.datetime, ...] = ()  # master occurrences the overrides replace (local)
    zero_length: bool = False  # no DTEND nor DURATION on a date-time: takes no time


def _zone(tzid: str) -> str | None:
    """The IANA zone a TZID names, or None."""
    names = zone_names()
    if tzid in names:
        return tzid
    parts = tzid.strip("/").split("/")
    for first in range(1, len(parts)):  # "/mozilla.org/20050126_1/Europe/Berlin"
        candidate = "/".join(parts[first:])
        if candidate in names:
            return candidate
    return None


def _moment(prop: Any, name: str, calendar_tz: str
            ) -> tuple[dt.datetime | dt.date, str]:
    """(value, zone) of a DTSTART/DTEND value: a date, or an aware UTC datetime with the zone
    its wall-clock time is kept in."""
    value = prop.dt
    if isinstance(value, dt.datetime):
        tzid = prop.params.get("TZID")
        zone_name = calendar_tz
        if tzid is not None:
            found = _zone(str(tzid))
            if found is not None:
                zone_name = found
                value = value.replace(tzinfo=None)
            elif value.tzinfo is None:
                raise _bad(f"{name} names a time zone that is neither an IANA zone nor "
                           "given in a VTIMEZONE; use a zone such as Europe/Copenhagen")
        elif value.tzinfo is not None:
            zone_name = "UTC"
        if not EARLIEST <= value.date() < LATEST:
            raise _bad(f"{name} lies outside the years {EARLIEST.year}-{LATEST.year - 1}")
        return normalise(value, zone_name)[0], zone_name
    if isinstance(value, dt.date):
        if not EARLIEST <= value < LATEST:
            raise _bad(f"{name} lies outside the years {EARLIEST.year}-{LATEST.year - 1}")
        return value, calendar_tz
    raise _bad(f"{name} must be a date or a date-time")


def _text(component: Any, name: str) -> str | None:
    value = component.get(name)
    if value is None:
        return None
    if isinstance(value, list):
        value = value[0]
    return str(value)


def _local(value: dt.datetime | dt.date, tzid: str) -> tuple[dt.datetime, dt.datetime]:
    """(utc, local naive) of a start or end."""
    if isinstance(value, dt.datetime):
        return normalise(value, tzid)
    local = dt.datetime.combine(value, dt.time())
    return normalise(local, tzid)


def _exdates(master: Any, tzid: str, calendar_tz: str, all_day: bool) -> tuple[dt.datetime, ...]:
    found: list[dt.datetime] = []
    values = master.get("EXDATE")
    if values is None:
        return ()
    for group in values if isinstance(values, list) else [values]:
        for item in group.dts:
            moment = item.dt
            if isinstance(moment, dt.datetime):
                if moment.tzinfo is None:
                    zone = _zone(str(item.params.get("TZID", group.params.get("TZID", ""))))
                    moment = normalise(moment, zone or calendar_tz)[0]
                found.append(normalise(moment, tzid)[1])
            else:
                found.append(dt.datetime.combine(moment, dt.time()))
            if len(found) > 5000:
                raise _bad("too many EXDATE values")
    return tuple(sorted(set(found)))


def read(body: bytes, calendar_tz: str) -> PhoneEvent:
    """The event in a PUT body, checked; PutRefused says what is wrong with it."""
    try:
        return _read(body, calendar_tz)
    except InvalidError as exc:  # a time skipped by a DST change, a date out of range
        raise _bad(exc.message, "C:valid-calendar-object-resource") from None
    except (OverflowError, ValueError, TypeError, AttributeError):
        raise _bad("the event's times or rules cannot be read") from None


def _read(body: bytes, calendar_tz: str) -> PhoneEvent:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("the body is not UTF-8 text") from None
    if "\x00" in text:
        raise _bad("the body holds a NUL character")
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except Exception:  # icalendar raises ValueError, KeyError, IndexError, ... on bad input
        raise _bad("the body is not valid iCalendar") from None
    if len(calendars) != 1 or calendars[0].name != "VCALENDAR":
        raise _bad("send one VCALENDAR")
    calendar: Any = calendars[0]
    events: list[Any] = []
    for component in calendar.subcomponents:
        if component.name == "VEVENT":
            events.append(component)
        elif component.name != "VTIMEZONE":
            raise PutRefused("403 Forbidden", "C:supported-calendar-component",
                             "this calendar holds events (VEVENT) only")
    if not events:
        raise PutRefused("403 Forbidden", "C:supported-calendar-component",
                         "send one VEVENT")
    uid, master = one_resource(events, "VEVENT")
    span = _span(master, calendar_tz)
    rules = master.get("RRULE")
    rrule = None if rules is None else _checked(rules, span.start_local, span.tzid)
    summary = (_text(master, "SUMMARY") or "").strip()
    transparency, status = _blocking(master)
    overrides = [event for event in events if event.get("RECURRENCE-ID") is not None]
    instances: list[Instance] = []
    replaced: list[dt.datetime] = []
    for override in overrides:
        moment = _local_moment(override["RECURRENCE-ID"], span.tzid, calendar_tz)
        replaced.append(moment)
        own = _span(override, calendar_tz)
        own_transparency, own_status = _blocking(override)
        if own_status == "cancelled":
            continue  # a cancelled instance: the master skips it, nothing takes its place
        instances.append(Instance(
            key="R" + moment.isoformat(), summary=(_text(override, "SUMMARY") or summary).strip(),
            all_day=own.all_day, tzid=own.tzid, start_local=own.start_local,
            end_local=own.end_local, start_utc=own.start_utc, end_utc=own.end_utc,
            transparency=own_transparency, status=own_status, zero_length=own.zero_length))
    for start_utc, end_utc in _rdates(master, span, calendar_tz):
        instances.append(Instance(
            key="D" + start_utc.isoformat(), summary=summary, all_day=span.all_day,
            tzid=span.tzid, start_local=normalise(start_utc, span.tzid)[1],
            end_local=normalise(end_utc, span.tzid)[1], start_utc=start_utc, end_utc=end_utc,
            transparency=transparency, status=status, zero_length=end_utc == start_utc))
    if len(instances) > MAX_INSTANCES:
        raise PutRefused("403 Forbidden", "C:max-instances",
                         f"at most {MAX_INSTANCES} overridden instances and RDATEs per event")
    if len({instance.key for instance in instances}) != len(instances):
        raise _bad("an instance is given twice (RECURRENCE-ID or RDATE)",
                   "C:valid-calendar-object-resource")
    return PhoneEvent(
        uid=uid, summary=summary,
        description=_text(master, "DESCRIPTION"), location=_text(master, "LOCATION"),
        all_day=span.all_day, tzid=span.tzid, start_local=span.start_local,
        end_local=span.end_local, start_utc=span.start_utc, end_utc=span.end_utc, rrule=rrule,
        exdates=_exdates(master, span.tzid, calendar_tz, span.all_day),
        transparency=transparency, status=status, overrides=len(overrides), text=text,
        alarms="".join(sub.to_ical().decode() for sub in master.subcomponents
                       if sub.name == "VALARM"),
        instances=tuple(instances), replaced=tuple(sorted(set(replaced))),
        zero_length=span.zero_length)


def one_resource(components: list[Any], name: str) -> tuple[str, Any]:
    """(the UID, the master) of one resource's components of kind `name` (VEVENT, VTODO): at
    most MAX_COMPONENTS, one UID that can name the resource `<UID>.ics`, exactly one master
    (no RECURRENCE-ID). PutRefused says what is wrong."""
    if len(components) > MAX_COMPONENTS:
        raise _bad(f"at most {MAX_COMPONENTS} {name}s (overridden instances) per resource",
                   "C:valid-calendar-object-resource")
    uids = {_text(component, "UID") for component in components}
    if len(uids) != 1 or None in uids:
        raise _bad(f"every {name} needs the same UID", "C:valid-calendar-object-resource")
    uid = str(uids.pop())
    refused = resource_names.problem(uid, resource_names.MAX_UID, "the UID")
    if refused is None and is_instance_uid(uid):
        refused = f"the UID cannot start with {INSTANCE_PREFIX}"
    if refused is not None:
        raise _bad(refused + " (the resource is named <UID>.ics)",
                   "C:valid-calendar-object-resource")
    masters = [component for component in components if component.get("RECURRENCE-ID") is None]
    if len(masters) != 1:
        raise _bad(f"send exactly one {name} without RECURRENCE-ID",
                   "C:valid-calendar-object-resource")
    return uid, masters[0]


def _checked(rules: Any, start_local: dt.datetime, tzid: str) -> str:
    """An RRULE property checked against its start (server/domain/recurrence.py's caps)."""
    if isinstance(rules, list):
        raise _bad("give at most one RRULE", "C:valid-calendar-object-resource")
    try:
        return validate_rrule(rules.to_ical().decode(), start_local, tzid)
    except ExpansionLimitError as exc:
        raise PutRefused("403 Forbidden", "C:max-instances", exc.message) from None
    except InvalidError as exc:
        raise _bad(exc.message, "C:valid-calendar-object-resource") from None


def checked_rule(component: Any, calendar_tz: str) -> str | None:
    """The RRULE of a component (an event's or a task's), checked by the RRULE checker against
    its DTSTART (server/domain/recurrence.py: COUNT, INTERVAL and year caps, no FREQ below
    hourly), or None without one. PutRefused says what is wrong: every expansion anyone makes
    of it later (a time-range query) is bounded by these caps."""
    rules = component.get("RRULE")
    if rules is None:
        return None
    if component.get("DTSTART") is None:
        raise _bad("a repeating component needs a DTSTART", "C:valid-calendar-object-resource")
    try:
        start, tzid = _moment(component["DTSTART"], "DTSTART", calendar_tz)
        _, start_local = _local(start, tzid)
        return _checked(rules, start_local, tzid)
    except (OverflowError, ValueError, TypeError, AttributeError):
        raise _bad("the repeating rule cannot be read") from None


@dataclass(frozen=True)
class _Span:
    all_day: bool
    tzid: str
    start_local: dt.datetime
    end_local: dt.datetime
    start_utc: dt.datetime
    end_utc: dt.datetime
    zero_length: bool


def _blocking(component: Any) -> tuple[str, str]:
    """(transparency, status) of a VEVENT, as the blocking policy reads them."""
    transparency = (_text(component, "TRANSP") or "OPAQUE").lower()
    status = (_text(component, "STATUS") or "CONFIRMED").lower()
    return ("transparent" if transparency == "transparent" else "opaque",
            status if status in ("tentative", "cancelled") else "confirmed")


def _span(component: Any, calendar_tz: str) -> _Span:
    """A VEVENT's times. Without DTEND: DURATION, else (RFC 5545) a day for a date and no time
    at all for a date-time."""
    if component.get("DTSTART") is None:
        raise _bad("every VEVENT needs a DTSTART", "C:valid-calendar-object-resource")
    start, tzid = _moment(component["DTSTART"], "DTSTART", calendar_tz)
    all_day = not isinstance(start, dt.datetime)
    if component.get("DTEND") is not None:
        end, _ = _moment(component["DTEND"], "DTEND", calendar_tz)
    elif component.get("DURATION") is not None:
        end = start + _duration(component["DURATION"])
    else:
        end = start + dt.timedelta(days=1) if all_day else start
    if all_day != (not isinstance(end, dt.datetime)):
        raise _bad("DTSTART and DTEND must both be dates or both date-times")
    start_utc, start_local = _local(start, tzid)
    end_utc, end_local = _local(end, tzid)
    no_time = component.get("DTEND") is None and end_utc == start_utc
    if end_utc < start_utc or (end_utc == start_utc and not no_time):
        raise _bad("the event must end after it starts (give a DTEND after DTSTART)",
                   "C:valid-calendar-object-resource")
    return _Span(all_day, tzid, start_local, end_local, start_utc, end_utc, no_time)


def _duration(prop: Any) -> dt.timedelta:
    length = prop.dt
    if not isinstance(length, dt.timedelta):
        raise _bad("DURATION must be a duration")
    if length < dt.timedelta(0) or length > dt.timedelta(days=366 * 5):
        raise _bad("DURATION must be positive and at most five years")
    return length


def _local_moment(prop: Any, tzid: str, calendar_tz: str) -> dt.datetime:
    """A RECURRENCE-ID as the master's local wall-clock start (an EXDATE's form)."""
    value, zone_name = _moment(prop, "RECURRENCE-ID", calendar_tz)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = normalise(value, zone_name)[0]
        return normalise(value, tzid)[1]
    return dt.datetime.combine(value, dt.time())


def _rdates(master: Any, span: _Span, calendar_tz: str
            ) -> list[tuple[dt.datetime, dt.datetime]]:
    """(start, end) UTC of the master's RDATEs: a date or date-time lasts as the master does,
    a PERIOD as it says."""
    values = master.get("RDATE")
    if values is None:
        return []
    found: list[tuple[dt.datetime, dt.datetime]] = []
    length = span.end_utc - span.start_utc
    for group in values if isinstance(values, list) else [values]:
        for item in group.dts:
            moment = item.dt
            period_end: Any = None
            if isinstance(moment, tuple):
                moment, period_end = moment
            zone_name = _zone(str(item.params.get("TZID", group.params.get("TZID", "")))) \
                or span.tzid
            start_utc = _utc(moment, zone_name)
            if isinstance(period_end, dt.timedelta):
                end_utc = start_utc + period_end
            elif period_end is not None:
                end_utc = _utc(period_end, zone_name)
            else:
                end_utc = start_utc + length
            if end_utc < start_utc or not EARLIEST <= start_utc.date() < LATEST:
                raise _bad("an RDATE lies out of range or ends before it starts",
                           "C:valid-calendar-object-resource")
            found.append((start_utc, end_utc))
            if len(found) > MAX_INSTANCES:
                raise PutRefused("403 Forbidden", "C:max-instances",
                                 f"at most {MAX_INSTANCES} RDATEs per event")
    return found


def _utc(value: Any, zone_name: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return normalise(value, zone_name)[0]
    if isinstance(value, dt.date):
        return normalise(dt.datetime.combine(value, dt.time()), zone_name)[0]
    raise _bad("an RDATE must be a date, a date-time or a period")
