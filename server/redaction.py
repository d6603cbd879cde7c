"""What each profile may show. The only module that knows it.

A view is *built* from an allow-list of facts per profile, never made by deleting fields from a
fuller one: a fact that is not named here for a profile cannot reach that profile's output.
Pure functions, no I/O. Everything that leaves the server (feeds, CalDAV, the Google copy) takes
its view from here.

- full: what the business sees: service, client name and contact, notes, location.
- limited ("hide sensitive information"): the time, the service and the employee; nothing of the
  client, not even the location (a home visit's location is the client's address).
- busy: the time only, as "Busy".
Blocked time shows its title in full, and as "Busy" in limited and busy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

Profile = Literal["full", "limited", "busy"]
PROFILES: tuple[Profile, ...] = ("full", "limited", "busy")
BUSY = "Busy"


@dataclass(frozen=True)
class BookingFacts:
    """Everything known about a booking. Client fields and notes are sensitive."""

    uid: str
    start_local: dt.datetime
    end_local: dt.datetime
    start_utc: dt.datetime
    end_utc: dt.datetime
    tzid: str
    revision: int
    created: dt.datetime
    updated: dt.datetime
    service_name: str
    employee_name: str
    client_name: str | None
    client_email: str | None
    client_phone: str | None
    client_address: str | None
    client_notes: str | None
    location: str | None
    notes: str | None
    # Whole local days: start_local and end_local are midnights, end exclusive.
    all_day: bool = False


@dataclass(frozen=True)
class BlockedFacts:
    uid: str
    title: str
    all_day: bool
    start_local: dt.datetime
    end_local: dt.datetime
    tzid: str
    rrule: str | None
    exdates: tuple[dt.datetime, ...]
    revision: int
    created: dt.datetime
    updated: dt.datetime


@dataclass(frozen=True)
class EventView:
    """What one profile may see of one item: the only input of every renderer."""

    uid: str
    summary: str
    description: str | None
    location: str | None
    tzid: str
    all_day: bool
    start_local: dt.datetime
    end_local: dt.datetime
    # The instants, where known: they tell which of two equal wall-clock times (the hour the
    # clocks go back) is meant.
    start_utc: dt.datetime | None
    end_utc: dt.datetime | None
    rrule: str | None
    exdates: tuple[dt.datetime, ...]
    sequence: int
    created: dt.datetime
    last_modified: dt.datetime


def _lines(*pairs: tuple[str, str | None]) -> str | None:
    text = "\n".join(f"{label}: {value}" for label, value in pairs if value)
    return text or None


def _booking_event(facts: BookingFacts, summary: str, description: str | None,
                   location: str | None) -> EventView:
    return EventView(uid=facts.uid, summary=summary, description=description, location=location,
                     tzid=facts.tzid, all_day=facts.all_day, start_local=facts.start_local,
                     end_local=facts.end_local, start_utc=facts.start_utc,
                     end_utc=facts.end_utc, rrule=None, exdates=(),
                     sequence=facts.revision, created=facts.created,
                     last_modified=facts.updated)


def booking_view(facts: BookingFacts, profile: Profile) -> EventView:
    if profile == "full":
        summary = facts.service_name + (f" – {facts.client_name}" if facts.client_name else "")
        return _booking_event(facts, summary, _lines(
            ("Client", facts.client_name), ("E-mail", facts.client_email),
            ("Phone", facts.client_phone), ("Address", facts.client_address),
            ("Client notes", facts.client_notes), ("Notes", facts.notes),
            ("Employee", facts.employee_name)), facts.location)
    if profile == "limited":
        return _booking_event(facts, facts.service_name,
                              _lines(("Employee", facts.employee_name)), None)
    if profile == "busy":
        return _booking_event(facts, BUSY, None, None)
    raise ValueError(f"unknown profile {profile!r}")


def blocked_view(facts: BlockedFacts, profile: Profile) -> EventView:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}")
    return EventView(uid=facts.uid, summary=facts.title if profile == "full" else BUSY,
                     description=None, location=None, tzid=facts.tzid, all_day=facts.all_day,
                     start_local=facts.start_local, end_local=facts.end_local,
                     start_utc=None, end_utc=None, rrule=facts.rrule,
                     exdates=facts.exdates, sequence=facts.revision, created=facts.created,
                     last_modified=facts.updated)


def google_booking_view(facts: BookingFacts, hide_client_details: bool) -> EventView:
    """The Google copy of a booking: the service and the client's name by default; with "hide
    client details", exactly what `limited` shows, so nothing of the client is sent at all."""
    if hide_client_details:
        return booking_view(facts, "limited")
    summary = facts.service_name + (f" – {facts.client_name}" if facts.client_name else "")
    return _booking_event(facts, summary, None, None)


def google_blocked_view(facts: BlockedFacts) -> EventView:
    """Blocked time is pushed as busy, whatever its title."""
    return blocked_view(facts, "busy")
