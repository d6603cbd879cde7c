"""Personal calendars of an employee, made and removed by a writable CalDAV account (MKCALENDAR,
DELETE): a collection beside the employee's calendar whose events are the employee's personal
events (blocked time with `collection_id`), so they show through redaction in the employee's
other links as any personal event. Whether they block booking is the calendar's setting
(`blocks`, on by default); an event blocks when both it (TRANSP, STATUS) and its calendar do.
Tasks (VTODO) may be kept there too (server/domain/phone_tasks.py).
Its name (DAV:displayname, at most MAX_NAME characters) and colour (calendar-color, "#RRGGBB"
or "#RRGGBBAA") are the phone's to choose; every writable account of the employee shows them."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import BlockedTime, PersonalCalendar, PhoneTask
from server.db.scope import business_beside, get_of
from server.domain import journal, resource_names
from server.domain.blocked import refuse_booked
from server.domain.bookings import forget_rendered
from server.domain.calendars import lock_calendar
from server.errors import ConflictError, InvalidError, NotFoundError

MAX_PER_CALENDAR = 20
COMPONENTS = ("VEVENT", "VTODO")  # what a personal calendar may hold (its tasks never block)
MAX_NAME = 200
COLOUR = re.compile(r"#[0-9A-Fa-f]{6}(?:[0-9A-Fa-f]{2})?")


def checked_name(name: str) -> str:
    """A calendar name as kept (runs of white space made one space); InvalidError if it is
    empty or longer than MAX_NAME."""
    tidy = " ".join(name.split())
    if not tidy:
        raise InvalidError("a calendar's name cannot be empty", field="displayname")
    if len(tidy) > MAX_NAME:
        raise InvalidError(f"a calendar's name is at most {MAX_NAME} characters (this one has "
                           f"{len(tidy)})", field="displayname")
    if any(unicodedata.category(character) in ("Cc", "Cs") for character in tidy):
        # XML (a PROPFIND answer) cannot carry them; the JSON API could send them.
        raise InvalidError("a calendar's name cannot contain control characters",
                           field="displayname")
    return tidy


def checked_colour(colour: str) -> str:
    """A calendar colour as kept (as sent, without surrounding white space); InvalidError
    unless it is #RRGGBB or #RRGGBBAA in hexadecimal digits."""
    tidy = colour.strip()
    if not COLOUR.fullmatch(tidy):
        shown = tidy if len(tidy) <= 20 else tidy[:20] + "..."
        raise InvalidError(f"a calendar colour is #RRGGBB or #RRGGBBAA in hexadecimal digits "
                           f"(such as #3a87ad), not {shown!r}", field="calendar-color")
    return tidy


def list_for(session: Session, business_id: int, calendar_id: int) -> list[PersonalCalendar]:
    return list(session.execute(select(PersonalCalendar).where(
        business_beside(PersonalCalendar, business_id),
        PersonalCalendar.calendar_id == calendar_id).order_by(PersonalCalendar.id)).scalars())


def get(session: Session, business_id: int, personal_id: int) -> PersonalCalendar:
    found = get_of(session, PersonalCalendar, business_id, personal_id)
    if found is None:
        raise NotFoundError(f"personal calendar {personal_id} does not exist in business "
                            f"{business_id}")
    return found


def create(session: Session, business_id: int, calendar_id: int, *, slug: str, name: str,
           now: dt.datetime, actor: str | None, taken: set[str],
           colour: str | None = None, components: str = "VEVENT,VTODO") -> PersonalCalendar:
    """A new personal calendar of the employee's calendar; `taken`: slugs the account already
    shows (its employee's calendar); `colour`: the phone's choice (checked), else the employee
    calendar's colour; `components`: what it holds (COMPONENTS, comma-separated)."""
    if not components or set(components.split(",")) - set(COMPONENTS):
        raise InvalidError("a personal calendar holds events (VEVENT) and tasks (VTODO)",
                           field="components")
    refused = resource_names.problem(slug, resource_names.MAX_SLUG,
                                     "a calendar's name in its URL")
    if refused is not None:
        raise InvalidError(refused, field="slug")
    chosen = checked_colour(colour) if colour is not None else None
    kept_name = checked_name(name) if name.strip() else slug
    calendar = lock_calendar(session, business_id, calendar_id)
    existing = list_for(session, business_id, calendar.id)
    if slug in taken or any(found.slug == slug for found in existing):
        raise ConflictError("a calendar with this name already exists here",
                            precondition="D:resource-must-be-null")
    if len(existing) >= MAX_PER_CALENDAR:
        raise ConflictError(f"at most {MAX_PER_CALENDAR} personal calendars per employee; "
                            "remove one first")
    personal = PersonalCalendar(business_id=business_id, calendar_id=calendar.id, slug=slug,
                                name=kept_name, blocks=True, colour=chosen or calendar.colour,
                                components=components,
                                actor=actor, created_at=now)
    session.add(personal)
    session.flush()
    return personal


