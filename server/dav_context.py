"""The per-request context that the CalDAV mount hands to our Radicale plugins: set around each
request by server/dav_mount.py, always cleared after it. The plugins fail closed without it."""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from server.db.models import Calendar, Link, PersonalCalendar
from server.domain import personal_calendars
from server.publish import Publisher
from server.runtime import Runtime


@dataclass
class DavRequest:
    runtime: Runtime
    session: Session
    link: Link
    token: str
    principal: str
    calendars: list[Calendar]
    epoch: str
    publisher: Publisher
    now: dt.datetime
    # From a calendar-query REPORT body, parsed by the mount: Radicale drops the time range
    # before asking the storage when the query asks for <C:expand>.
    report_range: tuple[int, int] | None = None
    report_expand: bool = False
    notes: dict[str, str] = field(default_factory=dict)

    _personal: list[PersonalCalendar] | None = None

    def calendar(self, slug: str) -> Calendar | None:
        return next((c for c in self.calendars if c.slug == slug), None)

    def personal_calendars(self) -> list[PersonalCalendar]:
        """The personal calendars a writable account shows beside its employee's calendar."""
        if not self.link.writable or len(self.calendars) != 1:
            return []
        if self._personal is None:
            self._personal = personal_calendars.list_for(
                self.session, self.link.business_id, self.calendars[0].id)
        return self._personal

    def personal_calendar(self, slug: str) -> PersonalCalendar | None:
        return next((p for p in self.personal_calendars() if p.slug == slug), None)


CURRENT: ContextVar[DavRequest | None] = ContextVar("bookingcal_dav_request", default=None)


def current() -> DavRequest:
    request = CURRENT.get()
    if request is None:
        raise RuntimeError("CalDAV storage used outside a request of the bookingcal mount")
    return request
