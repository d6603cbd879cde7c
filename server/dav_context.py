"""The per-request context that the CalDAV mount hands to our Radicale plugins: set around each
request by server/dav_mount.py, always cleared after it. The plugins fail closed without it."""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from server.db.models import Calendar, Link
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

    def calendar(self, slug: str) -> Calendar | None:
        return next((c for c in self.calendars if c.slug == slug), None)


CURRENT: ContextVar[DavRequest | None] = ContextVar("bookingcal_dav_request", default=None)


def current() -> DavRequest:
    request = CURRENT.get()
    if request is None:
        raise RuntimeError("CalDAV storage used outside a request of the bookingcal mount")
    return request