def describe(session: Session, business_id: int, personal_id: int, *,
             name: str | None = None, colour: str | None = None,
             remove_name: bool = False, remove_colour: bool = False) -> PersonalCalendar:
    """Set (or remove) the personal calendar's name and colour, all or nothing: every value is
    checked first (InvalidError names the first bad one). A removed name is its URL's name
    again; a removed colour is none."""
    checked = checked_name(name) if name is not None else None
    chosen = checked_colour(colour) if colour is not None else None
    personal = get(session, business_id, personal_id)
    lock_calendar(session, business_id, personal.calendar_id)
    if checked is not None:
        personal.name = checked
    elif remove_name:
        personal.name = personal.slug
    if chosen is not None:
        personal.colour = chosen
    elif remove_colour:
        personal.colour = None
    return personal


def _events(session: Session, personal: PersonalCalendar) -> list[BlockedTime]:
    """The personal calendar's events and the instances stored for them."""
    events = list(session.execute(select(BlockedTime).where(
        BlockedTime.calendar_id == personal.calendar_id,
        BlockedTime.collection_id == personal.id)).scalars())
    ids = {e.id for e in events}
    # Instances are stored in their event's collection too: each row once (deleting one
    # twice would delete nothing the second time, and journal it twice).
    children = list(session.execute(select(BlockedTime).where(
        BlockedTime.parent_id.in_(ids))).scalars()) if events else []
    return events + [child for child in children if child.id not in ids]


def delete(session: Session, business_id: int, personal_id: int, now: dt.datetime,
           actor: str | None) -> None:
    """Remove a personal calendar with its events and tasks (journaled, so every view drops
    them)."""
    personal = get(session, business_id, personal_id)
    calendar = lock_calendar(session, business_id, personal.calendar_id)
    for item in _events(session, personal):
        journal.record(session, calendar, "blocked", item.id, item.uid, "delete", now,
                       actor=actor)
        forget_rendered(session, item, "blocked")
        session.delete(item)
    for task in session.execute(select(PhoneTask).where(
            PhoneTask.collection_id == personal.id)).scalars().all():
        journal.record(session, calendar, "task", task.id, task.uid, "delete", now,
                       actor=actor)
        session.delete(task)
    session.flush()  # its rows first: the database would cascade before the ORM's deletes
    session.delete(personal)


def set_blocks(session: Session, business_id: int, personal_id: int, blocks: bool,
               now: dt.datetime) -> PersonalCalendar:
    """Whether the personal calendar's events block booking; each event then blocks when it
    does by itself (TRANSP, STATUS) and its calendar does. Turning it on is refused while an
    event would overlap a booking."""
    from server.domain import phone_event  # the events' own blocking comes from their texts
    from server.domain import phone_writes

    personal = get(session, business_id, personal_id)
    calendar = lock_calendar(session, business_id, personal.calendar_id)
    if personal.blocks == blocks:
        return personal
    personal.blocks = blocks
    policy = phone_writes.policy_of(session, business_id)
    for item in _events(session, personal):
        parent = item if item.parent_id is None else get_of(session, BlockedTime, item.business_id,
                                                             item.parent_id)
        if parent is None or parent.source_text is None:
            continue
        try:
            event = phone_event.read(parent.source_text.encode(), calendar.timezone)
        except phone_event.PutRefused:
            continue  # kept from an older version's rules: it keeps what it had
        wanted = blocks and phone_writes.blocks_of(event, item, policy)
        if wanted != item.blocks:
            item.blocks = wanted
            item.updated_at = now
            if wanted:
                refuse_booked(session, calendar, item)
            item.seq = journal.record(session, calendar, "blocked", item.id, item.uid, "put",
                                      now)
    return personal
