"""The per-request context that the CalDAV mount hands to our Radicale plugins: set around each
request by server/publishing/dav_mount.py, always cleared after it. The plugins fail closed without it."""

from __future__ import annotations

import datetime as dt
import functools
import hmac
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, exists, or_, select
from sqlalchemy.orm import Session

from server.db import key_directory
from server.db.models import Calendar, Link, LinkCalendar, PersonalCalendar
from server.domain import links, personal_calendars
from server.domain.journal import epoch_subquery
from server.keys import Keyring
from server.publishing.publish import Publisher
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


@dataclass(frozen=True)
class DavLookup:
    """What a token opens for CalDAV: its state ("active", "revoked", "expired" or "unknown")
    and, when active, the link, the database epoch and the link's visible calendars (in scope,
    active, not deleted, of its business, by id)."""

    state: str
    link: Link | None = None
    epoch: str = ""
    calendars: list[Calendar] = field(default_factory=list)


@functools.cache
def _lookup_statement() -> Any:
    """Built once: the link of a token hash, the epoch and its visible calendars, one row per
    calendar (one row with no calendar when it shows none)."""
    in_scope = or_(Link.scope == "all", exists().where(
        LinkCalendar.link_id == Link.id, LinkCalendar.calendar_id == Calendar.id,
        LinkCalendar.business_id == Link.business_id))
    return (select(Link, epoch_subquery(), Calendar)
            .outerjoin(Calendar, and_(Calendar.business_id == Link.business_id,
                                      Calendar.active.is_(True), Calendar.deleted_at.is_(None),
                                      in_scope))
            .where(key_directory.owned("link", Link.token_hash, Link.business_id))
            .order_by(Calendar.id))


def lookup(session: Session, keyring: Keyring, token: str, now: dt.datetime) -> DavLookup:
    """`links.lookup` and `links.visible_calendars` in one round trip, with the same checks."""
    if not token.startswith(links.TOKEN_PREFIX) or len(token) > 100:
        return DavLookup("unknown")
    digest = keyring.hash_token(token)
    rows = session.execute(_lookup_statement(), {"digest": digest}).all()
    link = rows[0][0] if rows else None
    if link is None or not hmac.compare_digest(link.token_hash, digest):
        return DavLookup("unknown")
    state = links.link_state(link, now)
    if state != "active":
        return DavLookup(state)
    return DavLookup(state, link, rows[0][1], [row[2] for row in rows if row[2] is not None])
