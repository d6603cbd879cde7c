"""Employee calendars: creation, changes, deactivation and deletion, and the per-calendar lock
that serialises every writer."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Calendar
from server.db.scope import get_of
from server.domain import journal, republish
from server.domain.businesses import get_business
from server.domain.timeutil import zone
from server.errors import ConflictError, InvalidError, NotFoundError

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].strip("-")
    return slug or "calendar"


def _check(slug: str | None, colour: str | None, timezone: str | None) -> None:
    if slug is not None and not SLUG.match(slug):
        raise InvalidError(f"slug {slug!r} is not URL-safe: use lowercase letters, digits and "
                           "hyphens (at most 64)", field="slug")
    if colour is not None and not COLOUR.match(colour):
        raise InvalidError(f"colour {colour!r} is not of the form #RRGGBB", field="colour")
    if timezone is not None:
        zone(timezone)


def get_calendar(session: Session, business_id: int, calendar_id: int,
                 include_deleted: bool = False) -> Calendar:
    calendar = get_of(session, Calendar, business_id, calendar_id)
    if calendar is None or (
            calendar.deleted_at is not None and not include_deleted):
        raise NotFoundError(f"calendar {calendar_id} does not exist in business {business_id}")
    return calendar


def lock_calendar(session: Session, business_id: int, calendar_id: int) -> Calendar:
    """Fetch the calendar for writing: a row lock on PostgreSQL (SQLite's BEGIN IMMEDIATE already
    serialises writers). Checks and writes that follow are atomic with respect to other writers."""
    calendar = session.execute(
        select(Calendar).where(Calendar.id == calendar_id, Calendar.business_id == business_id,
                               Calendar.deleted_at.is_(None))
        .with_for_update().execution_options(populate_existing=True)).scalar_one_or_none()
    if calendar is None:
        raise NotFoundError(f"calendar {calendar_id} does not exist in business {business_id}")
    return calendar


def lock_calendars(session: Session, business_id: int,
                   calendar_ids: Iterable[int]) -> dict[int, Calendar]:
    """Lock several calendars in id order, so two writers never wait on each other in a cycle."""
    return {cid: lock_calendar(session, business_id, cid) for cid in sorted(set(calendar_ids))}


def list_calendars(session: Session, business_id: int, *,
                   active_only: bool = False) -> list[Calendar]:
    query = select(Calendar).where(Calendar.business_id == business_id,
                                   Calendar.deleted_at.is_(None)).order_by(Calendar.id)
    if active_only:
        query = query.where(Calendar.active.is_(True))
    return list(session.execute(query).scalars())


def create_calendar(session: Session, business_id: int, *, name: str, now: dt.datetime,
                    slug: str | None = None, timezone: str | None = None,
                    colour: str | None = None, active: bool = True) -> Calendar:
    business = get_business(session, business_id)
    slug = slug or slugify(name)
    _check(slug, colour, timezone)
    taken = session.execute(select(Calendar.id).where(Calendar.business_id == business_id,
                                                      Calendar.slug == slug)).first()
    if taken:
        raise ConflictError(f"slug {slug!r} is already used by calendar {taken.id}", field="slug")
    calendar = Calendar(business_id=business_id, uid=str(uuid.uuid4()), name=name, slug=slug,
                        timezone=timezone or business.timezone, colour=colour or "#3a87ad",
                        active=active, journal_seq=0, journal_floor=0, max_span_seconds=0,
                        created_at=now, updated_at=now)
    session.add(calendar)
    session.flush()
    journal.record(session, calendar, "calendar", calendar.id, calendar.uid, "put", now)
    return calendar


def update_calendar(session: Session, business_id: int, calendar_id: int, *, now: dt.datetime,
                    name: str | None = None, slug: str | None = None,
                    timezone: str | None = None, colour: str | None = None,
                    active: bool | None = None) -> Calendar:
    """Change a calendar. Deactivating it removes it from everything that shows it: the journal
    records a calendar tombstone that feeds, CalDAV and the Google bridge act on."""
    calendar = lock_calendar(session, business_id, calendar_id)
    _check(slug, colour, timezone)
    if slug is not None and slug != calendar.slug:
        taken = session.execute(select(Calendar.id).where(Calendar.business_id == business_id,
                                                          Calendar.slug == slug)).first()
        if taken:
            raise ConflictError(f"slug {slug!r} is already used by calendar {taken.id}",
                                field="slug")
        calendar.slug = slug
    if name is not None and name != calendar.name:
        calendar.name = name
        republish.mark(calendar)
    if timezone is not None:
        calendar.timezone = timezone
    if colour is not None:
        calendar.colour = colour
    if active is not None:
        calendar.active = active
    calendar.updated_at = now
    journal.record(session, calendar, "calendar", calendar.id, calendar.uid,
                   "put" if calendar.active else "delete", now)
    return calendar


def delete_calendar(session: Session, business_id: int, calendar_id: int,
                    now: dt.datetime) -> None:
    """Delete a calendar: it disappears from every list, link and copy; its bookings stay in the
    database (the booking system's records), reachable by id."""
    calendar = lock_calendar(session, business_id, calendar_id)
    calendar.active = False
    calendar.deleted_at = now
    calendar.updated_at = now
    journal.record(session, calendar, "calendar", calendar.id, calendar.uid, "delete", now)
