"""Private links: a secret token per link that decides which calendars it sees (one, a chosen set,
or all of the business, following calendars as they come and go) and through which redaction
profile. Tokens are looked up by keyed hash and kept encrypted only so an admin can show the link
again; revocation and expiry take effect on the next request."""

from __future__ import annotations

import datetime as dt
import functools
import hmac
from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from server.db import key_directory
from server.db.models import Calendar, Link, LinkCalendar
from server.db.scope import business_beside, get_of
from server.domain.businesses import get_business
from server.domain.calendars import get_calendar
from server.domain.journal import epoch_subquery
from server.domain.services import get_service
from server.errors import ConflictError, InvalidError, NotFoundError
from server.keys import Keyring, new_token

SCOPES = ("calendar", "set", "all")
PROFILES = ("full", "limited", "busy", "slots")
# A `slots` link shows the open times of one service (server/publishing/slotfeed.py), never an item:
# nothing of it goes through server/redaction.py, and it has no CalDAV account.
ITEM_PROFILES = ("full", "limited", "busy")
TOKEN_PREFIX = "bcl_"
TOUCH_EVERY = dt.timedelta(minutes=5)
MAX_REMINDER_MINUTES = 4 * 7 * 24 * 60  # four weeks


def _check_reminder(minutes: int | None) -> None:
    if minutes is not None and not 0 <= minutes <= MAX_REMINDER_MINUTES:
        raise InvalidError(f"reminder_minutes must be 0 to {MAX_REMINDER_MINUTES} (four weeks), "
                           "or null for no reminder", field="reminder_minutes")


def _new_secret() -> str:
    return TOKEN_PREFIX + new_token(24)  # 192 random bits, URL-safe


def get_link(session: Session, business_id: int, link_id: int) -> Link:
    link = get_of(session, Link, business_id, link_id)
    if link is None:
        raise NotFoundError(f"link {link_id} does not exist in business {business_id}")
    return link


def create_link(session: Session, keyring: Keyring, business_id: int, *, scope: str,
                profile: str, now: dt.datetime, calendar_ids: Iterable[int] = (),
                label: str = "", expires_at: dt.datetime | None = None,
                reminder_minutes: int | None = None,
                service_id: int | None = None, writable: bool = False) -> tuple[Link, str]:
    """A new link and its token (the only time the caller gets it without decrypting).
    `reminder_minutes` puts an alarm on its bookings that long before each (none by default).
    A `slots` link names the service whose open times it shows (`service_id`). A writable
    link (an employee's phone) shows one calendar through the full profile."""
    get_business(session, business_id)
    _check_reminder(reminder_minutes)
    if scope not in SCOPES:
        raise InvalidError(f"scope must be one of {', '.join(SCOPES)}", field="scope")
    if profile not in PROFILES:
        raise InvalidError(f"profile must be one of {', '.join(PROFILES)}", field="profile")
    if profile == "slots":
        if service_id is None:
            raise InvalidError("a 'slots' link shows the open times of one service; give its "
                               "service_id", field="service_id")
        get_service(session, business_id, service_id)
        if reminder_minutes is not None:
            raise InvalidError("a 'slots' link shows no bookings to remind of; leave "
                               "reminder_minutes out", field="reminder_minutes")
    elif service_id is not None:
        raise InvalidError("only a 'slots' link takes a service_id", field="service_id")
    ids = sorted(set(calendar_ids))
    if scope == "all" and ids:
        raise InvalidError("an 'all' link follows every calendar; give no calendar_ids",
                           field="calendar_ids")
    if scope == "calendar" and len(ids) != 1:
        raise InvalidError("a 'calendar' link needs exactly one calendar id",
                           field="calendar_ids")
    if scope == "set" and not ids:
        raise InvalidError("a 'set' link needs at least one calendar id", field="calendar_ids")
    if writable and (scope != "calendar" or profile != "full"):
        raise InvalidError("a writable link shows one employee calendar with the full "
                           "profile; give exactly one calendar and profile full",
                           field="writable")
    for calendar_id in ids:
        get_calendar(session, business_id, calendar_id)
    if expires_at is not None and expires_at <= now:
        raise InvalidError("expires_at must lie in the future", field="expires_at")
    secret = _new_secret()
    link = Link(business_id=business_id, scope=scope, profile=profile, label=label,
                token_hash=keyring.hash_token(secret), token_encrypted=keyring.encrypt(secret),
                expires_at=expires_at, reminder_minutes=reminder_minutes,
                service_id=service_id, created_at=now, updated_at=now, writable=writable)
    session.add(link)
    session.flush()
    key_directory.register(session, "link", link.token_hash, business_id)
    session.add_all(LinkCalendar(business_id=business_id, link_id=link.id,
                                         calendar_id=cid) for cid in ids)
    session.flush()
    return link, secret


