"""iCalendar text, produced by the icalendar library from redacted views only (escaping, folding
and line endings are the library's). Feeds and CalDAV responses are assembled from these pieces.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import unicodedata

from icalendar import Calendar, Event, vDuration, vRecur, vText

from server import __version__
from server.domain.timeutil import zone
from server.redaction import EventView
from server.vtimezone import vtimezone_text

# Part of every ETag: bump it whenever the rendered text of an unchanged item would change.
RENDER_VERSION = 4  # 4: a stored RRULE that fails its checks is no longer sent
PRODID = f"-//bookingcal//bookingcal {__version__}//EN"


def clean_text(value: str) -> str:
    """Text without control characters (RFC 5545 allows none but tab; line breaks become \\n,
    which icalendar escapes)."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in value
                   if ch in "\t\n" or unicodedata.category(ch) not in ("Cc", "Cs"))


def _moment(local: dt.datetime, instant: dt.datetime | None, tzid: str) -> dt.datetime:
    """Local time with its TZID, which readers take as the first of two equal wall-clock times;
    when the instant is the second one (the repeated hour in autumn), UTC says it exactly."""
    aware = local.replace(tzinfo=zone(tzid), fold=0)
    if instant is not None and aware.astimezone(dt.timezone.utc) != instant:
        return instant.astimezone(dt.timezone.utc)
    return aware


def render_event(view: EventView) -> str:
    """One VEVENT ("BEGIN:VEVENT ... END:VEVENT\\r\\n")."""
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
    return event.to_ical().decode("utf-8")


# One VTIMEZONE text per zone, valid from this year on, forever: readers such as vobject keep
# the first VTIMEZONE they see for a TZID, so every item and feed must carry the same one.
VTIMEZONE_FIRST_YEAR = 2000


def render_timezone(tzid: str) -> str:
    """The VTIMEZONE of `tzid` (yearly rules, from server/vtimezone.py)."""
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
