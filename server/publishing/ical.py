"""iCalendar text from redacted views only. Feeds and CalDAV responses are assembled from these
pieces.

An event is written by `render_event`, which produces exactly the bytes the icalendar library's
component tree would (`render_event_with_icalendar`: the same properties, order, escaping,
parameters and folding), about ten times faster, since the first render of a big feed is
mostly that work. tests/unit/test_ical_fast.py proves the equality with hypothesis over every
kind of view (hostile and non-ASCII text, long lines, all-day, RRULE/EXDATE, every zone, the
repeated autumn hour); RRULE values themselves are still written by icalendar's vRecur. The
calendar shell and VTIMEZONEs are rendered rarely and stay with the library.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

from icalendar import Alarm, Calendar, Event, vDuration, vRecur, vText

from server import __version__
from server.domain.timeutil import zone
from server.redaction import EventView
from server.publishing.vtimezone import vtimezone_text

# Part of every ETag: bump it whenever the rendered text of an unchanged item would change.
RENDER_VERSION = 4  # 4: a stored RRULE that fails its checks is no longer sent
PRODID = f"-//bookingcal//bookingcal {__version__}//EN"


# Unicode's control characters (category Cc: U+0000-U+001F, U+007F-U+009F) but tab and line
# feed, and surrogates (Cs).
_UNWANTED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def clean_text(value: str) -> str:
    """Text without control characters (RFC 5545 allows none but tab; line breaks become \\n,
    which icalendar escapes)."""
    if value.isprintable():  # no Cc or Cs character at all: the common case, unchanged
        return value
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _UNWANTED.sub("", value)


def _moment(local: dt.datetime, instant: dt.datetime | None, tzid: str) -> dt.datetime:
    """Local time with its TZID, which readers take as the first of two equal wall-clock times;
    when the instant is the second one (the repeated hour in autumn), UTC says it exactly."""
    aware = local.replace(tzinfo=zone(tzid), fold=0)
    if instant is not None and aware.astimezone(dt.timezone.utc) != instant:
        return instant.astimezone(dt.timezone.utc)
    return aware


def render_event_with_icalendar(view: EventView, alarm_minutes: int | None = None) -> str:
    """One VEVENT ("BEGIN:VEVENT ... END:VEVENT\\r\\n") through icalendar's component tree: the
    reference `render_event` (and `with_alarm`) is proven equal to. With `alarm_minutes`, a
    display alarm that long before the start, its text the event's (redacted) summary."""
    event = Event()
    event.add("uid", view.uid)
    event.add("dtstamp", view.last_modified)
    event.add("created", view.created)
    event.add("last-modified", view.last_modified)
    event.add("sequence", view.sequence)
    event.add("summary", clean_text(view.summary))
    if view.description:
        event.add("description", clean_text(view.description))
    if view.location:
        event.add("location", clean_text(view.location))
    if view.all_day:
        event.add("dtstart", view.start_local.date())
        event.add("dtend", view.end_local.date())
    else:
        event.add("dtstart", _moment(view.start_local, view.start_utc, view.tzid))
        event.add("dtend", _moment(view.end_local, view.end_utc, view.tzid))
    if view.rrule:
        event.add("rrule", vRecur.from_ical(view.rrule))
        if view.exdates:
            event.add("exdate", [d.date() if view.all_day else d.replace(tzinfo=zone(view.tzid))
                                 for d in view.exdates])
    event.add("status", "CONFIRMED")
    event.add("transp", "OPAQUE")
    if alarm_minutes is not None:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", clean_text(view.summary))
        alarm.add("trigger", dt.timedelta(minutes=-alarm_minutes))
        event.add_component(alarm)
    return event.to_ical().decode("utf-8")


# --- the fast writer ----------------------------------------------------------------------------

FOLD_LIMIT = 75  # octets; as icalendar folds, a physical line stays below it


def _fold(line: str) -> str:
    """A content line folded as icalendar folds it: a new physical line (CRLF and a space)
    starts before the character that would bring the current one to FOLD_LIMIT octets, except
    that a backslash or caret that would end a physical line moves to the next one with the
    character after it (an escape is never split)."""
    if len(line) < FOLD_LIMIT // 4 or len(line.encode("utf-8")) < FOLD_LIMIT:
        return line
    if line.isascii():  # one octet a character: slices of FOLD_LIMIT - 1
        pieces, pos, width = [], 0, FOLD_LIMIT - 1
        while len(line) - pos > width:
            end = pos + width
            if line[end - 1] in "\\^":
                end -= 1
            pieces.append(line[pos:end])
            pos = end
        pieces.append(line[pos:])
        return "\r\n ".join(pieces)
    pieces = []
    current: list[str] = []
    size = 0
    for char in line:
        width = 1 if char < "\x80" else len(char.encode("utf-8"))
        if current and size + width >= FOLD_LIMIT:
            if len(current) > 1 and current[-1] in "\\^":
                carried = current.pop()
                pieces.append("".join(current))
                current, size = [carried], 1
            else:
                pieces.append("".join(current))
                current, size = [], 0
        current.append(char)
        size += width
    if current:
        pieces.append("".join(current))
    return "\r\n ".join(pieces)