def list_links(session: Session, business_id: int, *, calendar_id: int | None = None,
               include_revoked: bool = False) -> list[Link]:
    query = select(Link).where(Link.business_id == business_id).order_by(Link.id)
    if calendar_id is not None:
        query = query.where(Link.id.in_(select(LinkCalendar.link_id).where(
            business_beside(LinkCalendar, business_id), LinkCalendar.calendar_id == calendar_id))
            | (Link.scope == "all"))
    if not include_revoked:
        query = query.where(Link.revoked_at.is_(None))
    return list(session.execute(query).scalars())


def scope_calendar_ids(session: Session, link: Link) -> list[int]:
    """The ids of a link's chosen calendars (empty for an 'all' link)."""
    return list(session.execute(select(LinkCalendar.calendar_id)
                                .where(business_beside(LinkCalendar, link.business_id),
                                       LinkCalendar.link_id == link.id)
                                .order_by(LinkCalendar.calendar_id)).scalars())


@functools.cache
def _visible_statement(every: bool) -> Any:
    query = select(Calendar).where(Calendar.business_id == bindparam("business_id"),
                                   Calendar.active.is_(True), Calendar.deleted_at.is_(None))
    if not every:
        query = query.where(Calendar.id.in_(select(LinkCalendar.calendar_id).where(
            business_beside(LinkCalendar, bindparam("business_id")),
            LinkCalendar.link_id == bindparam("link_id"))))
    return query.order_by(Calendar.id)


def visible_calendars(session: Session, link: Link) -> list[Calendar]:
    """The calendars the link shows now: in scope, active, not deleted."""
    return list(session.execute(_visible_statement(link.scope == "all"), {
        "business_id": link.business_id, "link_id": link.id}).scalars())


def scope_calendars(session: Session, link: Link) -> list[Calendar]:
    """Every calendar the link's scope names, also inactive and deleted ones."""
    query = select(Calendar).where(Calendar.business_id == link.business_id)
    if link.scope != "all":
        query = query.where(Calendar.id.in_(select(LinkCalendar.calendar_id).where(
            business_beside(LinkCalendar, link.business_id), LinkCalendar.link_id == link.id)))
    return list(session.execute(query.order_by(Calendar.id)).scalars())


def update_link(session: Session, business_id: int, link_id: int, *, now: dt.datetime,
                label: str | None = None, profile: str | None = None,
                expires_at: dt.datetime | None = None, clear_expiry: bool = False,
                reminder_minutes: int | None = None, clear_reminder: bool = False) -> Link:
    link = get_link(session, business_id, link_id)
    if link.revoked_at is not None:
        raise ConflictError(f"link {link_id} is revoked; create a new one")
    if profile is not None:
        if profile not in PROFILES:
            raise InvalidError(f"profile must be one of {', '.join(PROFILES)}", field="profile")
        if (profile == "slots") != (link.profile == "slots"):
            raise InvalidError("a 'slots' link stays one, and another link cannot become one "
                               "(it shows open times, not bookings); create a new link",
                               field="profile")
        if link.writable and profile != "full":
            raise InvalidError("a writable link keeps the full profile; create a read-only "
                               "link for another profile", field="profile")
        link.profile = profile
    if label is not None:
        link.label = label
    if clear_reminder:
        link.reminder_minutes = None
    elif reminder_minutes is not None:
        _check_reminder(reminder_minutes)
        if link.profile == "slots":
            raise InvalidError("a 'slots' link shows no bookings to remind of",
                               field="reminder_minutes")
        link.reminder_minutes = reminder_minutes
    if clear_expiry:
        link.expires_at = None
    elif expires_at is not None:
        if expires_at <= now:
            raise InvalidError("expires_at must lie in the future; revoke the link to end it "
                               "now", field="expires_at")
        link.expires_at = expires_at
    link.updated_at = now
    return link


