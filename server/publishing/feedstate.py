"""What a feed request needs to know before any rendering, in one indexed query: the link of a
token (by its keyed hash) with its business, the database epoch and every calendar the link's
scope names (active or not). From it come the answer to unknown/revoked/expired tokens, the
strong ETag, Last-Modified and, on a miss, what to render.

The ETag names everything the body depends on: the link (its id, profile, reminder and last
change, which covers its label and expiry), the epoch, each shown calendar's journal position,
name and zone, the business's name and zone, the window (its first day and length), the refresh
interval, the renderer and feed versions and the content coding. Journal positions only grow,
so a body rendered a moment after the query (PostgreSQL reads each statement afresh) can only be
newer than its ETag says, and that ETag never comes back: a body cached under it is never
served for another state.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, exists, or_, select

from server.db import Database, key_directory
from server.db.models import Business, Calendar, Link, LinkCalendar, Meta
from server.db.quickread import QuickRead
from server.domain.links import TOKEN_PREFIX, link_state
from server.publishing.ical import RENDER_VERSION
from server.keys import Keyring

# Part of every feed ETag, with RENDER_VERSION (the items' own text): bump it whenever a feed of
# unchanged items would be written differently.
FEED_VERSION = 2  # 2: blocked time in a feed of several calendars names its employee


@dataclass(frozen=True)
class FeedCalendar:
    """The columns of a calendar a feed uses (duck-typed where publish.py takes a Calendar)."""

    id: int
    business_id: int
    name: str
    timezone: str
    journal_seq: int
    max_span_seconds: int
    active: bool
    deleted_at: dt.datetime | None
    changed_at: dt.datetime | None
    updated_at: dt.datetime

    @property
    def visible(self) -> bool:
        return self.active and self.deleted_at is None


@dataclass(frozen=True)
class FeedLink:
    id: int
    business_id: int
    scope: str
    profile: str
    label: str
    token_hash: str
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    updated_at: dt.datetime
    reminder_minutes: int | None
    service_id: int | None


@dataclass(frozen=True)
class FeedState:
    """A token's state: "active" (with everything below), "revoked", "expired" or "unknown"."""

    state: str
    link: FeedLink | None = None
    epoch: str = ""
    business_name: str = ""
    business_timezone: str = ""
    scope_calendars: tuple[FeedCalendar, ...] = ()

    @property
    def calendars(self) -> list[FeedCalendar]:
        """The calendars the feed shows: in scope, active, not deleted, by id."""
        return [c for c in self.scope_calendars if c.visible]


LINK_COLUMNS = (Link.id, Link.business_id, Link.scope, Link.profile, Link.label, Link.token_hash,
                Link.expires_at, Link.revoked_at, Link.last_used_at, Link.updated_at,
                Link.reminder_minutes, Link.service_id)
CALENDAR_COLUMNS = (Calendar.id, Calendar.business_id, Calendar.name, Calendar.timezone,
                    Calendar.journal_seq,
                    Calendar.max_span_seconds, Calendar.active, Calendar.deleted_at,
                    Calendar.changed_at, Calendar.updated_at)

_in_scope = or_(Link.scope == "all", exists().where(
    LinkCalendar.link_id == Link.id, LinkCalendar.calendar_id == Calendar.id,
    LinkCalendar.business_id == Link.business_id))
_epoch = select(Meta.value).where(Meta.key == "epoch").scalar_subquery()
STATE_QUERY = (
    select(*LINK_COLUMNS, Business.name, Business.timezone, _epoch.label("epoch"),
           *CALENDAR_COLUMNS)
    .join(Business, Business.id == Link.business_id)
    .outerjoin(Calendar, and_(Calendar.business_id == Link.business_id, _in_scope))
    .where(key_directory.owned("link", Link.token_hash, Link.business_id))
    .order_by(Calendar.id))


class FeedStates:
    """`states(token, now)`: the state of a token, in one query on a pooled connection (see
    server/db/quickread.py), or none for a token that cannot be ours."""

    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.keyring = keyring
        self.read = QuickRead(db, STATE_QUERY)

    def __call__(self, token: str, now: dt.datetime) -> FeedState:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return FeedState("unknown")
        digest = self.keyring.hash_token(token)
        rows: list[Any] = self.read(digest=digest)
        if not rows or not hmac.compare_digest(rows[0][5], digest):
            return FeedState("unknown")
        first = rows[0]
        n = len(LINK_COLUMNS)
        link = FeedLink(*first[:n])
        state = link_state(link, now)  # type: ignore[arg-type]
        if state != "active":
            return FeedState(state)
        calendars = tuple(FeedCalendar(*row[n + 3:]) for row in rows if row[n + 3] is not None)
        return FeedState(state, link, first[n + 2], first[n], first[n + 1], calendars)


def feed_window(now: dt.datetime, days_back: int, days_ahead: int
                ) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC, starting at midnight UTC so it changes once a day."""
    start_day = now.date() - dt.timedelta(days=days_back)
    start = dt.datetime.combine(start_day, dt.time(), tzinfo=dt.timezone.utc)
    return start, start + dt.timedelta(days=days_back + days_ahead)


def body_key(state: FeedState, window: tuple[dt.datetime, dt.datetime],
             refresh_minutes: int) -> str:
    """A digest of everything the feed's body depends on (see the module's docstring)."""
    link = state.link
    assert link is not None
    calendars = ";".join(f"{c.id}:{c.journal_seq}:{c.timezone}:{c.name}"
                         for c in state.calendars)
    key = "\x1f".join((
        str(link.id), link.profile, link.scope, link.label, link.updated_at.isoformat(),
        str(link.reminder_minutes),
        state.epoch, calendars, state.business_name, state.business_timezone,
        window[0].isoformat(), window[1].isoformat(), str(refresh_minutes),
        str(RENDER_VERSION), str(FEED_VERSION)))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def feed_etag(key: str, encoding: str) -> str:
    """The strong ETag of one representation ("gzip" or "identity") of the body named `key`."""
    return '"' + hashlib.sha256(f"{key}:{encoding}".encode()).hexdigest()[:40] + '"'


def last_modified(state: FeedState, window_start: dt.datetime, days_back: int) -> dt.datetime:
    """The latest of: any scope calendar's last change (one that left the feed counts too), the
    link's, and the window's daily move."""
    link = state.link
    assert link is not None
    return max([c.changed_at or c.updated_at for c in state.scope_calendars]
               + [link.updated_at, window_start + dt.timedelta(days=days_back)])