_ESCAPED = re.compile("[\\\\;,\r\n\ufeff]")


def _text(value: str) -> str:
    """A TEXT value escaped as icalendar escapes it (the order of the replacements matters).
    icalendar reads the escaped value back from UTF-8 with "utf-8-sig", which drops one byte
    order mark at its start."""
    if _ESCAPED.search(value) is None:  # nothing to escape: the common case, unchanged
        return value
    escaped = (value.replace("\\N", "\n").replace("\\", "\\\\").replace(";", "\\;")
               .replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")
               .replace("\r", "\\n"))
    return escaped[1:] if escaped.startswith("\ufeff") else escaped


def content_line(name: str, text: str) -> str:
    """One TEXT property ("SUMMARY:...") cleaned, escaped and folded as render_event writes
    it."""
    return _fold(name + ":" + _text(clean_text(text)))


def _stamp(value: dt.datetime) -> str:
    return "%04d%02d%02dT%02d%02d%02d" % (value.year, value.month, value.day, value.hour,
                                          value.minute, value.second)


def _utc_stamp(value: dt.datetime) -> str:
    """A UTC DATE-TIME value (CREATED, DTSTAMP, LAST-MODIFIED: aware UTC from the database)."""
    return _stamp(value.astimezone(dt.timezone.utc)) + "Z"


def _day(value: dt.date) -> str:
    return f"{value.year:04}{value.month:02}{value.day:02}"


@lru_cache(maxsize=1024)
def _zone_parameter(tzid: str) -> str | None:
    """";TZID=..." as icalendar writes it for a datetime in `zone(tzid)`, or None when it
    writes such a datetime in UTC ("...Z" and no TZID)."""
    probe = Event()
    probe.add("dtstart", dt.datetime(2000, 1, 1, tzinfo=zone(tzid)))
    line = probe.to_ical().decode("utf-8").split("\r\n")[1]
    head, _, value = line.partition(":")
    if value.endswith("Z"):
        return None
    return head[len("DTSTART"):]


@lru_cache(maxsize=256)
def _rrule(rule: str) -> str:
    return vRecur.from_ical(rule).to_ical().decode("utf-8")


def _when(name: str, value: dt.datetime) -> str:
    """DTSTART/DTEND of a timed event: local time with its zone, or UTC."""
    tzid = getattr(value.tzinfo, "key", None)
    if value.tzinfo is dt.timezone.utc or tzid is None:
        return f"{name}:{_stamp(value)}Z"
    parameter = _zone_parameter(tzid)
    if parameter is None:
        return f"{name}:{_stamp(value.astimezone(dt.timezone.utc))}Z"
    return f"{name}{parameter}:{_stamp(value)}"


def render_event(view: EventView) -> str:
    """One VEVENT ("BEGIN:VEVENT ... END:VEVENT\\r\\n"), byte for byte what
    `render_event_with_icalendar` gives, in icalendar's order: its canonical properties first,
    the rest alphabetically."""
    lines = ["BEGIN:VEVENT", "SUMMARY:" + _text(clean_text(view.summary))]
    if view.all_day:
        lines.append("DTSTART;VALUE=DATE:" + _day(view.start_local.date()))
        lines.append("DTEND;VALUE=DATE:" + _day(view.end_local.date()))
    else:
        lines.append(_when("DTSTART", _moment(view.start_local, view.start_utc, view.tzid)))
        lines.append(_when("DTEND", _moment(view.end_local, view.end_utc, view.tzid)))
    lines.append("DTSTAMP:" + _utc_stamp(view.last_modified))
    lines.append("UID:" + _text(view.uid))
    lines.append(f"SEQUENCE:{int(view.sequence)}")
    if view.rrule:
        lines.append("RRULE:" + _rrule(view.rrule))
        if view.exdates:
            if view.all_day:
                lines.append("EXDATE;VALUE=DATE:" + ",".join(_day(d.date())
                                                             for d in view.exdates))
            else:
                parameter = _zone_parameter(view.tzid)
                if parameter is None:
                    lines.append("EXDATE:" + ",".join(
                        _stamp(d.replace(tzinfo=zone(view.tzid)).astimezone(dt.timezone.utc))
                        + "Z" for d in view.exdates))
                else:
                    lines.append(f"EXDATE{parameter}:" + ",".join(_stamp(d)
                                                                  for d in view.exdates))
    lines.append("CREATED:" + _utc_stamp(view.created))
    if view.description:
        lines.append("DESCRIPTION:" + _text(clean_text(view.description)))
    lines.append("LAST-MODIFIED:" + _utc_stamp(view.last_modified))
    if view.location:
        lines.append("LOCATION:" + _text(clean_text(view.location)))
    lines += ["STATUS:CONFIRMED", "TRANSP:OPAQUE", "END:VEVENT", ""]
    # A line of fewer than FOLD_LIMIT ASCII characters stays as it is (most lines).
    return "\r\n".join([line if len(line) < FOLD_LIMIT and line.isascii() else _fold(line)
                         for line in lines])


