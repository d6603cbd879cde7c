"""GET and HEAD of one CalDAV item in one prepared query, as the feeds answer a poll
(server/publishing/feedstate.py): the link of the token (by its keyed hash) with the database epoch, the
calendar named by the path among the link's visible calendars of its own business, the item by
UID in that calendar and its text rendered for the link's profile, all in one round trip on a
pooled connection (server/db/quickread.py), no Session, no ORM objects.

Every check of the full path is kept: the token must be active (not unknown, revoked or
expired), the link's profile one that has items, the user name the link's own principal, the
calendar in the link's scope, active and not deleted, of the link's business; the text is the
one rendered through the link's profile, with the link's view (reminder, employee's name)
applied as the full path applies it. Whatever this path does not answer itself (any failed
check, an unknown item, a text not rendered yet, a writable account, a use to be recorded) goes
to the full path, which answers it as before (401 and the rate limit, Radicale's 404, rendering
and caching): the quick path only ever answers a 200, with the same bytes and headers (proven
by tests/integration/test_caldav_fast.py)."""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from typing import Any

from radicale import pathutils
from sqlalchemy import and_, bindparam, exists, literal, or_, select, union_all

from server.publishing.davfast.answer import Body, Sendable, finish
from server.db import Database, key_directory
from server.db.models import BlockedTime, Booking, Calendar, Link, LinkCalendar, RenderedItem
from server.db.quickread import QuickRead
from server.domain import links
from server.domain.journal import epoch_subquery
from server.publishing.ical import RENDER_VERSION, item_document
from server.keys import Keyring
from server.publishing.linkurls import principal_name, user_matches
from server.publishing.etags import item_etag
from server.publishing.link_views import link_view
from server.storage_backend import http_date


def _items() -> Any:
    """The shown item (a confirmed booking or blocked time; they never share a UID) with the
    UID `uid`, by the unique uid indexes; its business is joined to the link's (every table
    of the query meets on business_id, a router query on a sharded cluster)."""
    booking = select(literal("booking").label("kind"), Booking.id.label("id"),
                     Booking.calendar_id.label("calendar_id"),
                     Booking.business_id.label("business_id"), Booking.seq.label("seq"),
                     Booking.tzid.label("tzid"), Booking.updated_at.label("updated_at")
                     ).where(Booking.uid == bindparam("uid"), Booking.status == "confirmed")
    blocked = select(literal("blocked"), BlockedTime.id, BlockedTime.calendar_id,
                     BlockedTime.business_id, BlockedTime.seq, BlockedTime.tzid,
                     BlockedTime.updated_at
                     ).where(BlockedTime.uid == bindparam("uid"))
    return union_all(booking, blocked).subquery("item")


def _statement() -> Any:
    item = _items()
    in_scope = or_(Link.scope == "all", exists().where(
        LinkCalendar.link_id == Link.id, LinkCalendar.calendar_id == Calendar.id,
        LinkCalendar.business_id == Link.business_id))
    return (select(Link.id, Link.scope, Link.profile, Link.token_hash, Link.expires_at,
                   Link.revoked_at, Link.last_used_at, Link.reminder_minutes, Link.writable,
                   epoch_subquery().label("epoch"), Calendar.id, Calendar.name,
                   item.c.kind, item.c.id, item.c.seq, item.c.tzid, item.c.updated_at,
                   RenderedItem.text)
            .select_from(Link)
            .outerjoin(Calendar, and_(Calendar.business_id == Link.business_id,
                                      Calendar.slug == bindparam("slug"),
                                      Calendar.active.is_(True), Calendar.deleted_at.is_(None),
                                      in_scope))
            .outerjoin(item, and_(item.c.calendar_id == Calendar.id,
                                  item.c.business_id == Link.business_id))
            .outerjoin(RenderedItem, and_(RenderedItem.kind == item.c.kind,
                                          RenderedItem.business_id == Link.business_id,
                                          RenderedItem.item_id == item.c.id,
                                          RenderedItem.profile == Link.profile,
                                          RenderedItem.seq == item.c.seq,
                                          RenderedItem.version == bindparam("version")))
            .where(key_directory.owned("link", Link.token_hash, Link.business_id)))


@dataclass(frozen=True)
class _Row:
    link_id: int
    scope: str
    profile: str
    token_hash: str
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    reminder: int | None
    writable: bool
    epoch: str
    calendar_id: int | None
    calendar_name: str | None
    kind: str | None
    item_id: int | None
    seq: int | None
    tzid: str | None
    updated: dt.datetime | None
    text: str | None


class QuickGet:
    """`quick(method, sub_path, user, token, now, accept_encoding)`: the whole answer to a GET
    or HEAD of an item, or None for the full path to answer."""

    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.keyring = keyring
        self.read = QuickRead(db, _statement())

    def __call__(self, method: str, sub_path: str, user: bytes, token: str, now: dt.datetime,
                 accept_encoding: str) -> Sendable | None:
        if not token.startswith(links.TOKEN_PREFIX) or len(token) > 100:
            return None
        parts = [p for p in pathutils.sanitize_path(sub_path).split("/") if p]
        if len(parts) != 3 or not parts[2].endswith(".ics"):
            return None
        digest = self.keyring.hash_token(token)
        rows = self.read(digest=digest, slug=parts[1], uid=parts[2][:-4],
                         version=RENDER_VERSION)
        if len(rows) != 1:
            return None
        row = _Row(*rows[0])
        if not hmac.compare_digest(row.token_hash, digest) or \
                links.link_state(row, now) != "active":  # type: ignore[arg-type]
            return None
        principal = principal_name(row.link_id)
        if row.profile not in links.ITEM_PROFILES or row.writable or \
                parts[0] != principal or not user_matches(user, principal) or \
                links.touch_due(row, now):  # type: ignore[arg-type]
            return None
        if row.calendar_id is None or row.kind is None or row.text is None:
            return None
        assert row.item_id is not None and row.seq is not None and row.tzid is not None
        assert row.updated is not None and row.calendar_name is not None
        view = link_view(row.scope, row.profile, row.reminder, row.writable,
                         [_Named(row.calendar_id, row.calendar_name)])
        etag = item_etag(row.epoch, row.kind, row.item_id, row.seq,
                         row.profile + view.key(row.kind, row.calendar_id))
        text = view.apply(row.kind, row.calendar_id, row.text)
        headers = {"Content-Type": "text/calendar; charset=utf-8",
                   "Last-Modified": http_date(row.updated), "ETag": etag}
        answer = finish("200 OK", headers, Body([item_document(text, row.tzid).encode()]),
                        accept_encoding)
        if method == "HEAD":
            answer.body.close()
            answer.body = Body()  # the headers (Content-Length too) stay those of a GET
        return answer


@dataclass(frozen=True)
class _Named:
    id: int
    name: str