def revoke_link(session: Session, business_id: int, link_id: int, now: dt.datetime) -> Link:
    link = get_link(session, business_id, link_id)
    if link.revoked_at is None:
        link.revoked_at = now
        link.updated_at = now
    return link


def rotate_link(session: Session, keyring: Keyring, business_id: int, link_id: int,
                now: dt.datetime) -> tuple[Link, str]:
    """Give the link a new token; the old one stops working at once."""
    link = get_link(session, business_id, link_id)
    if link.revoked_at is not None:
        raise ConflictError(f"link {link_id} is revoked; create a new one")
    secret = _new_secret()
    old_hash, link.token_hash = link.token_hash, keyring.hash_token(secret)
    key_directory.replace(session, "link", old_hash, link.token_hash)
    link.token_encrypted = keyring.encrypt(secret)
    link.updated_at = now
    return link, secret


def link_state(link: Link, now: dt.datetime) -> str:
    """"active", "revoked" or "expired"."""
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at is not None and link.expires_at <= now:
        return "expired"
    return "active"


def reveal_token(keyring: Keyring, link: Link) -> str:
    return keyring.decrypt(link.token_encrypted)


@dataclass(frozen=True)
class TokenLookup:
    """What a token is: "active" (with its link), or "revoked", "expired" (a token we issued:
    a stale subscription, not a guess) or "unknown" (never issued, or rotated away)."""

    state: str
    link: Link | None = None
    also: Any = None  # the value of `lookup(also=...)`, read in the same query


@functools.cache
def _lookup_statement(with_epoch: bool) -> Any:
    """Built once per shape (building a statement costs more than running it)."""
    columns: tuple[Any, ...] = (Link, epoch_subquery()) if with_epoch else (Link,)
    return select(*columns).where(
        key_directory.owned("link", Link.token_hash, Link.business_id))


def lookup(session: Session, keyring: Keyring, token: str, now: dt.datetime,
           with_epoch: bool = False) -> TokenLookup:
    """Find the link of a token and say whether it may be served. With `with_epoch`, the
    database epoch comes in the same round trip (`also`: what a CalDAV request needs too)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return TokenLookup("unknown")
    digest = keyring.hash_token(token)
    row = session.execute(_lookup_statement(with_epoch), {"digest": digest}).one_or_none()
    link = row[0] if row is not None else None
    if link is None or not hmac.compare_digest(link.token_hash, digest):
        return TokenLookup("unknown")
    state = link_state(link, now)
    extra = row[1] if row is not None and with_epoch else None
    return TokenLookup(state, link if state == "active" else None, extra)


def authenticate(session: Session, keyring: Keyring, token: str,
                 now: dt.datetime) -> Link | None:
    """The live link a token opens, or None (unknown, revoked or expired alike)."""
    return lookup(session, keyring, token, now).link


def touch_due(link: Link, now: dt.datetime) -> bool:
    """Whether to record a use: at most every few minutes, so that polling does not turn every
    read into a write."""
    return link.last_used_at is None or now - link.last_used_at >= TOUCH_EVERY


def touch(session: Session, business_id: int, link_id: int, now: dt.datetime) -> None:
    session.execute(update(Link).where(Link.business_id == business_id, Link.id == link_id)
                    .values(last_used_at=now))