END_EVENT = "END:VEVENT\r\n"


@lru_cache(maxsize=64)
def _trigger(minutes: int) -> str:
    return "TRIGGER:" + vDuration(dt.timedelta(minutes=-minutes)).to_ical().decode("ascii")


def _summary_bounds(event_text: str) -> tuple[int, int]:
    """Where the (possibly folded) SUMMARY value of a `render_event` text starts and ends."""
    assert event_text.startswith("BEGIN:VEVENT\r\nSUMMARY:") and event_text.endswith(END_EVENT)
    start = len("BEGIN:VEVENT\r\nSUMMARY:")
    end = event_text.index("\r\n", start)
    while event_text.startswith(" ", end + 2):  # a folded SUMMARY goes on
        end = event_text.index("\r\n", end + 2)
    return start, end


def with_summary_suffix(event_text: str, suffix: str) -> str:
    """A VEVENT written by `render_event` whose summary ends with `suffix` (" – Anna": whose
    blocked time it is, in a feed of several calendars), byte for byte what render_event
    writes for the view with that summary. `suffix` starts with a space, so no escape or
    line break can form across the join."""
    assert suffix.startswith(" ")
    start, end = _summary_bounds(event_text)
    summary = event_text[start:end].replace("\r\n ", "") + _text(clean_text(suffix))
    return ("BEGIN:VEVENT\r\n" + _fold("SUMMARY:" + summary) + event_text[end:])


def with_alarm(event_text: str, minutes: int) -> str:
    """A VEVENT written by `render_event` with a display alarm `minutes` before its start,
    whose text is the event's SUMMARY (already redacted for the profile: no client name in
    `limited` or `busy`), as `render_event_with_icalendar(view, minutes)` writes it. The
    rendered text is kept per profile, not per link, so a link's alarm is added on the way
    out."""
    start, end = _summary_bounds(event_text)
    summary = event_text[start:end].replace("\r\n ", "")
    alarm = ("BEGIN:VALARM\r\nACTION:DISPLAY\r\n" + _fold("DESCRIPTION:" + summary) + "\r\n"
             + _trigger(minutes) + "\r\nEND:VALARM\r\n")
    return event_text[:-len(END_EVENT)] + alarm + END_EVENT


# One VTIMEZONE text per zone, valid from this year on, forever: readers such as vobject keep
# the first VTIMEZONE they see for a TZID, so every item and feed must carry the same one.
VTIMEZONE_FIRST_YEAR = 2000


def render_timezone(tzid: str) -> str:
    """The VTIMEZONE of `tzid` (yearly rules, from server/publishing/vtimezone.py)."""
    return vtimezone_text(tzid, VTIMEZONE_FIRST_YEAR)


@lru_cache(maxsize=256)
def calendar_shell(name: str | None, tzid: str | None, refresh: dt.timedelta | None = None
                   ) -> tuple[str, str]:
    """The text before and after the components of a VCALENDAR; `refresh` tells subscribers how
    often to poll (REFRESH-INTERVAL and X-PUBLISHED-TTL)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if name is not None:
        calendar.add("x-wr-calname", vText(" ".join(clean_text(name).split())))
    if tzid is not None:
        calendar.add("x-wr-timezone", tzid)
    if refresh is not None:
        calendar.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
        calendar.add("x-published-ttl", vDuration(refresh))
    text = calendar.to_ical().decode("utf-8")
    head, end_marker, _ = text.rpartition("END:VCALENDAR")
    return head, end_marker + "\r\n"


def item_document(event_text: str, tzid: str) -> str:
    """A VCALENDAR holding one event and the VTIMEZONE it uses (a CalDAV resource)."""
    head, tail = calendar_shell(None, None)
    return head + render_timezone(tzid) + event_text + tail
