"""GET /feeds/<token>.vfb: a link's busy time as one VFREEBUSY (RFC 5545 3.6.4), what Outlook's
"Internet Free/Busy" and Thunderbird read for a person they schedule with.

Every confirmed booking (its appointment time) and every occurrence of blocked time (repeating
too, expanded only inside the window) of the link's calendars becomes busy time; overlapping and
touching periods are merged, then clipped to the window (a week back, half a year ahead: Outlook
publishes two months by default; the shortest repeat allowed, hourly, then stays far below the
10,000 occurrences one expansion takes, so no stored rule can make the answer fail), one `FREEBUSY;FBTYPE=BUSY` line per period in UTC. Nothing but times leaves: free/busy
shows less than any profile, so every link serves it. The answer is computed from indexed range
queries per calendar (costs grow with the window's items, not the calendar's) and named by a
strong ETag from the same state query as the feed's (server/publishing/feedstate.py), so an unchanged poll
is a 304 without touching the items."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Iterable, Sequence

from sqlalchemy.orm import Session

from server.domain.schedules import blocked_items, booking_items
from server.publishing.feedstate import FeedCalendar
from server.publishing.ical import PRODID

Period = tuple[dt.datetime, dt.datetime]
DAYS_BACK = 7
DAYS_AHEAD = 183
FREEBUSY_VERSION = 1  # part of the ETag: bump when the text of an unchanged state would change


def merged(periods: Iterable[Period], start: dt.datetime, end: dt.datetime) -> list[Period]:
    """The periods clipped to [start, end), sorted, overlapping and touching ones joined."""
    result: list[Period] = []
    for low, high in sorted((max(a, start), min(b, end)) for a, b in periods):
        if high <= low:
            continue
        if result and low <= result[-1][1]:
            result[-1] = (result[-1][0], max(result[-1][1], high))
        else:
            result.append((low, high))
    return result


def busy_periods(session: Session, calendars: Sequence[FeedCalendar], start: dt.datetime,
                 end: dt.datetime) -> list[Period]:
    """The merged busy time of `calendars` in [start, end) (UTC)."""
    found: list[Period] = []
    for calendar in calendars:
        for item in booking_items(session, calendar, start, end):  # type: ignore[arg-type]
            found.append(item.core or (item.start, item.end))
        for item in blocked_items(session, calendar, start, end):  # type: ignore[arg-type]
            found.append((item.start, item.end))
    return merged(found, start, end)


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def render_freebusy(periods: Sequence[Period], start: dt.datetime, end: dt.datetime,
                    stamp: dt.datetime, uid: str) -> str:
    """The VCALENDAR text (METHOD:PUBLISH, one VFREEBUSY). Every line is plain ASCII below 75
    octets, so none is folded."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "METHOD:PUBLISH",
             "BEGIN:VFREEBUSY", f"UID:{uid}", f"DTSTAMP:{_utc(stamp)}",
             f"DTSTART:{_utc(start)}", f"DTEND:{_utc(end)}"]
    lines += [f"FREEBUSY;FBTYPE=BUSY:{_utc(low)}/{_utc(high)}" for low, high in periods]
    lines += ["END:VFREEBUSY", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def freebusy_etag(body_key: str) -> str:
    """The strong ETag of the free/busy answer of the feed state named `body_key`."""
    digest = hashlib.sha256(f"vfb:{FREEBUSY_VERSION}:{body_key}".encode()).hexdigest()
    return '"' + digest[:40] + '"'


def freebusy_uid(link_id: int, epoch: str) -> str:
    """A stable UID of the link's VFREEBUSY that tells nothing of the token."""
    return hashlib.sha256(f"{epoch}:{link_id}".encode()).hexdigest()[:32] + "@bookingcal"
