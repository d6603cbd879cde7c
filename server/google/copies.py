"""The Google event body of our copy of an item, built from a redacted view only."""

from __future__ import annotations

import datetime as dt
from typing import Any

from icalendar import Event, vRecur
from icalendar.parser import Contentline

from server.domain.timeutil import zone
from server.publishing.ical import clean_text
from server.redaction import EventView

MARK = "bookingcal"


def _when(local: dt.datetime, instant: dt.datetime | None, tzid: str,
          all_day: bool) -> dict[str, str]:
    if all_day:
        return {"date": local.date().isoformat()}
    moment = instant.astimezone(zone(tzid)) if instant is not None else \
        local.replace(tzinfo=zone(tzid), fold=0)
    return {"dateTime": moment.isoformat(), "timeZone": tzid}


def event_body(view: EventView, *, event_id: str, item_ref: str, copy_version: int,
               reminders: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": event_id,
        "summary": clean_text(view.summary),
        "start": _when(view.start_local, view.start_utc, view.tzid, view.all_day),
        "end": _when(view.end_local, view.end_utc, view.tzid, view.all_day),
        "transparency": "opaque",
        "status": "confirmed",
        "extendedProperties": {"private": {MARK: item_ref, f"{MARK}_version": str(copy_version)}},
        "reminders": {"useDefault": True} if reminders else {"useDefault": False,
                                                             "overrides": []},
    }
    if view.description:
        body["description"] = clean_text(view.description)
    if view.location:
        body["location"] = clean_text(view.location)
    if view.rrule:
        body["recurrence"] = recurrence(view)
    return body


def recurrence(view: EventView) -> list[str]:
    """Google's `recurrence` lines (RRULE, EXDATE) of a repeating item, written by icalendar
    like the item's ICS (server/publishing/ical.py), unfolded."""
    assert view.rrule is not None
    event = Event()
    event.add("rrule", vRecur.from_ical(view.rrule))
    if view.exdates:
        event.add("exdate", [d.date() if view.all_day else d.replace(tzinfo=zone(view.tzid))
                             for d in view.exdates])
    return [str(Contentline.from_parts(name, event[name].params, event[name]))
            for name in ("RRULE", "EXDATE") if name in event]


def is_ours(event: dict[str, Any]) -> bool:
    """Our own copies carry the private mark: never imported, never blocking."""
    return MARK in event.get("extendedProperties", {}).get("private", {})
