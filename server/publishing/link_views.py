"""How a link names and decorates what it publishes (its view): reminders, a writable
account's alarms, employee-named blocked time; one frozen LinkView per link."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from server.publishing.ical import with_alarm, with_summary_suffix


def with_alarms(profile: str, alarm_version: int) -> str:
    """The profile part of the ETag of a booking as a writable account sees it: its own
    alarms (their version) make it another resource than the booking alone."""
    return f"{profile}+alarms{alarm_version}" if alarm_version else profile


@dataclass(frozen=True)
class LinkView:
    """What a (read-only) link adds to its profile's texts: an alarm `reminder` minutes before
    each booking (None: no alarm), and in a link of several calendars, blocked time named by
    its employee (`names`: calendar id -> " – Anna"). Part of every item's ETag and of the
    calendar's sync token and ctag, so changing a link's reminder or renaming an employee
    changes what clients see as changed."""

    reminder: int | None = None
    names: Mapping[int, str] = field(default_factory=dict)

    def key(self, kind: str, calendar_id: int) -> str:
        """The ETag part of this view for one kind of item in one calendar ("" for none)."""
        if kind == "booking":
            return "" if self.reminder is None else f"|alarm{self.reminder}"
        name = self.names.get(calendar_id)
        return "" if name is None else "|named" + name

    def calendar_key(self, calendar_id: int) -> str:
        """Both kinds' parts: what a calendar's sync token and ctag carry."""
        return self.key("booking", calendar_id) + self.key("blocked", calendar_id)

    def apply(self, kind: str, calendar_id: int, text: str) -> str:
        """A profile's VEVENT text as this link serves it."""
        if kind == "booking":
            return text if self.reminder is None else with_alarm(text, self.reminder)
        name = self.names.get(calendar_id)
        return text if name is None else with_summary_suffix(text, name)


NO_VIEW = LinkView()


def names_blocked(scope: str, profile: str) -> bool:
    """Whether blocked time names its employee ("Lunch – Anna"): in a link of several calendars
    (a set or all), where three identical "Lunch" events must be told apart, for the profiles
    that show titles ("Busy" stays the time only)."""
    return scope != "calendar" and profile in ("full", "limited")


def employee_suffix(calendar_name: str) -> str:
    """" – Anna": the end of a blocked time's summary naming its calendar's employee."""
    return " – " + " ".join(calendar_name.split())


def link_view(scope: str, profile: str, reminder: int | None, writable: bool,
              calendars: Iterable[Any]) -> LinkView:
    """The view of a link over `calendars` (anything with `id` and `name`). A writable
    account's phone keeps its own alarms and sees its one calendar unnamed: no view."""
    if writable:
        return NO_VIEW
    names = {c.id: employee_suffix(c.name) for c in calendars} \
        if names_blocked(scope, profile) else {}
    return LinkView(reminder, names)
